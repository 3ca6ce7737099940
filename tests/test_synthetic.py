"""The embedded synthetic dataset: layout read by the ISLES loader, determinism, geometry, pose, lesions, contrasts."""

from __future__ import annotations

import hashlib
import logging
import re

import nibabel as nib
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from strokelib.data import cases as datasets
from strokelib.data import layout
from strokelib.errors import ConfigError, DataLayoutError
from strokelib.synthetic import anatomy as synthetic_anatomy
from strokelib.synthetic import dataset as synthetic
from strokelib.synthetic import pose as synthetic_pose

N_TRAIN = {"SISS": 3, "SPES": 4}
TOKENS = {
    "SISS": ["MR_Flair", "MR_T1", "MR_T2", "MR_DWI"],
    "SPES": ["MR_DWI", "MR_CBF", "MR_CBV", "MR_T1c", "MR_T2", "MR_Tmax", "MR_TTP"],
}
NAME = re.compile(r"^VSD\.Brain\.XX\.O\.(?P<token>MR_\w+|OT)\.(?P<id>\d+)$")


@pytest.fixture(scope="module", params=["SISS", "SPES"])
def dataset(request, tmp_path_factory):
    task = request.param
    root = tmp_path_factory.mktemp(task) / "data"
    synthetic.make_synthetic_isles(
        root, task, N_TRAIN[task], n_test=1, seed=3, geometry="small", progress=False
    )
    return task, root


def digest(root, pattern="**/*.nii.gz") -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.glob(pattern))
    }


def case_with(task: str, want_confounder: bool, geometry: str = "small") -> synthetic.SyntheticCase:
    """The first case (seed 0) with or without a confounder, with its tissue maps."""
    for index in range(1, 20):
        case = synthetic.synthesize_case(
            task, synthetic.case_rng(task, 0, "training", index), geometry, keep_maps=True
        )
        if case.truth["confounder"] == want_confounder:
            return case
    raise AssertionError("no such case in 19 draws")


def overlap(mask: np.ndarray, points: np.ndarray) -> float:
    """Fraction of (N, 3) voxel coordinates that fall inside ``mask``."""
    idx = np.rint(points).astype(int)
    ok = np.all((idx >= 0) & (idx < mask.shape), axis=1)
    return mask[tuple(idx[ok].T)].sum() / len(points)


def test_layout_names_and_ids(dataset):
    task, root = dataset
    ids = []
    for split, n_cases, with_label in (("Training", N_TRAIN[task], True), ("Testing", 1, False)):
        split_dir = root / f"{task}2015_{split}"
        assert sorted(p.name for p in split_dir.iterdir()) == [str(i) for i in range(1, n_cases + 1)]
        for case_dir in sorted(split_dir.iterdir(), key=lambda p: int(p.name)):
            entries = sorted(case_dir.iterdir(), key=lambda p: int(p.name.rsplit(".", 1)[1]))
            tokens = [NAME.match(p.name)["token"] for p in entries]
            assert tokens == TOKENS[task] + (["OT"] if with_label else [])
            for entry in entries:
                assert [f.name for f in entry.iterdir()] == [entry.name + ".nii.gz"]
                ids.append(int(NAME.match(entry.name)["id"]))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert not list(root.parent.glob(".*partial*")), "the temporary folder was left behind"
    truth = synthetic.read_truth(root)
    assert synthetic._read_params(root) == {
        "task": task,
        "n_train": N_TRAIN[task],
        "n_test": 1,
        "seed": 3,
        "geometry": "small",
        "phenomena": synthetic.DEFAULT_PHENOMENA[task].as_dict(),
        "version": synthetic.VERSION,
    }
    assert sorted(truth["cases"]["training"]) == [str(i) for i in range(1, N_TRAIN[task] + 1)]


