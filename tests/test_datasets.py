"""ISLES 2015 loader (``strokelib.data.cases``): every layout variant of ``docs/isles2015-data.md#variants-the-loader-accepts`` and every bad input."""

from __future__ import annotations

import gzip
import re
import shutil

import nibabel as nib
import numpy as np
import pytest
from layouts import (
    SHAPE,
    add_macos_junk,
    brain,
    case_affine,
    expected_label,
    expected_volume,
    make_flat_layout,
    make_vsd_layout,
    write_nifti,
    write_vsd_case,
    write_vsd_image,
)

from strokelib.cli import main
from strokelib.data.cases import Case, find_isles2015, load_isles2015, task_modalities
from strokelib.data.checks import check_dataset
from strokelib.data.layout import SISS_MODALITIES, SPES_MODALITIES
from strokelib.errors import ConfigError, DataLayoutError, ImageError, StrokelibError
from strokelib.files import save_nifti

MODS = {"SISS": SISS_MODALITIES, "SPES": SPES_MODALITIES}


def check_case(case: Case, task: str, number: int, *, labelled: bool = True, shape=SHAPE) -> None:
    """Channel order, voxel values, label, affine and spacing of one loaded case against what layouts wrote."""
    assert case.case_id == str(number)
    assert case.modalities == MODS[task]
    assert case.images.dtype == np.float32 and case.images.shape == (len(MODS[task]), *shape)
    for channel, modality in enumerate(MODS[task]):
        np.testing.assert_array_equal(case.images[channel], expected_volume(modality, number, shape))
    np.testing.assert_array_equal(case.affine, case_affine(task, number))
    spacing = 1.0 if task == "SISS" else 2.0
    assert case.spacing == (spacing,) * 3
    np.testing.assert_array_equal(case.brain_mask, brain(shape))
    if labelled:
        assert case.label.dtype == np.uint8
        np.testing.assert_array_equal(case.label, expected_label(shape))
        assert case.label_values == (0, 1)
    else:
        assert case.label is None and case.label_values == ()


# ---------------------------------------------------------------- layouts as distributed


def test_siss_as_distributed_numeric_order_channels_values_labels_affines(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=11)
    table = find_isles2015(tmp_path, "SISS")
    assert list(table) == [str(i) for i in range(1, 12)]  # 2 before 10, not "1, 10, 11, 2"
    files = table["2"]
    assert list(files) == [*SISS_MODALITIES, "OT"]
    assert files["Flair"].name == "VSD.Brain.XX.O.MR_Flair.70633.nii"
    assert files["Flair"].parent.name == "VSD.Brain.XX.O.MR_Flair.70633"
    assert files["OT"].name == "VSD.Brain.XX.O.OT.70642.nii"
    cases = load_isles2015(tmp_path, "SISS", progress=False)
    assert [c.case_id for c in cases] == [str(i) for i in range(1, 12)]
    for number, case in enumerate(cases, start=1):
        check_case(case, "SISS", number)
    assert cases[0].files["T1"] == table["1"]["T1"]
    assert cases[0].lesion_volume_ml() == pytest.approx(expected_label().sum() / 1000)


def test_padded_case_folders_and_gz_files_in_siss2015_training_subfolder(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=12, top="SISS2015/Training", padded=True, gz=True)
    assert (tmp_path / "SISS2015" / "Training" / "01").is_dir()
    table = find_isles2015(tmp_path, "SISS")
    assert list(table) == [str(i) for i in range(1, 13)]
    assert table["10"]["DWI"].name.endswith(".nii.gz")
    cases = load_isles2015(tmp_path, "SISS", cases=["02", 10], progress=False)
    assert [c.case_id for c in cases] == ["2", "10"]  # the requested order, "02" read as case 2
    check_case(cases[0], "SISS", 2)
    check_case(cases[1], "SISS", 10)


def test_slice_count_may_differ_between_cases(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=2, slices={2: SHAPE[2] + 1})  # like 153 vs 154 slices
    one, two = load_isles2015(tmp_path, "SISS", progress=False)
    assert one.shape == SHAPE and two.shape == SHAPE[:2] + (SHAPE[2] + 1,)
    check_case(two, "SISS", 2, shape=two.shape)


