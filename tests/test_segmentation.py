"""``strokelib segment`` and ``strokelib.segment`` on folders of cases: per-case outputs, summary, resume, shards,
a broken case among good ones, and the whole-head warning. On the session's shared read-only synthetic set (its 3
testing cases) and tiny trained fold (``conftest.py``)."""

from __future__ import annotations

import json
import logging
import shutil
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import strokelib
from strokelib.cli import main
from strokelib.data import cases as datasets
from strokelib.data import layout
from strokelib.errors import ConfigError
from strokelib.files import save_nifti
from strokelib.inference import segment as segmentation

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = ["--task", "SPES", "--threshold", "0.5", "--min-size", "1", "--step", "8", "8", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def synth_root(spes_root):
    return spes_root


@pytest.fixture(scope="module")
def models_dir(spes_balanced_models):
    return spes_balanced_models


@pytest.fixture(scope="module")
def batch(synth_root, models_dir, tmp_path_factory):
    """The testing split segmented once through the command line: (OUT, summary table, stdout)."""
    out = tmp_path_factory.mktemp("seg_out") / "out"
    assert main(["segment", str(synth_root), str(out), "--models", str(models_dir), "--split", "testing", *FAST]) == 0
    return out, pd.read_csv(out / "segmentation_summary.csv")


def segment_cli(inputs, out, models_dir, *extra) -> int:
    return main(["segment", str(inputs), str(out), "--models", str(models_dir), *FAST, *extra])


def mtimes(out):
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_folder_of_cases_gives_one_folder_per_case_and_a_summary(batch, synth_root):
    out, table = batch
    assert list(table.columns) == list(segmentation.COLUMNS)
    assert list(table["case"].astype(str)) == ["1", "2", "3"] and set(table["status"]) == {"done"}
    assert set(table["mode"]) == {"patches 8x8x4"} and set(table["Th"]) == {0.5} and set(table["S_min"]) == {1}
    assert sorted(p.name for p in out.iterdir()) == ["1", "2", "3", "segmentation_summary.csv"]  # no staging left
    testing = datasets.find_isles2015(synth_root, "SPES", "testing")
    for row in table.itertuples():
        source = nib.load(str(testing[str(row.case)]["DWI"]))
        mask = nib.load(str(out / str(row.case) / "mask.nii.gz"))
        assert mask.shape == source.shape and np.allclose(mask.affine, source.affine)
        voxels = int(np.asarray(mask.dataobj).sum())
        assert voxels == row.voxels
        assert row.lesion_ml == pytest.approx(voxels * np.prod(source.header.get_zooms()[:3]) / 1000, abs=1e-3)
        record = json.loads((out / str(row.case) / "segmentation.json").read_text())
        assert record["provenance"]["step"] == [8, 8, 4] and len(record["provenance"]["model_files"]) == 1


def test_a_root_with_both_splits_needs_split(synth_root, models_dir, tmp_path, capsys):
    assert segment_cli(synth_root, tmp_path / "o", models_dir) == 2
    assert "pass --split training or --split testing" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_rerun_skips_finished_cases_and_other_settings_need_fresh(batch, synth_root, models_dir, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    before = mtimes(out)
    assert segment_cli(synth_root, out, models_dir, "--split", "testing") == 0
    table = pd.read_csv(out / "segmentation_summary.csv")
    assert set(table["status"]) == {"skipped"} and table["reason"].str.startswith("done earlier").all()
    assert list(table["voxels"]) == list(batch[1]["voxels"])  # the stored results are reported again
    assert {k: v for k, v in mtimes(out).items() if "summary" not in k} == {k: v for k, v in before.items() if "summary" not in k}

    capsys.readouterr()
    assert segment_cli(synth_root, out, models_dir, "--split", "testing", "--threshold", "0.7") == 1  # other Th
    table = pd.read_csv(out / "segmentation_summary.csv")
    assert set(table["status"]) == {"skipped"} and table["reason"].str.contains("threshold: 0.5 ≠ 0.7").all()
    assert table["reason"].str.contains("--fresh").all() and "pass --fresh" in capsys.readouterr().out
    assert mtimes(out)["1/mask.nii.gz"] == before["1/mask.nii.gz"]  # not overwritten

    assert segment_cli(synth_root, out, models_dir, "--split", "testing", "--threshold", "0.7", "--fresh") == 0
    assert set(pd.read_csv(out / "segmentation_summary.csv")["status"]) == {"done"}
    assert json.loads((out / "1" / "segmentation.json").read_text())["provenance"]["threshold"] == 0.7
    assert sorted(p.name for p in out.iterdir()) == ["1", "2", "3", "segmentation_summary.csv"]


def test_fresh_keeps_matching_cases_and_a_code_change_is_named(batch, synth_root, models_dir, tmp_path, monkeypatch):
    from strokelib import provenance

    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    before = mtimes(out)
    assert segment_cli(synth_root, out, models_dir, "--split", "testing", "--fresh") == 0
    assert set(pd.read_csv(out / "segmentation_summary.csv")["status"]) == {"skipped"}  # same record: kept
    assert mtimes(out)["1/mask.nii.gz"] == before["1/mask.nii.gz"]
    monkeypatch.setattr(provenance, "code_version", lambda: "9.9.9+000000000000")
    assert segment_cli(synth_root, out, models_dir, "--split", "testing") == 1
    reasons = pd.read_csv(out / "segmentation_summary.csv")["reason"]
    assert reasons.str.contains("another version of strokelib").all() and reasons.str.contains("--accept-code-change").all()
    monkeypatch.setenv(provenance.ACCEPT_CODE_CHANGE_ENV, "1")
    assert segment_cli(synth_root, out, models_dir, "--split", "testing") == 0
    assert mtimes(out)["1/mask.nii.gz"] == before["1/mask.nii.gz"]


def test_a_case_missing_a_modality_fails_alone(synth_root, models_dir, tmp_path, capsys):
    cases = tmp_path / "cases"
    shutil.copytree(layout.resolve_split_folder(synth_root, "SPES", "testing"), cases)
    shutil.rmtree(layout.case_files(cases / "2", "SPES")["CBF"].parent)
    out = tmp_path / "out"
    assert segment_cli(cases, out, models_dir) == 1
    table = pd.read_csv(out / "segmentation_summary.csv").set_index("case")
    assert list(table["status"]) == ["done", "failed", "done"]
    assert "missing CBF" in table.loc[2, "reason"] and "case 2: failed" in capsys.readouterr().out
    assert not (out / "2").exists() and (out / "3" / "mask.nii.gz").is_file()


def test_shards_split_the_cases_without_overlap(synth_root, models_dir, tmp_path):
    out = tmp_path / "out"
    for k in (0, 1):
        assert segment_cli(synth_root, out, models_dir, "--split", "testing", "--shard", f"{k}/2") == 0
    shards = [set(pd.read_csv(out / f"segmentation_summary.shard-{k}-of-2.csv")["case"].astype(str)) for k in (0, 1)]
    assert shards == [{"1", "3"}, {"2"}]
    assert not (out / "segmentation_summary.csv").exists()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["1", "2", "3"]
    assert segment_cli(synth_root, out, models_dir, "--split", "testing", "--shard", "3/4") == 0  # no case left
    assert pd.read_csv(out / "segmentation_summary.shard-3-of-4.csv").empty
    with pytest.raises(ConfigError, match="K must lie in 0..N-1"):
        segmentation.parse_shard("2/2")


def test_the_python_api_returns_the_table_the_cli_writes(batch, synth_root, models_dir, tmp_path):
    out = tmp_path / "out"
    table = strokelib.segment(synth_root, models_dir, "SPES", out, split="testing", step=(8, 8, 4), device="cpu",
                              threshold=0.5, min_size=1, progress=False)
    written = pd.read_csv(out / "segmentation_summary.csv")
    assert list(table.columns) == list(written.columns) == list(batch[1].columns)
    compare = ["case", "status", "lesion_ml", "voxels", "mode", "Th", "S_min"]
    pd.testing.assert_frame_equal(table[compare].astype({"case": int}), written[compare], check_dtype=False)
    pd.testing.assert_frame_equal(written[compare], batch[1][compare], check_dtype=False)  # same as the CLI's run


def test_whole_head_warning(synth_root, models_dir, tmp_path, caplog, capsys):
    case_dir = tmp_path / "cases" / "1"
    shutil.copytree(layout.resolve_split_folder(synth_root, "SPES", "testing") / "1", case_dir)
    path = layout.case_files(case_dir, "SPES")["T2"]
    img = nib.load(str(path))
    data = np.asarray(img.dataobj, dtype=np.float32)
    data[data == 0] = 5.0  # "scalp" everywhere outside the brain
    path.unlink()
    nib.save(nib.Nifti1Image(data, img.affine, img.header), str(path))
    with caplog.at_level(logging.WARNING, logger="strokelib"):
        assert segment_cli(case_dir, tmp_path / "out", models_dir) == 0
    row = pd.read_csv(tmp_path / "out" / "segmentation_summary.csv").iloc[0]
    assert "skull-stripped" in row["warning"] and "SynthStrip" in row["warning"] and "6 faces" in row["warning"]
    assert any("looks like a whole head" in r.getMessage() for r in caplog.records)
    assert "warning: " in capsys.readouterr().out


def test_whole_head_thresholds():
    inner = np.zeros((20, 20, 10), bool)
    inner[3:17, 3:17, 2:8] = True
    assert segmentation.whole_head_warning(SimpleNamespace(brain_mask=inner)) == ""  # a skull-stripped brain
    touching = inner.copy()
    touching[0, 5, 5] = touching[-1, 5, 5] = touching[5, 0, 5] = touching[5, -1, 5] = True
    assert "4 of its 6 faces" in segmentation.whole_head_warning(SimpleNamespace(brain_mask=touching))
    big = np.zeros_like(inner)
    big[1:19, 1:19, 1:9] = True  # 65 % of the volume, no face touched
    assert "65%" in segmentation.whole_head_warning(SimpleNamespace(brain_mask=big))


def test_fast_mode_is_recorded_and_agrees_with_patches(synth_root, models_dir, batch, tmp_path):
    out, table = batch
    fast = strokelib.segment(synth_root, models_dir, "SPES", tmp_path / "fast", split="testing", threshold=0.5,
                             min_size=1, device="cpu", fast=True, progress=False)
    assert set(fast["mode"]) == {"whole volume (fast)"} and set(fast["status"]) == {"done"}
    patch_map = nib.load(str(out / "1" / "probability.nii.gz")).get_fdata()
    fast_map = nib.load(str(tmp_path / "fast" / "1" / "probability.nii.gz")).get_fdata()
    assert fast_map.shape == patch_map.shape and np.corrcoef(fast_map.ravel(), patch_map.ravel())[0, 1] > 0.8


def test_a_case_at_another_voxel_size_is_resampled_and_written_on_its_own_grid(synth_root, models_dir, tmp_path):
    from strokelib.data import geometry

    files = datasets.find_isles2015(synth_root, "SPES", "testing")["1"]
    case = datasets.load_case(files, "SPES", "1")
    finer = geometry.resample_case(case, [s / 2 for s in case.spacing])
    folder = tmp_path / "fine" / "1"
    for m in case.modalities:
        save_nifti(finer.channel(m), finer, folder / f"{m}.nii.gz", dtype=np.float32)
    table = strokelib.segment(folder, models_dir, "SPES", tmp_path / "out", threshold=0.5, min_size=1,
                              step=(8, 8, 4), device="cpu", progress=False)
    assert table["status"].tolist() == ["done"] and "resampled" in table["warning"].iloc[0]
    written = nib.load(str(tmp_path / "out" / "1" / "probability.nii.gz"))
    source = nib.load(str(folder / "DWI.nii.gz"))
    assert written.shape == source.shape and np.allclose(written.affine, source.affine)