def test_loader_reads_both_splits(dataset):
    task, root = dataset
    geometry = synthetic_anatomy.GEOMETRIES[(task, "small")]
    truth = synthetic.read_truth(root)
    training = datasets.load_isles2015(root, task, progress=False)
    testing = datasets.load_isles2015(root, task, split="testing", progress=False)
    assert [c.case_id for c in training] == [str(i) for i in range(1, N_TRAIN[task] + 1)]
    assert len(testing) == 1 and testing[0].label is None
    for case in training:
        assert case.modalities == datasets.task_modalities(task)
        assert case.shape == geometry.shape and case.spacing == (geometry.spacing,) * 3
        np.testing.assert_allclose(case.affine, truth["cases"]["training"][case.case_id]["affine"], atol=1e-5)
        assert case.label_values == (0, 1)
        # skull-stripped: the same voxels are non-zero in every modality, the background exactly 0
        nonzero = case.images != 0
        assert (nonzero == nonzero[0]).all()
        assert nonzero[0].sum() > 0.05 * nonzero[0].size
        assert case.brain_mask.sum() == nonzero[0].sum()
    img = nib.load(next(root.glob(f"{task}2015_Training/1/*MR_T2*/*.nii.gz")))
    assert img.get_data_dtype() == np.int16
    ot = nib.load(next(root.glob(f"{task}2015_Training/1/*.OT.*/*.nii.gz")))
    assert ot.get_data_dtype() == np.uint8


def test_small_geometry_fits_the_paper_patch():
    for (task, name), geometry in synthetic_anatomy.GEOMETRIES.items():
        x, y, z = geometry.shape
        assert x >= 32 and y >= 32 and z >= 24, (task, name)
    assert synthetic_anatomy.GEOMETRIES[("SISS", "paper")].shape[:2] == (230, 230)
    assert synthetic_anatomy.GEOMETRIES[("SISS", "paper")].z_choices == (153, 154)
    case = synthetic.synthesize_case("SPES", synthetic.case_rng("SPES", 0, "training", 1), "paper")
    assert case.label.shape == (96, 110, 72)
    np.testing.assert_allclose(np.diag(case.affine)[:3], 2.0)
    assert all(v.shape == (96, 110, 72) and v.dtype == np.int16 for v in case.images.values())


def test_deterministic_by_seed(dataset, tmp_path):
    task, root = dataset
    # same seed, fewer cases: case 1 is byte-for-byte the same, whatever n_train
    again = synthetic.make_synthetic_isles(
        tmp_path / "again", task, 1, n_test=0, seed=3, geometry="small", progress=False
    )
    first = digest(root, f"{task}2015_Training/1/**/*.nii.gz")
    assert (
        first == digest(again, f"{task}2015_Training/1/**/*.nii.gz") and len(first) == len(TOKENS[task]) + 1
    )
    other = synthetic.synthesize_case(task, synthetic.case_rng(task, 4, "training", 1), "small")
    same = synthetic.synthesize_case(task, synthetic.case_rng(task, 3, "training", 1), "small")
    assert not np.array_equal(other.images["T2"], same.images["T2"])
    loaded = datasets.load_isles2015(root, task, cases=[1], progress=False)[0]
    np.testing.assert_array_equal(loaded.channel("T2"), same.images["T2"])
    np.testing.assert_array_equal(loaded.label, same.label)


def test_parallel_generation_gives_the_same_bytes(tmp_path):
    serial = synthetic.make_synthetic_isles(
        tmp_path / "a", "SPES", 2, seed=5, geometry="small", progress=False, n_jobs=1
    )
    parallel = synthetic.make_synthetic_isles(
        tmp_path / "b", "SPES", 2, seed=5, geometry="small", progress=False, n_jobs=2
    )
    assert digest(serial) == digest(parallel)
    assert synthetic.read_truth(serial) == synthetic.read_truth(parallel)


