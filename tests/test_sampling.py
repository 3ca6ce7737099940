"""Tests of strokelib.sampling.patches: patch centres (§3.3, §4.1), augmentation ops, extraction, inference grid, dataset."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from strokelib.data.cases import Case
from strokelib.errors import SamplingError
from strokelib.sampling import centres as samplers
from strokelib.sampling import patches as sampling

PATCH = (24, 24, 16)
SHAPE = (48, 52, 34)


def make_case(lesion_box=((14, 24), (18, 28), (12, 18)), shape=SHAPE, channels=3, seed=0, label=True) -> Case:
    """An ellipsoid 'brain' with a box lesion and random intensities (no files)."""
    g = np.indices(shape)
    centre = np.array(shape)[:, None, None, None] / 2
    radius = np.array(shape)[:, None, None, None] * 0.42
    brain = (((g - centre) / radius) ** 2).sum(axis=0) <= 1
    lesion = np.zeros(shape, np.uint8)
    if lesion_box is not None:
        lesion[tuple(slice(a, b) for a, b in lesion_box)] = 1
    lesion &= brain
    images = (np.random.default_rng(seed).normal(size=(channels, *shape)) * brain).astype(np.float32)
    return Case("case7", images, tuple(f"m{i}" for i in range(channels)), lesion if label else None,
                np.eye(4), (1.0, 1.0, 1.0), brain)


@pytest.fixture(scope="module")
def case() -> Case:
    return make_case()


def contains(centres: np.ndarray, voxels: np.ndarray, patch=PATCH) -> np.ndarray:
    lo = centres - np.array(patch) // 2
    return ((voxels >= lo) & (voxels < lo + np.array(patch))).all(axis=1)


# ------------------------------------------------------------------------------------------- balanced (§3.3)
@pytest.mark.parametrize("n, fraction", [(1000, 0.5), (777, 0.3), (400, 1.0)])
def test_balanced_exact_counts_and_fraction(case, n, fraction):
    centres, ops, info = samplers.balanced_centres(case, n, PATCH, fraction, rng=0, return_info=True)
    assert centres.shape == (n, 3) and centres.dtype == np.int64
    assert ops.shape == (n,) and ops.dtype == np.int8
    assert info["lesion"].sum() == round(n * fraction)
    assert (ops[~info["lesion"]] == 0).all(), "healthy patches are never augmented"
    table = sampling.summarise(case, centres, ops, info["lesion"])
    assert table.loc["lesion", "total"] == round(n * fraction)
    assert table.loc["total", "total"] == n


def test_balanced_offsets_bounded_and_voxel_inside_patch(case):
    centres, ops, info = samplers.balanced_centres(case, 2000, PATCH, rng=1, return_info=True)
    les = info["lesion"]
    offset = centres[les] - info["voxel"][les]
    half = (np.array(PATCH) - 1) // 2
    assert (np.abs(offset) <= half).all()
    assert (np.abs(offset) == half).any(axis=0).all(), "offsets reach the bound on every axis"
    assert (case.label[tuple(info["voxel"][les].T)] == 1).all(), "sampled voxels are lesion voxels"
    assert contains(centres[les], info["voxel"][les]).all()
    # the same through real extraction: a volume holding each voxel's flat index
    index = np.arange(np.prod(SHAPE), dtype=np.int64).reshape(SHAPE)
    patches = sampling.extract_patches(index, centres[les][:50], PATCH)
    flat = np.ravel_multi_index(tuple(info["voxel"][les][:50].T), SHAPE)
    assert all(f in p for f, p in zip(flat, patches, strict=True))


def test_balanced_healthy_centres_are_healthy_brain_on_grid(case):
    centres, _, info = samplers.balanced_centres(case, 1000, PATCH, rng=2, return_info=True)
    healthy = centres[~info["lesion"]]
    assert case.brain_mask[tuple(healthy.T)].all()
    assert (case.label[tuple(healthy.T)] == 0).all()
    assert len(np.unique(healthy, axis=0)) == len(healthy), "no healthy voxel is used twice when there are enough"
    # regular steps spread over the whole brain: the centres span most of the brain's extent on every axis
    brain_voxels = np.argwhere(case.brain_mask)
    extent = brain_voxels.max(0) - brain_voxels.min(0)
    assert ((healthy.max(0) - healthy.min(0)) >= 0.8 * extent).all()


def test_small_lesion_repeats_voxels_with_different_ops_and_offsets():
    case = make_case(lesion_box=((20, 22), (24, 26), (15, 17)))  # 8 lesion voxels
    centres, ops, info = samplers.balanced_centres(case, 100, PATCH, rng=3, return_info=True)
    voxel = info["voxel"][info["lesion"]]
    keys, counts = np.unique(voxel, axis=0, return_counts=True)
    assert len(keys) == 8 and counts.min() >= 6 and counts.max() <= 7  # 50 = 8 × 6 + 2
    for key in keys:
        same = (voxel == key).all(axis=1)
        assert len(np.unique(ops[info["lesion"]][same])) == 5, "copies of one voxel cycle through every op"
        assert len(np.unique(centres[info["lesion"]][same], axis=0)) > 1, "each copy has its own offset"


def test_same_seed_same_centres_other_seed_differs(case):
    a = samplers.balanced_centres(case, 500, PATCH, rng=11)
    b = samplers.balanced_centres(case, 500, PATCH, rng=np.random.default_rng(11))
    c = samplers.balanced_centres(case, 500, PATCH, rng=12)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_no_lesion_raises_for_training_or_gives_healthy_patches_with_flag():
    empty = make_case(lesion_box=None)
    unlabelled = make_case(label=False)
    for bad in (empty, unlabelled):
        for sampler in sampling.SAMPLERS.values():
            with pytest.raises(SamplingError, match="case7"):
                sampler(bad, 100, PATCH)
    centres, ops, info = samplers.balanced_centres(empty, 300, PATCH, rng=0, allow_no_lesion=True, return_info=True)
    assert len(centres) == 300 and not info["lesion"].any() and (ops == 0).all()
    assert empty.brain_mask[tuple(centres.T)].all()


def test_bad_arguments_raise_clear_errors(case):
    with pytest.raises(SamplingError, match="patch_shape"):
        samplers.balanced_centres(case, 10, (24, 24))
    with pytest.raises(SamplingError, match="lesion_fraction"):
        samplers.balanced_centres(case, 10, PATCH, lesion_fraction=1.5)
    with pytest.raises(SamplingError, match="n_patches"):
        samplers.balanced_centres(case, 0, PATCH)
    with pytest.raises(SamplingError, match="outside the volume"):
        sampling.extract_patches(case.images, np.array([[0, 0, SHAPE[2]]]), PATCH)


# ------------------------------------------------------------------------------ baseline (§4.1) and reference
def test_baseline_has_no_offset_and_no_augmentation(case):
    centres, ops, info = samplers.baseline_centres(case, 600, PATCH, rng=0, return_info=True)
    assert len(centres) == 600 and (ops == 0).all()
    assert info["lesion"].sum() == 300
    assert (case.label[tuple(centres[info["lesion"]].T)] == 1).all(), "lesion patches sit exactly on lesion voxels"
    healthy = centres[~info["lesion"]]
    assert case.brain_mask[tuple(healthy.T)].all() and (case.label[tuple(healthy.T)] == 0).all()


@pytest.mark.parametrize("n_lesion_voxels, augmented, ops", [(3000, 4 * 1750, {1, 2, 3, 4}), (5000, 2 * 2500, {1, 3})])
def test_reference_reproduces_released_counts(n_lesion_voxels, augmented, ops):
    """``docs/released-code.md#training-patch-sampling``: 3000 lesion voxels → 8000 plain + 1750 of each of 4 ops; ≥5000 → 2500 of ops 0 and 2."""
    box = ((10, 25), (10, 30), (10, 20)) if n_lesion_voxels == 3000 else ((10, 30), (10, 35), (10, 20))
    shape = (70, 70, 40)
    case = make_case(lesion_box=None, shape=shape, channels=1)
    case.brain_mask = np.ones(shape, bool)
    case.brain_mask[..., -1] = False
    case.label = np.zeros(shape, np.uint8)
    case.label[tuple(slice(a, b) for a, b in box)] = 1
    assert case.label.sum() == n_lesion_voxels
    centres, op, info = samplers.reference_centres(case, 10_000, PATCH, rng=0, return_info=True)
    lesion, grid = info["lesion"], ~info["lesion"]
    assert grid.sum() == 5000 and (op[grid] == 0).all()
    assert (op[lesion] == 0).sum() == n_lesion_voxels and lesion.sum() == n_lesion_voxels + augmented
    assert set(np.unique(op[op > 0])) == ops
    shift = np.abs(centres[lesion] - info["voxel"][lesion])
    assert (shift <= np.array(PATCH) // 2 - 1).all() and contains(centres[lesion], info["voxel"][lesion]).all()


@pytest.mark.parametrize("n", [10_000, 600, 7])
def test_drawn_per_case_counts_what_each_sampler_draws(case, n):
    """The estimates count an epoch from ``drawn_per_case``: the reference sampler's 2:1 draws 1.5× the request."""
    for name, sampler in samplers.SAMPLERS.items():
        drawn = len(sampler(case, n, PATCH, rng=0)[0])
        expected = samplers.drawn_per_case(name, n, 0.5)
        if name == "reference":  # a few lesion-sampled patches fewer where they do not divide evenly
            assert expected - 4 <= drawn <= expected, (n, drawn, expected)
        else:
            assert drawn == expected, (name, n, drawn, expected)
    assert samplers.drawn_per_case("reference", 10_000) == 15_000
    assert samplers.drawn_per_case("reference", 1) == 1  # int(1 * 0.5) = 0 lesion patches: the grid patch only
    assert len(samplers.reference_centres(case, 1, PATCH, rng=0)[0]) == 1
    assert samplers.drawn_per_case("balanced", 10_000) == samplers.drawn_per_case("baseline", 10_000) == 10_000
    with pytest.raises(SamplingError, match="unknown sampler 'grid'"):
        samplers.drawn_per_case("grid", 10)


# --------------------------------------------------------------- every sampler over a grid of requests
GRID_SHAPE, GRID_PATCH = (20, 22, 12), (8, 8, 4)
LESION_SIZES = (1, 2, 7, 60, 400)


def grid_cases() -> list[Case]:
    """One small case per lesion size: the ``size`` brain voxels nearest a point of the left hemisphere."""
    cases = []
    for size in LESION_SIZES:
        case = make_case(lesion_box=None, shape=GRID_SHAPE, channels=2, seed=size)
        brain = np.argwhere(case.brain_mask)
        nearest = brain[np.argsort(np.linalg.norm(brain - (6.5, 11.2, 6.3), axis=1), kind="stable")[:size]]
        case.label[tuple(nearest.T)] = 1
        cases.append(dataclasses.replace(case, case_id=f"lesion{size}"))
    assert [int(c.label.sum()) for c in cases] == list(LESION_SIZES)
    return cases


def check_promised_counts(name: str, case: Case, n: int, f: float, centres, ops, info) -> None:
    lesion = info["lesion"]
    assert centres.shape == (len(ops), 3) and lesion.shape == ops.shape
    assert ((centres >= 0) & (centres < np.array(GRID_SHAPE))).all(), "centres inside the volume"
    assert ((ops >= 0) & (ops < len(sampling.AUGMENTATIONS))).all(), f"ops in 0..4, got {np.unique(ops)}"
    assert (ops[~lesion] == 0).all(), "healthy and grid patches are never augmented"
    assert (case.label[tuple(info["voxel"][lesion].T)] == 1).all(), "lesion patches come from lesion voxels"
    if name in ("balanced", "baseline"):
        assert len(centres) == n and lesion.sum() == round(n * f)
        healthy = centres[~lesion]
        assert case.brain_mask[tuple(healthy.T)].all() and (case.label[tuple(healthy.T)] == 0).all()
        if name == "baseline":
            assert (ops == 0).all()
        return
    n_max = int(n * f)
    n_plain = int((ops[lesion] == 0).sum())
    assert n_max // 2 <= n_plain <= n_max
    k = min(-(-n // n_plain), 4)
    assert lesion.sum() == n_plain + k * ((n - n_plain) // k) and n - k < lesion.sum() <= n
    assert (~lesion).sum() in (n - n_max - 1, n - n_max)


@pytest.mark.parametrize("f", [0.1, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("n", [10, 97, 2000, 10_000])
@pytest.mark.parametrize("name", ["balanced", "baseline", "reference"])
def test_every_sampler_keeps_its_promises_and_feeds_patch_dataset(name, n, f):
    """Lesions of 1..400 voxels, 10..10 000 patches, fractions 0.1..0.9: valid ops and centres, promised counts,
    and PatchDataset takes the same patches (it draws the cases in order from one generator seeded ``seed``)."""
    cases = grid_cases()
    rng = np.random.default_rng(3)
    drawn = []
    for case in cases:
        centres, ops, info = sampling.SAMPLERS[name](case, n, GRID_PATCH, lesion_fraction=f, rng=rng,
                                                     return_info=True)
        check_promised_counts(name, case, n, f, centres, ops, info)
        drawn.append((centres, ops))
    ds = sampling.PatchDataset(cases, sampler=name, n_patches=n, patch_shape=GRID_PATCH, lesion_fraction=f, seed=3,
                               progress=False)
    assert np.array_equal(ds.centres, np.concatenate([c for c, _ in drawn]))
    assert np.array_equal(ds.ops, np.concatenate([o for _, o in drawn]))
    first_of_each_op = np.unique(ds.ops, return_index=True)[1]
    x, y = ds.get_batch(first_of_each_op)
    assert x.shape == (len(first_of_each_op), 2, *GRID_PATCH) and y.shape == (len(first_of_each_op), *GRID_PATCH)


def test_lesion_filling_the_brain_is_a_clear_error_where_healthy_patches_are_needed():
    case = make_case(lesion_box=None, shape=GRID_SHAPE, channels=2)
    case.label = case.brain_mask.astype(np.uint8)
    for name in ("balanced", "baseline"):
        with pytest.raises(SamplingError, match="case case7: .*no healthy brain voxel"):
            sampling.SAMPLERS[name](case, 100, GRID_PATCH, lesion_fraction=0.5, rng=0)
        centres, ops, info = sampling.SAMPLERS[name](case, 100, GRID_PATCH, lesion_fraction=1.0, rng=0,
                                                     return_info=True)
        assert len(centres) == 100 and info["lesion"].all()
    centres, ops, info = samplers.reference_centres(case, 100, GRID_PATCH, rng=0, return_info=True)
    check_promised_counts("reference", case, 100, 0.5, centres, ops, info)  # its grid does not exclude the lesion


def test_samplers_registry():
    assert set(sampling.SAMPLERS) == {"balanced", "baseline", "reference"}
    assert sampling.AUGMENTATIONS == ("none", "rot90", "rot180", "rot270", "flip_x")


# ------------------------------------------------------------------------------------------- augmentation
@pytest.mark.parametrize("op", range(5))
def test_augmentation_invertible_and_moves_data_and_label_together(rng, op):
    x = rng.normal(size=(3, 6, 6, 4)).astype(np.float32)
    y = (x[0] > 0.3).astype(np.uint8)
    xa, ya = sampling.augment(x, op), sampling.augment(y, op)
    assert xa.shape == x.shape and ya.shape == y.shape
    assert np.array_equal(ya, (xa[0] > 0.3).astype(np.uint8)), "label follows the data"
    assert np.array_equal(sampling.augment(xa, op, inverse=True), x)
    assert np.array_equal(sampling.augment(ya, op, inverse=True), y)
    assert np.array_equal(xa[..., 2:3], sampling.augment(x[..., 2:3], op)), "z slices are not mixed"
    if op:
        assert not np.array_equal(xa, x)
    xt = sampling.augment(torch.from_numpy(x), op)
    assert np.array_equal(xt.numpy(), xa), "torch and numpy agree"


def test_augmentation_geometry():
    a = np.arange(4 * 4 * 2).reshape(4, 4, 2)
    assert np.array_equal(sampling.augment(a, "flip_x")[0], a[3])
    # rot90 in the axial plane: the first row (x = 0) becomes the first column read backwards (y = 0 ... )
    assert np.array_equal(sampling.augment(a, "rot90")[:, 0], a[0][::-1])
    assert np.array_equal(sampling.augment(a, "rot180"), a[::-1, ::-1])
    with pytest.raises(SamplingError, match="square"):
        sampling.augment(np.zeros((2, 4, 3, 2)), "rot90")


def test_augment_batch_matches_per_patch(rng):
    x = rng.normal(size=(10, 2, 6, 6, 4)).astype(np.float32)
    y = (rng.random((10, 6, 6, 4)) > 0.5).astype(np.int64)
    ops = np.array([0, 1, 2, 3, 4, 4, 3, 2, 1, 0], np.int8)
    x_before = x.copy()
    xa, ya = sampling.augment_batch(x, y, ops)
    assert np.array_equal(x, x_before), "inputs are not modified"
    for i, op in enumerate(ops):
        assert np.array_equal(xa[i], sampling.augment(x[i], op)) and np.array_equal(ya[i], sampling.augment(y[i], op))
    xt, yt = sampling.augment_batch(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(ops))
    assert np.array_equal(xt.numpy(), xa) and np.array_equal(yt.numpy(), ya)
    assert not np.array_equal(xa[1], x[1])


# ------------------------------------------------------------------------------------------- extraction
def test_interior_extraction_equals_slicing(case):
    centres = np.array([[24, 26, 17], [13, 14, 9], [30, 35, 20]])
    patches = sampling.extract_patches(case.images, centres, PATCH)
    assert patches.shape == (3, 3, *PATCH) and patches.dtype == np.float32
    for patch, (x, y, z) in zip(patches, centres, strict=True):
        assert np.array_equal(patch, case.images[:, x - 12:x + 12, y - 12:y + 12, z - 8:z + 8])
    labels = sampling.extract_patches(case.label, centres, PATCH)
    assert labels.shape == (3, *PATCH) and labels.dtype == np.uint8
    assert np.array_equal(labels[0], case.label[12:36, 14:38, 9:25])
    assert np.array_equal(sampling.extract_patches(case.label[None], centres, PATCH)[:, 0], labels)


def test_border_patches_are_zero_filled():
    volume = np.arange(1, 1 + np.prod(SHAPE), dtype=np.float32).reshape(1, *SHAPE)
    centres = np.array([[0, 0, 0], [SHAPE[0] - 1, SHAPE[1] - 1, SHAPE[2] - 1]])
    first, last = sampling.extract_patches(volume, centres, PATCH)[:, 0]
    assert (first[:12] == 0).all() and (first[:, :12] == 0).all() and (first[:, :, :8] == 0).all()
    assert np.array_equal(first[12:, 12:, 8:], volume[0, :12, :12, :8])
    # centre D-1 covers [D-13, D+11) in x, y and [D-9, D+7) in z
    assert (last[13:] == 0).all() and (last[:, 13:] == 0).all() and (last[:, :, 9:] == 0).all()
    assert np.array_equal(last[:13, :13, :9], volume[0, -13:, -13:, -9:])


# ---------------------------------------------------------------------------------------------- inference
def test_grid_centres_step_and_mask(case):
    centres = sampling.grid_centres(case.brain_mask, PATCH, (4, 4, 1))
    assert centres.dtype == np.int64 and case.brain_mask[tuple(centres.T)].all()
    assert (centres[:, :2] % 4 == 0).all()
    assert len(centres) == np.count_nonzero(case.brain_mask[::4, ::4, ::1])
    with pytest.raises(SamplingError, match="step"):
        sampling.grid_centres(case.brain_mask, PATCH, (30, 4, 1))


def test_class_balance_matches_brute_force_and_balancing_helps(case):
    centres, _ = samplers.balanced_centres(case, 300, PATCH, rng=0)
    brute = sampling.extract_patches(case.label, centres, PATCH).mean()
    assert sampling.class_balance(case.label, centres, PATCH) == pytest.approx(brute)
    inside = sampling.extract_patches(case.brain_mask, centres, PATCH).sum()
    lesion = sampling.extract_patches(case.label, centres, PATCH).sum()
    assert sampling.class_balance(case.label, centres, PATCH, case.brain_mask) == pytest.approx(lesion / inside)
    table = sampling.balance_table(case, 300, PATCH)
    share = table["lesion voxels % (all patch voxels)"]
    assert share["balanced"] > 1.3 * share["uniform grid (no balancing)"]
    assert share["baseline"] > 1.3 * share["uniform grid (no balancing)"]
    assert table.loc["reference", "patches"] == 450 and table.loc["balanced", "lesion-sampled %"] == 50


# ---------------------------------------------------------------------------------------------- dataset
def test_patch_dataset_items_batches_and_summary():
    cases = [make_case(seed=0), make_case(lesion_box=((20, 30), (20, 26), (10, 14)), seed=1)]
    ds = sampling.PatchDataset(cases, n_patches=60, patch_shape=PATCH, seed=5, progress=False)
    assert len(ds) == 120 and np.array_equal(np.bincount(ds.case_index), [60, 60])
    x, y = ds[7]
    assert x.dtype == torch.float32 and x.shape == (3, *PATCH) and y.dtype == torch.int64 and y.shape == PATCH
    idx = np.array([7, 70, 3, 119])
    xb, yb = ds.get_batch(idx)
    assert torch.equal(xb[0], x) and torch.equal(yb[0], y)
    for row, i in enumerate(idx):
        case = cases[ds.case_index[i]]
        expect_x = sampling.augment(sampling.extract_patches(case.images, ds.centres[i:i + 1], PATCH)[0], ds.ops[i])
        expect_y = sampling.augment(sampling.extract_patches(case.label, ds.centres[i:i + 1], PATCH)[0], ds.ops[i])
        assert np.array_equal(xb[row].numpy(), expect_x) and np.array_equal(yb[row].numpy(), expect_y)
    table = ds.summary()
    assert table.loc["lesion", "total"] == 60 and table.loc["healthy", "none"] == 60
    assert table.loc["total", "total"] == 120


def test_patch_dataset_seed_epochs_and_pickle():
    cases = [make_case()]
    a = sampling.PatchDataset(cases, n_patches=40, patch_shape=PATCH, seed=3, progress=False)
    b = sampling.PatchDataset(cases, n_patches=40, patch_shape=PATCH, seed=3, progress=False)
    assert np.array_equal(a.centres, b.centres) and np.array_equal(a.ops, b.ops)
    first = a.centres.copy()
    a.set_epoch(1)
    assert np.array_equal(a.centres, first), "fixed patch set by default, like the released code"
    r = sampling.PatchDataset(cases, n_patches=40, patch_shape=PATCH, seed=3, resample_each_epoch=True, progress=False)
    r.set_epoch(1)
    assert not np.array_equal(r.centres, first)
    again = sampling.PatchDataset(cases, n_patches=40, patch_shape=PATCH, seed=4, progress=False)
    assert np.array_equal(r.centres, again.centres), "epoch e draws with seed + e"
    clone = pickle.loads(pickle.dumps(a))
    assert all(torch.equal(u, v) for u, v in zip(clone.get_batch([0, 39]), a.get_batch([0, 39]), strict=True))
    loader = torch.utils.data.DataLoader(a, batch_size=8, shuffle=False)
    xb, yb = next(iter(loader))
    assert xb.shape == (8, 3, *PATCH) and torch.equal(yb, a.get_batch(range(8))[1])


# ---------------------------------------------------------------------------------------------- figures
def test_sampling_figures_are_written(case, tmp_path):
    from strokelib import plotting

    centres, ops, info = samplers.balanced_centres(case, 200, PATCH, rng=0, return_info=True)
    assert plotting.sampling_diagram(case, centres, ops, info, PATCH, output_file=tmp_path / "fig3.png") is None
    assert (tmp_path / "fig3.png").stat().st_size > 0
    fig = plotting.sampling_diagram(case, centres, ops, info, PATCH)
    assert "100 lesion-sampled" in fig._suptitle.get_text()
    assert plotting.patch_gallery(case, centres, ops, info["lesion"], PATCH, n_healthy=2, output_file=tmp_path / "g.png") is None
    fig = plotting.patch_gallery(case, centres, ops, info["lesion"], PATCH, n_healthy=2)
    assert len(fig.axes) == (5 + 2) * (len(case.modalities) + 1)  # one lesion patch per op + 2 healthy
    first = np.flatnonzero(info["lesion"])[0]
    plotting.augmentation_gallery(case, centres[first], PATCH, output_file=tmp_path / "a.png")
    table = sampling.balance_table(case, 200, PATCH)
    plotting.class_balance_bars(table, output_file=tmp_path / "b.png")
    assert all((tmp_path / n).is_file() for n in ("g.png", "a.png", "b.png"))
