"""Training and inference patches (paper §3.3, §3.5, §4.1): where patches are centred, how lesion patches are
augmented, and how patches are cut out of a volume.

Three training samplers share one signature ``(case, n_patches, patch_shape, lesion_fraction, rng, ...)`` and
return ``(centres, ops)``: ``centres`` an (N, 3) int64 array of voxel coordinates in the case's grid and ``ops``
an (N,) int8 array of indices into :data:`AUGMENTATIONS`.

* :func:`balanced_centres` — the paper's text (§3.3): ``lesion_fraction`` of the patches on lesion voxels with a
  random offset and an augmentation op, the rest on healthy brain voxels at regular spatial steps.
* :func:`reference_centres` — what the released code does (``docs/released-code.md#training-patch-sampling``): ~``n_patches`` lesion patches
  plus ``n_patches/2`` grid patches, a 2:1 ratio, 15 000 patches per case for the paper's 10 000.
* :func:`baseline_centres` — the Table 1 Baseline (§4.1, sampling of Valverde et al. [28]): lesion voxels and
  as many random healthy brain voxels, no offset, no augmentation.

A patch of shape ``p`` centred at ``c`` covers ``[c - p//2, c - p//2 + p)`` on each axis (12 voxels before and
11 after the centre for p = 24, as in the released code); voxels outside the volume read as zero.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from tqdm.auto import tqdm

from .config import PAPER
from .errors import SamplingError

log = logging.getLogger(__name__)

AUGMENTATIONS = ("none", "rot90", "rot180", "rot270", "flip_x")
"""Lesion-patch augmentation ops of §3.3; an op code is an index into this tuple. Rotations turn the axial
(X, Y) plane, ``flip_x`` is the sagittal reflection (left-right, along X)."""
INVERSE_OP = (0, 3, 2, 1, 4)
"""``INVERSE_OP[op]`` undoes ``op``: rot90 and rot270 undo each other, rot180 and flip_x undo themselves."""
REFERENCE_GRID_STEP = (6, 6, 3)
"""First grid step the released code tries for its uniform patches (``docs/released-code.md#training-patch-sampling``, step 3)."""

RngLike = np.random.Generator | int | None


# ---------------------------------------------------------------------------------------------------------
# checks and small helpers
# ---------------------------------------------------------------------------------------------------------
def _patch(patch_shape: Sequence[int]) -> np.ndarray:
    p = np.asarray(patch_shape)
    if p.shape != (3,) or not np.issubdtype(p.dtype, np.integer) or (p < 1).any():
        raise SamplingError(f"patch_shape must be three positive integers such as (24, 24, 16), got {patch_shape!r}")
    return p.astype(np.int64)


def _count(n_patches: int) -> int:
    if isinstance(n_patches, bool) or int(n_patches) != n_patches or n_patches < 1:
        raise SamplingError(f"n_patches must be a positive integer (the paper uses 10 000 per case), got {n_patches!r}")
    return int(n_patches)


def _fraction(lesion_fraction: float) -> float:
    if not 0.0 <= float(lesion_fraction) <= 1.0:
        raise SamplingError(f"lesion_fraction must lie in [0, 1] (the paper uses 0.5), got {lesion_fraction!r}")
    return float(lesion_fraction)


def _brain(case) -> np.ndarray:
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


def _grid_points(mask: np.ndarray, step: np.ndarray, phase: np.ndarray) -> np.ndarray:
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
    p = _patch(patch_shape)
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
    points = _grid_points(healthy, step, phase)
    if len(points) < n:
        log.warning("only %d healthy brain voxels for %d healthy patches: each is used several times", len(points), n)
        return points[_resample(len(points), n, n)]
    return points[_evenly(len(points), n)]


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
    n_patches, lesion_fraction, p = _count(n_patches), _fraction(lesion_fraction), _patch(patch_shape)
    brain = _brain(case)
    lesion = _lesion(case, allow_no_lesion)
    shape = np.array(brain.shape)
    n_lesion = 0 if lesion is None else int(round(n_patches * lesion_fraction))
    centres, ops, flags, voxels = [], [], [], []
    if n_lesion:
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
        centres.append(np.clip(voxel + shift, 0, shape - 1))
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
    n_patches, lesion_fraction, _ = _count(n_patches), _fraction(lesion_fraction), _patch(patch_shape)
    brain = _brain(case)
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
    n_patches, lesion_fraction, p = _count(n_patches), _fraction(lesion_fraction), _patch(patch_shape)
    brain = _brain(case)
    lesion = _lesion(case, allow_no_lesion)
    shape = np.array(brain.shape)
    n_max = int(n_patches * lesion_fraction)
    centres, ops, flags, voxels = [], [], [], []
    if lesion is not None and n_max:
        lesion_voxels = np.argwhere(lesion).astype(np.int64)
        voxel = lesion_voxels[_resample(len(lesion_voxels), n_max // 2, n_max)]
        shift = (rng.uniform(-1.0, 1.0, size=voxel.shape) * (p // 2)).astype(np.int64)
        low = np.minimum(p // 2 + 1 - (p + 1) // 2, shape - 1)  # the released code clips to [p//2+1, ...] padded
        centre = np.clip(voxel + shift, low, shape - 1)
        n_les = len(centre)
        k = min(math.ceil(n_patches / n_les), len(AUGMENTATIONS) - 1)  # the 4 non-identity ops (docstring)
        chosen = _evenly(n_les, max(0, (n_patches - n_les) // k))
        transform = np.arange(k) * 5 // k  # released transform ids 0..3 = our ops 1..4
        centres += [centre, np.repeat(centre[chosen], k, axis=0)]
        ops += [np.zeros(n_les, np.int64), np.tile(transform + 1, len(chosen))]
        flags.append(np.ones(n_les + k * len(chosen), bool))
        voxels += [voxel, np.repeat(voxel[chosen], k, axis=0)]
    n_grid = n_patches - n_max
    step = np.array(REFERENCE_GRID_STEP, np.int64)
    zero = np.zeros(3, np.int64)
    while _grid_count(brain, step, zero) < n_grid - 1 and step.max() > 1:
        step = np.maximum(step - 1, 1)
    grid = _grid_points(brain, step, zero)
    if len(grid) < n_grid - 1:  # the released code raises here; reuse grid points instead
        log.warning("case %s: only %d brain voxels for %d grid patches: each is used several times",
                    case.case_id, len(grid), n_grid)
        grid = grid[_resample(len(grid), n_grid, n_grid)]
    elif len(grid) > n_grid:
        grid = grid[_evenly(len(grid), n_grid)]
    centres.append(grid)
    ops.append(np.zeros(len(grid), np.int64))
    flags.append(np.zeros(len(grid), bool))
    voxels.append(grid)
    return _finish(centres, ops, flags, voxels, return_info)


SAMPLERS: dict[str, Callable] = {"balanced": balanced_centres, "baseline": baseline_centres,
                                 "reference": reference_centres}


# ---------------------------------------------------------------------------------------------------------
# inference grid
# ---------------------------------------------------------------------------------------------------------
def grid_centres(mask: np.ndarray, patch_shape: Sequence[int], step: Sequence[int] = PAPER.inference_step,
                 offset: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """Inference centres (§3.5): every ``step`` voxels from ``offset`` (paper 4×4×1), kept where ``mask`` is True.

    A step larger than the patch would leave voxels that no patch covers, so it raises.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise SamplingError(f"grid_centres needs an (X, Y, Z) mask, got shape {mask.shape}")
    p, s, o = _patch(patch_shape), _patch(step), np.asarray(offset, dtype=np.int64)
    if (s > p).any():
        raise SamplingError(f"inference step {tuple(s.tolist())} is larger than the patch {tuple(p.tolist())}: some voxels would never "
                            "be predicted; use a step no larger than the patch (paper: 4×4×1)")
    if o.shape != (3,) or (o < 0).any() or (o >= s).any():
        raise SamplingError(f"grid offset must be three integers in [0, step), got {tuple(offset)}")
    return _grid_points(mask, s, o)


# ---------------------------------------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------------------------------------
def _op_code(op) -> int:
    if isinstance(op, str):
        if op not in AUGMENTATIONS:
            raise SamplingError(f"unknown augmentation {op!r}; use one of {AUGMENTATIONS}")
        return AUGMENTATIONS.index(op)
    code = int(op)
    if not 0 <= code < len(AUGMENTATIONS):
        raise SamplingError(f"augmentation code {op!r} out of range; codes index {AUGMENTATIONS}")
    return code


def augment(patch, op, inverse: bool = False):
    """Apply one op of :data:`AUGMENTATIONS` (§3.3) to a patch or a batch of patches, numpy array or torch tensor.

    The op acts on the last three axes (X, Y, Z): rotations turn the axial X–Y plane (which must be square),
    ``flip_x`` reverses X. Data (C, X, Y, Z) and label (X, Y, Z) given the same op stay aligned.
    ``inverse=True`` applies the inverse op.
    """
    code = _op_code(op)
    if inverse:
        code = INVERSE_OP[code]
    if code == 0:
        return patch
    is_torch = isinstance(patch, torch.Tensor)
    if code in (1, 3) and patch.shape[-3] != patch.shape[-2]:
        raise SamplingError(f"a {AUGMENTATIONS[code]} rotation needs a square X–Y patch, got shape {tuple(patch.shape)}")
    if code == 4:
        return torch.flip(patch, dims=(-3,)) if is_torch else np.flip(patch, axis=-3)
    k = {1: 1, 2: 2, 3: 3}[code]
    return torch.rot90(patch, k, dims=(-3, -2)) if is_torch else np.rot90(patch, k, axes=(-3, -2))


def augment_batch(x, y, ops):
    """Apply per-patch ops to a batch: ``x`` (N, C, X, Y, Z), ``y`` (N, X, Y, Z) or (N, 1, X, Y, Z) or None.

    Vectorised per op group (one call per distinct op). Returns new arrays/tensors of the input kind.
    """
    is_torch = isinstance(x, torch.Tensor)
    x_out = x.clone() if is_torch else np.array(x, copy=True)
    y_out = None if y is None else (y.clone() if is_torch else np.array(y, copy=True))
    return _augment_inplace(x_out, y_out, ops)


def _augment_inplace(x, y, ops):
    ops = np.asarray(ops.cpu() if isinstance(ops, torch.Tensor) else ops).astype(np.int64).reshape(-1)
    if len(ops) != x.shape[0] or (y is not None and y.shape[0] != x.shape[0]):
        raise SamplingError(f"augment_batch: {len(ops)} ops for {x.shape[0]} patches"
                            + ("" if y is None else f" and {y.shape[0]} labels"))
    for code in np.unique(ops):
        if code == 0:
            continue
        sel = np.flatnonzero(ops == code)
        index = torch.as_tensor(sel, device=x.device) if isinstance(x, torch.Tensor) else sel
        x[index] = augment(x[index], code)  # x[index] is a copy, so writing back in place is safe
        if y is not None:
            y[index] = augment(y[index], code)
    return x, y


# ---------------------------------------------------------------------------------------------------------
# extraction
# ---------------------------------------------------------------------------------------------------------
def _pad_channels_last(images: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(C, X, Y, Z) → zero-padded (X+p-1, Y+p-1, Z+p-1, C), so the patch of centre c starts at c.

    Channels last makes each patch row one contiguous run of Z·C values, which halves gather time.
    """
    before = p // 2
    padded = np.zeros((*(np.array(images.shape[1:]) + p - 1), images.shape[0]), dtype=images.dtype)
    region = tuple(slice(b, b + n) for b, n in zip(before, images.shape[1:], strict=True))
    padded[region] = np.moveaxis(images, 0, -1)
    return padded


def _gather(padded: np.ndarray, centres: np.ndarray, p: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Patches (N, C, *p) from a padded channels-last volume, by fancy indexing a strided window view."""
    channels = padded.shape[-1]
    windows = sliding_window_view(padded, (*p, channels))[..., 0, :, :, :, :]  # (X, Y, Z, px, py, pz, C), no copy
    out = np.empty((len(centres), channels, *p), dtype=padded.dtype)
    for start in range(0, len(centres), chunk):  # chunks of patches bound the temporary memory
        c = centres[start:start + chunk]
        out[start:start + chunk] = windows[c[:, 0], c[:, 1], c[:, 2]].transpose(0, 4, 1, 2, 3)
    return out


def _check_centres(centres, shape, where: str = "") -> np.ndarray:
    centres = np.asarray(centres)
    if centres.ndim != 2 or centres.shape[1] != 3 or not np.issubdtype(centres.dtype, np.integer):
        raise SamplingError(f"centres{where} must be an (N, 3) integer array, got {centres.dtype} {centres.shape}")
    bad = np.flatnonzero(((centres < 0) | (centres >= np.array(shape))).any(axis=1))
    if len(bad):
        raise SamplingError(f"centre {centres[bad[0]].tolist()} (row {bad[0]}){where} lies outside the volume "
                            f"{tuple(shape)}; centres must be voxel coordinates of the case's grid")
    return centres.astype(np.int64, copy=False)


def extract_patches(images: np.ndarray, centres: np.ndarray, patch_shape: Sequence[int]) -> np.ndarray:
    """Patches around ``centres``: (N, C, *patch_shape) from (C, X, Y, Z) images, (N, *patch_shape) from an
    (X, Y, Z) volume (e.g. a label).

    Patch n covers ``[c - p//2, c - p//2 + p)`` on each axis; voxels outside the volume are zero. The volume is
    padded once and all patches are gathered from a strided window view (no per-patch Python work). Float
    images come back as float32; integer/bool volumes keep their dtype.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise SamplingError(f"extract_patches needs (C, X, Y, Z) images or an (X, Y, Z) volume, got shape {images.shape}")
    volume = images[None] if images.ndim == 3 else images
    if np.issubdtype(volume.dtype, np.floating):
        volume = volume.astype(np.float32, copy=False)
    p = _patch(patch_shape)
    centres = _check_centres(centres, volume.shape[1:])
    patches = _gather(_pad_channels_last(volume, p), centres, p)
    return patches[:, 0] if images.ndim == 3 else patches


# ---------------------------------------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------------------------------------
def _count_table(lesion_origin: np.ndarray, ops: np.ndarray, row_names=("lesion", "healthy")) -> pd.DataFrame:
    ops = np.asarray(ops, dtype=np.int64)
    counts = np.zeros((2, len(AUGMENTATIONS)), np.int64)
    np.add.at(counts, (np.where(lesion_origin, 0, 1), ops), 1)
    table = pd.DataFrame(counts, index=list(row_names), columns=list(AUGMENTATIONS))
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.index.name = "origin"
    return table


def summarise(case, centres: np.ndarray, ops: np.ndarray, origin: np.ndarray | None = None) -> pd.DataFrame:
    """Patch counts per origin (rows) and augmentation op (columns), with totals (§3.3, Figure 3).

    ``origin`` is the sampler's ``info["lesion"]`` (lesion-sampled or healthy-sampled). Without it the rows say
    whether the centre itself is a lesion voxel ("centre on lesion" / "centre healthy"), which after the random
    offset is not the same thing.
    """
    centres = _check_centres(centres, case.brain_mask.shape, f" of case {case.case_id}")
    if origin is not None:
        return _count_table(np.asarray(origin, bool), ops)
    if case.label is None:
        on_lesion = np.zeros(len(centres), bool)
    else:
        on_lesion = np.asarray(case.label)[centres[:, 0], centres[:, 1], centres[:, 2]] > 0
    return _count_table(on_lesion, ops, ("centre on lesion", "centre healthy"))


def _box_sums(volume: np.ndarray, centres: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Sum of ``volume`` inside each patch box, from a summed-volume table (8 look-ups per patch)."""
    table = np.zeros(np.array(volume.shape) + 1, np.int64)
    table[1:, 1:, 1:] = volume.astype(np.int64).cumsum(0).cumsum(1).cumsum(2)
    lo = np.clip(centres - p // 2, 0, volume.shape)
    hi = np.clip(centres - p // 2 + p, 0, volume.shape)
    total = np.zeros(len(centres), np.int64)
    for corner in np.ndindex(2, 2, 2):  # inclusion–exclusion over the 8 corners of the box
        idx = np.where(np.array(corner, bool), hi, lo)
        sign = (-1) ** (3 - sum(corner))
        total += sign * table[idx[:, 0], idx[:, 1], idx[:, 2]]
    return total


def class_balance(label: np.ndarray, centres: np.ndarray, patch_shape: Sequence[int],
                  within: np.ndarray | None = None) -> float:
    """Voxel-level lesion fraction of a patch set: lesion voxels over all voxels of all patches (the balance the
    loss of §3.3 actually sees; augmentation does not change it). Voxels outside the volume count as healthy.

    With ``within`` (e.g. the brain mask) the denominator counts only voxels of that mask.
    """
    label = np.asarray(label) > 0
    p = _patch(patch_shape)
    centres = _check_centres(centres, label.shape)
    if len(centres) == 0:
        raise SamplingError("class_balance of an empty patch set is undefined; sample some patches first")
    lesion = _box_sums(label, centres, p).sum()
    total = _box_sums(np.asarray(within, bool), centres, p).sum() if within is not None else len(centres) * p.prod()
    return float(lesion / total) if total else 0.0


def balance_table(case, n_patches: int, patch_shape: Sequence[int] = PAPER.patch_shape,
                  lesion_fraction: float = 0.5, seed: int = 0,
                  samplers: Sequence[str] = ("baseline", "balanced", "reference"),
                  step: Sequence[int] = PAPER.inference_step) -> pd.DataFrame:
    """Class balance of the patch sets of each sampler on one case, next to uniform patches over the brain (the
    imbalance §3.3 fights): number of patches, share of lesion-sampled patches, voxel-level lesion fraction."""
    brain = _brain(case)
    label = np.zeros(brain.shape, bool) if case.label is None else np.asarray(case.label) > 0
    grid = grid_centres(brain, patch_shape, step)
    rows = {"uniform grid (no balancing)": (grid, np.zeros(len(grid), bool))}
    for name in samplers:
        centres, _, info = SAMPLERS[name](case, n_patches, patch_shape, lesion_fraction=lesion_fraction,
                                          rng=seed, return_info=True)
        rows[name] = (centres, info["lesion"])
    table = pd.DataFrame({
        "patches": {k: len(c) for k, (c, _) in rows.items()},
        "lesion-sampled %": {k: 100.0 * o.mean() for k, (_, o) in rows.items()},
        "lesion voxels % (all patch voxels)": {k: 100.0 * class_balance(label, c, patch_shape) for k, (c, _) in rows.items()},
        "lesion voxels % (brain voxels in patches)": {k: 100.0 * class_balance(label, c, patch_shape, brain)
                                                      for k, (c, _) in rows.items()},
    })
    table.index.name = "sampling"
    return table


# ---------------------------------------------------------------------------------------------------------
# torch dataset
# ---------------------------------------------------------------------------------------------------------
class PatchDataset(torch.utils.data.Dataset):
    """Training patches of several already-normalised cases (§3.3–3.4), cut on the fly.

    Each volume is kept once (zero-padded, channels last) and never as patches; the dataset keeps no reference
    to ``case.images``, so the caller may drop the cases afterwards. ``__getitem__(i)`` returns ``(x, y)``: x a
    float32 tensor (C, *patch_shape), y an int64 tensor (*patch_shape), with patch i's augmentation op applied.
    :meth:`get_batch` cuts a whole batch in one vectorised call per case.

    Centres are drawn once (seed ``seed``) and kept for the whole run like the released code, or re-drawn by
    :meth:`set_epoch` with seed ``seed + epoch`` when ``resample_each_epoch``. ``sampler`` is a name in
    :data:`SAMPLERS` or a function with the same signature.
    """

    def __init__(
        self,
        cases: Sequence,
        sampler: str | Callable = "balanced",
        n_patches: int = PAPER.patches_per_case,
        patch_shape: Sequence[int] = PAPER.patch_shape,
        lesion_fraction: float = PAPER.lesion_fraction,
        seed: int = 0,
        resample_each_epoch: bool = False,
        allow_no_lesion: bool = False,
        progress: bool = True,
    ):
        if not len(cases):
            raise SamplingError("PatchDataset needs at least one case")
        if isinstance(sampler, str) and sampler not in SAMPLERS:
            raise SamplingError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
        channels = {c.images.shape[0] for c in cases}
        if len(channels) > 1:
            raise SamplingError(f"cases have different channel counts {sorted(channels)}: "
                                f"{[(c.case_id, c.images.shape[0]) for c in cases]}; load them with the same modalities")
        self.sampler = sampler
        self.n_patches = _count(n_patches)
        self.patch_shape = tuple(int(v) for v in _patch(patch_shape))
        self.lesion_fraction = _fraction(lesion_fraction)
        self.seed = int(seed)
        self.resample_each_epoch = bool(resample_each_epoch)
        self.allow_no_lesion = bool(allow_no_lesion)
        self.case_ids = [c.case_id for c in cases]
        p = np.array(self.patch_shape)
        for case in cases:
            if (p > np.array(case.shape)).any():
                raise SamplingError(
                    f"case {case.case_id}: the patch {self.patch_shape} is larger than the volume {case.shape}, so "
                    "every patch would reach past it; use a patch_shape no larger than the volume (paper: "
                    "24×24×16) or check that the case was not loaded cropped or downsampled"
                )
        self._images, self._labels, self._geometry = [], [], []
        for case in tqdm(cases, desc="padding cases", disable=not progress, leave=False):
            self._images.append(_pad_channels_last(np.asarray(case.images, np.float32), p))
            label = np.zeros(case.shape, np.uint8) if case.label is None else (np.asarray(case.label) > 0).astype(np.uint8)
            self._labels.append(_pad_channels_last(label[None], p)[..., 0])
            # what the samplers read: mask, label and grid; a zero-size image array keeps Case.shape working
            self._geometry.append(dataclasses.replace(case, images=np.empty((0, *case.shape), np.float32)))
        self.epoch = 0
        self._draw(0)

    def _draw(self, epoch: int) -> None:
        rng = np.random.default_rng(self.seed + epoch)
        sample = SAMPLERS[self.sampler] if isinstance(self.sampler, str) else self.sampler
        centres, ops, origin, index = [], [], [], []
        for i, case in enumerate(self._geometry):
            c, o, info = sample(case, self.n_patches, self.patch_shape, lesion_fraction=self.lesion_fraction,
                                rng=rng, allow_no_lesion=self.allow_no_lesion, return_info=True)
            c = _check_centres(c, case.shape, f" from the sampler for case {case.case_id}")  # a custom sampler may err
            o = np.asarray(o)
            if o.shape != (len(c),) or not np.isin(o, np.arange(len(AUGMENTATIONS))).all():
                raise SamplingError(f"case {case.case_id}: the sampler returned {o.size} ops for {len(c)} centres "
                                    f"or a code outside 0..{len(AUGMENTATIONS) - 1}; give one op per centre, an "
                                    f"index into {AUGMENTATIONS}")
            centres.append(c)
            ops.append(o)
            origin.append(info["lesion"])
            index.append(np.full(len(c), i, np.int64))
        self.centres = np.concatenate(centres)
        self.ops = np.concatenate(ops)
        self.origin = np.concatenate(origin)
        self.case_index = np.concatenate(index)
        log.info("patch set for epoch %d: %d patches from %d cases (%d lesion-sampled)", epoch, len(self.centres),
                 len(self._geometry), int(self.origin.sum()))

    def set_epoch(self, epoch: int) -> None:
        """Re-draw the centres for ``epoch`` (seed + epoch) when ``resample_each_epoch``; otherwise keep them."""
        if self.resample_each_epoch and epoch != self.epoch:
            self._draw(epoch)
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.centres)

    def get_batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches ``indices`` as one batch: x (B, C, *p) float32 and y (B, *p) int64, ops applied, in order."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) and (indices.min() < -len(self) or indices.max() >= len(self)):
            raise IndexError(f"patch index out of range for a dataset of {len(self)} patches")
        p = np.array(self.patch_shape)
        cases = self.case_index[indices]
        present = np.unique(cases)
        if len(present) == 1:
            centres = self.centres[indices]
            x = _gather(self._images[present[0]], centres, p)
            y = _gather(self._labels[present[0]][..., None], centres, p)[:, 0]
        else:
            x = np.empty((len(indices), self._images[0].shape[-1], *p), np.float32)
            y = np.empty((len(indices), *p), np.uint8)
            for i in present:  # one vectorised gather per case present in the batch
                sel = np.flatnonzero(cases == i)
                centres = self.centres[indices[sel]]
                x[sel] = _gather(self._images[i], centres, p)
                y[sel] = _gather(self._labels[i][..., None], centres, p)[:, 0]
        _augment_inplace(x, y, self.ops[indices])
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.get_batch([i])
        return x[0], y[0]

    def summary(self) -> pd.DataFrame:
        """Counts of the current patch set per origin (lesion/healthy-sampled) and augmentation op."""
        return _count_table(self.origin, self.ops)