@pytest.mark.parametrize(
    ("top", "task", "split"),
    [
        ("Training", "SISS", "training"),
        ("TRAINING", "SISS", "training"),
        ("SISS2015_Training", "SISS", "training"),
        ("siss2015_training", "siss", "training"),
        ("SISS2015/Training", "SISS", "training"),
        ("Siss2015/tRaining", "SISS", "training"),
        ("ISLES2015/SISS2015_Training", "SISS", "training"),
        ("SPES2015_Training", "SPES", "training"),
        ("spes2015_TRAINING", "SPES", "training"),
        ("SPES2015/Training", "SPES", "training"),
        ("Testing", "SISS", "testing"),
        ("SISS2015_Testing", "SISS", "testing"),
        ("SPES2015_testing", "SPES", "testing"),
    ],
)
def test_every_top_folder_variant_any_letter_case(tmp_path, top, task, split):
    label = "binary" if split == "training" else None
    folder = make_vsd_layout(tmp_path, task.upper(), n_cases=1, top=top, label=label)
    for root in (tmp_path, folder):  # the parent, or the split folder itself
        (case,) = load_isles2015(root, task, split=split, progress=False)
        check_case(case, task.upper(), 1, labelled=split == "training")
        assert case.task == task.upper()


def test_split_folders_are_told_apart(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=2, top="Training")
    make_vsd_layout(tmp_path, "SISS", n_cases=3, top="Testing", label=None)
    assert len(find_isles2015(tmp_path, "SISS", "training")) == 2
    testing = load_isles2015(tmp_path, "SISS", "testing", progress=False)
    assert len(testing) == 3 and all(c.label is None for c in testing)


def test_both_tasks_under_one_root_pick_their_own_folder(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=2, top="SISS2015/Training")
    make_vsd_layout(tmp_path, "SPES", n_cases=1, top="SPES2015/Training")
    assert len(load_isles2015(tmp_path, "SPES", progress=False)) == 1
    assert len(load_isles2015(tmp_path, "SISS", progress=False)) == 2


def test_macos_junk_is_ignored(tmp_path):
    folder = make_vsd_layout(tmp_path, "SISS", n_cases=2, top="SISS2015_Training")
    # case 1: an image folder whose file was renamed; case 2: an image file lying directly in the case folder
    t1 = next((folder / "1").glob("*MR_T1.*"))
    (t1 / f"{t1.name}.nii").rename(t1 / "t1.nii")
    flair = next((folder / "2").glob("*MR_Flair*"))
    (flair / f"{flair.name}.nii").rename(folder / "2" / f"{flair.name}.nii")
    flair.rmdir()
    add_macos_junk(tmp_path, "SISS2015_Training")
    assert (folder / "2" / f"._{flair.name}.nii").is_file() and (t1 / "._t1.nii").is_file()
    table = find_isles2015(tmp_path, "SISS")
    assert list(table) == ["1", "2"]
    assert all(
        "__MACOSX" not in str(f) and not f.name.startswith("._") for c in table.values() for f in c.values()
    )
    for number, case in enumerate(load_isles2015(tmp_path, "SISS", progress=False), start=1):
        check_case(case, "SISS", number)


def test_image_file_directly_in_the_case_folder(tmp_path):
    case_dir = tmp_path / "Training" / "1"
    write_vsd_case(case_dir, "SISS", 1)
    flair = case_dir / "VSD.Brain.XX.O.MR_Flair.70623"
    (flair / f"{flair.name}.nii").rename(case_dir / f"{flair.name}.nii")
    flair.rmdir()
    assert find_isles2015(tmp_path, "SISS")["1"]["Flair"] == case_dir / f"{flair.name}.nii"
    check_case(load_isles2015(tmp_path, "SISS", progress=False)[0], "SISS", 1)


# ---------------------------------------------------------------- SPES, T1 vs T1c


def test_spes_channels_t1c_and_t2_by_exact_token(tmp_path):
    make_vsd_layout(tmp_path, "SPES", n_cases=2)
    table = find_isles2015(tmp_path, "SPES")
    assert list(table["1"]) == [*SPES_MODALITIES, "OT"]
    assert ".MR_T1c." in table["1"]["T1c"].name and ".MR_T2." in table["1"]["T2"].name
    assert ".MR_Tmax." in table["1"]["Tmax"].name and ".MR_TTP." in table["1"]["TTP"].name
    for number, case in enumerate(load_isles2015(tmp_path, "SPES", progress=False), start=1):
        check_case(case, "SPES", number)
        np.testing.assert_array_equal(case.channel("T1c"), expected_volume("T1c", number))


