"""ISLES 2022 end to end: `strokelib train --task ISLES22` on the synthetic ISLES22 set (a tiny model, conftest's
isles22_train), then the real case sub-strokecase0009 (tests/data/isles22) through `strokelib segment --task
ISLES22` from the BIDS root, from its sub-* folder and from one file per modality (NIfTI and .mha), scored with the
challenge's metrics; and every bad input of a folder run failing alone, with its case and file named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from strokelib.cli import main
from strokelib.data import isles22
from strokelib.evaluation.isles22 import isles22_scores
from strokelib.model.checkpoints import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = Path(__file__).parent / "data" / "isles22"
CASE = "sub-strokecase0009"
SES = "ses-0001"
RAW = DATA / "rawdata" / CASE / SES
FILES = {"DWI": RAW / f"{CASE}_{SES}_dwi.nii.gz", "ADC": RAW / f"{CASE}_{SES}_adc.nii.gz",
         "FLAIR": RAW / f"{CASE}_{SES}_flair.nii.gz",
         "OT": DATA / "derivatives" / CASE / SES / f"{CASE}_{SES}_msk.nii.gz"}
FAST = ("--task", "ISLES22", "--device", "cpu", "--threshold", "0.5", "--min-size", "1", "--step", "12", "12", "8")
SCORE_KEYS = {"dice", "volume_difference_ml", "lesion_count_difference", "lesion_f1", "tp", "fp", "fn", "n_truth",
              "n_pred"}


def _segment(source: list[str], out: Path, models: Path, *extra: str) -> tuple[int, pd.DataFrame]:
    """``strokelib segment`` of ``source`` (INPUT and options, or the file options) into ``out``; (exit code, summary)."""
    positional = [source[0], str(out)] if not source[0].startswith("--") else [str(out), source[0]]
    code = main(["segment", *positional, *source[1:], "--models", str(models), *FAST, *extra])
    summary = out / "segmentation_summary.csv"
    return code, (pd.read_csv(summary).set_index("case") if summary.is_file() else pd.DataFrame())


def _copy_case(root: Path, name: str, skip: tuple[str, ...] = ()) -> dict[str, Path]:
    """The real case copied as ``name`` into ``root`` in the challenge-sample layout, less the ``skip`` files."""
    files = {}
    for key, source in FILES.items():
        if key in skip:
            continue
        top = "derivatives" if key == "OT" else "rawdata"
        files[key] = root / top / name / SES / source.name.replace(CASE, name)
        files[key].parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, files[key])
    return files


# ---------------------------------------------------------------------------------------------------------
# strokelib train --task ISLES22
# ---------------------------------------------------------------------------------------------------------
def test_train_reads_the_synthetic_isles22_set_and_records_the_modalities(isles22_train, isles22_models):
    synthetic, out = isles22_train
    roots = [p for p in synthetic.glob("ISLES22_small_n4_seed0_v*") if p.is_dir()]
    assert len(roots) == 1  # the embedded set, generated where STROKELIB_SYNTHETIC_DIR points
    table = isles22.find_isles22_cases(roots[0])
    empty = [cid for cid, files in table.items() if not np.asarray(nib.load(str(files["OT"])).dataobj).any()]
    assert empty == ["sub-strokecase0003"]  # a lesion-free case, as ISLES 2022 has
    assert sorted(p.name for p in isles22_models.glob("fold*.pt")) == ["fold0.pt", "fold1.pt"]
    used = set()
    for k in (0, 1):
        meta = load_checkpoint(isles22_models / f"fold{k}.pt")["meta"]
        assert (meta["task"], meta["reference"]) == ("ISLES22", "DWI")  # symmetric modalities flip DWI
        assert meta["modalities"] == ["DWI", "ADC", "sym_DWI", "sym_ADC"] and meta["spacing"] == [4.0, 4.0, 4.0]
        used |= {*meta["train_ids"], *meta["val_ids"]}
    assert "sub-strokecase0003" in used  # the balanced sampler trained on the empty-mask case (healthy patches)
    assert not (out / "flair_cache").exists()  # a DWI,ADC model never reads FLAIR


def test_train_refuses_modalities_it_cannot_read(tmp_path, capsys):
    assert main(["train", "--task", "ISLES22", "--modalities", "DWI,T2", "--out", str(tmp_path)]) == 2
    assert "--modalities 'DWI,T2'" in capsys.readouterr().err
    assert main(["train", "--task", "SPES", "--modalities", "DWI,ADC", "--out", str(tmp_path)]) == 2
    assert "ISLES22 models" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# strokelib segment --task ISLES22 on the real case
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mha_files(tmp_path_factory) -> dict[str, Path]:
    """The real DWI and ADC as MetaImage files, as a grand-challenge container receives them."""
    import SimpleITK as sitk

    folder = tmp_path_factory.mktemp("isles22_mha")
    files = {key: folder / f"{key.lower()}.mha" for key in ("DWI", "ADC")}
    for key, path in files.items():
        sitk.WriteImage(sitk.ReadImage(str(FILES[key])), str(path))
    return files


SOURCES = {
    "root": lambda mha: [str(DATA)],
    "sub-folder": lambda mha: [str(DATA / "rawdata" / CASE)],
    "nifti files": lambda mha: ["--dwi", str(FILES["DWI"]), "--adc", str(FILES["ADC"])],
    "mha files": lambda mha: ["--dwi", str(mha["DWI"]), "--adc", str(mha["ADC"])],
}


@pytest.fixture(scope="module")
def segmented(isles22_models, mha_files, tmp_path_factory) -> dict[str, tuple[Path, pd.Series]]:
    """{source: (the case's output folder, its summary row)} for every input form of SOURCES."""
    results = {}
    for name, source in SOURCES.items():
        out = tmp_path_factory.mktemp("isles22_segment")
        code, summary = _segment(source(mha_files), out, isles22_models)
        assert code == 0, name
        assert len(summary) == 1, name
        case = summary.index[0]
        results[name] = (out / case, summary.loc[case])
    return results


@pytest.mark.parametrize("source", list(SOURCES))
def test_the_real_case_is_segmented_on_its_dwi_grid(segmented, source):
    folder, row = segmented[source]
    assert row["status"] == "done" and row.name == (CASE if source in ("root", "sub-folder") else "input")
    dwi = nib.load(str(FILES["DWI"]))
    for name, dtype in (("probability.nii.gz", np.float32), ("mask.nii.gz", np.uint8)):
        img = nib.load(str(folder / name))
        assert img.shape == (112, 112, 73) and img.get_data_dtype() == dtype
        assert np.allclose(img.affine, dwi.affine, atol=1e-5)  # .mha: the DWI's geometry as a NIfTI affine
        assert img.header.get_zooms() == pytest.approx(dwi.header.get_zooms())
    if source != "mha files":  # the NIfTI DWI's own header: qform and sform as in the file
        assert np.array_equal(img.header.get_qform(), dwi.header.get_qform())
        assert np.array_equal(img.header.get_sform(), dwi.header.get_sform())
        assert int(img.header["qform_code"]) == int(dwi.header["qform_code"])
    mask = np.asarray(img.dataobj)
    assert set(np.unique(mask)) <= {0, 1} and int(mask.sum()) == int(row["voxels"])
    assert row["lesion_ml"] == pytest.approx(mask.sum() * 0.008, abs=1e-3)
    probability = nib.load(str(folder / "probability.nii.gz")).get_fdata()
    assert probability.min() >= 0 and probability.max() <= 1
    assert np.array_equal(mask, (probability > 0.5).astype(np.uint8))  # Th 0.5, S_min 1
    record = json.loads((folder / "segmentation.json").read_text())
    assert set(record["provenance"]["data"][row.name]) == {"DWI", "ADC"}  # FLAIR is neither needed nor read
    assert "flair_registration" not in record["result"] and "resampled 2×2×2 mm -> 4×4×4 mm" in row["warning"]


def test_every_input_form_gives_the_same_segmentation(segmented):
    masks = {name: np.asarray(nib.load(str(folder / "mask.nii.gz")).dataobj) for name, (folder, _) in segmented.items()}
    probability = {name: nib.load(str(folder / "probability.nii.gz")).get_fdata()
                   for name, (folder, _) in segmented.items()}
    for name in ("sub-folder", "nifti files"):  # the same files: the same bytes of output
        assert np.array_equal(masks[name], masks["root"]) and np.array_equal(probability[name], probability["root"])
    assert np.abs(probability["mha files"] - probability["root"]).max() < 1e-3  # .mha voxels within 6e-5


def test_the_real_segmentation_is_scored_with_the_challenge_metrics(segmented):
    """A model trained on 4 synthetic cases is not expected to find the real lesion: only the scores' form is
    checked (measured here: Dice 0.00, lesion F1 0.01, 162 predicted components against 18 lesions)."""
    folder, _ = segmented["root"]
    mask = np.asarray(nib.load(str(folder / "mask.nii.gz")).dataobj)
    truth = np.asarray(nib.load(str(FILES["OT"])).dataobj)
    scores = isles22_scores(mask, truth, 0.008)
    assert set(scores) == SCORE_KEYS
    assert 0 <= scores["dice"] <= 1 and 0 <= scores["lesion_f1"] <= 1
    assert scores["volume_difference_ml"] == pytest.approx(abs(int(mask.sum()) - 523) * 0.008)
    assert scores["n_truth"] == 18 and scores["tp"] + scores["fn"] == 18
    assert scores["lesion_count_difference"] == abs(scores["n_pred"] - 18)


def test_a_rerun_skips_the_finished_case(segmented, isles22_models, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(segmented["root"][0].parent, out)
    code, summary = _segment([str(DATA)], out, isles22_models)
    assert code == 0 and summary.loc[CASE, "status"] == "skipped"
    assert summary.loc[CASE, "reason"].startswith("done earlier")


# ---------------------------------------------------------------------------------------------------------
# Bad input: each case fails alone, with its case and file named
# ---------------------------------------------------------------------------------------------------------
def test_a_folder_run_names_every_bad_case_and_finishes_the_others(isles22_models, tmp_path, capsys):
    root = tmp_path / "isles22"
    _copy_case(root, "sub-strokecase0001")  # clean
    _copy_case(root, "sub-strokecase0002", skip=("ADC",))
    _copy_case(root, "sub-strokecase0003", skip=("DWI",))
    flair_mask = _copy_case(root, "sub-strokecase0004")
    shutil.copyfile(flair_mask["FLAIR"], flair_mask["OT"])  # a mask on the FLAIR grid
    grids = _copy_case(root, "sub-strokecase0005")
    adc = nib.load(str(grids["ADC"]))
    nib.save(nib.Nifti1Image(np.asarray(adc.dataobj)[:, :, :70], adc.affine, adc.header), str(grids["ADC"]))
    four_d = _copy_case(root, "sub-strokecase0006")
    dwi = nib.load(str(four_d["DWI"]))
    data = np.asarray(dwi.dataobj)
    nib.save(nib.Nifti1Image(np.stack([data, data], axis=-1), dwi.affine), str(four_d["DWI"]))  # all b-values
    broken_flair = _copy_case(root, "sub-strokecase0007", skip=("OT",))
    broken_flair["FLAIR"].write_bytes(b"not an image")  # never read: the models do not use FLAIR
    (root / "rawdata" / "sub-strokecase0008" / SES).mkdir(parents=True)  # a sub-* folder without any image

    code, summary = _segment([str(root)], tmp_path / "out", isles22_models)
    assert code == 1  # failed cases make the run exit non-zero
    assert summary["status"].to_dict() == {
        "sub-strokecase0001": "done", "sub-strokecase0002": "failed", "sub-strokecase0003": "failed",
        "sub-strokecase0004": "failed", "sub-strokecase0005": "failed", "sub-strokecase0006": "failed",
        "sub-strokecase0007": "done", "sub-strokecase0008": "failed"}
    reason = summary["reason"].to_dict()
    assert reason["sub-strokecase0002"].startswith("case sub-strokecase0002: no ADC image; modalities DWI, ADC need")
    assert "sub-strokecase0002/ses-0001" in reason["sub-strokecase0002"]  # the folder it looked in
    assert reason["sub-strokecase0003"].startswith("case sub-strokecase0003: no DWI image")
    assert "sub-strokecase0004_ses-0001_msk.nii.gz has shape (512, 512, 29) but" in reason["sub-strokecase0004"]
    assert "sub-strokecase0004_ses-0001_dwi.nii.gz" in reason["sub-strokecase0004"]
    assert "sub-strokecase0005_ses-0001_adc.nii.gz has shape (112, 112, 70) but" in reason["sub-strokecase0005"]
    assert "sub-strokecase0006_ses-0001_dwi.nii.gz is 4-D (112×112×73×2)" in reason["sub-strokecase0006"]
    assert "b=1000" in reason["sub-strokecase0006"]
    assert reason["sub-strokecase0008"].startswith("case sub-strokecase0008: no DWI, ADC image")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "segmentation_summary.csv", "sub-strokecase0001", "sub-strokecase0007"]  # failed cases leave no folder
    out = capsys.readouterr().out
    assert "2 done, 0 skipped, 6 failed" in out


def test_a_single_bad_case_is_one_error_naming_its_file(isles22_models, tmp_path, capsys):
    four_d = _copy_case(tmp_path / "in", CASE)
    dwi = nib.load(str(four_d["DWI"]))
    data = np.asarray(dwi.dataobj)
    nib.save(nib.Nifti1Image(np.stack([data, data], axis=-1), dwi.affine), str(four_d["DWI"]))
    code, _ = _segment([str(tmp_path / "in" / "rawdata" / CASE)], tmp_path / "out", isles22_models)
    err = capsys.readouterr().err
    assert code == 2 and f"{CASE}_{SES}_dwi.nii.gz is 4-D" in err and not (tmp_path / "out").exists()
    code, _ = _segment(["--dwi", str(FILES["DWI"])], tmp_path / "out", isles22_models)
    assert code == 2 and "case input: no ADC image; modalities DWI, ADC need DWI, ADC" in capsys.readouterr().err
    code, _ = _segment([str(DATA), "--split", "training"], tmp_path / "out", isles22_models)
    assert code == 2 and "no splits" in capsys.readouterr().err
    assert main(["segment", str(DATA), str(tmp_path / "out"), "--models", str(isles22_models), "--task", "ISLES22"]) == 2
    assert "give both --threshold and --min-size" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# Models that read FLAIR
# ---------------------------------------------------------------------------------------------------------
def test_flair_models_register_flair_and_need_it(isles22_train, tmp_path, capsys):
    """A DWI,ADC,FLAIR model (fold 0 of two, two synthetic cases): FLAIR registered onto DWI and cached under the
    outputs folder in training, registered again in segment (figures in segmentation.json); a case without FLAIR
    fails alone."""
    synthetic = next(p for p in isles22_train[0].glob("ISLES22_small_n4_seed0_v*") if p.is_dir()) / "ISLES-2022"
    train_root = tmp_path / "train" / "ISLES-2022"
    for case in ("sub-strokecase0001", "sub-strokecase0002"):
        shutil.copytree(synthetic / case, train_root / case)
        shutil.copytree(synthetic / "derivatives" / case, train_root / "derivatives" / case)
    out = tmp_path / "out"
    args = ["train", *ISLES22_FLAIR_ARGS, "--data-root", str(train_root.parent), "--out", str(out)]
    assert main(args) == 0
    models = out / "models" / "ISLES22" / "balanced"
    assert load_checkpoint(models / "fold0.pt")["meta"]["modalities"] == ["DWI", "ADC", "FLAIR"]
    assert len(list((out / "flair_cache").glob("sub-strokecase000*/flair_*/registration.json"))) == 2

    seg_root = tmp_path / "seg" / "ISLES-2022"
    for case in ("sub-strokecase0003", "sub-strokecase0004"):
        shutil.copytree(synthetic / case, seg_root / case)
    (seg_root / "sub-strokecase0004" / SES / "anat" / f"sub-strokecase0004_{SES}_FLAIR.nii.gz").unlink()
    code, summary = _segment([str(seg_root.parent)], tmp_path / "seg_out", models)
    assert code == 1 and summary["status"].to_dict() == {"sub-strokecase0003": "done", "sub-strokecase0004": "failed"}
    assert summary.loc["sub-strokecase0004", "reason"].startswith(
        "case sub-strokecase0004: no FLAIR image; modalities DWI, ADC, FLAIR need")
    record = json.loads((tmp_path / "seg_out" / "sub-strokecase0003" / "segmentation.json").read_text())
    figures = record["result"]["flair_registration"]
    assert figures["mi_registered"] < figures["mi_header"] and figures["rotation_deg"] < 15
    assert set(record["provenance"]["data"]["sub-strokecase0003"]) == {"DWI", "ADC", "FLAIR"}
    dwi = nib.load(str(seg_root / "sub-strokecase0003" / SES / "dwi" / f"sub-strokecase0003_{SES}_dwi.nii.gz"))
    mask = nib.load(str(tmp_path / "seg_out" / "sub-strokecase0003" / "mask.nii.gz"))
    assert mask.shape == dwi.shape and np.allclose(mask.affine, dwi.affine)  # the DWI grid, not FLAIR's
    code, _ = _segment(["--dwi", str(FILES["DWI"]), "--adc", str(FILES["ADC"])], tmp_path / "no_flair", models)
    assert code == 2 and "no FLAIR image" in capsys.readouterr().err
    files = ["--dwi", str(FILES["DWI"]), "--adc", str(FILES["ADC"]), "--flair", str(FILES["FLAIR"])]
    code, summary = _segment(files, tmp_path / "with_flair", models)  # the real case, one file per modality
    assert code == 0 and summary["status"].tolist() == ["done"]
    record = json.loads((tmp_path / "with_flair" / "input" / "segmentation.json").read_text())
    assert record["result"]["flair_registration"]["rotation_deg"] < 5


ISLES22_FLAIR_ARGS = ("--task", "ISLES22", "--approach", "balanced", "--modalities", "DWI,ADC,FLAIR", "--fold", "0",
                      "--profile", "smoke", "--device", "cpu", "-p", "train_n_folds", "2",
                      "-p", "train_early_stopping", "held_out", "-p", "train_base_filters", "4",
                      "-p", "train_patches_per_case", "8", "-p", "train_val_patches_per_case", "4")
