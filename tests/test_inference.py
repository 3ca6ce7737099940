"""Whole-volume prediction from overlapping patches, the fold ensemble (§3.5) and the SMIR export."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from strokelib.data.cases import Case, load_case
from strokelib.errors import ConfigError, ImageError, InferenceError
from strokelib.files import export_smir
from strokelib.inference import maps as inference
from strokelib.inference import whole_volume as volume_inference
from strokelib.sampling.patches import grid_centres

GATHERS = ("runs", "index")


def make_case(rng, shape=(22, 19, 13), channels=3, case_id="1") -> Case:
    images = rng.normal(size=(channels, *shape)).astype(np.float32)
    mask = np.zeros(shape, dtype=bool)
    mask[3:19, 2:17, 1:12] = True
    mask[3:8, 2:6, 1:4] = False  # an irregular brain: not every column is full
    return Case(case_id, images, tuple(f"m{i}" for i in range(channels)), None, np.eye(4), (1.0, 1.0, 1.0), mask)


class PerVoxel(nn.Module):
    """A 1×1×1 convolution: its output at a voxel depends on that voxel only."""

    def __init__(self, channels: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv3d(channels, 2, 1)

    def forward(self, x):
        return self.conv(x)


class PatchMean(nn.Module):
    """Logits constant over a patch, from the patch's channel means: every patch predicts differently."""

    def __init__(self, channels: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.linear = nn.Linear(channels, 2)

    def forward(self, x):
        logits = self.linear(x.mean(dim=(2, 3, 4)))
        return logits[:, :, None, None, None].expand(-1, -1, *x.shape[2:])


def reference_prediction(model, case, patch, step) -> np.ndarray:
    """Straightforward loop version of §3.5: zero-padded patches [c − p//2, c − p//2 + p), equal-weight mean."""
    p = np.array(patch)
    pad = [(0, 0)] + [(q // 2, q) for q in p]
    padded = np.pad(case.images, pad)
    total = np.zeros(padded.shape[1:])
    count = np.zeros(padded.shape[1:])
    for c in grid_centres(case.brain_mask, patch, step):
        region = tuple(slice(a, a + q) for a, q in zip(c, p, strict=True))  # padded coordinates: c − p//2 + p//2
        with torch.no_grad():
            logits = model(torch.from_numpy(padded[(slice(None), *region)][None].copy()))
        total[region] += torch.softmax(logits, 1)[0, 1].numpy()
        count[region] += 1
    prob = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    inner = tuple(slice(q // 2, q // 2 + s) for q, s in zip(p, case.shape, strict=True))
    return prob[inner]


def test_grid_centres_are_mask_voxels_on_the_step_grid(rng):
    case = make_case(rng)
    centres = grid_centres(case.brain_mask, (24, 24, 16), (4, 4, 1))
    assert np.all(centres % [4, 4, 1] == 0)
    assert case.brain_mask[tuple(centres.T)].all()
    expected = sum(1 for x in range(0, 22, 4) for y in range(0, 19, 4) for z in range(13) if case.brain_mask[x, y, z])
    assert len(centres) == expected
    assert np.array_equal(centres, centres[np.lexsort(centres.T[::-1])])  # raster order


@pytest.mark.parametrize("gather", GATHERS)
def test_per_voxel_model_equals_whole_volume_inside_covered_region(rng, gather):
    case = make_case(rng)
    model = PerVoxel(3, seed=1)
    patch, step = (8, 6, 5), (4, 3, 1)
    prob = inference.predict_case(model, case, patch, step, batch_size=7, progress=False, gather=gather, brain_only=False)
    assert prob.dtype == np.float32 and prob.shape == case.shape
    with torch.no_grad():
        whole = torch.softmax(model(torch.from_numpy(case.images)[None]), 1)[0, 1].numpy()
    covered = np.zeros(case.shape, dtype=bool)
    for c in grid_centres(case.brain_mask, patch, step):
        lo = np.maximum(c - np.array(patch) // 2, 0)
        covered[tuple(slice(a, b) for a, b in zip(lo, c - np.array(patch) // 2 + patch, strict=True))] = True
    assert 0 < covered.sum() < covered.size
    np.testing.assert_allclose(prob[covered], whole[covered], atol=1e-6)
    assert np.all(prob[~covered] == 0)


@pytest.mark.parametrize("gather", GATHERS)
def test_overlapping_patches_are_averaged_with_equal_weights(rng, gather):
    case = make_case(rng)
    model = PatchMean(3, seed=2)
    patch, step = (8, 6, 4), (4, 4, 2)
    prob = inference.predict_case(model, case, patch, step, batch_size=5, progress=False, gather=gather, brain_only=False)
    np.testing.assert_allclose(prob, reference_prediction(model, case, patch, step), atol=1e-6)


def test_paper_patch_and_step_match_reference(rng):
    case = make_case(rng, shape=(30, 28, 20))
    model = PatchMean(3, seed=3)
    prob = inference.predict_case(model, case, batch_size=64, progress=False, brain_only=False)
    np.testing.assert_allclose(prob, reference_prediction(model, case, (24, 24, 16), (4, 4, 1)), atol=1e-6)


def test_ensemble_is_the_mean_of_its_members(rng):
    case = make_case(rng)
    members = [PatchMean(3, seed=4), PerVoxel(3, seed=5), PatchMean(3, seed=6)]
    kwargs = dict(patch_shape=(8, 6, 5), step=(4, 4, 1), batch_size=16, progress=False)
    ensemble = inference.predict_case(members, case, **kwargs)
    singles = [inference.predict_case(m, case, **kwargs) for m in members]
    np.testing.assert_allclose(ensemble, np.mean(singles, axis=0), atol=1e-6)
    assert not np.allclose(singles[0], singles[2])  # the members really differ


def test_models_are_left_in_their_training_mode(rng):
    case = make_case(rng)
    model = PerVoxel(3, seed=0).train()
    inference.predict_case(model, case, (8, 6, 5), (4, 4, 1), progress=False)
    assert model.training


def test_errors_name_the_case(rng):
    case = make_case(rng, case_id="17")
    with pytest.raises(InferenceError, match="17.*channels"):
        inference.predict_case(PerVoxel(4, seed=0), case, (8, 6, 5), progress=False)

    class WrongShape(nn.Module):
        def forward(self, x):
            return x[:, :2, :4]

    with pytest.raises(InferenceError, match="17.*returned shape"):
        inference.predict_case(WrongShape(), case, (8, 6, 5), progress=False)
    empty = make_case(rng, case_id="18")
    empty.brain_mask[:] = False
    with pytest.raises(InferenceError, match="18.*empty"):
        inference.predict_case(PerVoxel(3, seed=0), empty, progress=False)
    with pytest.raises(InferenceError, match="no model"):
        inference.predict_case([], case, progress=False)
    with pytest.raises(ConfigError):
        inference.predict_case(PerVoxel(3, seed=0), case, patch_shape=(8, 0, 5), progress=False)
    with pytest.raises(ConfigError):
        inference.predict_case(PerVoxel(3, seed=0), case, gather="loop", progress=False)


# ---------------------------------------------------------------------------------------------------------
# SMIR export
# ---------------------------------------------------------------------------------------------------------
def write_vsd_image(folder, name, rng, shape=(9, 8, 7)):
    affine = np.array([[-1.5, 0, 0, 90.0], [0, 1.2, 0, -126.0], [0, 0, 3.0, -72.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image((rng.random(shape) * 500).astype(np.int16), affine)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    path = folder / name / f"{name}.nii"
    path.parent.mkdir(parents=True)
    nib.save(img, str(path))
    return path, img


def test_export_smir_round_trips_with_the_source_header(tmp_path, rng):
    path, source = write_vsd_image(tmp_path / "case", "VSD.Brain.XX.O.MR_Flair.54512", rng)
    case = load_case({"Flair": path}, "SISS", "3", modalities=("Flair",))
    mask = np.zeros(case.shape, dtype=bool)
    mask[2:5, 3:6, 1:4] = True
    out = export_smir(mask, case, tmp_path / "submission", "my_result_01")
    assert out.name == "SMIR.my_result_01.54512.nii" and out.exists()
    back = nib.load(str(out))
    assert back.get_data_dtype() == np.uint16
    # The fixture's affine is LAS (x runs right-to-left, as in ISLES files): the case arrays are RAS, so the mask
    # is written back flipped along x, on the file's own voxel order.
    assert nib.aff2axcodes(source.affine) == ("L", "A", "S") and case.orientation == "RAS"
    np.testing.assert_array_equal(np.asarray(back.dataobj), np.flip(mask, 0).astype(np.uint16))
    np.testing.assert_allclose(back.affine, source.affine)
    np.testing.assert_allclose(back.header.get_zooms(), source.header.get_zooms())
    assert int(back.header["qform_code"]) == 1 and int(back.header["sform_code"]) == 1
    assert list((tmp_path / "submission").iterdir()) == [out]  # no temporary file left behind


def test_export_smir_falls_back_to_case_id_and_checks_input(tmp_path, rng):
    case = make_case(rng, shape=(6, 5, 4), case_id="12")
    case.files = {"m0": tmp_path / "m0.nii.gz"}  # the authors' flat layout: no VSD id
    mask = np.ones(case.shape, dtype=bool)
    assert export_smir(mask, case, tmp_path, "run").name == "SMIR.run.12.nii"
    with pytest.raises(ConfigError):
        export_smir(mask, case, tmp_path, "bad/name")
    with pytest.raises((InferenceError, ImageError), match="12"):
        export_smir(mask[:-1], case, tmp_path, "run")


# ---------------------------------------------------------------------------------------------------------
# Figures 4–5
# ---------------------------------------------------------------------------------------------------------
def test_error_overlay_colours_tp_fp_fn():
    import matplotlib.pyplot as plt

    from strokelib.plotting import OVERLAY_COLOURS, error_overlay

    pred = np.array([[1, 1, 0], [0, 0, 0]], dtype=bool)
    truth = np.array([[1, 0, 1], [0, 0, 0]], dtype=bool)
    fig, ax = plt.subplots()
    error_overlay(ax, np.arange(6.0).reshape(2, 3), pred, truth)
    rgba = ax.images[1].get_array()
    assert tuple(rgba[0, 0, :3]) == OVERLAY_COLOURS["true positive"]
    assert tuple(rgba[0, 1, :3]) == OVERLAY_COLOURS["false positive"]
    assert tuple(rgba[0, 2, :3]) == OVERLAY_COLOURS["false negative"]
    assert rgba[1, :, 3].max() == 0  # true negatives stay transparent


def test_segmentation_overlays_figure(tmp_path, rng):
    from strokelib import plotting

    case = make_case(rng)
    case.label = np.zeros(case.shape, dtype=np.uint8)
    case.label[8:12, 6:10, 5:9] = 1
    prob = np.zeros(case.shape, dtype=np.float32)
    prob[9:13, 6:10, 6:7] = 0.8
    args = ([case, case], [prob, prob], [prob > 0.5, prob > 0.9])
    assert plotting.segmentation_overlays(*args, titles=["best", "worst"], output_file=tmp_path / "fig4.png") is None
    assert (tmp_path / "fig4.png").stat().st_size > 0
    fig = plotting.segmentation_overlays(*args, titles=["best", "worst"])
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("best") and "axial slice 6" in t for t in titles)  # slice of the largest lesion area


def test_segmentation_overlays_outline_look_alikes_on_their_slice(rng):
    from strokelib import plotting

    case = make_case(rng)
    case.label = np.zeros(case.shape, dtype=np.uint8)
    case.label[8:12, 6:10, 5:7] = 1
    prob = case.label.astype(np.float32)
    mimic = np.zeros(case.shape, bool)
    mimic[1:7, 1:7, 9:11] = True
    prob[mimic] = 0.9  # a false positive on the look-alike, on other slices than the lesion
    fig = plotting.segmentation_overlays([case], [prob], [prob > 0.5], titles=["case 1: symmetric mimics"],
                                         outlines=[{"mimic": mimic}])
    assert any("axial slice 9" in ax.get_title() or "axial slice 10" in ax.get_title() for ax in fig.axes)
    first = fig.axes[0]
    assert len(first.collections) >= 1  # the dashed mimic outline
    assert any(t.get_text().startswith("mimic") for t in fig.legends[0].get_texts())


def test_map_is_zero_outside_the_brain_by_default(rng):
    case = make_case(rng)
    prob = inference.predict_case(PatchMean(case.images.shape[0], seed=0), case, (8, 6, 5), (2, 2, 1), progress=False)
    outside = inference.predict_case(PatchMean(case.images.shape[0], seed=0), case, (8, 6, 5), (2, 2, 1), progress=False,
                                     brain_only=False)
    assert (prob[~case.brain_mask] == 0).all() and (outside[~case.brain_mask] > 0).any()
    assert np.array_equal(prob[case.brain_mask], outside[case.brain_mask])


# ---------------------------------------------------------------------------------------------------------
# whole-volume inference (--fast)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tile", [None, (16, 8, 8)])
def test_whole_volume_equals_patches_for_a_per_voxel_model(rng, tile):
    case = make_case(rng)  # 22×19×13: not a multiple of 8, so the box is padded
    model = PerVoxel(3, seed=1)
    whole = volume_inference.predict_whole_volume(model, case, tile=tile, overlap=(8, 0, 0), progress=False)
    patches = inference.predict_case(model, case, patch_shape=(8, 8, 4), step=(4, 4, 2), progress=False)
    assert whole.shape == case.shape and whole.dtype == np.float32
    assert np.all(whole[~case.brain_mask] == 0) and whole[case.brain_mask].min() > 0
    np.testing.assert_allclose(whole, patches, atol=1e-6)


def test_whole_volume_sunet_ensemble_is_the_mean_of_its_models(rng):
    from strokelib.model.sunet import SUNet

    case = make_case(rng)
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(SUNet(3, 2, 4, 0.2))
    single = [volume_inference.predict_whole_volume(m, case, progress=False) for m in models]
    both = volume_inference.predict_whole_volume(models, case, progress=False)
    assert both.shape == case.shape and np.all(both[~case.brain_mask] == 0)
    assert 0 <= both.min() and both.max() <= 1 and np.ptp(both[case.brain_mask]) > 0
    np.testing.assert_allclose(both, (single[0] + single[1]) / 2, atol=1e-5)
    assert all(m.training for m in models)  # the training flag is restored


def test_whole_volume_checks_tile_and_mask(rng):
    case = make_case(rng)
    with pytest.raises(ConfigError, match="multiples of 8"):
        volume_inference.predict_whole_volume(PerVoxel(3, 0), case, tile=(12, 8, 8), progress=False)
    with pytest.raises(ConfigError, match="overlap"):
        volume_inference.predict_whole_volume(PerVoxel(3, 0), case, tile=(8, 8, 8), overlap=(8, 0, 0), progress=False)
    case.brain_mask = np.zeros(case.shape, bool)
    with pytest.raises(InferenceError, match="brain mask is empty"):
        volume_inference.predict_whole_volume(PerVoxel(3, 0), case, progress=False)
