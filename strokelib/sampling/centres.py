"""Where training patches are centred (paper §3.3, §4.1): the three training samplers and their op codes.

Three samplers share one signature ``(case, n_patches, patch_shape, lesion_fraction, rng, ...)`` and return
``(centres, ops)``: ``centres`` an (N, 3) int64 array of voxel coordinates in the case's grid and ``ops`` an (N,)
int8 array of indices into :data:`AUGMENTATIONS`.

* :func:`balanced_centres` — the paper's text (§3.3): ``lesion_fraction`` of the patches on lesion voxels with a
  random offset and an augmentation op, the rest on healthy brain voxels at regular spatial steps.
* :func:`reference_centres` — what the released code does (``docs/released-code.md#training-patch-sampling``):
  ~``n_patches`` lesion patches plus ``n_patches/2`` grid patches, a 2:1 ratio, 15 000 patches per case for the
  paper's 10 000.
* :func:`baseline_centres` — the Table 1 Baseline (§4.1, sampling of Valverde et al. [28]): lesion voxels and
  as many random healthy brain voxels, no offset, no augmentation.

:mod:`strokelib.sampling.patches` applies the ops, cuts the patches out and serves them to training.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import SamplingError

log = logging.getLogger(__name__)

AUGMENTATIONS = ("none", "rot90", "rot180", "rot270", "flip_x")
"""Lesion-patch augmentation ops of §3.3; an op code is an index into this tuple. Rotations turn the axial
(X, Y) plane, ``flip_x`` is the sagittal reflection (left-right, along X)."""
INVERSE_OP = (0, 3, 2, 1, 4)
"""``INVERSE_OP[op]`` undoes ``op``: rot90 and rot270 undo each other, rot180 and flip_x undo themselves."""
REFERENCE_GRID_STEP = (6, 6, 3)
"""First grid step the released code tries for its uniform patches (``docs/released-code.md#training-patch-sampling``, step 3)."""
RngLike = np.random.Generator | int | None


def as_patch_shape(patch_shape: Sequence[int]) -> np.ndarray:
    """``patch_shape`` as an int64 array of three positive sizes; a :class:`SamplingError` otherwise."""
    p = np.asarray(patch_shape)
    if p.shape != (3,) or not np.issubdtype(p.dtype, np.integer) or (p < 1).any():
        raise SamplingError(f"patch_shape must be three positive integers such as (24, 24, 16), got {patch_shape!r}")
    return p.astype(np.int64)


def as_count(n_patches: int) -> int:
    """``n_patches`` as a positive int; a :class:`SamplingError` otherwise."""
    if isinstance(n_patches, bool) or int(n_patches) != n_patches or n_patches < 1:
        raise SamplingError(f"n_patches must be a positive integer (the paper uses 10 000 per case), got {n_patches!r}")
    return int(n_patches)


def as_fraction(lesion_fraction: float) -> float:
    """``lesion_fraction`` as a float in [0, 1]; a :class:`SamplingError` otherwise."""
    if not 0.0 <= float(lesion_fraction) <= 1.0:
        raise SamplingError(f"lesion_fraction must lie in [0, 1] (the paper uses 0.5), got {lesion_fraction!r}")
    return float(lesion_fraction)


def brain_of(case) -> np.ndarray:
    """The case's brain mask as bool (X, Y, Z); a :class:`SamplingError` when it is not 3-D or is empty."""
    mask = np.asarray(case.brain_mask, dtype=bool)
    if mask.ndim != 3:
        raise SamplingError(f"case {case.case_id}: brain_mask must be (X, Y, Z), got shape {mask.shape}")
    if not mask.any():
        raise SamplingError(f"case {case.case_id}: the brain mask is empty, so no patch can be centred in the brain; "
                            "check that the images are not all zero")
    return mask


def _lesion(case, allow_no_lesion: bool) -> np.ndarray | None:
    """Boolean lesion mask, or None for a case without lesion when ``allow_no_lesion``."""
    if case.label is None:
        if allow_no_lesion:
            return None
        raise SamplingError(f"case {case.case_id} has no ground truth, so lesion patches cannot be sampled; training "
                            "needs labelled cases (pass allow_no_lesion=True for healthy-only patches)")
    lesion = np.asarray(case.label) > 0
    if lesion.shape != case.brain_mask.shape:
        raise SamplingError(f"case {case.case_id}: label shape {lesion.shape} differs from the image grid "
                            f"{case.brain_mask.shape}; resample the ground truth onto the images")
    if not lesion.any():
        if allow_no_lesion:
            return None
        raise SamplingError(f"case {case.case_id}: the ground truth has no lesion voxel, so no lesion patch can be "
                            "sampled (§3.3); drop the case from training or pass "
                            "allow_no_lesion=True for healthy-only patches")
    return lesion


def _evenly(n_available: int, n_wanted: int) -> np.ndarray:
    """``n_wanted`` evenly spaced indices into ``range(n_available)``: ``floor(i * n_available / n_wanted)``."""
    return np.arange(n_wanted, dtype=np.int64) * n_available // max(n_wanted, 1)


def _resample(n_available: int, n_min: int, n_max: int) -> np.ndarray:
    """Deterministic index resampling of the released code (``get_resampling_indexes``): all indices when the
    count lies in [n_min, n_max], evenly spaced ones down to n_max, or whole repeats plus evenly spaced extras up
    to n_min."""
    if n_available > n_max:
        return _evenly(n_available, n_max)
    if n_available >= n_min:
        return np.arange(n_available, dtype=np.int64)
    repeats, extra = divmod(n_min, n_available)
    return np.concatenate([np.tile(np.arange(n_available, dtype=np.int64), repeats), _evenly(n_available, extra)])


def _repeat_pick(n_available: int, n_wanted: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n_wanted`` of ``n_available`` items, each at most once when there are enough; otherwise every item
    ``n_wanted // n_available`` times plus a random subset once more (§3.3, small lesions). Also returns the copy
    number of each pick (0 for the first use of an item)."""
    if n_available >= n_wanted:
        return rng.choice(n_available, n_wanted, replace=False).astype(np.int64), np.zeros(n_wanted, np.int64)
    repeats, extra = divmod(n_wanted, n_available)
    pick = np.concatenate([np.tile(np.arange(n_available, dtype=np.int64), repeats),
                           rng.choice(n_available, extra, replace=False).astype(np.int64)])
    copy = np.concatenate([np.repeat(np.arange(repeats, dtype=np.int64), n_available), np.full(extra, repeats)])
    return pick, copy


def _grid_count(mask: np.ndarray, step: np.ndarray, phase: np.ndarray) -> int:
    return int(np.count_nonzero(mask[phase[0]::step[0], phase[1]::step[1], phase[2]::step[2]]))


def grid_points(mask: np.ndarray, step: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The voxels of ``mask`` on the regular grid ``phase + k * step`` (raster order), as int64 (N, 3)."""
    sub = mask[phase[0]::step[0], phase[1]::step[1], phase[2]::step[2]]
    return np.argwhere(sub).astype(np.int64) * step + phase


def _finish(centres, ops, lesion_flags, voxels, return_info: bool):
    centres = np.ascontiguousarray(np.concatenate(centres), dtype=np.int64).reshape(-1, 3)
    ops = np.concatenate(ops).astype(np.int8)
    if not return_info:
        return centres, ops
    info = {"lesion": np.concatenate(lesion_flags).astype(bool),
            "voxel": np.concatenate(voxels).astype(np.int64).reshape(-1, 3)}
    return centres, ops, info


# ---------------------------------------------------------------------------------------------------------
# training samplers
# ---------------------------------------------------------------------------------------------------------
def healthy_grid_centres(healthy: np.ndarray, n: int, patch_shape: Sequence[int],
                         rng: RngLike = None) -> np.ndarray:
    """``n`` centres on ``healthy`` voxels at regular spatial steps, "so that all parts of the brain are equally
    represented" (§3.3).

    The step is the coarsest one, shaped like the patch, whose grid still holds at least ``n`` healthy voxels; the
    grid's phase is random (so another seed gives another grid) and its points are then evenly subsampled in
    raster order to exactly ``n``. A brain with fewer than ``n`` healthy voxels has each used several times.
    """
    rng = np.random.default_rng(rng)
    p = as_patch_shape(patch_shape)
    available = int(np.count_nonzero(healthy))
    if n == 0:
        return np.zeros((0, 3), np.int64)
    if available == 0:
        raise SamplingError("no healthy brain voxel is left to centre healthy patches on (the lesion fills the mask)")
    aspect = p / np.exp(np.log(p).mean())
    step = np.maximum(1, np.floor(aspect * (available / n) ** (1 / 3))).astype(np.int64)
    phase = rng.integers(0, step)
    while _grid_count(healthy, step, phase) < n and step.max() > 1:
        largest = int(np.argmax(step))
        step[largest] -= 1
        phase = np.minimum(phase, step - 1)
    points = grid_points(healthy, step, phase)
    if len(points) < n:
        log.warning("only %d healthy brain voxels for %d healthy patches: each is used several times", len(points), n)
        return points[_resample(len(points), n, n)]
    return points[_evenly(len(points), n)]


def balanced_lesion_patches(lesion: np.ndarray, n_lesion: int, p: np.ndarray, rng: np.random.Generator,
                             offset: bool, augment: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres, ops, voxels) of the lesion patches of :func:`balanced_centres`: lesion voxels (repeated for a small
    lesion), each with the next op from a random start and a random offset, clipped into the volume."""
    shape = np.array(lesion.shape)
    lesion_voxels = np.argwhere(lesion).astype(np.int64)
    pick, copy = _repeat_pick(len(lesion_voxels), n_lesion, rng)
    voxel = lesion_voxels[pick]
    if augment:
        start = rng.integers(0, len(AUGMENTATIONS), size=len(lesion_voxels))
        op = (start[pick] + copy) % len(AUGMENTATIONS)
    else:
        op = np.zeros(n_lesion, np.int64)
    half = (p - 1) // 2
    shift = rng.integers(-half, half + 1, size=(n_lesion, 3)) if offset else 0
    return np.clip(voxel + shift, 0, shape - 1), op, voxel


def balanced_centres(
    case,
    n_patches: int,
    patch_shape: Sequence[int],
    lesion_fraction: float = 0.5,
    rng: RngLike = None,
    allow_no_lesion: bool = False,
    *,
    offset: bool = True,
    augment: bool = True,
    return_info: bool = False,
):
    """Balanced training patch sampling of §3.3 (Figure 3), as the paper describes it.

    ``round(n_patches * lesion_fraction)`` patches are centred on lesion voxels, each shifted by a random offset
    of at most half the patch size per axis, uniform in ``[-(p-1)//2, (p-1)//2]``, so the sampled voxel stays
    inside its patch (the offset shows the network the lesion's surroundings). A lesion with enough voxels gives
    each voxel at most once; a small lesion has its voxels used several times, each copy with its own offset and
    the next op of :data:`AUGMENTATIONS` (each voxel starts at a random op), so repeats are different patches.
    Every lesion patch carries an op drawn over the five anatomically feasible ones (identity included); healthy
    patches are never augmented. The other patches are centred on healthy brain voxels at regular spatial steps
    (:func:`healthy_grid_centres`), with no offset.

    ``offset=False, augment=False`` turns this into the un-augmented, un-shifted variant. A case with no lesion
    raises :class:`SamplingError`, or gives ``n_patches`` healthy patches with ``allow_no_lesion=True``.
    ``return_info=True`` adds a dict: ``lesion`` (N,) bool, True for lesion-sampled patches, and ``voxel`` (N, 3),
    the sampled voxel before its offset. Centres are clipped into the volume (which keeps the voxel in the patch).
    """
    rng = np.random.default_rng(rng)
    n_patches, lesion_fraction, p = as_count(n_patches), as_fraction(lesion_fraction), as_patch_shape(patch_shape)
    brain = brain_of(case)
    lesion = _lesion(case, allow_no_lesion)
    n_lesion = 0 if lesion is None else int(round(n_patches * lesion_fraction))
    centres, ops, flags, voxels = [], [], [], []
    if n_lesion:
        centre, op, voxel = balanced_lesion_patches(lesion, n_lesion, p, rng, offset, augment)
        centres.append(centre)
        ops.append(op)
        flags.append(np.ones(n_lesion, bool))
        voxels.append(voxel)
    healthy = brain if lesion is None else brain & ~lesion
    if n_patches > n_lesion and not healthy.any():
        raise SamplingError(f"case {case.case_id}: no healthy brain voxel is left for the healthy patches (the lesion "
                            "fills the brain mask); check the ground truth and brain mask, or pass lesion_fraction=1.0")
    grid = healthy_grid_centres(healthy, n_patches - n_lesion, p, rng)
    centres.append(grid)
    ops.append(np.zeros(len(grid), np.int64))
    flags.append(np.zeros(len(grid), bool))
    voxels.append(grid)
    log.debug("case %s: %d lesion + %d healthy patches", case.case_id, n_lesion, len(grid))
    return _finish(centres, ops, flags, voxels, return_info)


def baseline_centres(
    case,
    n_patches: int,
    patch_shape: Sequence[int],
    lesion_fraction: float = 0.5,
    rng: RngLike = None,
    allow_no_lesion: bool = False,
    *,
    return_info: bool = False,
):
    """Baseline sampling of the Table 1 ablation (§4.1): "training patch sampling as described in [28] ... without
    any addition of a random offset", and no augmentation.

    Our reading of Valverde et al. [28]: patches centred on lesion voxels plus as many centred on healthy brain
    voxels drawn uniformly at random (not on a grid). Here ``round(n_patches * lesion_fraction)`` lesion voxels
    (each at most once when the lesion is large enough, else repeated: identical patches) and the rest random
    healthy brain voxels, all without offset and with op "none". Same ``return_info`` as :func:`balanced_centres`.
    """
    rng = np.random.default_rng(rng)
    n_patches, lesion_fraction, _ = as_count(n_patches), as_fraction(lesion_fraction), as_patch_shape(patch_shape)
    brain = brain_of(case)
    lesion = _lesion(case, allow_no_lesion)
    n_lesion = 0 if lesion is None else int(round(n_patches * lesion_fraction))
    centres = []
    if n_lesion:
        lesion_voxels = np.argwhere(lesion).astype(np.int64)
        centres.append(lesion_voxels[_repeat_pick(len(lesion_voxels), n_lesion, rng)[0]])
    healthy = np.flatnonzero(brain if lesion is None else brain & ~lesion)
    n_healthy = n_patches - n_lesion
    if n_healthy and not len(healthy):
        raise SamplingError(f"case {case.case_id}: no healthy brain voxel is left for the Baseline's healthy patches")
    chosen = healthy[rng.choice(len(healthy), n_healthy, replace=n_healthy > len(healthy))] if n_healthy else healthy[:0]
    centres.append(np.stack(np.unravel_index(chosen, brain.shape), axis=1).astype(np.int64))
    flags = [np.ones(n_lesion, bool), np.zeros(n_healthy, bool)]
    return _finish(centres, [np.zeros(n_patches, np.int64)], flags, centres, return_info)


def _reference_lesion_patches(lesion: np.ndarray, n_patches: int, n_max: int, p: np.ndarray,
                              rng: np.random.Generator) -> tuple[list, list, list, list]:
    """Steps 1–3 and 5 of :func:`reference_centres`: resampled lesion voxels with truncated offsets, and the
    augmented copies; as lists of (centres, ops, lesion flags, voxels) parts."""
    shape = np.array(lesion.shape)
    lesion_voxels = np.argwhere(lesion).astype(np.int64)
    voxel = lesion_voxels[_resample(len(lesion_voxels), n_max // 2, n_max)]
    shift = (rng.uniform(-1.0, 1.0, size=voxel.shape) * (p // 2)).astype(np.int64)
    low = np.minimum(p // 2 + 1 - (p + 1) // 2, shape - 1)  # the released code clips to [p//2+1, ...] padded
    centre = np.clip(voxel + shift, low, shape - 1)
    n_les = len(centre)
    k = min(math.ceil(n_patches / n_les), len(AUGMENTATIONS) - 1)  # the 4 non-identity ops (docstring)
    chosen = _evenly(n_les, max(0, (n_patches - n_les) // k))
    transform = np.arange(k) * 5 // k  # released transform ids 0..3 = our ops 1..4
    return ([centre, np.repeat(centre[chosen], k, axis=0)],
            [np.zeros(n_les, np.int64), np.tile(transform + 1, len(chosen))],
            [np.ones(n_les + k * len(chosen), bool)],
            [voxel, np.repeat(voxel[chosen], k, axis=0)])


def _reference_grid(brain: np.ndarray, n_grid: int, case_id: str) -> np.ndarray:
    """Step 4 of :func:`reference_centres`: ``n_grid`` grid points on the brain mask, step (6, 6, 3) reduced by 1
    until the grid is large enough, evenly subsampled (or reused when the brain is too small)."""
    step = np.array(REFERENCE_GRID_STEP, np.int64)
    zero = np.zeros(3, np.int64)
    while _grid_count(brain, step, zero) < n_grid - 1 and step.max() > 1:
        step = np.maximum(step - 1, 1)
    grid = grid_points(brain, step, zero)
    if len(grid) < n_grid - 1:  # the released code raises here; reuse grid points instead
        log.warning("case %s: only %d brain voxels for %d grid patches: each is used several times",
                    case_id, len(grid), n_grid)
        grid = grid[_resample(len(grid), n_grid, n_grid)]
    elif len(grid) > n_grid:
        grid = grid[_evenly(len(grid), n_grid)]
    return grid


def reference_centres(
    case,
    n_patches: int,
    patch_shape: Sequence[int],
    rng: RngLike = None,
    *,
    lesion_fraction: float = 0.5,
    allow_no_lesion: bool = False,
    return_info: bool = False,
):
    """The released code's variant of §3.3 (``docs/released-code.md#training-patch-sampling``): about ``n_patches`` lesion + ``n_patches/2`` grid
    patches per case, a 2:1 ratio (15 000 patches for the paper's 10 000).

    1. Lesion voxels in raster order, deterministically resampled into ``[n*f//2, n*f]`` (f = lesion_fraction):
       ``n_les`` plain lesion patches (none when ``int(n * f)`` is 0).
    2. Offset ``int(U(-1, 1) * (p//2))`` per axis (truncated toward zero, so 0 is twice as likely as other values).
    3. Centres clipped to index >= 1 (a quirk of the released code's padding) and into the volume.
    4. Grid patches on the brain mask, lesion *not* excluded, step (6, 6, 3) reduced by 1 until the grid holds
       ``n - n*f`` points, evenly subsampled to that number; no offset, no augmentation.
    5. Lesion patches lifted to ``n_patches`` by augmentation: with ``k = min(ceil(n / n_les), 4)``,
       ``(n - n_les) // k`` evenly spaced lesion patches (repeated when there are fewer) each get all k ops
       ``floor(j * 5 / k)`` of the released list (rot90, rot180, rot270, flip_x), same centre: ops {1}, {1, 3},
       {1, 2, 4} or {1, 2, 3, 4} of :data:`AUGMENTATIONS`.

    Deviation: the released code caps k at 5, whose fifth transform flipped the data along y but the label along x
    (unreachable with its 10 000 patches and f = 0.5); k is capped at the 4 valid non-identity ops here, which
    changes nothing where k <= 4 and keeps every op in 0..4 for small lesions or low fractions.

    Counts: ``n_les + k * ((n - n_les) // k)`` lesion-sampled patches (between ``n - k + 1`` and ``n``) and
    ``n - int(n * f)`` grid patches (one fewer when the grid holds exactly that many minus one). A case without
    lesion raises, or with ``allow_no_lesion=True`` gives the grid patches only.
    """
    rng = np.random.default_rng(rng)
    n_patches, lesion_fraction, p = as_count(n_patches), as_fraction(lesion_fraction), as_patch_shape(patch_shape)
    brain = brain_of(case)
    lesion = _lesion(case, allow_no_lesion)
    n_max = int(n_patches * lesion_fraction)
    centres, ops, flags, voxels = [], [], [], []
    if lesion is not None and n_max:
        centres, ops, flags, voxels = _reference_lesion_patches(lesion, n_patches, n_max, p, rng)
    grid = _reference_grid(brain, n_patches - n_max, case.case_id)
    centres.append(grid)
    ops.append(np.zeros(len(grid), np.int64))
    flags.append(np.zeros(len(grid), bool))
    voxels.append(grid)
    return _finish(centres, ops, flags, voxels, return_info)


SAMPLERS: dict[str, Callable] = {"balanced": balanced_centres, "baseline": baseline_centres,
                                 "reference": reference_centres}


def drawn_per_case(sampler: str, n_patches: int, lesion_fraction: float = 0.5) -> int:
    """How many patches ``sampler`` draws from one case asked for ``n_patches``: ``n_patches`` for the balanced and
    baseline samplers; for the released code's ``reference`` sampler ``n_patches`` lesion-sampled patches (none when
    ``int(n_patches * lesion_fraction)`` is 0) plus ``n_patches - int(n_patches * lesion_fraction)`` grid patches:
    15 000 for the paper's 10 000. An upper bound for ``reference``, which may draw a few fewer (see
    :func:`reference_centres`). What an epoch costs is counted from this (:mod:`strokelib.estimates`)."""
    if sampler not in SAMPLERS:
        raise SamplingError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    n = as_count(n_patches)
    if sampler != "reference":
        return n
    n_lesion = int(n * as_fraction(lesion_fraction))
    return (n if n_lesion else 0) + n - n_lesion