def test_pose_differs_per_case_and_plane_is_true(dataset):
    task, root = dataset
    truth = synthetic.read_truth(root)["cases"]["training"]
    poses = {tuple(c["rotation_deg"] + c["translation_mm"]) for c in truth.values()}
    assert len(poses) == len(truth)
    off_centre = 0
    for case in datasets.load_isles2015(root, task, progress=False):
        t = truth[case.case_id]
        assert all(abs(r) <= 10 for r in t["rotation_deg"]) and all(abs(v) <= 8 for v in t["translation_mm"])
        plane = t["midsagittal_plane"]
        centre_x = (case.shape[0] - 1) / 2
        tilt = np.degrees(np.arccos(abs(plane["normal_voxel"][0])))
        off_centre += abs(plane["point_voxel"][0] - centre_x) > 0.5 or tilt > 1
        # The MNI152 template is symmetric: mirroring the brain through the true plane maps it onto itself,
        # mirroring through the array's centre plane does not.
        voxels = np.argwhere(case.brain_mask)
        point, normal = np.asarray(plane["point_voxel"]), np.asarray(plane["normal_voxel"])
        mirrored = voxels - 2 * ((voxels - point) @ normal)[:, None] * normal
        naive = voxels.astype(float)
        naive[:, 0] = 2 * centre_x - naive[:, 0]
        assert overlap(case.brain_mask, mirrored) > 0.93
        assert overlap(case.brain_mask, mirrored) > overlap(case.brain_mask, naive)
    assert off_centre == len(truth)


def test_lesion_in_brain_one_hemisphere_and_volume(dataset):
    task, root = dataset
    truth = synthetic.read_truth(root)["cases"]["training"]
    lo, hi = synthetic.VOLUME_RANGE_ML[task]
    for case in datasets.load_isles2015(root, task, progress=False):
        t = truth[case.case_id]
        lesion = case.label.astype(bool)
        assert lesion.any() and not (lesion & ~case.brain_mask).any()
        side = synthetic_pose.signed_midplane_distance(t, np.argwhere(lesion))
        expected = 1 if t["lesion_side"] == "right" else -1
        assert (np.sign(side) == expected).all()
        assert lo <= t["target_volume_ml"] <= hi
        assert case.lesion_volume_ml() == pytest.approx(t["lesion_volume_ml"])
        assert t["lesion_volume_ml"] == pytest.approx(
            t["target_volume_ml"], rel=0.15, abs=3 * np.prod(case.spacing) / 1000
        )


def test_siss_contrasts():
    case = case_with("SISS", want_confounder=True)
    m, lesion = case.maps, case.label.astype(bool)
    healthy = m["brain"] & ~lesion & ~m["confounder"] & ~m["mimic"]
    wm, gm, csf = (healthy & (m[k] > 0.9) for k in ("wm", "gm", "csf"))
    assert wm.sum() > 100 and gm.sum() > 100 and csf.sum() > 20

    def mean(name, where):
        return case.images[name][where].mean()

    assert mean("T1", wm) > mean("T1", gm) > mean("T1", csf)
    assert mean("Flair", csf) < mean("Flair", gm) and mean("T2", csf) > mean("T2", gm)
    assert mean("DWI", lesion) > 1.3 * mean("DWI", wm)
    assert mean("Flair", lesion) > mean("Flair", wm) and mean("T2", lesion) > mean("T2", wm)
    assert mean("T1", lesion) < mean("T1", wm)
    # the confounder (an old lesion, not labelled): FLAIR/T2 bright, no DWI signal
    old = m["confounder"] & ~lesion
    assert old.sum() > 10 and not (old & lesion).any()
    assert mean("Flair", old) > mean("Flair", wm) and mean("T2", old) > mean("T2", wm)
    assert mean("DWI", old) < mean("DWI", gm) < mean("DWI", lesion)


def test_spes_contrasts():
    case = case_with("SPES", want_confounder=False)
    m, lesion = case.maps, case.label.astype(bool)
    healthy = m["brain"] & ~lesion & (m["severity"] == 0)
    wm, gm = healthy & (m["wm"] > 0.8), healthy & (m["gm"] > 0.8)
    core, penumbra = m["core"], lesion & ~m["core"]
    assert core.sum() > 5 and penumbra.sum() > 5 and not (core & ~lesion).any()

    def mean(name, where):
        return case.images[name][where].mean()

    assert mean("Tmax", penumbra) > 3 * mean("Tmax", healthy)
    assert mean("TTP", penumbra) > mean("TTP", healthy)
    assert mean("CBF", penumbra) < mean("CBF", gm) and mean("CBF", core) < mean("CBF", penumbra)
    assert mean("CBV", core) < mean("CBV", penumbra)
    assert mean("DWI", core) > 1.3 * mean("DWI", penumbra)
    assert mean("CBF", gm) > mean("CBF", wm) and mean("T1c", wm) > mean("T1c", gm)
    assert case.truth["core_volume_ml"] < case.truth["lesion_volume_ml"]


