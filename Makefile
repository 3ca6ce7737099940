# strokelib — set-up, demo, tests. Every target sets up the virtual environment first if needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.browser-installed
# torch is pinned and installed first: an unpinned torch can pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: setup demo test test-installed lab figures figures-isles22 bench lint clean browser-setup browser-chromium browser-test

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name strokelib --display-name "Python (strokelib)"
	touch $(STAMP)

demo: setup          ## all notebooks with the demo profile (the main job)
	$(BIN)/strokelib run --profile demo

test: setup          ## unit tests + every notebook under the smoke profile
	$(BIN)/python -m pytest -q

test-installed: setup   ## the wheel in a fresh venv: notebooks 01 and 03, synth and notebooks from an empty folder
	STROKELIB_TEST_INSTALLED=1 $(BIN)/python -m pytest -q -m installed tests/test_installed.py

lab: setup           ## JupyterLab on notebooks/
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The notebooks in JupyterLab in a real browser: Debian's chromium (apt-get; root or password-less sudo) and
# Playwright's Python client pointed at it. Nothing is downloaded when the test runs (never `playwright install`).
browser-setup: browser-chromium $(BROWSER_STAMP)

browser-chromium:    ## Debian's chromium at /usr/bin/chromium; exit 3 with the reason when it cannot be installed
	bash browser/install-chromium.sh

$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,browser]"
	touch $(BROWSER_STAMP)

browser-test: browser-setup   ## notebooks 01 (slice viewer) and 03 run in JupyterLab; screenshots in outputs/browser/
	$(BIN)/python browser/check_lab.py

# figures/ and the executed notebooks in docs/notebooks/ (SISS) and docs/notebooks/spes/ are what these runs write
# (see figures/README.md): the demo profile (Table 1's three approaches) on the SPES-like set at ISLES 2015 geometry,
# then on the SISS-like set, then notebook 06 on the ISLES 2022-like set and the real sample case
# (figures-isles22). Every run starts from nothing: its own empty outputs folder and its own synthetic data
# (STROKELIB_SYNTHETIC_DIR), so every executed copy shows the real steps — data generated, symmetric modalities
# registered, networks trained, maps predicted — and no result reused from an earlier run. Everything is written into
# outputs/figures*/ first; figures/ and docs/notebooks/ are replaced only when the runs finished, so an interrupted
# `make figures` never leaves a partial set where a complete one was (notebook 06's files are replaced only by a
# figures-isles22 run that finished).
STAGE        := outputs/figures
FIGURES_RUN  := STROKELIB_SYNTHETIC_DIR=$(STAGE)/synthetic $(BIN)/strokelib run --profile demo -p figures_dir $(STAGE)
FIGURES_SPES := -p outputs_dir $(STAGE)/run-spes -p task SPES -p synthetic_geometry paper -p n_train 30 -p n_test 5 \
                -p case_index 1
FIGURES_SISS := -p outputs_dir $(STAGE)/run-siss
STAGE_22     := outputs/figures-isles22

figures: setup       ## regenerate every committed figure and table, and the executed notebooks in docs/notebooks/
	rm -rf $(STAGE) && mkdir -p $(STAGE)
	$(FIGURES_RUN) $(FIGURES_SPES) --executed-dir $(STAGE)/notebooks-spes
	$(FIGURES_RUN) $(FIGURES_SISS) --executed-dir $(STAGE)/notebooks
	find figures -type f ! -name README.md ! -name 'isles22_*' -delete   # notebook 06's: replaced by figures-isles22
	find $(STAGE) -maxdepth 1 -type f -exec cp {} figures/ \;
	mkdir -p docs/notebooks && find docs/notebooks -mindepth 1 ! -name '06_*.ipynb' -delete
	cp $(STAGE)/notebooks/*.ipynb docs/notebooks/ && cp -r $(STAGE)/notebooks-spes docs/notebooks/spes
	$(BIN)/python -c "from strokelib.notebooks import rebase_folder as r; r('docs/notebooks', '$(STAGE)/notebooks'); \
	                  r('docs/notebooks/spes', '$(STAGE)/notebooks-spes')"
	$(MAKE) figures-isles22

figures-isles22: setup   ## notebook 06 only (ISLES 2022, demo profile): figures/isles22_* and docs/notebooks/06_isles22.ipynb
	rm -rf $(STAGE_22) && mkdir -p $(STAGE_22)
	STROKELIB_SYNTHETIC_DIR=$(STAGE_22)/synthetic $(BIN)/strokelib run --profile demo --only 06 \
	    -p figures_dir $(STAGE_22) -p outputs_dir $(STAGE_22)/run --executed-dir $(STAGE_22)/notebooks
	find figures -type f -name 'isles22_*' -delete
	find $(STAGE_22) -maxdepth 1 -type f -exec cp {} figures/ \;
	mkdir -p docs/notebooks && cp $(STAGE_22)/notebooks/06_*.ipynb docs/notebooks/
	$(BIN)/python -c "from strokelib.notebooks import rebase_links as r; import glob; \
	                  [r(p, '$(STAGE_22)/notebooks') for p in glob.glob('docs/notebooks/06_*.ipynb')]"

bench: setup         ## speed benchmarks, one JSON line each
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: setup
	$(BIN)/ruff check strokelib tests benchmarks browser

clean:
	rm -rf $(VENV) outputs data/synthetic