def test_siss_t1_never_picks_up_a_t1c_file(tmp_path):
    # A SISS case whose T1 slot only holds an MR_T1c image must fail, not load T1c as T1.
    case_dir = tmp_path / "Training" / "1"
    write_vsd_case(case_dir, "SISS", 1, modalities=("Flair", "T2", "DWI"))
    write_vsd_image(case_dir, "T1c", 70699, expected_volume("T1c", 1), case_affine("SISS", 1))
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    message = str(err.value)
    assert "case 1" in message and "VSD.Brain.XX.O.MR_T1c.70699" in message and "task=" in message


def test_spes_t1c_never_picks_up_a_t1_file(tmp_path):
    case_dir = tmp_path / "Training" / "1"
    write_vsd_case(case_dir, "SPES", 1, modalities=("DWI", "CBF", "CBV", "T2", "Tmax", "TTP"))
    write_vsd_image(case_dir, "T1", 70699, expected_volume("T1", 1), case_affine("SPES", 1))
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SPES")
    assert "case 1" in str(err.value) and "VSD.Brain.XX.O.MR_T1.70699" in str(err.value)


def test_modality_tokens_match_in_any_letter_case(tmp_path):
    case_dir = tmp_path / "Training" / "1"
    write_vsd_case(case_dir, "SISS", 1)
    flair = case_dir / "VSD.Brain.XX.O.MR_Flair.70623"
    upper = case_dir / "VSD.Brain.XX.O.MR_FLAIR.70623"
    (flair / f"{flair.name}.nii").rename(flair / f"{upper.name}.nii")
    flair.rename(upper)
    check_case(load_isles2015(tmp_path, "SISS", progress=False)[0], "SISS", 1)


# ---------------------------------------------------------------- authors' flat layout


def test_authors_flat_layout_siss(tmp_path):
    make_flat_layout(tmp_path, "SISS", n_cases=2, gz=True)
    table = find_isles2015(tmp_path, "SISS")
    assert table["1"]["Flair"].name == "Flair.nii.gz" and table["1"]["OT"].name == "OT.nii"
    for number, case in enumerate(load_isles2015(tmp_path, "SISS", progress=False), start=1):
        check_case(case, "SISS", number)


def test_authors_flat_layout_spes_testing_nr_folders(tmp_path):
    make_flat_layout(tmp_path, "SPES", n_cases=11, split="testing", nr_prefix=True, gz=False)
    table = find_isles2015(tmp_path, "SPES", "testing")
    assert list(table) == [f"Nr{i}" for i in range(1, 12)]
    (case,) = load_isles2015(tmp_path, "SPES", "testing", cases=["Nr3"], progress=False)
    assert case.case_id == "Nr3" and case.label is None and case.modalities == SPES_MODALITIES
    np.testing.assert_array_equal(case.channel("TTP"), expected_volume("TTP", 3))


def test_authors_flat_layout_symmetric_modalities_on_disk(tmp_path):
    make_flat_layout(tmp_path, "SISS", n_cases=1, symmetric=True)
    wanted = SISS_MODALITIES + tuple(f"sym_{m}" for m in SISS_MODALITIES)
    default = load_isles2015(tmp_path, "SISS", progress=False)[0]
    assert default.modalities == SISS_MODALITIES  # sym_* files are not loaded unless asked for
    (case,) = load_isles2015(tmp_path, "SISS", modalities=wanted, progress=False)
    assert case.modalities == wanted and case.images.shape[0] == 8
    np.testing.assert_array_equal(case.channel("sym_T2"), expected_volume("T2", 1)[::-1])
    np.testing.assert_array_equal(case.channel("T2"), expected_volume("T2", 1))


def test_modality_subset_keeps_the_requested_order(tmp_path):
    make_vsd_layout(tmp_path, "SPES", n_cases=1)
    (case,) = load_isles2015(tmp_path, "SPES", modalities=("Tmax", "DWI"), progress=False)
    assert case.modalities == ("Tmax", "DWI")
    np.testing.assert_array_equal(case.images[0], expected_volume("Tmax", 1))
    np.testing.assert_array_equal(case.images[1], expected_volume("DWI", 1))


# ---------------------------------------------------------------- ground truth values