def test_ensure_synthetic_reuses_and_keys_folders_by_parameters(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="strokelib.synthetic.dataset")
    folder = synthetic.ensure_synthetic(
        "spes", 1, seed=0, geometry="small", base_dir=tmp_path, progress=False
    )
    assert folder == tmp_path / f"SPES_small_train1_test0_seed0_v{synthetic.VERSION}"
    stamp = (folder / synthetic.PARAMS_FILE).stat().st_mtime_ns
    assert (
        synthetic.ensure_synthetic("SPES", 1, seed=0, geometry="small", base_dir=tmp_path, progress=False)
        == folder
    )
    assert (folder / synthetic.PARAMS_FILE).stat().st_mtime_ns == stamp
    assert "reusing" in caplog.text
    # other parameters: another folder, the first one left alone
    other = synthetic.ensure_synthetic("SPES", 2, seed=1, geometry="small", base_dir=tmp_path, progress=False)
    assert other != folder and synthetic._read_params(other)["seed"] == 1
    assert (folder / synthetic.PARAMS_FILE).stat().st_mtime_ns == stamp
    # two datasets, each with its (released) lock file next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [folder.name, other.name, f"{folder.name}.lock", f"{other.name}.lock"])


def test_ensure_synthetic_refuses_a_changed_dataset(tmp_path):
    from strokelib.errors import ProvenanceError

    folder = synthetic.ensure_synthetic("SPES", 1, geometry="small", base_dir=tmp_path, progress=False)
    image = sorted(folder.rglob("*MR_DWI*.nii.gz"))[0]
    image.write_bytes(image.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ProvenanceError, match="changed since it was generated"):
        synthetic.ensure_synthetic("SPES", 1, geometry="small", base_dir=tmp_path, progress=False)


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = synthetic.synthesize_case
    monkeypatch.setattr(synthetic, "synthesize_case", failing)
    with pytest.raises(KeyboardInterrupt):
        synthetic.make_synthetic_isles(
            tmp_path / "data", "SPES", 3, geometry="small", progress=False, n_jobs=1
        )
    assert [p.name for p in tmp_path.iterdir()] == ["data.lock"]  # only the released lock file


def test_bad_input_raises_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown task"):
        synthetic.make_synthetic_isles(tmp_path / "x", "ATLAS", 1)
    with pytest.raises(ConfigError, match="geometry"):
        synthetic.make_synthetic_isles(tmp_path / "x", "SPES", 1, geometry="huge")
    with pytest.raises(ConfigError, match="n_train"):
        synthetic.make_synthetic_isles(tmp_path / "x", "SPES", -1)
    with pytest.raises(ConfigError, match="at least one case"):
        synthetic.make_synthetic_isles(tmp_path / "x", "SPES", 0, n_test=0)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataLayoutError, match="not a synthetic dataset"):
        synthetic.make_synthetic_isles(tmp_path / "mine", "SPES", 1, geometry="small", progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(DataLayoutError, match="synthetic.json"):
        synthetic.read_truth(tmp_path / "mine")


def test_spot_field_matches_direct_evaluation(rng):
    vox_to_world = np.eye(4)
    vox_to_world[:3, :3] = Rotation.from_euler("xyz", [7, -4, 9], degrees=True).as_matrix() * 2.0
    vox_to_world[:3, 3] = [-40, -50, -30]
    lo, hi = np.array([2, 3, 1]), np.array([40, 45, 30])
    centres, gains, widths = (
        rng.uniform(-20, 20, size=(3, 3)),
        np.array([0.5, 0.0, 0.8]),
        np.array([6.0, 8.0, 9.0]),
    )
    field = synthetic_pose.spots(centres, gains, widths, vox_to_world, lo, hi)
    ijk = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1)
    world = ijk @ vox_to_world[:3, :3].T + vox_to_world[:3, 3]
    direct = sum(
        g * np.exp(-((world - c) ** 2).sum(-1) / (2 * w**2))
        for c, g, w in zip(centres, gains, widths, strict=True)
    )
    np.testing.assert_allclose(field, direct, atol=0.012)  # spots are cut at 3 sigma (exp(-4.5) ≈ 0.011)
    assert field.max() > 0.3


