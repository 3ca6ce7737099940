"""The command line end to end on a tiny synthetic set: synth, check-data, train one fold, segment, evaluate.

The set (4 training, 3 testing cases) and the fold are the session's shared read-only ones (``conftest.py``)."""

from __future__ import annotations

import os
import shutil

import nibabel as nib
import numpy as np
import pytest

from strokelib.cli import main
from strokelib.data import cases as datasets
from strokelib.data import layout
from strokelib.files import save_nifti


@pytest.fixture(scope="module")
def synth_root(spes_root):
    """``strokelib synth`` as a user runs it: the session's shared set (read-only: copied before it is broken)."""
    return spes_root


@pytest.fixture(scope="module")
def models_dir(spes_balanced_models):
    """``strokelib train --approach balanced --fold 0``: the session's shared fold (read-only)."""
    return spes_balanced_models


def test_check_data_clean_then_lists_every_problem(synth_root, tmp_path, capsys):
    assert main(["check-data", str(synth_root), "--task", "SPES"]) == 0
    broken = tmp_path / "broken"
    shutil.copytree(synth_root, broken)
    cases = datasets.find_isles2015(broken, "SPES")
    shutil.rmtree(cases["1"]["CBF"].parent)                       # a missing modality
    (cases["2"]["DWI"].parent.parent / "notes.txt").write_text("")  # an unknown file
    img = nib.load(str(cases["3"]["Tmax"]))
    data = np.asarray(img.dataobj, dtype=np.float32)
    data[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(data, img.affine), str(cases["3"]["Tmax"]))  # NaN
    capsys.readouterr()
    assert main(["check-data", str(broken), "--task", "SPES"]) == 1
    out = capsys.readouterr().out
    assert "case 1: missing CBF" in out and "notes.txt: unknown file" in out and "NaN/Inf" in out
    assert "3 problem(s)" in out
    assert main(["check-data", str(broken), "--task", "SISS"]) == 1  # wrong task: said, not a traceback


def test_train_writes_a_self_describing_fold(models_dir):
    assert (models_dir / "fold0.pt").is_file() and (models_dir / "fold0_history.csv").is_file()


def test_segment_writes_probability_and_mask_with_the_input_header(synth_root, models_dir, tmp_path, capsys):
    case_dir = next((synth_root / "SPES2015_Testing").iterdir())
    out = tmp_path / "seg"
    assert main(["segment", str(case_dir), str(out), "--models", str(models_dir), "--task", "SPES"]) == 2
    assert "postprocessing.json" in capsys.readouterr().err  # Th/S_min not chosen yet: a clear message
    code = main(["segment", str(case_dir), str(out), "--models", str(models_dir), "--task", "SPES", "--threshold", "0.5",
                 "--min-size", "1", "--step", "8", "8", "4", "--device", "cpu"])
    assert code == 0 and "lesion volume:" in capsys.readouterr().out
    source = nib.load(str(layout.case_files(case_dir, "SPES")["DWI"]))
    case_out = out / case_dir.name  # one folder per case, also for a single case
    for name in ("probability.nii.gz", "mask.nii.gz"):
        written = nib.load(str(case_out / name))
        assert written.shape == source.shape and np.allclose(written.affine, source.affine)
    mask = np.asarray(nib.load(str(case_out / "mask.nii.gz")).dataobj)
    assert set(np.unique(mask)) <= {0, 1}
    assert sorted(p.name for p in out.iterdir()) == [case_dir.name, "segmentation_summary.csv"]  # no temporary left
    assert sorted(p.name for p in case_out.iterdir()) == ["mask.nii.gz", "probability.nii.gz", "segmentation.json"]


def test_segment_refuses_missing_modalities_and_wrong_task(synth_root, models_dir, tmp_path, capsys):
    files = layout.case_files(next((synth_root / "SPES2015_Testing").iterdir()), "SPES")
    assert main(["segment", str(tmp_path / "o"), "--models", str(models_dir), "--task", "SPES", "--dwi", str(files["DWI"])]) == 2
    assert "missing --cbf" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "o"), "--models", str(models_dir), "--task", "SISS",
                 "--flair", str(files["T2"]), "--t1", str(files["T1c"]), "--t2", str(files["T2"]), "--dwi", str(files["DWI"])]) == 2
    assert "trained for SPES" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_evaluate_scores_perfect_and_empty_predictions(synth_root, tmp_path, capsys):
    cases = datasets.load_isles2015(synth_root, "SPES", progress=False)
    pred = tmp_path / "pred"
    for case in cases:
        mask = case.label if case.case_id != "4" else np.zeros_like(case.label)
        save_nifti(mask, case, pred / f"{case.case_id}.nii.gz")
    assert main(["evaluate", str(pred), str(synth_root), "--task", "SPES"]) == 0
    out = capsys.readouterr().out
    table = np.genfromtxt(pred / "evaluation_SPES.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert list(table["dsc"]) == [1.0, 1.0, 1.0, 0.0]
    assert "HD undefined" in out
    (pred / "4.nii.gz").unlink()
    assert main(["evaluate", str(pred), str(synth_root), "--task", "SPES"]) == 2
    assert "case 4: no prediction" in capsys.readouterr().err


def test_fresh_and_accept_code_change_mean_the_same_in_every_command(tmp_path, monkeypatch):
    from strokelib import provenance
    from strokelib.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {}
    for command in ("run", "train", "postprocess", "segment"):
        options = {o: a for a in sub.choices[command]._actions for o in a.option_strings}
        assert {"--fresh", "--accept-code-change"} <= set(options), command
        helps[command] = options["--fresh"].help.split(" (default")[0]
    assert len(set(helps.values())) == 1 and "whose record matches are kept" in helps["train"]
    monkeypatch.setenv(provenance.ACCEPT_CODE_CHANGE_ENV, "0")  # recorded, so the value main sets is undone
    assert main(["postprocess", "--models", str(tmp_path / "none"), "--accept-code-change"]) == 2
    assert os.environ[provenance.ACCEPT_CODE_CHANGE_ENV] == "1"


def test_version_is_the_code_version_records_store(capsys):
    from strokelib import __version__, provenance

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out.strip()
    commit = provenance.code_commit()  # this checkout's, or None (no git, or an installed copy)
    assert out == f"strokelib {provenance.code_version()}" + (f" (git commit {commit})" if commit else "")
    assert out.startswith(f"strokelib {__version__}+")


@pytest.mark.parametrize("commit", ["1234567-dirty", None])
def test_version_names_the_git_commit_when_there_is_one(capsys, monkeypatch, commit):
    from strokelib import provenance

    monkeypatch.setattr(provenance, "code_commit", lambda: commit)
    with pytest.raises(SystemExit):
        main(["--version"])
    out = capsys.readouterr().out.strip()
    assert out == f"strokelib {provenance.code_version()}" + (" (git commit 1234567-dirty)" if commit else "")
