"""The first real MRI: ISLES 2022 sample case sub-strokecase0009 (tests/data/isles22/SOURCE.md), its loader in both
layouts, the challenge's official metrics, and the symmetric modalities of §3.1 on its DWI."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from strokelib.data import isles22
from strokelib.errors import DataLayoutError, EvaluationError, ImageError, PreprocessingError
from strokelib.evaluation import isles22 as scoring
from strokelib.preprocessing.midsagittal import mid_sagittal_plane, symmetry_ncc
from strokelib.preprocessing.symmetric import symmetric_modalities

DATA = Path(__file__).parent / "data" / "isles22"
CASE = "sub-strokecase0009"
SES = "ses-0001"
SAMPLE_FILES = {
    "DWI": f"rawdata/{CASE}/{SES}/{CASE}_{SES}_dwi.nii.gz",
    "ADC": f"rawdata/{CASE}/{SES}/{CASE}_{SES}_adc.nii.gz",
    "FLAIR": f"rawdata/{CASE}/{SES}/{CASE}_{SES}_flair.nii.gz",
    "OT": f"derivatives/{CASE}/{SES}/{CASE}_{SES}_msk.nii.gz",
}
ZENODO_FILES = {
    "DWI": f"ISLES-2022/{CASE}/{SES}/dwi/{CASE}_{SES}_dwi.nii.gz",
    "ADC": f"ISLES-2022/{CASE}/{SES}/dwi/{CASE}_{SES}_adc.nii.gz",
    "FLAIR": f"ISLES-2022/{CASE}/{SES}/anat/{CASE}_{SES}_FLAIR.nii.gz",
    "OT": f"ISLES-2022/derivatives/{CASE}/{SES}/{CASE}_{SES}_msk.nii.gz",
}
# Measured on the files (the challenge repository's SOURCE says 523 voxels, about 4 mL, several foci).
MASK_VOXELS = 523
N_LESIONS = 18  # 26-connected components; the largest has 201 voxels
SHIFT_DICE = 2 * 185 / (2 * MASK_VOXELS)  # the mask moved 2 voxels along X keeps 185 of its voxels: 0.354
SHIFT_COUNTS = (8, 10, 10)  # (tp, fp, fn): 8 of the 18 small foci still touch themselves, lesion F1 = 0.444


@pytest.fixture(scope="module")
def case():
    files = isles22.find_isles22_cases(DATA)[CASE]
    return isles22.load_isles22_case(files, CASE)


def _copy(layout: dict[str, str], root: Path, skip: tuple[str, ...] = ()) -> Path:
    for key, relative in layout.items():
        if key not in skip:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA / SAMPLE_FILES[key], root / relative)
    return root


# ---------------------------------------------------------------------------------------------------------
# Finding and loading the case
# ---------------------------------------------------------------------------------------------------------
def test_the_sample_layout_is_found_from_the_root_and_from_the_case_folder():
    table = isles22.find_isles22_cases(DATA)
    assert list(table) == [CASE]
    assert {k: p.relative_to(DATA).as_posix() for k, p in table[CASE].items()} == SAMPLE_FILES
    assert isles22.find_isles22_cases(DATA / "rawdata" / CASE) == table


def test_the_real_case_loads_on_the_dwi_grid_in_ras(case):
    assert case.modalities == ("DWI", "ADC") and case.task == "ISLES22"
    assert case.images.shape == (2, 112, 112, 73) and case.shape == (112, 112, 73)
    assert case.spacing == (2.0, 2.0, 2.0) and case.voxel_volume_ml == pytest.approx(0.008)
    assert "".join(nib.aff2axcodes(case.source_affine)) == "LAS" and case.orientation == "RAS"
    assert case.source_shape == (112, 112, 73)
    # only the left–right axis was reversed: the case arrays are the files' arrays flipped along X
    dwi_file = nib.load(str(DATA / SAMPLE_FILES["DWI"])).get_fdata(dtype=np.float32)
    np.testing.assert_array_equal(case.channel("DWI"), dwi_file[::-1])
    assert case.label.dtype == np.uint8 and case.label_values == (0, 1)
    assert int(case.label.sum()) == MASK_VOXELS
    assert case.lesion_volume_ml() == pytest.approx(MASK_VOXELS * 0.008)  # 4.184 mL
    assert isles22.lesions(case.label)[1] == N_LESIONS
    assert case.brain_mask[case.label > 0].all()  # every lesion voxel lies where the DWI has signal


def test_the_zenodo_layout_gives_the_same_files_per_modality(tmp_path):
    root = _copy(ZENODO_FILES, tmp_path / "release")
    for where in (root, root / "ISLES-2022", root / "ISLES-2022" / CASE):
        table = isles22.find_isles22_cases(where)
        assert list(table) == [CASE]
        assert {k: p.relative_to(root).as_posix() for k, p in table[CASE].items()} == ZENODO_FILES
    loaded = isles22.load_isles22_case(table[CASE], CASE)
    assert int(loaded.label.sum()) == MASK_VOXELS and loaded.shape == (112, 112, 73)


def test_flair_on_its_own_grid_asks_for_a_registration(case):
    with pytest.raises(PreprocessingError, match=r"FLAIR is on its own grid \(shape 512×512×29.*register it onto DWI"):
        isles22.load_isles22_case(case.files, CASE, ("DWI", "FLAIR"))


def test_flair_registered_onto_the_real_dwi(case):
    """Measured here: mutual information -0.469 at the header alignment, -0.481 after; 1.1° and 0.7 mm; about 6 s."""
    flair, info = isles22.register_flair(case.files, case)
    assert flair.shape == case.shape and flair.dtype == np.float32
    assert info.mi_registered < info.mi_header - 0.005  # the registration improved on the scanner's alignment
    assert info.rotation_deg < 5 and info.shift_mm < 5  # one session: a small correction, not a new pose
    head = flair > 0.1 * np.percentile(flair, 99)
    brain = case.brain_mask
    assert 2 * (head & brain).sum() / (head.sum() + brain.sum()) > 0.95  # FLAIR's head lies on DWI's brain
    assert np.median(flair[case.label > 0]) > 1.2 * np.median(flair[brain])  # the lesion is bright on FLAIR too


def test_a_flair_far_from_the_dwi_is_refused_not_trusted(case, tmp_path):
    img = nib.load(DATA / SAMPLE_FILES["FLAIR"])
    moved = img.affine.copy()
    moved[:3, 3] += (80.0, 0.0, 0.0)  # 8 cm to one side: no same-session registration moves that far
    path = tmp_path / "flair_moved.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), moved, img.header), path)
    with pytest.raises(PreprocessingError, match=r"flair_moved.nii.gz onto DWI .* plausible alignment"):
        isles22.register_flair({**case.files, "FLAIR": path}, case)


def test_a_missing_adc_names_the_modality_and_what_is_needed(tmp_path):
    table = isles22.find_isles22_cases(_copy(ZENODO_FILES, tmp_path, skip=("ADC",)))
    assert "ADC" not in table[CASE]
    with pytest.raises(DataLayoutError, match=r"no ADC image; modalities DWI, ADC need DWI, ADC"):
        isles22.load_isles22_case(table[CASE], CASE)
    assert isles22.load_isles22_case(table[CASE], CASE, ("DWI",)).modalities == ("DWI",)


def test_a_dwi_adc_grid_mismatch_names_both_files(tmp_path):
    table = isles22.find_isles22_cases(_copy(SAMPLE_FILES, tmp_path))[CASE]
    adc = nib.load(str(table["ADC"]))
    data = np.asarray(adc.dataobj)  # read before the file is overwritten (the proxy reads lazily)
    nib.save(nib.Nifti1Image(data[:, :, :70], adc.affine, adc.header), str(table["ADC"]))
    with pytest.raises(ImageError, match=r"_adc\.nii\.gz has shape \(112, 112, 70\) but .*_dwi\.nii\.gz"):
        isles22.load_isles22_case(table, CASE)
    shifted = adc.affine.copy()
    shifted[:3, 3] += 4.0
    nib.save(nib.Nifti1Image(data, shifted, adc.header), str(table["ADC"]))
    with pytest.raises(ImageError, match=r"affine of .*_adc\.nii\.gz differs from .*_dwi\.nii\.gz"):
        isles22.load_isles22_case(table, CASE)


def test_a_mask_off_the_dwi_grid_or_not_binary_is_refused(tmp_path):
    table = isles22.find_isles22_cases(_copy(SAMPLE_FILES, tmp_path))[CASE]
    mask = nib.load(str(table["OT"]))
    data = np.asarray(mask.dataobj)
    nib.save(nib.Nifti1Image(data[:100], mask.affine, mask.header), str(table["OT"]))
    with pytest.raises(ImageError, match=r"_msk\.nii\.gz has shape"):
        isles22.load_isles22_case(table, CASE)
    nib.save(nib.Nifti1Image(data * 2, mask.affine, mask.header), str(table["OT"]))
    with pytest.raises(ImageError, match=r"_msk\.nii\.gz has values 0, 2; an ISLES 2022 mask is binary"):
        isles22.load_isles22_case(table, CASE)


def test_a_folder_without_cases_is_named(tmp_path):
    with pytest.raises(DataLayoutError, match="no ISLES 2022 case under"):
        isles22.find_isles22_cases(tmp_path)
    with pytest.raises(DataLayoutError, match="does not exist"):
        isles22.find_isles22_cases(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------------------
# The official metrics
# ---------------------------------------------------------------------------------------------------------
def test_metrics_of_two_empty_masks_are_perfect():
    empty = np.zeros((5, 5, 5), dtype=bool)
    scores = scoring.isles22_scores(empty, empty, 0.008)
    assert scores["dice"] == 1.0 and scores["lesion_f1"] == 1.0
    assert scores["volume_difference_ml"] == 0.0 and scores["lesion_count_difference"] == 0


def test_a_missed_lesion_and_a_false_positive_component():
    truth = np.zeros((12, 12, 12), dtype=bool)
    truth[1:3, 1:3, 1:3] = True  # lesion A, 8 voxels
    truth[8, 8, 8] = True  # lesion B, 1 voxel
    truth[9, 9, 9] = True  # diagonal neighbour: the same 26-connected lesion B
    pred = np.zeros_like(truth)
    pred[2, 2, 2] = True  # touches A with one voxel: A is a true positive
    pred[5, 9, 1] = True  # a component touching no lesion: a false positive
    scores = scoring.isles22_scores(pred, truth, 0.008)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 1)  # B missed
    assert (scores["n_truth"], scores["n_pred"]) == (2, 2) and scores["lesion_count_difference"] == 0
    assert scores["lesion_f1"] == pytest.approx(1 / (1 + (1 + 1) / 2))  # 0.5
    assert scores["dice"] == pytest.approx(2 * 1 / (2 + 10))
    assert scores["volume_difference_ml"] == pytest.approx((10 - 2) * 0.008)  # 2 mm grid: 0.008 mL per voxel
    only_a = truth.copy()
    only_a[8:, 8:, 8:] = False
    assert scoring.lesion_f1(only_a, truth) == pytest.approx(1 / (1 + 0.5))  # B missed, nothing false
    assert scoring.lesion_f1(truth, only_a) == pytest.approx(1 / (1 + 0.5))  # B predicted where nothing is
    assert scoring.lesion_f1(np.zeros_like(truth), truth) == 0.0
    assert scoring.isles22_dice(np.zeros_like(truth), truth) == 0.0


def test_one_predicted_component_over_two_lesions_counts_both_as_found():
    truth = np.zeros((8, 8, 8), dtype=bool)
    truth[1, 1, 1] = truth[1, 1, 5] = True
    pred = np.zeros_like(truth)
    pred[1, 1, 1:6] = True
    scores = scoring.isles22_scores(pred, truth, 1.0)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 0, 0) and scores["lesion_f1"] == 1.0
    assert scores["lesion_count_difference"] == 1 and scores["volume_difference_ml"] == 3.0


def test_metric_inputs_are_checked():
    with pytest.raises(EvaluationError, match="one shape"):
        scoring.isles22_scores(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), 0.008)
    with pytest.raises(EvaluationError, match="voxel_ml"):
        scoring.isles22_scores(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), 0.0)


def _shifted(mask: np.ndarray, voxels: int, axis: int) -> np.ndarray:
    """``mask`` moved by ``voxels`` along ``axis``, zero-filled (no wrap-around)."""
    out = np.zeros_like(mask)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    src[axis], dst[axis] = slice(0, mask.shape[axis] - voxels), slice(voxels, None)
    out[tuple(dst)] = mask[tuple(src)]
    return out


def test_metrics_of_the_real_mask_against_itself_and_shifted(case):
    truth = case.label
    same = scoring.isles22_scores(truth, truth, case.voxel_volume_ml)
    assert same["dice"] == 1.0 and same["lesion_f1"] == 1.0 and same["volume_difference_ml"] == 0.0
    assert same["n_truth"] == N_LESIONS
    moved = _shifted(truth, 2, axis=0)  # 4 mm to the right
    assert int(moved.sum()) == MASK_VOXELS  # nothing fell off the grid
    scores = scoring.isles22_scores(moved, truth, case.voxel_volume_ml)
    print(f"\nreal mask shifted 2 voxels along X: {scores}")
    assert scores["dice"] == pytest.approx(SHIFT_DICE)
    assert (scores["tp"], scores["fp"], scores["fn"]) == SHIFT_COUNTS
    assert scores["lesion_f1"] == pytest.approx(8 / 18)
    assert scores["volume_difference_ml"] == 0.0 and scores["lesion_count_difference"] == 0


# ---------------------------------------------------------------------------------------------------------
# Symmetric modalities (§3.1) on the real DWI
# ---------------------------------------------------------------------------------------------------------
def test_symmetric_modalities_on_the_real_dwi(case):
    start = time.perf_counter()
    sym_case, registration = symmetric_modalities(case)  # ISLES 2022's default reference: DWI
    seconds = time.perf_counter() - start
    table = symmetry_ncc(case, sym_case)
    point, normal = mid_sagittal_plane(registration, case)
    voxel_point, voxel_normal = mid_sagittal_plane(registration, case, space="voxel")
    angle = float(np.degrees(np.arccos(abs(normal[0]))))
    print(f"\nrigid registration of the flipped DWI: {seconds:.2f} s, correlation metric "
          f"{registration.metric_value:.4f}, {registration.iterations} iterations (last level)\n{table}\n"
          f"mid-sagittal plane: point {np.round(point, 2)} mm, normal {np.round(normal, 4)} "
          f"({angle:.2f}° from the world x axis), voxel x {voxel_point[0]:.2f} of 0..111")
    assert sym_case.modalities == ("DWI", "ADC", "sym_DWI", "sym_ADC")
    assert registration.metric_value < -0.85  # ITK's correlation metric is -NCC² over the sampled points
    assert 0.6 < table.loc["DWI", "registered"] < 1.0 and 0.45 < table.loc["ADC", "registered"] < 1.0
    assert (table["gain"] > 0.03).all()  # the registered mirror lines up better than the naive array flip
    assert angle < 8.0  # the head is nearly straight in the scanner frame
    assert abs(voxel_point[0] - (case.shape[0] - 1) / 2) < 4.0  # the plane lies near the grid's centre


# ---------------------------------------------------------------------------------------------------------
# strokelib check-data and evaluate on ISLES 2022
# ---------------------------------------------------------------------------------------------------------
def _case_copy(root: Path, case_id: str, skip: tuple[str, ...] = ()) -> dict[str, Path]:
    """The sample case under another id in the Zenodo layout below ``root``: {key: path}."""
    files = {}
    for key, relative in ZENODO_FILES.items():
        if key in skip:
            continue
        path = root / relative.replace(CASE, case_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / SAMPLE_FILES[key], path)
        files[key] = path
    return files


def test_check_data_names_every_broken_case_and_passes_the_clean_one(tmp_path, capsys):
    from strokelib.cli import main

    _case_copy(tmp_path, "sub-strokecase0001")  # clean
    _case_copy(tmp_path, "sub-strokecase0002", skip=("ADC",))
    flair_mask = _case_copy(tmp_path, "sub-strokecase0003")
    shutil.copyfile(flair_mask["FLAIR"], flair_mask["OT"])  # a mask on the FLAIR grid
    four_d = _case_copy(tmp_path, "sub-strokecase0004")
    dwi = nib.load(str(four_d["DWI"]))
    data = np.asarray(dwi.dataobj)
    nib.save(nib.Nifti1Image(np.stack([data, data], axis=-1), dwi.affine), str(four_d["DWI"]))  # all b-values
    _case_copy(tmp_path, "sub-strokecase0005", skip=("FLAIR",))
    assert main(["check-data", str(tmp_path), "--task", "ISLES22"]) == 1
    out = capsys.readouterr().out
    assert "sub-strokecase0001" not in out and "sub-strokecase0005" not in out  # a DWI+ADC model needs no FLAIR
    assert "sub-strokecase0002: no ADC image" in out
    assert "sub-strokecase0003_ses-0001_msk.nii.gz has shape (512, 512, 29) but" in out  # the FLAIR grid
    assert "sub-strokecase0004_ses-0001_dwi.nii.gz is 4-D (112×112×73×2)" in out and "b=1000" in out
    assert "3 problem(s)" in out
    assert main(["check-data", str(tmp_path), "--task", "ISLES22", "--modalities", "DWI,ADC,FLAIR"]) == 1
    assert "sub-strokecase0005: no FLAIR image" in capsys.readouterr().out
    assert main(["check-data", str(DATA / "rawdata" / CASE), "--task", "ISLES22", "--split", "testing"]) == 0


def test_evaluate_scores_with_the_challenge_metrics(tmp_path, case, capsys):
    from strokelib.cli import main

    predictions = tmp_path / "pred"
    predictions.mkdir()
    shutil.copyfile(DATA / SAMPLE_FILES["OT"], predictions / f"{CASE}.nii.gz")  # the mask itself
    assert main(["evaluate", str(predictions), str(DATA), "--task", "ISLES22"]) == 0
    row = pd.read_csv(predictions / "evaluation_ISLES22.csv").iloc[0]
    assert (row["case"], row["dice"], row["lesion_f1"], row["volume_difference_ml"]) == (CASE, 1.0, 1.0, 0.0)
    mask = nib.load(str(DATA / SAMPLE_FILES["OT"]))
    shifted = np.roll(np.asarray(mask.dataobj), 2, axis=0)
    nib.save(nib.Nifti1Image(shifted, mask.affine), str(predictions / f"{CASE}.nii.gz"))
    assert main(["evaluate", str(predictions), str(DATA), "--task", "ISLES22"]) == 0
    row = pd.read_csv(predictions / "evaluation_ISLES22.csv").iloc[0]
    assert row["dice"] == pytest.approx(SHIFT_DICE, abs=1e-3) and row["lesion_f1"] == pytest.approx(0.444, abs=1e-3)
    assert "lesion_f1" in capsys.readouterr().out


def test_mha_images_load_exactly_as_their_nifti(tmp_path, case):
    """The grand-challenge containers receive .mha files: read with SimpleITK, placed in RAS like the NIfTI."""
    import SimpleITK as sitk

    mha = {}
    for key in ("DWI", "ADC", "OT"):
        mha[key] = tmp_path / f"{key.lower()}.mha"
        sitk.WriteImage(sitk.ReadImage(str(DATA / SAMPLE_FILES[key])), str(mha[key]))
    loaded = isles22.load_isles22_case(mha, CASE)
    assert np.allclose(loaded.affine, case.affine, atol=1e-5) and loaded.spacing == pytest.approx(case.spacing)
    assert np.allclose(loaded.images, case.images, atol=1e-3) and np.array_equal(loaded.label, case.label)
    layout = tmp_path / "rawdata" / CASE / SES
    layout.mkdir(parents=True)
    for key in ("DWI", "ADC"):
        shutil.copyfile(mha[key], layout / f"{CASE}_{SES}_{key.lower()}.mha")
    found = isles22.find_isles22_cases(tmp_path)[CASE]  # a folder of .mha files is found like the NIfTI release
    assert set(found) == {"DWI", "ADC"} and np.allclose(isles22.load_isles22_case(found, CASE).images, case.images,
                                                        atol=1e-3)
    (tmp_path / "broken.mha").write_text("ObjectType = Image\nNDims = 3\n")
    with pytest.raises(ImageError, match=r"cannot read .*broken.mha .*MetaImage .mha"):
        isles22.load_isles22_case({**mha, "ADC": tmp_path / "broken.mha"}, CASE)


def test_flair_is_registered_once_then_read_from_its_cache(tmp_path, case, caplog):
    import logging

    files = isles22.find_isles22_cases(DATA)[CASE]
    start = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="strokelib.data.isles22"):
        first, info = isles22.load_isles22_with_flair(files, CASE, cache_dir=tmp_path)
    registered_s = time.perf_counter() - start
    assert first.modalities == ("DWI", "ADC", "FLAIR") and first.images.shape == (3, *case.shape)
    assert np.array_equal(first.images[:2], case.images) and np.array_equal(first.label, case.label)
    assert info.mi_registered < info.mi_header and "mutual information" in caplog.text
    entries = list(tmp_path.glob(f"{CASE}/flair_*/registration.json"))
    assert len(entries) == 1
    start = time.perf_counter()
    again, info_again = isles22.load_isles22_with_flair(files, CASE, ("FLAIR", "DWI"), cache_dir=tmp_path)
    assert time.perf_counter() - start < registered_s / 2  # read, not registered again
    assert info_again == info and again.modalities == ("FLAIR", "DWI")
    assert np.allclose(again.images[0], first.images[2], atol=1e-4)
    assert isles22.flair_cache_key(files, 1) != isles22.flair_cache_key(files, 0)  # another seed, another entry
    entries[0].with_name("flair_on_dwi.nii.gz").write_bytes(b"truncated")  # a damaged entry: registered again
    with caplog.at_level(logging.WARNING, logger="strokelib.data.isles22"):
        repaired, info_repaired = isles22.load_isles22_with_flair(files, CASE, cache_dir=tmp_path)
    assert "damaged FLAIR cache entry" in caplog.text and info_repaired.rotation_deg == pytest.approx(info.rotation_deg)
    assert np.allclose(repaired.images[2], first.images[2], atol=1e-4)
    assert isles22.load_isles22_with_flair(files, CASE, cache_dir=tmp_path)[1] == info_repaired  # rewritten, readable
    with pytest.raises(DataLayoutError, match="no FLAIR image"):
        isles22.load_isles22_with_flair({k: v for k, v in files.items() if k != "FLAIR"}, CASE)


# ---------------------------------------------------------------------------------------------------------
# The metrics against an independent reference written from the challenge's definitions
# ---------------------------------------------------------------------------------------------------------
def _reference_components(mask: np.ndarray) -> list[set]:
    """26-connected components by a plain flood fill over voxel coordinates (no scipy): a list of voxel sets."""
    todo = {tuple(int(i) for i in v) for v in np.argwhere(mask)}
    steps = [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)]
    components = []
    while todo:
        seed = todo.pop()
        component, frontier = {seed}, [seed]
        while frontier:
            x, y, z = frontier.pop()
            for dx, dy, dz in steps:
                n = (x + dx, y + dy, z + dz)
                if n in todo:
                    todo.remove(n)
                    component.add(n)
                    frontier.append(n)
        components.append(component)
    return components


def _reference_scores(pred: np.ndarray, truth: np.ndarray, voxel_ml: float) -> dict:
    """The four ISLES 2022 metrics straight from their definitions (utils/eval_utils.py), with Python sets."""
    p = {tuple(int(i) for i in v) for v in np.argwhere(pred)}
    t = {tuple(int(i) for i in v) for v in np.argwhere(truth)}
    dice = 1.0 if not p and not t else 2 * len(p & t) / (len(p) + len(t))
    truth_lesions, pred_lesions = _reference_components(truth), _reference_components(pred)
    tp = sum(1 for lesion in truth_lesions if lesion & p)  # a lesion touched by at least one predicted voxel
    fn = len(truth_lesions) - tp
    fp = sum(1 for component in pred_lesions if not component & t)  # a predicted component touching no lesion
    f1 = 1.0 if tp + fp + fn == 0 else tp / (tp + (fp + fn) / 2)
    return {"dice": dice, "volume_difference_ml": abs(len(p) - len(t)) * voxel_ml,
            "lesion_count_difference": abs(len(pred_lesions) - len(truth_lesions)), "lesion_f1": f1}


def test_the_metrics_equal_an_independent_reference_on_random_masks():
    rng = np.random.default_rng(22)
    checked = 0
    for trial in range(60):
        shape = tuple(rng.integers(3, 9, size=3))
        density_truth, density_pred = rng.choice([0.0, 0.05, 0.2], size=2)  # empty masks included
        truth = rng.random(shape) < density_truth
        pred = truth & (rng.random(shape) < 0.7) | (rng.random(shape) < density_pred)
        voxel_ml = float(rng.choice([0.008, 0.001, 1.0]))
        ours, reference = scoring.isles22_scores(pred, truth, voxel_ml), _reference_scores(pred, truth, voxel_ml)
        for key, value in reference.items():
            assert ours[key] == pytest.approx(value), (trial, key, ours[key], value)
        checked += 1
    assert checked == 60
