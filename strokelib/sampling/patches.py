"""Training and inference patches (paper §3.3, §3.5, §4.1): augmentation, patch extraction and the patch dataset.

Where training patches are centred is :mod:`strokelib.sampling.centres` (``SAMPLERS``, ``balanced_centres``...); this module applies the lesion patches' augmentation ops, cuts patches out of a volume,
summarises a draw (lesion share, ops), lays out the inference grid of §3.5 and serves patches to training
(:class:`PatchDataset`).

A patch of shape ``p`` centred at ``c`` covers ``[c - p//2, c - p//2 + p)`` on each axis (12 voxels before and
11 after the centre for p = 24, as in the released code); voxels outside the volume read as zero.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view

from ..config import PAPER
from ..errors import SamplingError
from ..progress import progress_bar
from .centres import (
    AUGMENTATIONS,
    INVERSE_OP,
    SAMPLERS,
    as_count,
    as_fraction,
    as_patch_shape,
    brain_of,
    grid_points,
)

log = logging.getLogger(__name__)


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
    p, s, o = as_patch_shape(patch_shape), as_patch_shape(step), np.asarray(offset, dtype=np.int64)
    if (s > p).any():
        raise SamplingError(f"inference step {tuple(s.tolist())} is larger than the patch {tuple(p.tolist())}: some voxels would never "
                            "be predicted; use a step no larger than the patch (paper: 4×4×1)")
    if o.shape != (3,) or (o < 0).any() or (o >= s).any():
        raise SamplingError(f"grid offset must be three integers in [0, step), got {tuple(offset)}")
    return grid_points(mask, s, o)


def patches_per_voxel(patch_shape: Sequence[int], step: Sequence[int]) -> int:
    """How many overlapping inference patches see an interior voxel (§3.5): the product of patch / step per axis
    (the paper's 24×24×16 at step 4×4×1: 6·6·16 = 576)."""
    p, s = as_patch_shape(patch_shape), as_patch_shape(step)
    return int(np.prod(p // s))


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
    p = as_patch_shape(patch_shape)
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
    p = as_patch_shape(patch_shape)
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
    brain = brain_of(case)
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
        self.n_patches = as_count(n_patches)
        self.patch_shape = tuple(int(v) for v in as_patch_shape(patch_shape))
        self.lesion_fraction = as_fraction(lesion_fraction)
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
        for case in progress_bar(cases, desc="padding cases", disable=not progress, leave=False):
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
        log.debug("patch set for epoch %d: %d patches from %d cases (%d lesion-sampled)", epoch, len(self.centres),
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