# ---------------------------------------------------------------------------------------------------------
# phenomena (what makes the paper's contributions matter on the synthetic data)
# ---------------------------------------------------------------------------------------------------------


def case_with_mimics(task: str, geometry: str = "small") -> synthetic.SyntheticCase:
    for index in range(1, 20):
        case = synthetic.synthesize_case(task, synthetic.case_rng(task, 0, "training", index), geometry,
                                         keep_maps=True)
        if case.truth["mimic_pairs"]:
            return case
    raise AssertionError("no case with mimics in 19 draws")


@pytest.mark.parametrize("task", ["SISS", "SPES"])
def test_mimics_are_bilateral_mirror_images_outside_the_label(task):
    case = case_with_mimics(task)
    mimic, lesion = case.maps["mimic"], case.label.astype(bool)
    assert mimic.sum() > 20 and not (mimic & lesion).any()
    side = synthetic_pose.signed_midplane_distance(case.truth, np.argwhere(mimic))
    left, right = (side < 0).sum(), (side > 0).sum()
    assert min(left, right) > 0.6 * max(left, right)  # both hemispheres, about equally
    # beyond half a 2 mm training patch from the midline (so no patch sees both sides), give or take blurring
    assert np.abs(side).min() > synthetic.DEFAULT_PHENOMENA[task].mimic_min_lateral_mm - 8
    # mirror image: reflect every mimic voxel through the posed mid-sagittal plane; most land on a mimic voxel
    plane = case.truth["midsagittal_plane"]
    normal = np.asarray(plane["normal_voxel"])
    points = np.argwhere(mimic).astype(float)
    distance_vox = (points - np.asarray(plane["point_voxel"])) @ normal
    mirrored = points - 2 * distance_vox[:, None] * normal
    assert overlap(ndimage_dilate(mimic), mirrored) > 0.7


def ndimage_dilate(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=1)


def test_siss_mimics_look_like_the_lesion_on_every_channel():
    case = case_with_mimics("SISS")
    m, lesion = case.maps, case.label.astype(bool)
    healthy = m["brain"] & ~lesion & ~m["confounder"] & ~m["mimic"] & (m["wm"] > 0.8)
    for name in ("Flair", "DWI", "T2"):
        assert case.images[name][m["mimic"]].mean() > 1.2 * case.images[name][healthy].mean()
    assert case.images["T1"][m["mimic"]].mean() < case.images["T1"][healthy].mean()


def test_spes_mimics_are_perfusion_delays_without_a_core():
    case = case_with_mimics("SPES", geometry="paper")
    m = case.maps
    healthy = m["brain"] & ~case.label.astype(bool) & (m["severity"] == 0) & ~m["mimic"] & ~m["confounder"]
    assert case.images["Tmax"][m["mimic"]].mean() > 3 * case.images["Tmax"][healthy].mean()
    assert case.images["CBF"][m["mimic"]].mean() < case.images["CBF"][healthy & (m["gm"] > 0.5)].mean()
    dwi_ratio = case.images["DWI"][m["mimic"]].mean() / case.images["DWI"][healthy].mean()
    assert 0.8 < dwi_ratio < 1.3  # no diffusion core


def test_phenomena_are_parameters_and_key_the_dataset(tmp_path):
    assert synthetic.phenomena_for("SISS", {"mimic_p": 0}).mimic_p == 0
    with pytest.raises(ConfigError, match="unknown synthetic phenomena"):
        synthetic.phenomena_for("SISS", {"mimics": 0})
    with pytest.raises(ConfigError, match="probability"):
        synthetic.phenomena_for("SISS", {"old_lesion_p": 2})
    default = synthetic.dataset_name("SISS", 2)
    assert synthetic.dataset_name("SISS", 2, phenomena={}) == default
    off = synthetic.dataset_name("SISS", 2, phenomena={"mimic_p": 0, "old_lesion_p": 0})
    assert off.startswith(default + "_ph") and off != default
    none = {"mimic_p": 0.0, "old_lesion_p": 0.0}
    truths = [synthetic.synthesize_case("SISS", synthetic.case_rng("SISS", 0, "training", i), "small",
                                        phenomena=none).truth for i in range(1, 6)]
    assert all(t["mimic_pairs"] == 0 and not t["confounder"] for t in truths)
    assert all(t["phenomena"] in ([], ["small lesion"]) for t in truths)


