"""Probability maps from whole-volume forward passes (``strokelib segment --fast``): a deviation from paper §3.5.

§3.5 (and :func:`strokelib.inference.patches.predict_case`) averages overlapping 24×24×16 patches. SUNet is fully
convolutional, so the brain's bounding box can instead go through each fold model once (or in a few overlapping
tiles when it does not fit in memory), which is much faster; the maps differ somewhat, because every voxel sees
the context of the whole volume instead of zero padding at patch borders (``benchmarks/fast_inference.py``
measures the agreement and the speed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, InferenceError
from ..model.checkpoints import channels_last_helps
from ..progress import progress_bar
from .patches import as_models, ensemble_forward, eval_mode, inference_precision, model_device, triple

if TYPE_CHECKING:
    from ..data.cases import Case

log = logging.getLogger(__name__)

WHOLE_VOLUME_MARGIN = (12, 12, 8)
"""Context kept around the brain's bounding box by :func:`predict_whole_volume`: half a 24×24×16 patch, as far
as the patches of :func:`~strokelib.inference.patches.predict_case` reach past the brain."""
WHOLE_VOLUME_OVERLAP = (16, 16, 8)
"""Default overlap of neighbouring tiles in :func:`predict_whole_volume` (voxels): two down-steps of context."""


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile corners along one axis: every ``tile − overlap`` voxels, the last one flush with the end."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return sorted({*starts, length - tile})


def _brain_box(case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, lo, hi): the checked images and the brain's bounding box plus :data:`WHOLE_VOLUME_MARGIN`."""
    images = np.asarray(case.images, dtype=np.float32)
    mask = np.asarray(case.brain_mask, dtype=bool)
    if images.ndim != 4 or mask.shape != images.shape[1:]:
        raise InferenceError(
            f"case {case.case_id}: images have shape {images.shape} and the brain mask {mask.shape}; "
            "expected (C, X, Y, Z) images and an (X, Y, Z) mask"
        )
    if not mask.any():
        raise InferenceError(
            f"case {case.case_id}: the brain mask is empty, so there is nothing to predict; "
            "check the images are not all zero (datasets.load_isles2015 builds the mask from them)"
        )
    inside = np.argwhere(mask)
    lo = np.maximum(inside.min(0) - np.array(WHOLE_VOLUME_MARGIN), 0)
    hi = np.minimum(inside.max(0) + 1 + np.array(WHOLE_VOLUME_MARGIN), images.shape[1:])
    return images, lo, hi


def _tiles(tile: Sequence[int] | None, overlap: Sequence[int], padded: tuple[int, ...]) -> tuple[tuple, list[tuple]]:
    """(tile shape, tile corners) covering the ``padded`` box: one tile without ``tile``, else overlapping tiles."""
    if tile is None:
        tile_shape, over = padded, (0, 0, 0)
    else:
        tile_shape = triple(tile, "tile")
        if any(t % 8 for t in tile_shape):
            raise ConfigError(f"tile must be multiples of 8 on every axis (SUNet has 3 down-steps); got {tile_shape}")
        over = tuple(int(o) for o in np.atleast_1d(overlap))
        tile_shape = tuple(min(t, p) for t, p in zip(tile_shape, padded, strict=True))
        if len(over) != 3 or any(o < 0 or o >= t for o, t in zip(over, tile_shape, strict=True)):
            raise ConfigError(f"overlap {over} must be at least 0 and smaller than the tile {tile_shape} on every axis")
    corners = [(x, y, z) for x in _tile_starts(padded[0], tile_shape[0], over[0])
               for y in _tile_starts(padded[1], tile_shape[1], over[1])
               for z in _tile_starts(padded[2], tile_shape[2], over[2])]
    return tile_shape, corners


def predict_whole_volume(
    models: nn.Module | Sequence[nn.Module],
    case: Case,
    tile: Sequence[int] | None = None,
    overlap: Sequence[int] = WHOLE_VOLUME_OVERLAP,
    device: str | torch.device | None = None,
    progress: bool = True,
    precision: str = "auto",
    brain_only: bool = True,
) -> np.ndarray:
    """Lesion probability map of one prepared case from whole-volume forward passes (``--fast``).

    Deviation from the paper: §3.5 (and :func:`~strokelib.inference.patches.predict_case`) averages overlapping 24×24×16 patches (step 4×4×1,
    576 per voxel). SUNet is fully convolutional, so here the brain's bounding box (plus
    :data:`WHOLE_VOLUME_MARGIN`, zero-padded up to a multiple of 8 on each axis) goes through each model once and
    the models' softmax lesion probabilities are averaged. Every voxel then sees the context of the whole volume
    instead of zero padding at patch borders, so the map differs somewhat from the patch map, and it is not
    averaged over shifted patches (``benchmarks/fast_inference.py`` measures the agreement and the speed).

    Parameters
    ----------
    models, case, device, precision, brain_only : as :func:`~strokelib.inference.patches.predict_case`; ``auto``
        follows the calibration of patch inference at the default batch size (a whole-volume pass is not timed).
    tile : None = one pass over the whole box; else (X, Y, Z) tile size in voxels (multiples of 8) when the box
        does not fit in memory: tiles overlap by ``overlap`` voxels and overlapping predictions are averaged with
        equal weight (e.g. ``tile=(96, 96, 64)``).
    progress : a progress bar over tiles.

    Returns
    -------
    float32 (X, Y, Z) map, 0 outside the box (and outside the brain mask with ``brain_only``), as :func:`~strokelib.inference.patches.predict_case`.
    """
    models = as_models(models)
    images, lo, hi = _brain_box(case)
    box = hi - lo
    padded = tuple(int(-(-b // 8) * 8) for b in box)
    tile_shape, corners = _tiles(tile, overlap, padded)
    device = model_device(models, device)
    precision = inference_precision(models, device, precision).precision
    src = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    volume = torch.zeros((1, images.shape[0], *padded), dtype=torch.float32, device=device)
    volume[(slice(None), slice(None), *(slice(0, int(b)) for b in box))] = torch.from_numpy(
        np.ascontiguousarray(images[(slice(None), *src)])).to(device)
    total = torch.zeros(padded, dtype=torch.float32, device=device)
    count = torch.zeros(padded, dtype=torch.float32, device=device)
    log.debug("case %s: whole-volume box %s in %d tile(s) of %s on %s (%d model(s))", case.case_id, padded, len(corners),
             tile_shape, device, len(models))
    channels_last = channels_last_helps(device)
    with eval_mode(models, device, channels_last), torch.inference_mode():
        for corner in progress_bar(corners, desc=f"case {case.case_id}", unit="tile", disable=not progress, leave=False):
            region = tuple(slice(c, c + t) for c, t in zip(corner, tile_shape, strict=True))
            x = volume[(slice(None), slice(None), *region)]
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last_3d)
            total[region] += ensemble_forward(models, x, tile_shape, case.case_id, case.modalities, precision)[0]
            count[region] += 1.0
    probability = np.zeros(images.shape[1:], dtype=np.float32)
    probability[src] = (total / count.clamp_min(1.0))[tuple(slice(0, int(b)) for b in box)].cpu().numpy()
    if brain_only:
        probability[~np.asarray(case.brain_mask, dtype=bool)] = 0.0
    return probability