def test_spes_two_labels_need_penumbra_label(tmp_path):
    make_vsd_layout(tmp_path, "SPES", n_cases=2, label="two")
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SPES", progress=False)
    message = str(err.value)
    assert "case 1" in message and "VSD.Brain.XX.O.OT.70632.nii" in message
    assert "[1, 2]" in message and "penumbra_label=" in message
    raw = expected_label(two_labels=True)
    for value in (1, 2):
        cases = load_isles2015(tmp_path, "SPES", penumbra_label=value, progress=False)
        for case in cases:
            assert case.label_values == (0, 1, 2)
            np.testing.assert_array_equal(case.label, (raw == value).astype(np.uint8))
    with pytest.raises(
        ImageError, match=r"penumbra_label=5 is not in .*OT.*\(values \(0, 1, 2\)\).*one of \[1, 2\]"
    ):
        load_isles2015(tmp_path, "SPES", penumbra_label=5, progress=False)


def test_check_data_two_label_spes_needs_penumbra_label_like_the_loader(tmp_path, capsys):
    make_vsd_layout(tmp_path, "SPES", n_cases=2, label="two")
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SPES", progress=False)
    problems = check_dataset(tmp_path, "SPES")
    assert [p.path.name for p in problems] == ["VSD.Brain.XX.O.OT.70632.nii", "VSD.Brain.XX.O.OT.70642.nii"]
    assert problems[0].problem == str(err.value), "check-data says what the loader would raise"
    assert "case 2" in problems[1].problem and "several lesion labels [1, 2]" in problems[1].problem
    for value in (1, 2):
        assert check_dataset(tmp_path, "SPES", penumbra_label=value) == []
    wrong = check_dataset(tmp_path, "SPES", penumbra_label=5)
    assert len(wrong) == 2 and all("penumbra_label=5 is not in" in str(p) for p in wrong)
    capsys.readouterr()
    assert main(["check-data", str(tmp_path), "--task", "SPES"]) == 1
    out = capsys.readouterr().out
    assert str(err.value) in out and "2 problem(s)" in out
    assert main(["check-data", str(tmp_path), "--task", "SPES", "--penumbra-label", "2"]) == 0
    assert "look clean" in capsys.readouterr().out


def test_check_data_two_label_siss_stays_a_problem_with_penumbra_label(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=1, label="two")
    (problem,) = check_dataset(tmp_path, "SISS", penumbra_label=2)
    assert "SISS ground truth must be binary" in problem.problem


def test_check_data_reports_the_loader_message_for_grid_and_nan(tmp_path):
    files = _first_case(tmp_path)
    write_nifti(files["T2"], expected_volume("T2", 1, SHAPE[:2] + (SHAPE[2] + 1,)), case_affine("SISS", 1))
    nan = expected_volume("T1", 1)
    nan[2, 3, 4] = np.nan
    write_nifti(files["T1"], nan, case_affine("SISS", 1))
    messages = {p.path.name: p.problem for p in check_dataset(tmp_path, "SISS")}
    assert set(messages) == {files["T1"].name, files["T2"].name}
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert messages[files["T1"].name] == str(err.value)  # the loader stops at T1, the first bad file
    write_nifti(files["T1"], expected_volume("T1", 1), case_affine("SISS", 1))
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert messages[files["T2"].name] == str(err.value) and files["Flair"].name in str(err.value)


def test_single_label_spes_and_siss_report_their_values(tmp_path, caplog):
    make_vsd_layout(tmp_path, "SPES", n_cases=1)
    with caplog.at_level("INFO", logger="strokelib.data.cases"):
        (case,) = load_isles2015(tmp_path, "SPES", penumbra_label=1, progress=False)
    assert case.label_values == (0, 1)
    np.testing.assert_array_equal(case.label, expected_label())
    assert "ground-truth values found: [0, 1]" in caplog.text
    caplog.clear()
    with caplog.at_level(
        "WARNING", logger="strokelib.data.cases"
    ):  # never silently: a different value is reported
        (case,) = load_isles2015(tmp_path, "SPES", penumbra_label=2, progress=False)
    assert "single lesion label 1, not penumbra_label=2" in caplog.text
    np.testing.assert_array_equal(case.label, expected_label())
    # an empty ground truth is reported as such
    ot = find_isles2015(tmp_path, "SPES")["1"]["OT"]
    write_nifti(ot, np.zeros(SHAPE, np.uint8), case_affine("SPES", 1))
    (case,) = load_isles2015(tmp_path, "SPES", progress=False)
    assert case.label_values == (0,) and not case.label.any()