def test_switching_one_phenomenon_off_leaves_the_rest_of_the_case():
    rng = lambda: synthetic.case_rng("SISS", 0, "training", 1)  # noqa: E731
    base = synthetic.synthesize_case("SISS", rng(), "small", keep_maps=True, phenomena={"mimic_p": 1, "old_lesion_p": 1})
    no_old = synthetic.synthesize_case("SISS", rng(), "small", keep_maps=True, phenomena={"mimic_p": 1, "old_lesion_p": 0})
    no_spots = synthetic.synthesize_case("SISS", rng(), "small", keep_maps=True,
                                         phenomena={"mimic_p": 1, "old_lesion_p": 1, "artefact_spots": False})
    assert base.maps["confounder"].any() and not no_old.maps["confounder"].any()
    np.testing.assert_array_equal(base.label, no_old.label)
    np.testing.assert_array_equal(base.maps["mimic"], no_old.maps["mimic"])
    # the old lesion's map is resampled linearly: its contrast fades out over a few voxels past the mask
    from scipy import ndimage

    outside = ~ndimage.binary_dilation(base.maps["confounder"], iterations=3)
    np.testing.assert_array_equal(base.images["DWI"][outside], no_old.images["DWI"][outside])
    np.testing.assert_array_equal(base.images["Flair"], no_spots.images["Flair"])  # spots are on DWI only
    assert (base.images["DWI"] != no_spots.images["DWI"]).any()


def test_phenomena_values_are_typed():
    assert synthetic.dataset_name("SISS", 2, phenomena={"mimic_p": 0}) == synthetic.dataset_name(
        "SISS", 2, phenomena={"mimic_p": 0.0})
    with pytest.raises(ConfigError, match="mimic_pairs must look like"):
        synthetic.phenomena_for("SISS", {"mimic_pairs": "many"})


def test_phenomenon_masks_are_written_beside_the_dataset(dataset):
    task, root = dataset
    truth = synthetic.read_truth(root)["cases"]["training"]
    for case in datasets.load_isles2015(root, task, progress=False):
        masks = synthetic.phenomenon_masks(root, case)
        assert set(masks) == {"old_lesion", "mimic"}
        assert masks["old_lesion"].any() == (truth[case.case_id].get("confounder_volume_ml", 0) > 0)
        assert masks["mimic"].any() == (truth[case.case_id]["mimic_volume_ml"] > 0)
        assert not (masks["mimic"] & (case.label > 0)).any()
    assert not layout.list_unknown_files(root, task)  # the loader never sees them


def test_siss_lesion_volumes_span_small_to_large():
    volumes = [synthetic.synthesize_case("SISS", synthetic.case_rng("SISS", 0, "training", i), "small").truth[
        "lesion_volume_ml"] for i in range(1, 29)]
    assert min(volumes) < 5 and max(volumes) > 50  # log-uniform from 1 to 300 mL: many small, a few large
    assert np.median(volumes) < 40


def test_phenomena_table_names_what_each_case_carries(dataset):
    task, root = dataset
    table = synthetic.phenomena_table(root)
    cases = {c.case_id: c for c in datasets.load_isles2015(root, task, progress=False)}
    assert list(table.index) == sorted(cases, key=int)
    for case_id, row in table.iterrows():
        case, masks = cases[case_id], synthetic.phenomenon_masks(root, cases[case_id])
        tags = row["phenomena"].split(", ") if row["phenomena"] else []
        # checked against the images on disk, not against the fields the table was built from
        assert ("old lesion" in tags) == bool(masks["old_lesion"].any())
        assert ("symmetric mimics" in tags) == bool(masks["mimic"].any())
        assert ("small lesion" in tags) == (case.lesion_volume_ml() < 10)
        assert row["lesion_ml"] == pytest.approx(case.lesion_volume_ml())
