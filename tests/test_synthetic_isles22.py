"""The embedded ISLES 2022-like set (stands in for the data of paper §2.2, now ISLES 2022): the Zenodo layout read by
the real loader, multi-focal lesions and empty masks, DWI/ADC contrasts, FLAIR on its own grid and registered back,
determinism, reuse, and the command line."""

from __future__ import annotations

import hashlib
import json
import logging

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from strokelib.cli import main
from strokelib.data import isles22
from strokelib.errors import ConfigError, DataLayoutError, PreprocessingError, ProvenanceError
from strokelib.synthetic import isles22 as synth22

N_CASES = 4  # case 3 is lesion-free


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return synth22.make_synthetic_isles22(tmp_path_factory.mktemp("isles22") / "data", N_CASES, seed=0,
                                          geometry="small", progress=False)


@pytest.fixture(scope="module")
def truth(root):
    return json.loads((root / "synthetic.json").read_text())


def digests(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.nii.gz"))}


def test_the_loader_finds_every_case_in_the_zenodo_layout(root):
    table = isles22.find_isles22_cases(root)
    assert sorted(table) == [f"sub-strokecase{i:04d}" for i in range(1, N_CASES + 1)]
    files = table["sub-strokecase0001"]
    assert sorted(files) == ["ADC", "DWI", "FLAIR", "OT"]
    assert files["FLAIR"].parent.name == "anat" and files["DWI"].parent.name == "dwi"
    assert files["OT"].relative_to(root).parts[:2] == ("ISLES-2022", "derivatives")
    assert files == synth22.isles22_case_files(root, 1)


def test_dwi_adc_and_mask_share_a_grid_and_flair_needs_registration(root):
    files = isles22.find_isles22_cases(root)["sub-strokecase0001"]
    case = isles22.load_isles22_case(files, "sub-strokecase0001")
    geo = synth22.GEOMETRIES["small"]
    assert case.images.shape == (2, *geo.dwi_shape) and case.label.shape == geo.dwi_shape
    dwi, flair = nib.load(files["DWI"]), nib.load(files["FLAIR"])
    assert nib.aff2axcodes(dwi.affine) == ("L", "A", "S")  # as the real sample case
    assert flair.shape == geo.flair_shape and np.allclose(flair.header.get_zooms(), geo.flair_spacing)
    assert nib.load(files["ADC"]).get_data_dtype() == np.float32 and dwi.get_data_dtype() == np.int16
    with pytest.raises(PreprocessingError, match="register it"):
        isles22.load_isles22_case(files, "sub-strokecase0001", ("DWI", "ADC", "FLAIR"))


def test_lesion_counts_vary_and_one_case_is_lesion_free(root, truth):
    counts = {}
    for case_id, files in isles22.find_isles22_cases(root).items():
        case = isles22.load_isles22_case(files, case_id)
        counts[case_id] = isles22.lesions(case.label)[1]
        assert counts[case_id] == truth["cases"][case_id]["n_lesions"]
    assert counts["sub-strokecase0003"] == 0 and truth["cases"]["sub-strokecase0003"]["lesion_free"]
    nonzero = [n for n in counts.values() if n]
    assert len(set(nonzero)) >= 3 and min(nonzero) <= 2 and max(nonzero) >= 5, counts


def test_lesions_are_bright_on_dwi_and_dark_on_adc(root):
    lesion, healthy = {"DWI": [], "ADC": []}, {"DWI": [], "ADC": []}
    for case_id, files in isles22.find_isles22_cases(root).items():
        case = isles22.load_isles22_case(files, case_id)
        brain, label = case.images[0] > 0, case.label > 0
        for channel, modality in enumerate(case.modalities):
            lesion[modality].append(case.images[channel][label])
            healthy[modality].append(case.images[channel][brain & ~label])
    median = {m: (np.median(np.concatenate(lesion[m])), np.median(np.concatenate(healthy[m]))) for m in lesion}
    assert median["DWI"][0] > 1.3 * median["DWI"][1]
    assert median["ADC"][0] < 0.85 * median["ADC"][1]
    assert 0.6 < median["ADC"][1] < 1.2  # healthy brain in 10^-3 mm^2/s, as the real sample (0.9)


def test_the_same_seed_gives_the_same_files_and_another_seed_others(root, tmp_path):
    fewer = synth22.make_synthetic_isles22(tmp_path / "two", 2, seed=0, geometry="small", progress=False)
    same = digests(fewer)
    assert same and all(digests(root)[name] == digest for name, digest in same.items())  # case i: same bytes
    other = digests(synth22.make_synthetic_isles22(tmp_path / "seed1", 1, seed=1, geometry="small", progress=False))
    assert set(other) <= set(same) and all(other[name] != same[name] for name in other)


def test_a_matching_set_is_reused_and_other_parameters_are_another_set(tmp_path, caplog):
    folder = synth22.ensure_isles22_synthetic(1, seed=0, geometry="small", base_dir=tmp_path, progress=False)
    assert folder.name == synth22.isles22_dataset_name(1, 0, "small") == f"ISLES22_small_n1_seed0_v{synth22.ISLES22_VERSION}"
    before = digests(folder)
    with caplog.at_level(logging.INFO, logger="strokelib.synthetic.isles22"):
        again = synth22.ensure_isles22_synthetic(1, seed=0, geometry="small", base_dir=tmp_path, progress=False)
    assert again == folder
    assert "reusing" in caplog.text and digests(folder) == before
    other = synth22.ensure_isles22_synthetic(1, seed=2, geometry="small", base_dir=tmp_path, progress=False)
    assert other != folder and other.name == f"ISLES22_small_n1_seed2_v{synth22.ISLES22_VERSION}" and digests(other) != before
    params = json.loads((folder / "synthetic_params.json").read_text())
    (folder / "synthetic_params.json").write_text(json.dumps({**params, "version": 0}))  # made by an older generator
    with pytest.raises(ProvenanceError, match="delete"):
        synth22.ensure_isles22_synthetic(1, seed=0, geometry="small", base_dir=tmp_path, progress=False)


def test_bad_requests_raise_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="geometry"):
        synth22.make_synthetic_isles22(tmp_path / "x", 1, geometry="huge")
    with pytest.raises(ConfigError, match="n_cases"):
        synth22.make_synthetic_isles22(tmp_path / "x", 0)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a dataset")
    with pytest.raises(DataLayoutError, match="not a synthetic dataset"):
        synth22.make_synthetic_isles22(tmp_path / "mine", 1, geometry="small")


