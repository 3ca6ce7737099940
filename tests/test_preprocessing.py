"""Brain mask, normalisation and symmetric modalities (paper §3.1) on phantoms with a known head pose.

The phantoms are built here from nilearn's MNI152 template (mirror-symmetric about world x = 0), posed with a known
rotation and shift, so the true mid-sagittal plane is known exactly; nothing depends on strokelib.synthetic.dataset.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from strokelib.data import cases as datasets
from strokelib.data.cases import Case
from strokelib.data.layout import SISS_MODALITIES, SPES_MODALITIES
from strokelib.errors import ConfigError, PreprocessingError
from strokelib.preprocessing import midsagittal
from strokelib.preprocessing import normalisation as pp
from strokelib.preprocessing import symmetric as symmetry

LESION_CENTRE_MM = np.array([-30.0, -10.0, 20.0])  # template world, left hemisphere


@lru_cache(maxsize=1)
def _template() -> tuple[np.ndarray, np.ndarray]:
    from nilearn.datasets import load_mni152_template

    img = load_mni152_template(resolution=2)
    data = img.get_fdata(dtype=np.float32)
    data[data < 0.05] = 0  # the template's background holds tiny resampling residues
    data = (data + data[::-1]) / 2  # exactly symmetric about x = 0 (voxel 49 of 99)
    return data, img.affine


def phantom(
    task: str = "SISS",
    angles_deg=(0.0, 0.0, 0.0),
    shift_mm=(0.0, 0.0, 0.0),
    affine: np.ndarray | None = None,
    shape: tuple[int, int, int] = (99, 117, 95),
) -> tuple[Case, np.ndarray, np.ndarray]:
    """A posed template head with a lesion in the left hemisphere; returns (case, true point, true normal) in mm.

    Pose: world = R @ template_world + shift, R from (x, y, z) Euler angles, so the mid-sagittal plane has normal
    R @ e_x through ``shift``.
    """
    template, t_affine = _template()
    affine = np.array(t_affine if affine is None else affine, dtype=np.float64)
    pose = np.eye(4)
    pose[:3, :3] = Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix()
    pose[:3, 3] = shift_mm
    to_template = np.linalg.inv(t_affine) @ np.linalg.inv(pose) @ affine  # output voxel -> template voxel
    head = ndimage.affine_transform(template, to_template, output_shape=shape, order=1)
    world = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1) @ affine[:3, :3].T + affine[:3, 3]
    template_world = (world - pose[:3, 3]) @ pose[:3, :3]
    label = (np.linalg.norm(template_world - LESION_CENTRE_MM, axis=-1) < 9.0) & (head > 0)
    lesion = label.astype(np.float32)
    channels = {
        "Flair": head + 0.6 * lesion * head, "T1": np.sqrt(head) * (1 - 0.5 * lesion), "T2": (1.2 - head) * (head > 0),
        "DWI": ndimage.gaussian_filter(head, 1.0) * (head > 0) + 0.8 * lesion,
        "T1c": head ** 1.5, "CBF": np.sqrt(head) * (1 - 0.7 * lesion), "CBV": head * (1 - 0.5 * lesion),
        "Tmax": (1.1 - head) * (head > 0) + lesion, "TTP": (1.0 - head ** 2) * (head > 0) + 0.5 * lesion,
    }
    modalities = SISS_MODALITIES if task == "SISS" else SPES_MODALITIES
    images = np.stack([channels[m] for m in modalities]).astype(np.float32)
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    case = Case(case_id=f"phantom-{task}", images=images, modalities=modalities, label=label.astype(np.uint8),
                affine=affine, spacing=spacing, brain_mask=datasets.brain_mask(images), task=task)
    return case, pose[:3, 3].copy(), pose[:3, :3] @ np.array([1.0, 0.0, 0.0])


def small_spes() -> Case:
    """A 4 mm SPES-like phantom (7 channels), fast enough for cache and channel tests."""
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = (-98.0, -134.0, -72.0)
    return phantom("SPES", angles_deg=(0, 0, 4), shift_mm=(2, 0, 0), affine=affine, shape=(50, 59, 48))[0]


@pytest.fixture(scope="module")
def posed_siss():
    case, point, normal = phantom("SISS", angles_deg=(3.0, 2.0, 7.0), shift_mm=(5.0, -3.0, 2.0))
    sym_case, registration = symmetry.symmetric_modalities(case)
    return case, sym_case, registration, point, normal


# --- brain mask and normalisation ------------------------------------------------------------------------


def test_brain_mask_uses_any_channel_and_fills_holes():
    images = np.zeros((2, 9, 9, 9), np.float32)
    images[0, 2:7, 2:7, 2:7] = 1.0
    images[0, 4, 4, 4] = 0.0  # a hole inside the brain
    images[1, 1, 1, 1] = 3.0  # only the second channel sees this voxel
    mask = datasets.brain_mask(images)
    assert mask[4, 4, 4] and mask[1, 1, 1] and mask[3, 3, 3]
    assert mask.sum() == 5**3 + 1
    with pytest.raises(PreprocessingError, match="expects"):
        datasets.brain_mask(images[0])


def test_brain_normalisation_is_zscore_inside_mask_with_zero_background(rng):
    images = np.zeros((2, 10, 10, 10), np.float32)
    images[:, 2:8, 2:8, 2:8] = rng.normal([[[[50.0]]], [[[300.0]]]], [[[[5.0]]], [[[40.0]]]], size=(2, 6, 6, 6))
    mask = datasets.brain_mask(images)
    out = pp.normalise_images(images, mask, "brain")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, mask].mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[:, mask].std(axis=1), 1.0, atol=1e-4)
    assert np.all(out[:, ~mask] == 0)


def test_whole_volume_normalisation_matches_released_code(rng):
    images = np.zeros((2, 10, 10, 10), np.float32)
    images[:, 2:8, 2:8, 2:8] = rng.uniform(10, 20, size=(2, 6, 6, 6))
    out = pp.normalise_images(images, datasets.brain_mask(images), "whole_volume")
    np.testing.assert_allclose(out.reshape(2, -1).mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.reshape(2, -1).std(axis=1), 1.0, atol=1e-4)
    expected_background = -images[0].mean() / images[0].std()  # zeros become -mean/std, not 0
    assert out[0, 0, 0, 0] == pytest.approx(expected_background, rel=1e-4)
    with pytest.raises(PreprocessingError, match="unknown normalisation"):
        pp.normalise_images(images, datasets.brain_mask(images), "minmax")


def test_normalise_empty_mask_names_the_case():
    case = small_spes()
    empty = dataclasses.replace(case, images=np.zeros_like(case.images), brain_mask=np.zeros(case.shape, bool))
    with pytest.raises(PreprocessingError, match=f"case {case.case_id}.*empty"):
        pp.normalise(empty)


# --- flip, channel order, names ---------------------------------------------------------------------------


def test_flip_is_along_x():
    volume = np.zeros((5, 4, 3), np.float32)
    volume[0, 1, 2] = 1.0
    assert symmetry.flip_left_right(volume)[4, 1, 2] == 1.0
    images = np.stack([volume, 2 * volume])
    flipped = symmetry.flip_left_right(images)
    assert flipped.shape == images.shape and flipped[1, 4, 1, 2] == 2.0 and flipped[1, 0, 1, 2] == 0.0


def test_default_reference_per_task():
    siss, _, _ = phantom("SISS", shape=(20, 20, 20))
    assert symmetry.default_reference(siss) == "Flair"
    assert symmetry.default_reference(small_spes()) == "T1c"


def test_spes_gets_14_channels_in_order_label_and_mask_untouched():
    case = small_spes()
    sym_case, registration = symmetry.symmetric_modalities(case)
    assert sym_case.modalities == SPES_MODALITIES + tuple(f"sym_{m}" for m in SPES_MODALITIES)
    assert sym_case.images.shape == (14, *case.shape) and sym_case.images.dtype == np.float32
    np.testing.assert_array_equal(sym_case.images[:7], case.images)
    assert sym_case.label is case.label and sym_case.brain_mask is case.brain_mask
    assert len(case.modalities) == 7  # the input case is not modified
    # Every channel went through the one transform: sym_k(i) = k(mirror(i)), checked with scipy independently.
    A, b = midsagittal.mirror_map(registration, case)
    spacing = np.asarray(case.spacing)
    index = np.argwhere(ndimage.binary_erosion(case.brain_mask, iterations=2))
    source = ((index * spacing) @ A.T + b) / spacing
    for k in range(7):
        expected = ndimage.map_coordinates(case.images[k], source.T, order=1)
        np.testing.assert_allclose(sym_case.images[7 + k][tuple(index.T)], expected, atol=1e-3)


def test_symmetric_channel_mirrors_the_lesion(posed_siss):
    case, sym_case, *_ = posed_siss
    flair, sym_flair = case.channel("Flair"), sym_case.channel("sym_Flair")
    lesion = case.label.astype(bool)
    # The lesion is bright in FLAIR; its mirror location in the other hemisphere is healthy, so sym_FLAIR is lower
    # there, while the original - symmetric difference is large on the lesion and small elsewhere in the brain.
    assert sym_flair[lesion].mean() < 0.8 * flair[lesion].mean()
    difference = flair - sym_flair
    healthy = case.brain_mask & ~ndimage.binary_dilation(lesion, iterations=3)
    assert difference[lesion].mean() > 5 * np.abs(difference[healthy]).mean()
    # Lesion sits at negative world x (left): the bright mirror spot appears on the right of the phantom.
    bright = np.argwhere(sym_case.channel("sym_DWI") - case.channel("DWI") > 0.5)
    lesion_x_world = (case.affine @ np.r_[np.argwhere(lesion).mean(axis=0), 1])[0]
    bright_x_world = (case.affine @ np.r_[bright.mean(axis=0), 1])[0]
    assert lesion_x_world < -15 and bright_x_world > 15


# --- accuracy: mid-sagittal plane and NCC --------------------------------------------------------------------


def test_rigid_registration_recovers_the_mid_sagittal_plane(posed_siss):
    case, _, registration, true_point, true_normal = posed_siss
    point, normal = midsagittal.mid_sagittal_plane(registration, case)
    angle, distance = midsagittal.plane_error(point, normal, true_point, true_normal)
    assert angle < 1.0 and distance < 1.0, (angle, distance)
    assert normal[0] > 0.9  # points towards +x (right) on this RAS grid
    summary = registration.summary()
    assert summary["transform"] == "rigid" and summary["reference"] == "Flair" and summary["seconds"] > 0


def test_plane_in_world_mm_on_an_anisotropic_las_grid():
    affine = np.diag([-2.0, 2.5, 3.0, 1.0])
    affine[:3, 3] = (98.0, -134.0, -72.0)  # x runs right to left (LAS), voxels 2 x 2.5 x 3 mm
    case, true_point, true_normal = phantom("SPES", angles_deg=(0.0, -3.0, -6.0), shift_mm=(-4.0, 6.0, 0.0),
                                           affine=affine, shape=(99, 94, 64))
    registration = symmetry.register_flipped(case)
    point, normal = midsagittal.mid_sagittal_plane(registration, case)
    angle, distance = midsagittal.plane_error(point, normal, true_point, true_normal)
    assert angle < 1.0 and distance < 1.0, (angle, distance)
    assert normal @ affine[:3, 0] > 0  # sign convention: towards +X of the array
    vox_point, vox_normal = midsagittal.mid_sagittal_plane(registration, case, space="voxel")
    np.testing.assert_allclose(affine[:3, :3] @ vox_point + affine[:3, 3], point, atol=1e-6)


def test_registered_mirror_beats_naive_flip(posed_siss):
    case, sym_case, *_ = posed_siss
    table = midsagittal.symmetry_ncc(case, sym_case)
    assert list(table.index) == list(SISS_MODALITIES)
    assert list(table.columns) == ["registered", "naive_flip", "gain"]
    assert (table["registered"] > table["naive_flip"] + 0.05).all(), table
    assert (table["registered"] > 0.8).all(), table


def test_affine_option_also_finds_the_plane():
    case, true_point, true_normal = phantom("SISS", angles_deg=(0.0, 0.0, 5.0), shift_mm=(3.0, 0.0, 0.0))
    registration = symmetry.register_flipped(case, transform="affine")
    assert registration.kind == "affine" and len(registration.transform.GetParameters()) == 12
    angle, distance = midsagittal.plane_error(*midsagittal.mid_sagittal_plane(registration, case), true_point, true_normal)
    assert angle < 1.5 and distance < 1.5, (angle, distance)


# --- prepare_case and caching ------------------------------------------------------------------------------


def test_prepare_case_normalises_sym_channels_over_the_original_mask(tmp_path):
    case = small_spes()
    prepared = pp.prepare_case(case, symmetric=True, cache_dir=tmp_path)
    assert len(prepared.modalities) == 14 and prepared.modalities[7] == "sym_DWI"
    mask = case.brain_mask
    np.testing.assert_allclose(prepared.images[:, mask].mean(axis=1), 0.0, atol=1e-4)
    assert np.all(prepared.images[:, ~mask] == 0)
    plain = pp.prepare_case(case, symmetric=False, normalisation="whole_volume")
    assert plain.modalities == SPES_MODALITIES and plain.images[0, 0, 0, 0] < 0
    again = pp.prepare_case(prepared, symmetric=True)  # already symmetric: normalised only, still 14 channels
    assert again.modalities == prepared.modalities
    with pytest.raises(ConfigError, match="normalisation"):
        pp.prepare_case(case, symmetric=False, normalisation="zscore")


def test_cache_hit_does_no_registration_and_changes_invalidate(tmp_path, monkeypatch):
    case = small_spes()
    first, reg1 = symmetry.symmetric_modalities(case, cache_dir=tmp_path)
    assert not reg1.from_cache and (reg1.cache_folder / "registration.json").is_file()
    assert reg1.cache_folder.parent.name == case.case_id

    def no_registration(*args, **kwargs):
        raise AssertionError("a cache hit must not register")

    monkeypatch.setattr(symmetry, "register_flipped", no_registration)
    second, reg2 = symmetry.symmetric_modalities(case, cache_dir=tmp_path)
    assert reg2.from_cache
    np.testing.assert_array_equal(second.images, first.images)
    np.testing.assert_allclose(reg2.transform.GetParameters(), reg1.transform.GetParameters())
    # Changed settings, transform or input arrays: new key, so the old entry is not used.
    for kwargs, changed in [({"settings": symmetry.RegistrationSettings(seed=1)}, case), ({"transform": "affine"}, case),
                            ({}, dataclasses.replace(case, images=case.images * 1.01))]:
        with pytest.raises(AssertionError, match="must not register"):
            symmetry.symmetric_modalities(changed, cache_dir=tmp_path, **kwargs)


# --- bad input ---------------------------------------------------------------------------------------------


def test_missing_reference_modality():
    case = small_spes()
    keep = [i for i, m in enumerate(case.modalities) if m != "T1c"]
    no_t1c = dataclasses.replace(case, images=case.images[keep], modalities=tuple(case.modalities[i] for i in keep))
    with pytest.raises(PreprocessingError, match=r"case phantom-SPES: reference modality 'T1c' is missing"):
        symmetry.add_symmetric_modalities(no_t1c)
    with pytest.raises(PreprocessingError, match="missing"):
        symmetry.add_symmetric_modalities(case, reference="Flair")


def test_empty_brain_mask_and_bad_options():
    case = small_spes()
    empty = dataclasses.replace(case, images=np.zeros_like(case.images), brain_mask=np.zeros(case.shape, bool))
    with pytest.raises(PreprocessingError, match="case phantom-SPES.*empty"):
        symmetry.add_symmetric_modalities(empty)
    with pytest.raises(ConfigError, match="unknown transform"):
        symmetry.add_symmetric_modalities(case, transform="bspline")
    with pytest.raises(ConfigError, match="metric"):
        symmetry.register_flipped(case, settings=symmetry.RegistrationSettings(metric="mutual_information"))
    sym_case = symmetry.add_symmetric_modalities(case)
    with pytest.raises(PreprocessingError, match="already has symmetric"):
        symmetry.add_symmetric_modalities(sym_case)


@pytest.mark.parametrize("method", ["brain", "whole_volume"])
def test_registration_of_normalised_images_fails_loudly(method):
    """Z-scored images have negative values: ITK finds no valid points (metric DBL_MAX) and the sym_ channels came
    back all zero, silently. Now it is an error that names the case and the cause."""
    normalised = pp.normalise(small_spes(), method)
    with pytest.raises(PreprocessingError, match=r"case phantom-SPES: .*no valid points.*already normalised"):
        symmetry.add_symmetric_modalities(normalised)
    with pytest.raises(PreprocessingError, match="already normalised"):
        symmetry.register_flipped(normalised, transform="affine")


def test_itk_exception_and_non_finite_metric_are_preprocessing_errors(monkeypatch):
    case = small_spes()

    def itk_raises(self, fixed, moving):
        raise RuntimeError("Exception thrown in SimpleITK ImageRegistrationMethod_Execute:\n"
                           "No valid points were found during metric evaluation.")

    with monkeypatch.context() as m:
        m.setattr(symmetry.sitk.ImageRegistrationMethod, "Execute", itk_raises)
        with pytest.raises(PreprocessingError, match=r"case phantom-SPES: the rigid .*failed \(No valid points"):
            symmetry.register_flipped(case)
    with monkeypatch.context() as m:
        m.setattr(symmetry.sitk.ImageRegistrationMethod, "GetMetricValue", lambda self: float("nan"))
        with pytest.raises(PreprocessingError, match=r"case phantom-SPES: .*metric value nan.*zero background"):
            symmetry.symmetric_modalities(case)


def test_mostly_zero_symmetric_channels_are_refused_and_not_cached(monkeypatch, tmp_path):
    case = small_spes()
    registration = symmetry.register_flipped(case)
    sym = symmetry.resample_flipped(case, registration.transform)
    symmetry.check_symmetric(case, sym, "T1c")  # a good mirror passes
    off_head = sitk_translation(200.0)
    monkeypatch.setattr(symmetry, "register_flipped", lambda *a, **k: dataclasses.replace(registration, transform=off_head))
    with pytest.raises(PreprocessingError, match=r"case phantom-SPES: sym_T1c is 0 on 100% of the brain \(limit 50%\)"):
        symmetry.symmetric_modalities(case, cache_dir=tmp_path)
    assert not any(tmp_path.rglob("registration.json")), "a refused result is not cached"
    # the limit: a mirror shifted by 20% of the head's width (~46% of the brain zero) passes, by 30% (~62%) not
    width = case.shape[0] * case.spacing[0]
    symmetry.check_symmetric(case, symmetry.resample_flipped(case, sitk_translation(0.2 * width)), "T1c")
    with pytest.raises(PreprocessingError, match=r"sym_T1c is 0 on 6\d% of the brain"):
        symmetry.check_symmetric(case, symmetry.resample_flipped(case, sitk_translation(0.3 * width)), "T1c")


def sitk_translation(x_mm: float):
    import SimpleITK as sitk

    return sitk.TranslationTransform(3, (x_mm, 0.0, 0.0))


# --- figures of notebook 02 --------------------------------------------------------------------------------


def test_symmetry_figures_are_saved(tmp_path):
    from strokelib import plotting

    case = small_spes()
    sym_case, registration = symmetry.symmetric_modalities(case)
    assert plotting.symmetric_modalities_figure(sym_case, output_file=tmp_path / "fig1.png") is None
    fig = plotting.symmetric_modalities_figure(sym_case)
    assert fig.axes[0].get_title() == "(a) DWI" and len(fig.axes) == 14  # 2 x 7 for SPES
    plane = midsagittal.mid_sagittal_plane(registration, case, space="voxel")
    assert plotting.registration_check(sym_case, "T1c", plane_voxel=plane, output_file=tmp_path / "check.png") is None
    fig = plotting.registration_check(sym_case, "T1c", plane_voxel=plane)
    assert len(fig.axes[2].lines) == 1  # the recovered mid-sagittal line
    assert plotting.symmetry_difference(sym_case, output_file=tmp_path / "difference.png") is None
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("fig1.png", "check.png", "difference.png"))
    with pytest.raises(ValueError, match="no sym_"):
        plotting.symmetric_modalities_figure(case)


def test_transform_none_is_the_naive_flip_and_table_reports_plane_errors(tmp_path):
    case, true_point, true_normal = phantom("SPES", angles_deg=(0, 0, 4), shift_mm=(2, 0, 0),
                                           affine=small_spes().affine, shape=(50, 59, 48))
    naive = symmetry.add_symmetric_modalities(case, transform="none")
    np.testing.assert_allclose(naive.images[7:], symmetry.flip_left_right(case.images), atol=1e-6)
    table = midsagittal.symmetry_table([case], cache_dir=tmp_path, truths={case.case_id: (true_point, true_normal)},
                              progress=False)
    assert table.index.names == ["case", "modality"] and len(table) == 7
    assert (table["seconds"] > 0).all() and not table["from_cache"].any()
    assert (table["plane_angle_deg"] < 1.0).all() and (table["plane_distance_mm"] < 1.0).all()
    again = midsagittal.symmetry_table([case], cache_dir=tmp_path, progress=False)
    assert again["from_cache"].all() and (again["seconds"] == 0).all()
    np.testing.assert_allclose(again["registration_seconds"], table["registration_seconds"])
    np.testing.assert_allclose(again["registered"], table["registered"])
