"""Atomic writes: nothing is left behind on failure, and the final file has the usual permissions."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from strokelib.files import atomic_path, write_csv, write_text


def test_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("interrupted")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_failed_rewrite_keeps_the_previous_version(tmp_path):
    target = write_text(tmp_path / "a.md", "old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]


def test_written_files_follow_the_umask_and_keep_the_suffix(tmp_path):
    path = write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv", index=False)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    with atomic_path(tmp_path / "x.nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"")


def test_replace_folder_swaps_a_finished_folder_in(tmp_path):
    from strokelib.files import replace_folder

    target, stage = tmp_path / "out", tmp_path / ".out.partial"
    target.mkdir()
    (target / "old.txt").write_text("old")
    stage.mkdir()
    (stage / "new.txt").write_text("new")
    assert replace_folder(stage, target) == target
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert not stage.exists() and not list(tmp_path.glob(".out.old-*"))
    second = tmp_path / "second"
    second.mkdir()
    replace_folder(second, tmp_path / "fresh")  # no existing target
    assert (tmp_path / "fresh").is_dir()
