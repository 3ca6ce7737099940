"""The executed notebooks committed for reading (docs/notebooks/, written by `make figures`) exist for every source
notebook, hold their figures, ran without error and ran with the profile they claim (papermill's metadata)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strokelib.notebooks import notebook_paths, project_root

EXECUTED = project_root() / "docs" / "notebooks"
SOURCES = [p.name for p in notebook_paths()]
MAX_BYTES = 5_000_000


def _load(name: str, folder: Path = EXECUTED) -> dict:
    path = folder / name
    assert path.is_file(), f"{path} missing: run `make figures` to write the executed notebooks"
    assert path.stat().st_size < MAX_BYTES, f"{path} is {path.stat().st_size} bytes; keep executed copies small"
    return json.loads(path.read_text())


@pytest.mark.parametrize("folder", [EXECUTED, EXECUTED / "spes"], ids=["SISS", "SPES"])
@pytest.mark.parametrize("name", SOURCES)
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
