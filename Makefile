# strokelib — set-up, demo, tests. Every target sets up the virtual environment first if needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned and installed first: an unpinned torch can pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: setup demo test lab figures bench lint clean

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

lab: setup           ## JupyterLab on notebooks/
	$(BIN)/jupyter lab notebooks/

# figures/ and the executed notebooks in docs/notebooks/ are what these runs write (see figures/README.md).
FIGURES_SPES := --profile demo -p figures_dir figures
FIGURES_SISS := --profile demo -p figures_dir figures -p task SISS -p synthetic_geometry small -p n_train 28 \
                -p n_test 4 -p case_index 0

figures: setup       ## regenerate every committed figure and table, and the executed notebooks in docs/notebooks/
	$(BIN)/strokelib run $(FIGURES_SPES) --executed-dir docs/notebooks
	$(BIN)/strokelib run $(FIGURES_SISS) --executed-dir outputs/notebooks/figures-siss

bench: setup         ## speed benchmarks, one JSON line each
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: setup
	$(BIN)/ruff check strokelib tests benchmarks

clean:
	rm -rf $(VENV) outputs data/synthetic