def test_siss_two_labels_is_an_error(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=1, label="two")
    with pytest.raises(
        ImageError, match=r"case 1: ground truth .*OT\.70632\.nii has several lesion labels \[1, 2\]; SISS"
    ):
        load_isles2015(tmp_path, "SISS", penumbra_label=2, progress=False)


@pytest.mark.parametrize("bad", [np.float32(0.5), np.float32(-1)])
def test_non_label_ground_truth_is_an_error(tmp_path, bad):
    make_vsd_layout(tmp_path, "SISS", n_cases=1)
    ot = find_isles2015(tmp_path, "SISS")["1"]["OT"]
    data = expected_label().astype(np.float32)
    data[0, 0, 0] = bad
    write_nifti(ot, data, case_affine("SISS", 1))
    with pytest.raises(
        ImageError, match=rf"case 1: ground truth .*{re.escape(ot.name)} has non-integer or negative"
    ):
        load_isles2015(tmp_path, "SISS", progress=False)


def test_stored_dtype_and_scaling_are_read_as_float32(tmp_path):
    case_dir = tmp_path / "Training" / "1"
    write_vsd_case(case_dir, "SISS", 1)
    t2 = next(case_dir.glob("*MR_T2*/*.nii"))
    img = nib.Nifti1Image(expected_volume("T2", 1).astype(np.int16), case_affine("SISS", 1))
    img.set_data_dtype(np.int16)
    nib.save(img, str(t2))
    (case,) = load_isles2015(tmp_path, "SISS", progress=False)
    assert case.images.dtype == np.float32
    np.testing.assert_array_equal(case.channel("T2"), expected_volume("T2", 1))


# ---------------------------------------------------------------- save_nifti


@pytest.mark.parametrize(
    ("name", "array_dtype", "dtype", "stored"),
    [
        ("pred.nii", np.uint8, None, np.uint8),
        ("prob.nii.gz", np.float64, np.float32, np.float32),
        ("mask.nii", bool, None, np.uint8),  # NIfTI has no bool: written as uint8
        ("smir.nii", np.uint8, np.uint16, np.uint16),
    ],
)
def test_save_nifti_round_trip(tmp_path, name, array_dtype, dtype, stored):
    make_vsd_layout(tmp_path / "data", "SISS", n_cases=1)
    (case,) = load_isles2015(tmp_path / "data", "SISS", progress=False)
    out_dir = tmp_path / "out"
    array = (np.arange(np.prod(SHAPE)).reshape(SHAPE) % 3 == 0).astype(array_dtype)
    path = save_nifti(array, case, out_dir / name, dtype=dtype)
    assert path == out_dir / name
    assert sorted(p.name for p in out_dir.iterdir()) == [name]  # atomic: no temporary file left
    back = nib.load(str(path))
    assert back.get_data_dtype() == np.dtype(stored)
    np.testing.assert_array_equal(np.asarray(back.dataobj), array.astype(stored))
    np.testing.assert_array_equal(back.affine, case.affine)
    assert back.header.get_zooms()[:3] == case.header.get_zooms()[:3]
    assert back.header.get_sform(coded=True)[1] == back.header.get_qform(coded=True)[1] == 1
    assert back.header.get_xyzt_units() == ("mm", "sec")
    assert back.header["descrip"].tobytes().rstrip(b"\x00") == b"strokelib test layout"
    assert back.header.get_slope_inter() in ((1.0, 0.0), (None, None))
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"


def test_save_nifti_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    make_vsd_layout(tmp_path / "data", "SISS", n_cases=1)
    (case,) = load_isles2015(tmp_path / "data", "SISS", progress=False)
    out = tmp_path / "out" / "pred.nii"
    save_nifti(np.zeros(SHAPE, np.uint8), case, out)
    before = out.read_bytes()

    def broken_save(img, filename):
        open(filename, "wb").write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_nifti(np.ones(SHAPE, np.uint8), case, out)
    assert [p.name for p in out.parent.iterdir()] == ["pred.nii"] and out.read_bytes() == before


