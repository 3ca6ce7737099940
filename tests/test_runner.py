"""The papermill runner: profiles, notebook selection, parameter parsing, failure reporting."""

from __future__ import annotations

import io
import os

import nbformat
import pytest

from strokelib.errors import ConfigError, NotebookError
from strokelib.notebooks import (
    TCP_WARNING,
    forward_kernel_stderr,
    load_profile,
    notebook_paths,
    project_root,
    run_notebooks,
)
from strokelib.settings import parse_value


def test_profiles_exist_and_share_the_core_keys():
    keys = {"data_root", "task", "seed", "interactive", "figures_dir", "outputs_dir"}
    for name in ("smoke", "demo", "paper"):
        assert keys <= set(load_profile(name))


def test_unknown_profile_and_notebook_number_are_clear_errors():
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        load_profile("nope")
    with pytest.raises(ConfigError, match="no notebook numbered 99"):
        notebook_paths(only=["99"])


def test_notebooks_are_numbered_in_order():
    names = [p.name for p in notebook_paths()]
    assert names == sorted(names) and names[0].startswith("01_")
    assert [p.name[:2] for p in notebook_paths(only=["1"])] == ["01"]


def test_parse_value_uses_yaml_rules():
    assert parse_value("3") == 3 and parse_value("true") is True and parse_value("[4, 4, 1]") == [4, 4, 1]
    assert parse_value("/data/ISLES2015") == "/data/ISLES2015"


def test_failing_notebook_reports_cell_and_traceback(tmp_path, capfd):
    root = tmp_path / "repo"
    (root / "notebooks" / "profiles").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "notebooks" / "profiles" / "smoke.yaml").write_text("seed: 1\n")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("seed = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('cell two ran')"),
                nbformat.v4.new_code_cell("y = 1 / (seed - 1)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "notebooks" / "01_fails.ipynb")
    assert project_root(root / "notebooks") == root
    with pytest.raises(NotebookError) as info:
        run_notebooks("smoke", root=root, output_dir=tmp_path / "out")
    assert "01_fails.ipynb failed" in str(info.value) and "ZeroDivisionError" in str(info.value)
    seen = capfd.readouterr()
    assert "cell two ran" in seen.out and "1/4 [00:0" in seen.err  # the notebook's own output reaches the terminal
    assert "01_fails.ipynb" in seen.err and "cell/s]" in seen.err  # the cell progress bar, with elapsed time
    assert TCP_WARNING not in seen.err


def test_kernel_stderr_drops_only_the_tcp_warning():
    read, write = os.pipe()
    os.write(write, f"[IPKernelApp] WARNING | {TCP_WARNING}. All communication ...\nkernel died\n".encode())
    os.close(write)
    sink = io.StringIO()
    forward_kernel_stderr(read, sink)
    assert sink.getvalue() == "kernel died\n"


def test_misspelt_parameter_is_refused_before_running():
    with pytest.raises(ConfigError, match="no notebook in this run has a parameter named data_rot"):
        run_notebooks("smoke", only=["01"], parameters={"data_rot": "/x"})


def test_parameter_of_a_notebook_outside_the_run_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="train_batch_size .read only by notebooks outside this run"):
        run_notebooks("smoke", only=["01"], parameters={"train_batch_size": 8})


def test_wrong_parameter_type_is_refused_before_running():
    with pytest.raises(ConfigError, match=r"inference_step must be three positive integers \[x, y, z\], got \[8, 8\]"):
        run_notebooks("smoke", only=["05"], parameters={"inference_step": [8, 8]})


def test_executed_copies_name_repository_paths_relative_to_it(tmp_path):
    from strokelib.notebooks import relative_paths

    root = tmp_path / "repo"
    executed = tmp_path / "nb.ipynb"
    executed.write_text(f'{{"log": "reading {root}/outputs/demo/x.nii.gz", "cwd": "{root}", "other": "/elsewhere"}}')
    relative_paths(executed, root)
    assert executed.read_text() == '{"log": "reading ./outputs/demo/x.nii.gz", "cwd": ".", "other": "/elsewhere"}'


def test_executed_copy_links_are_rebased_to_where_the_copy_lies(tmp_path):
    from strokelib.notebooks import rebase_folder, rebase_links

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# guide\n")
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("see [the guide](../docs/guide.md#part), [web](https://x.org/a) and "
                                              "[gone](../docs/missing.md)")]
    copy = tmp_path / "docs" / "notebooks" / "01_x.ipynb"
    copy.parent.mkdir()
    nbformat.write(nb, copy)
    rebase_links(copy, tmp_path / "notebooks")  # written for notebooks/, now in docs/notebooks/
    text = nbformat.read(copy, as_version=4).cells[0].source
    assert "[the guide](../guide.md#part)" in text and "(https://x.org/a)" in text and "(../docs/missing.md)" in text
    moved = tmp_path / "docs" / "notebooks" / "spes"
    moved.mkdir()
    (moved / "01_x.ipynb").write_text(copy.read_text())
    rebase_folder(moved, copy.parent)  # copied one folder deeper
    assert "[the guide](../../guide.md#part)" in nbformat.read(moved / "01_x.ipynb", as_version=4).cells[0].source


def test_progress_bars_are_off_where_nobody_watches(monkeypatch):
    from strokelib.progress import PROGRESS_ENV, progress_bar

    monkeypatch.setenv(PROGRESS_ENV, "off")
    assert progress_bar(range(3)).disable
    monkeypatch.delenv(PROGRESS_ENV)
    assert not progress_bar(range(3), file=None).disable
    assert progress_bar(range(3), disable=True).disable


def test_synthetic_data_can_live_elsewhere(monkeypatch, tmp_path):
    from strokelib.settings import SYNTHETIC_DIR_ENV, project_root, synthetic_dir

    monkeypatch.delenv(SYNTHETIC_DIR_ENV, raising=False)
    assert synthetic_dir() == project_root() / "data" / "synthetic"
    monkeypatch.setenv(SYNTHETIC_DIR_ENV, str(tmp_path))
    assert synthetic_dir() == tmp_path


def test_figure_titles_name_synthetic_data():
    from strokelib.notebooks import data_source_label

    assert "synthetic SISS" in data_source_label("", "SISS", "small")
    assert data_source_label("/data/ISLES2015", "SISS") is None


def test_notebooks_follow_the_task_and_06_is_the_isles22_one():
    from strokelib.notebooks import task_notebooks

    assert task_notebooks("SISS") == task_notebooks("spes") == ["01", "02", "03", "04", "05"]
    assert task_notebooks("ISLES22") == ["06"]


def test_run_task_isles22_selects_notebook_06_and_refuses_an_isles2015_one(capsys):
    from strokelib.cli import _task_notebooks

    assert _task_notebooks("ISLES22", []) == ["06"]
    assert _task_notebooks("SISS", []) == ["01", "02", "03", "04", "05"]
    assert _task_notebooks("SPES", ["3"]) == ["3"]
    with pytest.raises(ConfigError, match="--task ISLES22 runs notebook.*06.*--only 01 belongs to ISLES 2015"):
        _task_notebooks("ISLES22", ["01"])
