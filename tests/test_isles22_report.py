"""What notebook 06 adds on ISLES 2022: lesions found by size, the mid-sagittal plane of a real head, FLAIR at the
header alignment, where the data and the shipped sample case are found, and its settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strokelib.data.isles22 import find_isles22_cases, flair_at_header, load_isles22_case, register_flair
from strokelib.errors import ConfigError, EvaluationError
from strokelib.evaluation.isles22 import detection_by_size, isles22_scores, lesion_table, lesion_tables
from strokelib.preprocessing.midsagittal import plane_summary
from strokelib.preprocessing.symmetric import symmetric_modalities
from strokelib.settings import RunSettings
from strokelib.synthetic.isles22 import resolve_isles22_root
from strokelib.workspace import isles22_sample_folder


@pytest.fixture(scope="module")
def real():
    (case_id, files), = find_isles22_cases(isles22_sample_folder()).items()
    return load_isles22_case(files, case_id), files


def _two_lesions() -> np.ndarray:
    truth = np.zeros((20, 20, 20), dtype=bool)
    truth[2:4, 2:4, 2:4] = True  # 8 voxels
    truth[10:15, 10:15, 10:15] = True  # 125 voxels
    return truth


def test_lesion_table_lists_each_lesion_with_its_volume_and_whether_it_was_found():
    truth = _two_lesions()
    pred = np.zeros_like(truth)
    pred[12, 12, 12] = True  # one voxel inside the large lesion: found, by the challenge's rule
    pred[18, 18, 18] = True  # a false positive: not a row (rows are ground-truth lesions)
    table = lesion_table(pred, truth, 0.008, "c1")
    assert table[["lesion", "voxels", "found"]].values.tolist() == [[1, 8, False], [2, 125, True]]
    assert table["volume_ml"].tolist() == pytest.approx([0.064, 1.0])
    assert (table["case"] == "c1").all()
    counts = isles22_scores(pred, truth, 0.008)
    assert (counts["tp"], counts["fn"]) == (int(table["found"].sum()), int((~table["found"]).sum()))


def test_lesion_table_of_an_empty_truth_has_no_rows_and_shapes_are_checked():
    assert lesion_table(np.ones((4, 4, 4)), np.zeros((4, 4, 4)), 1.0).empty
    with pytest.raises(EvaluationError, match="c9.*differ in shape"):
        lesion_table(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), 1.0, "c9")


def test_detection_by_size_counts_each_class_and_leaves_empty_classes_undefined():
    table = pd.DataFrame({"volume_ml": [0.05, 0.5, 0.7, 3.0, 12.0], "found": [False, True, False, True, True]})
    by_size = detection_by_size(table)
    assert list(by_size.index) == ["< 0.1 mL", "0.1–1 mL", "1–10 mL", "≥ 10 mL"]
    assert by_size["lesions"].tolist() == [1, 2, 1, 1] and by_size["found"].tolist() == [0, 1, 1, 1]
    assert by_size["detection_rate"].tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    only_small = detection_by_size(table.iloc[:1])
    assert np.isnan(only_small.loc["≥ 10 mL", "detection_rate"])


def test_lesion_tables_joins_the_cases_that_have_a_prediction(real):
    case, _ = real
    table = lesion_tables({case.case_id: case.label}, [case])
    assert len(table) == 18 and table["found"].all()  # the sample mask holds 18 lesions (26-connected)
    assert table["volume_ml"].sum() == pytest.approx(case.lesion_volume_ml())


def test_the_real_heads_mid_sagittal_plane_is_nearly_the_grids(real):
    case, _ = real
    _, registration = symmetric_modalities(case, "DWI")
    plane = plane_summary(registration, case)
    print(f"\nreal case: {plane}")
    assert 0.0 <= plane["tilt_from_grid_deg"] < 3.0  # a head nearly straight on its grid
    assert plane["tilt_from_scanner_deg"] > plane["tilt_from_grid_deg"]  # the DWI grid itself is 3.3° oblique
    assert abs(plane["offset_from_grid_centre_voxels"]) < 4.0
    assert plane["offset_mm"] == pytest.approx(plane["offset_from_grid_centre_voxels"] * 2.0)


def test_flair_at_the_header_alignment_is_close_to_the_registered_one(real):
    case, files = real
    before = flair_at_header(files, case)
    after, info = register_flair(files, case)
    assert before.shape == after.shape == case.shape
    brain = case.brain_mask
    r = np.corrcoef(before[brain], after[brain])[0, 1]
    assert 0.8 < r < 1.0  # a 1° / 1 mm correction: similar, not identical
    assert info.rotation_deg > 0.1


def test_an_isles22_data_root_is_used_as_given_and_a_missing_one_is_named(tmp_path):
    assert resolve_isles22_root(tmp_path, 4) == tmp_path
    with pytest.raises(ConfigError, match="nowhere.*does not exist.*Zenodo"):
        resolve_isles22_root(tmp_path / "nowhere", 4)


def test_the_sample_case_ships_with_its_licence():
    folder = isles22_sample_folder()
    text = (folder / "SOURCE.md").read_text()
    assert "CC BY-SA 4.0" in text and "Hernandez Petzsche" in text
    assert list(find_isles22_cases(folder)) == ["sub-strokecase0009"]


def test_notebook_06_settings_are_checked():
    with pytest.raises(ConfigError, match="isles22_modalities"):
        RunSettings(isles22_modalities=["DWI", "T1"])
    with pytest.raises(ConfigError, match="isles22_n_train"):
        RunSettings(isles22_n_train=1)
    assert RunSettings().isles22_modalities == ["DWI", "ADC"]


def test_a_lesion_of_exactly_10_ml_is_in_the_top_class_and_the_sample_is_one_case(tmp_path):
    from strokelib.data.isles22 import single_isles22_case
    from strokelib.errors import DataLayoutError

    by_size = detection_by_size(pd.DataFrame({"volume_ml": [10.0, 0.1], "found": [True, False]}))
    assert by_size["lesions"].tolist() == [0, 1, 0, 1]  # 0.1 mL in "0.1–1 mL", 10 mL in "≥ 10 mL"
    case_id, files = single_isles22_case(isles22_sample_folder())
    assert case_id == "sub-strokecase0009" and {"DWI", "ADC", "FLAIR", "OT"} <= set(files)
    for name in ("sub-a", "sub-b"):
        (tmp_path / name / "ses-0001").mkdir(parents=True)
        (tmp_path / name / "ses-0001" / f"{name}_ses-0001_dwi.nii.gz").write_bytes(b"")
    with pytest.raises(DataLayoutError, match="holds 2 ISLES 2022 cases.*sub-a, sub-b.*one case's sub-\\* folder"):
        single_isles22_case(tmp_path)
