"""The executed notebooks committed for reading (docs/notebooks/, written by `make figures`) exist for every source
notebook, hold their figures, ran without error and ran with the profile they claim (papermill's metadata)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strokelib.notebooks import ISLES22_NOTEBOOKS, notebook_paths, project_root

EXECUTED = project_root() / "docs" / "notebooks"
SOURCES = [p.name for p in notebook_paths()]
PER_TASK = [name for name in SOURCES if name[:2] not in ISLES22_NOTEBOOKS]  # 01–05: one copy per ISLES 2015 task
COPIES = [(name, EXECUTED) for name in SOURCES] + [(name, EXECUTED / "spes") for name in PER_TASK]
COPY_IDS = [f"{name[:2]}-{'SPES' if folder.name == 'spes' else 'SISS' if name in PER_TASK else 'ISLES22'}"
            for name, folder in COPIES]
MAX_BYTES = 5_000_000


def _load(name: str, folder: Path = EXECUTED) -> dict:
    path = folder / name
    assert path.is_file(), f"{path} missing: run `make figures` to write the executed notebooks"
    assert path.stat().st_size < MAX_BYTES, f"{path} is {path.stat().st_size} bytes; keep executed copies small"
    return json.loads(path.read_text())


@pytest.mark.parametrize(("name", "folder"), COPIES, ids=COPY_IDS)
def test_executed_copy_exists_with_figures_and_its_profile(name, folder):
    nb = _load(name, folder)
    papermill = nb["metadata"]["papermill"]
    assert papermill["parameters"]["profile"] == "demo", "executed copies come from the demo profile (make figures)"
    assert Path(papermill["input_path"]).name == name
    assert not papermill.get("exception"), f"{name} ended with an exception"
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{name}: no figure in the executed copy"


def test_sources_stay_stripped():
    for path in notebook_paths():
        cells = json.loads(Path(path).read_text())["cells"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code"), path


REUSED = ("already trained", "skipped — done earlier")  # a fold or a segment run from an earlier run
WIDGET = "application/vnd.jupyter.widget-view+json"
MAX_LOG_LINES = 30


def _streams(nb: dict) -> list[str]:
    return ["".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "stream"]


@pytest.mark.parametrize(("name", "folder"), COPIES, ids=COPY_IDS)
def test_executed_copy_is_a_clean_run_without_widgets_or_log_floods(name, folder):
    nb = _load(name, folder)
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if WIDGET in o.get("data", {})], f"{name}: progress widgets frozen in the copy"
    text = "\n".join(_streams(nb))
    log_lines = [line for line in text.splitlines() if line.startswith(("INFO ", "DEBUG "))]
    assert len(log_lines) <= MAX_LOG_LINES, f"{name}: {len(log_lines)} log lines; keep warnings and milestones"
    if name.startswith("02"):  # the cache demonstration: a miss, then a hit
        assert "first call: from cache False" in text and "second call: from cache True" in text
    markers = (*REUSED, "reusing synthetic") if name.startswith(("01", "06")) else REUSED  # they generate the data
    reused = [marker for marker in markers if marker in text]
    assert not reused, f"{name} reused earlier results ({reused}): make figures must start from nothing"


@pytest.mark.parametrize("folder", [EXECUTED, EXECUTED / "spes"], ids=["SISS", "SPES"])
def test_executed_copies_links_resolve_where_they_lie(folder):
    import re

    link = re.compile(r"\]\((?!https?:|mailto:|#)([^)#\s]+)(?:#[^)\s]*)?\)")
    broken = {}
    for name in SOURCES if folder == EXECUTED else PER_TASK:
        markdown = "\n".join("".join(c["source"]) for c in _load(name, folder)["cells"] if c["cell_type"] == "markdown")
        broken[name] = [target for target in link.findall(markdown) if not (folder / target).exists()]
    assert not {k: v for k, v in broken.items() if v}, broken


def test_readme_links_both_tasks_executed_copies():
    readme = (project_root() / "README.md").read_text()
    for name in SOURCES:
        assert f"docs/notebooks/{name}" in readme, name
    for name in PER_TASK:
        assert f"docs/notebooks/spes/{name}" in readme, name
