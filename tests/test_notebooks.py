"""Every numbered notebook runs headless under the smoke profile, in order (later notebooks read what earlier ones
wrote under outputs_dir)."""

from __future__ import annotations

import json

import pytest

from strokelib.notebooks import notebook_paths, run_notebooks

NOTEBOOKS = [p.name for p in notebook_paths()]


@pytest.fixture(scope="module")
def smoke_dirs(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    return {"outputs_dir": str(out / "outputs"), "figures_dir": str(out / "figures")}, out


@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_under_smoke(name, smoke_dirs):
    params, out = smoke_dirs
    executed = run_notebooks("smoke", only=[name[:2]], parameters=params, output_dir=out / "executed")
    assert [p.name for p in executed] == [name]
    cells = json.loads(executed[0].read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), "no cell produced output"
    figures = list((out / "figures").glob("*.png"))
    assert figures, "the notebooks saved no figure"