def test_save_nifti_wrong_shape_names_case_and_file(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=1)
    (case,) = load_isles2015(tmp_path, "SISS", progress=False)
    with pytest.raises(
        ImageError, match=r"cannot save .*pred\.nii: array shape \(2, 2, 2\) differs from case 1 shape"
    ):
        save_nifti(np.zeros((2, 2, 2)), case, tmp_path / "pred.nii")


# ---------------------------------------------------------------- bad input: layout


def assert_message(err: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(err.value)
    missing = [p for p in parts if p not in message]
    assert not missing, f"{missing} not in message: {message}"


def test_missing_modality(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=3)
    shutil.rmtree(next((tmp_path / "SISS2015_Training" / "3").glob("*MR_T2*")))
    with pytest.raises(DataLayoutError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, "case 3", "missing T2", "VSD.Brain.XX.O.MR_<modality>.<id>")


def test_duplicated_modality(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=2)
    case_dir = tmp_path / "SISS2015_Training" / "2"
    write_vsd_image(case_dir, "Flair", 71000, expected_volume("Flair", 2), case_affine("SISS", 2))
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    assert_message(
        err, "case 2", "Flair is given 2 times", "MR_Flair.70633.nii", "MR_Flair.71000.nii", "keep one"
    )


def test_nii_and_nii_gz_of_one_image_is_a_duplicate(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=1)
    dwi = next((tmp_path / "SISS2015_Training" / "1").glob("*MR_DWI*/*.nii"))
    dwi.with_name(dwi.name + ".gz").write_bytes(gzip.compress(dwi.read_bytes()))
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    assert_message(err, "case 1", dwi.name, dwi.name + ".gz", "keep one")


def test_flat_layout_duplicate_nii_and_gz(tmp_path):
    make_flat_layout(tmp_path, "SISS", n_cases=1, gz=True)
    write_nifti(tmp_path / "training" / "1" / "T1.nii", expected_volume("T1", 1), case_affine("SISS", 1))
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    assert_message(err, "case 1", "T1 is given 2 times", "T1.nii.gz", "keep one")


def test_image_folder_without_its_file(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=1)
    t1 = next((tmp_path / "SISS2015_Training" / "1").glob("*MR_T1.*"))
    next(t1.iterdir()).unlink()
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    assert_message(err, "case 1", t1.name, "re-extract")


def test_missing_ground_truth_in_training(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=2, label=None, top="Training")
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    assert_message(err, "case 1", "no ground truth", "VSD.Brain.XX.O.OT.<id>", "split='testing'")


def test_duplicated_case_number(tmp_path):
    folder = make_vsd_layout(tmp_path, "SISS", n_cases=1)
    shutil.copytree(folder / "1", folder / "01")
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    assert_message(err, "case 1 appears twice", "folders 01 and 1", "keep one")


def test_unknown_case_ids(tmp_path):
    make_vsd_layout(tmp_path, "SISS", n_cases=2)
    with pytest.raises(DataLayoutError) as err:
        load_isles2015(tmp_path, "SISS", cases=[7], progress=False)
    assert_message(err, "cases 7 not found", "available: 1, 2")


def test_empty_missing_and_file_roots(tmp_path):
    with pytest.raises(DataLayoutError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, str(tmp_path), "found: nothing", "numbered case folders", "point data_root")
    (tmp_path / "Training").mkdir()  # a split folder without case folders
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path, "SISS")
    assert_message(err, "found: Training", "numbered case folders")
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path / "nope", "SISS")
    assert_message(err, "nope does not exist", "unpack ISLES 2015")
    (tmp_path / "file.zip").write_bytes(b"PK")
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(tmp_path / "file.zip", "SISS")
    assert_message(err, "file.zip is a file", "point data_root at the unpacked folder")


def test_unknown_task_and_split():
    with pytest.raises(ConfigError, match="unknown task 'ISLES'.*'SISS'.*'SPES'"):
        task_modalities("ISLES")
    with pytest.raises(ConfigError, match="unknown task"):
        find_isles2015(".", "ISLES22")
    with pytest.raises(ConfigError, match="unknown split 'validation'.*'training' or 'testing'"):
        find_isles2015(".", "SISS", split="validation")


def test_wrong_task_for_the_data(tmp_path):
    folder = make_vsd_layout(tmp_path, "SPES", n_cases=1)
    with pytest.raises(DataLayoutError) as err:  # the top folder names the other task
        find_isles2015(tmp_path, "SISS")
    assert_message(err, "no SISS training cases", "SPES2015_Training", "task='SPES'")
    with pytest.raises(DataLayoutError) as err:  # pointed at the case folders of the other task
        find_isles2015(folder, "SISS")
    assert_message(err, "case 1", "VSD.Brain.XX.O.MR_CBF.", "other ISLES 2015 task", "task='SISS'")