def test_register_flair_recovers_the_drawn_motion(root, truth):
    case_id = "sub-strokecase0001"
    files = isles22.find_isles22_cases(root)[case_id]
    case = isles22.load_isles22_case(files, case_id, ("DWI",))
    flair, info = isles22.register_flair(files, case)
    motion = truth["cases"][case_id]["flair_motion"]
    assert motion["rotation_angle_deg"] > 1 and motion["shift_mm"] > 1  # there is something to recover
    assert abs(info.rotation_deg - motion["rotation_angle_deg"]) < 1.0, (info, motion)
    assert abs(info.shift_mm - motion["shift_mm"]) < 1.5, (info, motion)  # DWI voxels are 4 mm here
    assert info.mi_registered < info.mi_header
    # FLAIR pulled onto the DWI grid through the drawn motion, and through the headers alone: the registered image
    # is much nearer the first.
    flair_img, dwi_img = nib.load(files["FLAIR"]), nib.load(files["DWI"])
    through = {"motion": np.linalg.inv(flair_img.affine) @ np.asarray(motion["matrix"]) @ dwi_img.affine,
               "headers": np.linalg.inv(flair_img.affine) @ dwi_img.affine}
    pulled = {k: case.from_source(ndimage.affine_transform(flair_img.get_fdata(dtype=np.float32), m,
                                                           output_shape=dwi_img.shape, order=1))
              for k, m in through.items()}
    brain = case.images[0] > 0
    error = {k: np.mean(np.abs(v - pulled["motion"])[brain]) / np.mean(pulled["motion"][brain])
             for k, v in (("registered", flair), ("headers", pulled["headers"]))}
    assert error["registered"] < 0.5 * error["headers"], error


def test_synth_and_check_data_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", str(out), "--task", "ISLES22", "--n-train", "1", "--geometry", "small"]) == 0
    assert "ISLES22" in capsys.readouterr().out
    assert main(["check-data", str(out), "--task", "ISLES22"]) == 0
    assert "look clean" in capsys.readouterr().out
    assert main(["synth", str(tmp_path / "no"), "--task", "ISLES22", "--n-train", "1", "--n-test", "1"]) == 2
