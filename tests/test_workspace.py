"""The working folder, the notebooks and profiles a run reads, ``strokelib notebooks DIR`` and ``run --workdir``:
a checkout behaves as it always did; outside one the current folder (or ``--workdir``) is the working folder and the
notebooks and profiles strokelib carries are used. (The wheel itself: tests/test_installed.py.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from strokelib import workspace
from strokelib.cli import main
from strokelib.errors import ConfigError
from strokelib.notebooks import _runs_this_python, notebook_paths
from strokelib.settings import SYNTHETIC_DIR_ENV, display_path, load_profile, project_root, synthetic_dir

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """An empty current folder outside the checkout, with no working folder chosen by the environment."""
    monkeypatch.setenv(workspace.WORKDIR_ENV, "")
    monkeypatch.delenv(SYNTHETIC_DIR_ENV, raising=False)
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def where_notebook(folder: Path) -> Path:
    """A working folder whose one notebook writes where it ran (its Python, its strokelib, project_root())."""
    (folder / "notebooks" / "profiles").mkdir(parents=True)
    (folder / "notebooks" / "profiles" / "smoke.yaml").write_text("seed: 0\n")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("seed = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import json, sys, strokelib\nfrom pathlib import Path\nfrom strokelib.settings import project_root\n"
        "Path('where.json').write_text(json.dumps({'python': sys.executable, 'strokelib': strokelib.__file__, "
        "'root': str(project_root()), 'seed': seed}))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "notebooks" / "01_where.ipynb")
    return folder


def test_in_the_checkout_everything_is_as_before(monkeypatch):
    monkeypatch.delenv(workspace.WORKDIR_ENV, raising=False)
    monkeypatch.chdir(ROOT / "docs" / "notebooks")  # executed copies, no profiles: not a working folder of its own
    assert project_root() == ROOT and project_root(ROOT / "strokelib" / "model") == ROOT
    assert not workspace.holds_notebooks(ROOT / "docs")
    assert notebook_paths()[0].parent == ROOT / "notebooks"
    assert workspace.profile_file("smoke") == ROOT / "notebooks" / "profiles" / "smoke.yaml"
    assert workspace.packaged_notebooks() == ROOT / "notebooks"  # a checkout (editable install) reads notebooks/


def test_outside_a_checkout_the_current_folder_is_the_working_folder(outside):
    assert project_root() == outside.resolve()
    assert synthetic_dir() == outside.resolve() / "data" / "synthetic"
    assert display_path(outside / "outputs" / "x.csv") == "outputs/x.csv"
    assert load_profile("smoke") == load_profile(ROOT / "notebooks" / "profiles" / "smoke.yaml")  # the carried ones
    assert [p.name for p in notebook_paths()] == [p.name for p in notebook_paths(ROOT)]
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        load_profile("nope")


def test_the_environment_names_the_working_folder_and_a_bad_one_is_named(outside, tmp_path, monkeypatch):
    chosen = tmp_path / "chosen"
    (chosen / "sub").mkdir(parents=True)
    monkeypatch.setenv(workspace.WORKDIR_ENV, str(chosen))
    assert project_root() == chosen.resolve() and project_root(chosen / "sub") == chosen.resolve()
    assert project_root(ROOT / "notebooks") == ROOT  # a folder outside it still finds its own root
    monkeypatch.setenv(workspace.WORKDIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="STROKELIB_WORKDIR=.*missing.*is not a folder"):
        project_root()


def test_copied_notebooks_make_a_working_folder_found_from_below(outside, tmp_path, capsys):
    target = tmp_path / "mine"
    assert main(["notebooks", str(target)]) == 0
    out = capsys.readouterr().out
    names = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (target / "notebooks").glob("*.ipynb")) == names
    assert sorted(p.name for p in (target / "notebooks" / "profiles").iterdir()) == ["demo.yaml", "paper.yaml", "smoke.yaml"]
    assert f"wrote {target / 'notebooks' / names[0]}" in out and f"{len(names)} notebooks and 3 profiles" in out
    assert (target / "notebooks" / names[0]).read_bytes() == (ROOT / "notebooks" / names[0]).read_bytes()
    assert workspace.working_folder(target / "notebooks") == target.resolve()  # JupyterLab opened on notebooks/
    assert notebook_paths(target)[0] == (target / "notebooks" / names[0]).resolve()


def test_copying_refuses_to_overwrite_unless_forced(outside, tmp_path, capsys):
    target = tmp_path / "mine"
    workspace.copy_notebooks(target)
    edited = target / "notebooks" / "profiles" / "smoke.yaml"
    edited.write_text("seed: 3\n")
    assert main(["notebooks", str(target)]) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and str(target / "notebooks") in err and "--force" in err
    assert edited.read_text() == "seed: 3\n"  # nothing written
    assert main(["notebooks", str(target), "--force"]) == 0
    assert edited.read_bytes() == (ROOT / "notebooks" / "profiles" / "smoke.yaml").read_bytes()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="file.*is a file, not a folder"):
        workspace.copy_notebooks(tmp_path / "file" / "below")


def test_run_workdir_writes_there_and_the_kernel_sees_it(outside, tmp_path, monkeypatch, capsys):
    work = where_notebook(tmp_path / "work")
    monkeypatch.setenv(workspace.WORKDIR_ENV, "")  # main sets it; monkeypatch restores it afterwards
    assert main(["run", "--workdir", str(work), "--profile", "smoke"]) == 0
    assert f"executed {work.resolve() / 'outputs' / 'notebooks' / 'smoke' / '01_where.ipynb'}" in capsys.readouterr().out
    where = json.loads((work / "where.json").read_text())
    assert where == {"python": where["python"], "strokelib": where["strokelib"], "root": str(work.resolve()), "seed": 0}
    assert Path(where["strokelib"]).resolve().is_relative_to(ROOT)  # this checkout's strokelib
    assert not list(outside.iterdir())  # nothing in the current folder
    (tmp_path / "file").write_text("")
    assert main(["run", "--workdir", str(tmp_path / "file" / "w")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_the_kernel_is_one_that_runs_this_python():
    assert _runs_this_python(sys.executable) and _runs_this_python("python")
    assert _runs_this_python(f"python{sys.version_info[0]}.{sys.version_info[1]}")
    assert not _runs_this_python("/opt/elsewhere/bin/python3")