def test_wrong_split_for_the_folder(tmp_path):
    folder = make_vsd_layout(tmp_path, "SISS", n_cases=1)
    with pytest.raises(DataLayoutError) as err:
        find_isles2015(folder, "SISS", split="testing")
    assert_message(err, "SISS2015_Training", "split='training'")


def test_every_bad_input_is_a_strokelib_error():
    assert issubclass(DataLayoutError, StrokelibError) and issubclass(ImageError, StrokelibError)
    assert issubclass(ConfigError, StrokelibError)


# ---------------------------------------------------------------- bad input: image content


def _first_case(tmp_path, task="SISS", gz=False):
    make_vsd_layout(tmp_path, task, n_cases=1, gz=gz)
    return find_isles2015(tmp_path, task)["1"]


def test_shape_mismatch_inside_a_case(tmp_path):
    files = _first_case(tmp_path)
    write_nifti(files["T2"], expected_volume("T2", 1, SHAPE[:2] + (SHAPE[2] + 1,)), case_affine("SISS", 1))
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, "case 1", files["T2"].name, "(10, 12, 9)", files["Flair"].name, "resample")


def test_label_shape_mismatch(tmp_path):
    files = _first_case(tmp_path)
    write_nifti(files["OT"], np.zeros((10, 12, 9), np.uint8), case_affine("SISS", 1))
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, "case 1", files["OT"].name, "co-registered")


def test_affine_mismatch_inside_a_case(tmp_path):
    files = _first_case(tmp_path, task="SPES")
    write_nifti(files["CBV"], expected_volume("CBV", 1), case_affine("SPES", 2))
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SPES", progress=False)
    assert_message(err, "case 1", "affine", files["CBV"].name, files["DWI"].name, "fix its header")


@pytest.mark.parametrize("gz", [False, True])
def test_unreadable_file(tmp_path, gz):
    files = _first_case(tmp_path, gz=gz)
    content = files["T1"].read_bytes()
    files["T1"].write_bytes(content[: len(content) // 2])  # truncated download
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, "case 1", "cannot read", files["T1"].name, "re-extract it")


def test_not_a_nifti_file(tmp_path):
    files = _first_case(tmp_path)
    files["DWI"].write_bytes(b"<html>login required</html>")
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, "case 1", "cannot read", files["DWI"].name)


def test_nan_voxels(tmp_path):
    files = _first_case(tmp_path)
    data = expected_volume("Flair", 1)
    data[5, 5, 4] = np.nan
    data[5, 6, 4] = np.inf
    write_nifti(files["Flair"], data, case_affine("SISS", 1))
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, "case 1", files["Flair"].name, "2 NaN/Inf voxels", "nan_to_num")


def test_four_dimensional_image(tmp_path):
    files = _first_case(tmp_path)
    write_nifti(files["DWI"], np.zeros(SHAPE + (2,), np.float32), case_affine("SISS", 1))
    with pytest.raises(ImageError) as err:
        load_isles2015(tmp_path, "SISS", progress=False)
    assert_message(err, "case 1", files["DWI"].name, "(10, 12, 8, 2)", "3D volume")
    write_nifti(
        files["DWI"], expected_volume("DWI", 1)[..., None], case_affine("SISS", 1)
    )  # (X, Y, Z, 1) is fine
    check_case(load_isles2015(tmp_path, "SISS", progress=False)[0], "SISS", 1)


def test_unknown_images_are_skipped_and_listed(tmp_path):
    from strokelib.data.layout import list_unknown_files

    case_dir = tmp_path / "Training" / "1"
    write_vsd_case(case_dir, "SISS", 1)
    extra = write_vsd_image(case_dir, "ADC", 70700, expected_volume("DWI", 1), case_affine("SISS", 1)).parent
    assert list_unknown_files(tmp_path, "SISS") == [extra]
    (case,) = load_isles2015(tmp_path, "SISS", progress=False)
    check_case(case, "SISS", 1)
    with pytest.raises(ConfigError, match="case 1: no modality 'CBF'; it has Flair, T1, T2, DWI"):
        case.channel("CBF")
