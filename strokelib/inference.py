"""Whole-volume prediction from overlapping patches, and the fold ensemble (paper §3.5; ``docs/released-code.md#prediction``).

Patches of 24×24×16 voxels are centred on every brain voxel of a regular grid with step 4×4×1, so an interior
voxel is seen by 6·6·16 = 576 patches. Each patch goes through the network, its softmax lesion probability is put
back where the patch came from, and every voxel gets the plain (equal-weight) mean over the patches that cover
it. The folds' models are averaged the same way: the mean of their softmax outputs per patch, which equals the
mean of their maps. Voxels covered by no patch get probability 0.

Conventions: a patch centred on ``c`` covers ``[c − p//2, c − p//2 + p)`` on each axis and reads zeros outside the
volume; centres are the brain-mask voxels whose indices are multiples of the step. The released code nudged
border centres inwards, which duplicated them (``docs/released-code.md#prediction``); here every centre is used exactly once.

Speed: the case is copied once to the model's device in channels-last order (X, Y, Z, C), so each patch row is a
single contiguous block and a batch reaches the network as a ``channels_last_3d`` tensor. Two ways of moving
patches are implemented (``gather=``): ``"runs"`` copies each run of consecutive z-centres as one strided view and
puts the probabilities back with one ``fold`` per run; ``"index"`` gathers the batch with one advanced-indexing
call and puts it back with one ``index_add_``. Both give the same map; ``benchmarks/inference.py`` times them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import provenance
from .config import PAPER
from .errors import ConfigError, InferenceError
from .geometry import spacing_differs
from .sampling import grid_centres

if TYPE_CHECKING:
    from .datasets import Case

log = logging.getLogger(__name__)

GATHER_MODES = ("auto", "runs", "index")
_VSD_ID = re.compile(r"\.(\d+)(?:\.nii(?:\.gz)?)?$")


def _triple(value, name: str) -> tuple[int, int, int]:
    values = tuple(int(v) for v in np.atleast_1d(value))
    if len(values) != 3 or any(v < 1 for v in values) or not np.allclose(np.atleast_1d(value), values):
        raise ConfigError(f"{name} must be three positive whole numbers (X, Y, Z), e.g. {PAPER.patch_shape}; got {value!r}")
    return values


def _as_models(models) -> list[nn.Module]:
    models = [models] if isinstance(models, nn.Module) else list(models)
    if not models:
        raise InferenceError("no model given: pass a trained model, or the list of fold models to ensemble")
    for m in models:
        if not isinstance(m, nn.Module):
            raise InferenceError(f"models must be torch.nn.Module instances, got {type(m).__name__}")
    return models


def _resolve_device(models: list[nn.Module], device) -> torch.device:
    if device is not None:
        return torch.device(device)
    param = next(models[0].parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _window_sum(t: Tensor, size: int, dim: int) -> Tensor:
    """Sum of ``t`` over the window ``[i − size + 1, i]`` along ``dim`` (a box filter through cumulative sums)."""
    c = t.cumsum(dim)
    n = t.shape[dim]
    if size < n:
        c[(slice(None),) * dim + (slice(size, None),)] -= c.narrow(dim, 0, n - size).clone()
    return c


def _coverage(starts: Tensor, extent: tuple[int, int, int], patch: tuple[int, int, int]) -> Tensor:
    """How many patches cover each voxel: a box filter of the patch-start indicator, no patch loop needed."""
    count = torch.zeros(extent, dtype=torch.float32, device=starts.device)
    count[starts[:, 0], starts[:, 1], starts[:, 2]] = 1.0
    for dim, size in enumerate(patch):
        count = _window_sum(count, size, dim)
    return count


def _runs(starts: np.ndarray, step_z: int) -> list[tuple[int, int, int, int, int]]:
    """Split a batch of starts into runs along z: (first, end, x, y, z) for each run of consecutive z-centres."""
    jump = (np.diff(starts[:, 0]) != 0) | (np.diff(starts[:, 1]) != 0) | (np.diff(starts[:, 2]) != step_z)
    first = np.concatenate([[0], np.flatnonzero(jump) + 1])
    end = np.concatenate([first[1:], [len(starts)]])
    return [(f, e, *s) for f, e, s in zip(first.tolist(), end.tolist(), starts[first].tolist(), strict=True)]


def _gather_runs(volume: Tensor, runs, patch, step_z: int, out: Tensor) -> None:
    """Copy each run's patches, one strided view per run, into ``out`` (n, px, py, pz, C)."""
    sx, sy, sz, sc = volume.stride()
    for first, end, x, y, z in runs:
        view = volume.as_strided(
            (end - first, *patch, volume.shape[3]),
            (step_z * sz, sx, sy, sz, sc),
            volume.storage_offset() + x * sx + y * sy + z * sz,
        )
        out[first:end].copy_(view)


def _accumulate_runs(total: Tensor, runs, prob: Tensor, patch, step_z: int) -> None:
    """Add each run's patch probabilities into ``total``; ``fold`` does the overlap-add along z."""
    px, py, pz = patch
    for first, end, x, y, z in runs:
        n = end - first
        length = (n - 1) * step_z + pz
        columns = prob[first:end].permute(1, 2, 3, 0).reshape(1, px * py * pz, n)
        summed = F.fold(columns, (1, length), (1, pz), stride=(1, step_z))
        total[x : x + px, y : y + py, z : z + length] += summed.view(px, py, length)


def _forward(models: list[nn.Module], x: Tensor, patch, case_id: str, modalities, amp: bool) -> Tensor:
    """Mean lesion-class softmax of all models for one batch (the fold ensemble, §3.5)."""
    prob = None
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=amp):
        for model in models:
            try:
                logits = model(x)
            except RuntimeError as exc:
                raise InferenceError(
                    f"case {case_id}: the model failed on a batch of shape {tuple(x.shape)} ({exc}). The case has "
                    f"{x.shape[1]} channels ({', '.join(modalities)}); check the model was trained with the same "
                    "modalities (add the symmetric ones if it was)"
                ) from exc
            if logits.ndim != 5 or logits.shape[0] != x.shape[0] or logits.shape[1] < 2 or tuple(logits.shape[2:]) != patch:
                raise InferenceError(
                    f"case {case_id}: the model returned shape {tuple(logits.shape)} for input {tuple(x.shape)}; "
                    f"predict_case needs logits of shape (B, 2, {', '.join(map(str, patch))}) from a fully convolutional model"
                )
            if logits.shape[1] == 2:  # softmax of two classes, without computing the healthy one
                p = torch.sigmoid(logits[:, 1].float() - logits[:, 0].float())
            else:
                p = torch.softmax(logits.float(), dim=1)[:, 1]
            prob = p if prob is None else prob + p
    return prob / len(models) if len(models) > 1 else prob


def predict_case(
    models: nn.Module | Sequence[nn.Module],
    case: Case,
    patch_shape: Sequence[int] = PAPER.patch_shape,
    step: Sequence[int] = PAPER.inference_step,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    gather: str = "auto",
    amp: bool = True,
    brain_only: bool = True,
) -> np.ndarray:
    """Lesion probability map of one prepared case from overlapping patches, averaged over patches and models (§3.5).

    Parameters
    ----------
    models : one model or the fold models of an ensemble; each maps (B, C, *patch) to logits (B, 2, *patch).
        They are moved to ``device`` and run in eval mode (their training flag is restored afterwards).
    case : a normalised case whose channels are what the models expect (symmetric modalities already added).
    patch_shape, step : patch size and grid step in voxels (paper: 24×24×16 and 4×4×1).
    batch_size : patches per forward pass; None = 64 on a CPU (as the released code) and 2048 on CUDA.
    device : where patches are gathered, run and accumulated; None = the first model's device.
    gather : ``"runs"``, ``"index"`` or ``"auto"`` (runs on CPU, index on GPU); see the module docstring.
    amp : bfloat16 autocast on CUDA; ignored on CPU.
    brain_only : set the map to 0 outside the brain mask (as the released code saved ``probs * foreground``):
        patches reach into the background, where the network has no lesion to find.

    Returns
    -------
    float32 (X, Y, Z) map; 0 where no patch reaches. Save it with ``datasets.save_nifti(prob, case, path)``,
    which copies the case's own header and affine.
    """
    models = _as_models(models)
    patch, step = _triple(patch_shape, "patch_shape"), _triple(step, "step")
    if gather not in GATHER_MODES:
        raise ConfigError(f"gather must be one of {GATHER_MODES}, not {gather!r}")
    if batch_size is not None and int(batch_size) < 1:
        raise ConfigError(f"batch_size must be at least 1, not {batch_size!r}")
    images = np.asarray(case.images, dtype=np.float32)
    if images.ndim != 4 or np.shape(case.brain_mask) != images.shape[1:]:
        raise InferenceError(
            f"case {case.case_id}: images have shape {images.shape} and the brain mask {np.shape(case.brain_mask)}; "
            "expected (C, X, Y, Z) images and an (X, Y, Z) mask"
        )
    centres = grid_centres(case.brain_mask, patch, step)
    if len(centres) == 0:
        raise InferenceError(
            f"case {case.case_id}: the brain mask is empty, so there is nowhere to put patches; "
            "check the images are not all zero (datasets.load_isles2015 builds the mask from them)"
        )
    device = _resolve_device(models, device)
    if gather == "auto":
        gather = "index" if device.type == "cuda" else "runs"
    if batch_size is None:  # on an H200 the non-network share falls from 9 % (batch 64) to under 5 % (batch 2048)
        batch_size = 2048 if device.type == "cuda" else 64
    amp = amp and device.type == "cuda"

    # Work on the box the patches reach, zero-padded where it leaves the volume.
    low = np.array(patch) // 2
    origin = centres.min(0) - low
    extent = tuple(int(e) for e in centres.max(0) - centres.min(0) + np.array(patch))
    src_lo = np.maximum(origin, 0)
    src_hi = np.minimum(origin + extent, images.shape[1:])
    src = tuple(slice(a, b) for a, b in zip(src_lo, src_hi, strict=True))
    dst = tuple(slice(a - o, b - o) for a, b, o in zip(src_lo, src_hi, origin, strict=True))
    n_channels = images.shape[0]
    volume = torch.zeros((*extent, n_channels), dtype=torch.float32, device=device)
    volume[dst] = torch.from_numpy(np.ascontiguousarray(images[(slice(None), *src)])).to(device).permute(1, 2, 3, 0)
    starts = centres - centres.min(0)  # patch corners in the box
    starts_dev = torch.from_numpy(starts).to(device)
    total = torch.zeros(extent, dtype=torch.float32, device=device)
    count = _coverage(starts_dev, extent, patch)
    log.info("case %s: %d patches of %s on %s (%s gather, %d model(s))", case.case_id, len(starts), patch, device, gather, len(models))

    if gather == "index":
        windows = volume.as_strided(
            (*(e - p + 1 for e, p in zip(extent, patch, strict=True)), *patch, n_channels), (*volume.stride()[:3], *volume.stride())
        )
        offsets = (
            torch.arange(patch[0], device=device)[:, None, None] * (extent[1] * extent[2])
            + torch.arange(patch[1], device=device)[None, :, None] * extent[2]
            + torch.arange(patch[2], device=device)[None, None, :]
        ).reshape(-1)
        flat_total = total.view(-1)
    else:
        buffer = torch.empty((min(int(batch_size), len(starts)), *patch, n_channels), dtype=torch.float32, device=device)

    states = [m.training for m in models]
    try:
        for m in models:
            m.to(device).eval()
            if device.type == "cuda":
                m.to(memory_format=torch.channels_last_3d)
        with torch.inference_mode():
            for first in tqdm(range(0, len(starts), batch_size), desc=f"case {case.case_id}", unit="batch",
                              disable=not progress, leave=False):
                batch = starts[first : first + batch_size]
                if gather == "index":
                    b = starts_dev[first : first + batch_size]
                    x = windows[b[:, 0], b[:, 1], b[:, 2]]
                else:
                    runs = _runs(batch, step[2])
                    x = buffer[: len(batch)]
                    _gather_runs(volume, runs, patch, step[2], x)
                prob = _forward(models, x.permute(0, 4, 1, 2, 3), patch, case.case_id, case.modalities, amp)
                if gather == "index":
                    base = (b[:, 0] * extent[1] + b[:, 1]) * extent[2] + b[:, 2]
                    flat_total.index_add_(0, (base[:, None] + offsets).reshape(-1), prob.reshape(-1))
                else:
                    _accumulate_runs(total, runs, prob, patch, step[2])
    finally:
        for m, state in zip(models, states, strict=True):
            m.train(state)

    region = (total / count.clamp_min(1.0))[dst].cpu().numpy()
    probability = np.zeros(images.shape[1:], dtype=np.float32)
    probability[src] = region
    if brain_only:
        probability[~np.asarray(case.brain_mask, dtype=bool)] = 0.0
    return probability


WHOLE_VOLUME_MARGIN = (12, 12, 8)
"""Context kept around the brain's bounding box by :func:`predict_whole_volume`: half a 24×24×16 patch, as far
as the patches of :func:`predict_case` reach past the brain."""
WHOLE_VOLUME_OVERLAP = (16, 16, 8)
"""Default overlap of neighbouring tiles in :func:`predict_whole_volume` (voxels): two down-steps of context."""


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile corners along one axis: every ``tile − overlap`` voxels, the last one flush with the end."""
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return sorted({*starts, length - tile})


def predict_whole_volume(
    models: nn.Module | Sequence[nn.Module],
    case: Case,
    tile: Sequence[int] | None = None,
    overlap: Sequence[int] = WHOLE_VOLUME_OVERLAP,
    device: str | torch.device | None = None,
    progress: bool = True,
    amp: bool = True,
    brain_only: bool = True,
) -> np.ndarray:
    """Lesion probability map of one prepared case from whole-volume forward passes (``--fast``).

    Deviation from the paper: §3.5 (and :func:`predict_case`) averages overlapping 24×24×16 patches (step 4×4×1,
    576 per voxel). SUNet is fully convolutional, so here the brain's bounding box (plus
    :data:`WHOLE_VOLUME_MARGIN`, zero-padded up to a multiple of 8 on each axis) goes through each model once and
    the models' softmax lesion probabilities are averaged. Every voxel then sees the context of the whole volume
    instead of zero padding at patch borders, so the map differs somewhat from the patch map, and it is not
    averaged over shifted patches (``benchmarks/fast_inference.py`` measures the agreement and the speed).

    Parameters
    ----------
    models, case, device, amp, brain_only : as :func:`predict_case`.
    tile : None = one pass over the whole box; else (X, Y, Z) tile size in voxels (multiples of 8) when the box
        does not fit in memory: tiles overlap by ``overlap`` voxels and overlapping predictions are averaged with
        equal weight (e.g. ``tile=(96, 96, 64)``).
    progress : a progress bar over tiles.

    Returns
    -------
    float32 (X, Y, Z) map, 0 outside the box (and outside the brain mask with ``brain_only``), as :func:`predict_case`.
    """
    models = _as_models(models)
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
    box = hi - lo
    padded = tuple(int(-(-b // 8) * 8) for b in box)
    if tile is None:
        tile_shape, over = padded, (0, 0, 0)
    else:
        tile_shape = _triple(tile, "tile")
        if any(t % 8 for t in tile_shape):
            raise ConfigError(f"tile must be multiples of 8 on every axis (SUNet has 3 down-steps); got {tile_shape}")
        over = tuple(int(o) for o in np.atleast_1d(overlap))
        tile_shape = tuple(min(t, p) for t, p in zip(tile_shape, padded, strict=True))
        if len(over) != 3 or any(o < 0 or o >= t for o, t in zip(over, tile_shape, strict=True)):
            raise ConfigError(f"overlap {over} must be at least 0 and smaller than the tile {tile_shape} on every axis")
    corners = [(x, y, z) for x in _tile_starts(padded[0], tile_shape[0], over[0])
               for y in _tile_starts(padded[1], tile_shape[1], over[1])
               for z in _tile_starts(padded[2], tile_shape[2], over[2])]
    device = _resolve_device(models, device)
    amp = amp and device.type == "cuda"
    src = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    volume = torch.zeros((1, images.shape[0], *padded), dtype=torch.float32, device=device)
    volume[(slice(None), slice(None), *(slice(0, int(b)) for b in box))] = torch.from_numpy(
        np.ascontiguousarray(images[(slice(None), *src)])).to(device)
    total = torch.zeros(padded, dtype=torch.float32, device=device)
    count = torch.zeros(padded, dtype=torch.float32, device=device)
    log.info("case %s: whole-volume box %s in %d tile(s) of %s on %s (%d model(s))", case.case_id, padded, len(corners),
             tile_shape, device, len(models))
    states = [m.training for m in models]
    try:
        for m in models:
            m.to(device).eval()
        with torch.inference_mode():
            for corner in tqdm(corners, desc=f"case {case.case_id}", unit="tile", disable=not progress, leave=False):
                region = tuple(slice(c, c + t) for c, t in zip(corner, tile_shape, strict=True))
                x = volume[(slice(None), slice(None), *region)]
                if device.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last_3d)
                total[region] += _forward(models, x, tile_shape, case.case_id, case.modalities, amp)[0]
                count[region] += 1.0
    finally:
        for m, state in zip(models, states, strict=True):
            m.train(state)
    probability = np.zeros(images.shape[1:], dtype=np.float32)
    probability[src] = (total / count.clamp_min(1.0))[tuple(slice(0, int(b)) for b in box)].cpu().numpy()
    if brain_only:
        probability[~mask] = 0.0
    return probability


def smir_id(case: Case) -> str:
    """The ``<id>`` of a SMIR submission name: the numeric VSD id of the case's first modality file.

    That is FLAIR for SISS (as public SISS code does) and DWI for SPES, in ``SISS_MODALITIES``/``SPES_MODALITIES``
    order (``docs/isles2015-data.md#submission-format``: which image's id the platform wants is not documented). Falls back to the case
    id when the file name carries no VSD id (e.g. the authors' flat ``Flair.nii`` layout).
    """
    path = case.files.get(case.modalities[0]) if case.modalities else None
    match = _VSD_ID.search(Path(path).name) if path is not None else None
    if match is None:
        log.warning("case %s: no VSD id in %s; naming the SMIR file with the case id", case.case_id, path)
        return str(case.case_id)
    return match.group(1)


def export_smir(mask: np.ndarray, case: Case, out_dir: str | Path, name: str) -> Path:
    """Write a binary mask as an ISLES 2015 submission file ``SMIR.<name>.<id>.nii`` (``docs/isles2015-data.md#submission-format``).

    Uncompressed NIfTI, uint16 (the official evaluator reads ``unsigned short``), with the case's own header and
    affine (the evaluator rejects any other geometry); ``<id>`` from :func:`smir_id`. Written atomically.
    """
    from .datasets import save_nifti

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", str(name)):
        raise ConfigError(f"SMIR result name {name!r} may hold only letters, digits, '_' and '-' (e.g. 'my_result_01')")
    mask = np.asarray(mask)
    if mask.shape != case.shape:
        raise InferenceError(
            f"case {case.case_id}: mask shape {mask.shape} differs from the case's {case.shape}; export the mask "
            "binarised from this case's own probability map"
        )
    path = Path(out_dir) / f"SMIR.{name}.{smir_id(case)}.nii"
    return save_nifti((mask > 0).astype(np.uint16), case, path, dtype=np.uint16)


# ---------------------------------------------------------------------------------------------------------
# Cross-validated and ensemble prediction (§4.1 and §4.2)
# ---------------------------------------------------------------------------------------------------------


def prepare_for_model(case: Case, meta: dict, cache_dir: str | Path | None = None) -> Case:
    """Prepare a raw case exactly as the model described by ``meta`` was trained (symmetric channels, normalisation)."""
    from .preprocessing import prepare_case

    prepared = prepare_case(case, symmetric=bool(meta.get("symmetric", False)),
                            normalisation=meta.get("normalisation", "brain"), transform=meta.get("transform", "rigid"),
                            cache_dir=cache_dir, reference=meta.get("reference") or None)
    if list(prepared.modalities) != list(meta["modalities"]):
        raise InferenceError(
            f"case {case.case_id}: channels {list(prepared.modalities)} differ from the model's {meta['modalities']}; "
            "use models trained for this task"
        )
    return prepared


def fold_files(folder: str | Path) -> list[Path]:
    """The ``fold<k>.pt`` files in ``folder``, in fold order (empty when there are none or no folder)."""
    folder = Path(folder)
    return sorted(folder.glob("fold[0-9]*.pt"), key=lambda p: int(p.stem[4:])) if folder.is_dir() else []


def fold_checkpoints(out_dir: str | Path, task: str, approach: str) -> list[Path]:
    """The ``fold<k>.pt`` files of one task and approach, in fold order; an error when there is none."""
    from .training import checkpoint_path

    folder = checkpoint_path(out_dir, task, approach, 0).parent
    paths = fold_files(folder)
    if not paths:
        raise InferenceError(
            f"no trained models in {folder}; train them first (notebook 04 or `strokelib train --task {task} "
            f"--approach {approach}`)"
        )
    return paths


MAP_RECORD_SUFFIX = ".json"


def model_set_key(model_digests: Sequence[str], patch_shape: Sequence[int], step: Sequence[int]) -> str:
    """Short hash of a model set (its files' digests), the patch shape and the step: the name of its maps' folder."""
    return provenance.digest({"models": list(model_digests), "patch_shape": list(patch_shape), "step": list(step)})


def probability_folder(out_dir: str | Path, task: str, approach: str, split: str, key: str) -> Path:
    """``<out_dir>/probabilities/<task>/<approach>/<split>-<key>/``: maps of one approach, split (``cv`` for the
    cross-validated training cases, ``test`` for the ensemble on new cases) and model set (``key``,
    :func:`model_set_key`), so maps of other models never meet."""
    return Path(out_dir) / "probabilities" / str(task).upper() / approach / f"{split}-{key}"


def _map_record(case: Case, meta: dict, model_digests: Sequence[str], patch, step) -> dict:
    """What produced one probability map: the case's files, the models' files, patch, step and preparation."""
    return {
        "case_id": str(case.case_id),
        "data": {str(case.case_id): provenance.case_fingerprint(case)},
        "data_root": provenance.data_root([case]),
        "models": list(model_digests),
        "patch_shape": list(patch),
        "step": list(step),
        "preparation": {k: meta.get(k) for k in ("task", "modalities", "symmetric", "normalisation", "transform", "reference")},
        "brain_only": True,
    }


def _load_or_predict(path: Path, models, case: Case, meta: dict, cache_dir, model_digests: Sequence[str],
                     fresh: bool = False, **predict_kwargs) -> np.ndarray:
    """Read a saved probability map when its record matches, or predict and save it (atomically, map then record).

    A map whose record differs stops with a :class:`ProvenanceError` (``fresh=True`` predicts it again); a map
    without a record (an interrupted write, or an older strokelib) is predicted again.
    """
    import nibabel as nib

    from .datasets import save_nifti

    patch = _triple(meta.get("patch_shape", PAPER.patch_shape), "patch_shape")
    step = _triple(predict_kwargs.get("step", PAPER.inference_step), "step")
    record = _map_record(case, meta, model_digests, patch, step)
    record_path = path.with_name(path.name.removesuffix(".nii.gz") + MAP_RECORD_SUFFIX)
    stored = provenance.read_record(record_path)
    if path.is_file() and not fresh:
        if stored is None:
            log.warning("%s has no record of what produced it; predicting it again", path)
        else:
            provenance.check(f"probability map {provenance.display(path)}", stored, record,
                             "choose another outputs_dir, or pass fresh (strokelib run --fresh) to predict it again")
            probability = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
            if probability.shape == case.source_shape:  # written by save_nifti in the input files' voxel order
                return case.from_source(probability)
            log.warning("%s has shape %s, not the case's %s; predicting again", path, probability.shape, case.source_shape)
    record_path.unlink(missing_ok=True)  # a map without its record is never reused
    prepared = prepare_for_model(case, meta, cache_dir)
    probability = predict_case(models, prepared, patch_shape=patch, **predict_kwargs)
    save_nifti(probability, case, path, dtype=np.float32)
    provenance.write_record(record_path, record)
    return probability


def predict_cross_validation(
    cases: Sequence[Case],
    task: str,
    approach: str,
    out_dir: str | Path,
    step: Sequence[int] = PAPER.inference_step,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    fresh: bool = False,
) -> dict[str, np.ndarray]:
    """Probability map of every training case from the model of the fold that held it out (§4.1).

    Maps are saved as ``<case>.nii.gz`` with the case's header in :func:`probability_folder` (split ``cv``, keyed
    by the fold models' files, the patch and the step), each beside a ``<case>.json`` record of what produced it.
    A second run (or notebook 05 after an interruption) predicts only what is missing; a map made from other data
    stops the run (:class:`ProvenanceError`) unless ``fresh``. :func:`cv_map_folder` gives the folder.
    """
    from .training import load_model

    by_id = {c.case_id: c for c in cases}
    paths = fold_checkpoints(out_dir, task, approach)
    digests = [provenance.file_digest(p) for p in paths]
    folder = probability_folder(out_dir, task, approach, "cv", model_set_key(digests, _fold_patch(paths[0]), step))
    maps: dict[str, np.ndarray] = {}
    for path, model_digest in zip(paths, digests, strict=True):
        model, meta = load_model(path, device)
        held_out = [c for c in meta["held_out"] if c in by_id]
        for case_id in tqdm(held_out, desc=f"{approach} fold {meta['fold']}", disable=not progress, leave=False):
            maps[case_id] = _load_or_predict(
                folder / f"{case_id}.nii.gz", model, by_id[case_id], meta, cache_dir, [model_digest], fresh,
                step=step, batch_size=batch_size, device=device, progress=False,
            )
    missing = [c for c in by_id if c not in maps]
    if missing:
        log.warning("cases %s are held out by no trained fold of %s %s; they are not predicted", missing, task, approach)
    return {c: maps[c] for c in by_id if c in maps}


def _fold_patch(path: Path) -> tuple[int, int, int]:
    from .training import load_checkpoint

    return _triple(load_checkpoint(path)["meta"].get("patch_shape", PAPER.patch_shape), "patch_shape")


def cv_map_folder(out_dir: str | Path, task: str, approach: str, step: Sequence[int] = PAPER.inference_step) -> Path:
    """The folder :func:`predict_cross_validation` writes the maps of the current fold models to."""
    paths = fold_checkpoints(out_dir, task, approach)
    key = model_set_key([provenance.file_digest(p) for p in paths], _fold_patch(paths[0]), _triple(step, "step"))
    return probability_folder(out_dir, task, approach, "cv", key)


def early_stopping_protocol(out_dir: str | Path, task: str, approach: str) -> str:
    """How the fold models of one approach were early-stopped, as tables name it (``training.EARLY_STOPPING_LABELS``)."""
    from .training import EARLY_STOPPING_LABELS, load_checkpoint

    modes = {load_checkpoint(p)["meta"].get("early_stopping", "inner") for p in fold_checkpoints(out_dir, task, approach)}
    return "; ".join(EARLY_STOPPING_LABELS.get(m, m) for m in sorted(modes))


def cv_folds(out_dir: str | Path, task: str, approach: str) -> dict[str, int]:
    """{case id: fold} of the trained folds of one approach (the cases each fold held out)."""
    from .training import load_checkpoint

    return {str(c): int(state["meta"]["fold"]) for path in fold_checkpoints(out_dir, task, approach)
            for state in [load_checkpoint(path)] for c in state["meta"]["held_out"]}


def load_models(folder: str | Path, device=None) -> tuple[list[nn.Module], dict]:
    """Every ``fold<k>.pt`` model in ``folder`` (a self-describing models folder), and the meta they share.

    ``meta["spacing"]`` is the voxel size (mm, RAS axes) and ``meta["orientation"]`` the voxel order (``"RAS"``)
    the models were trained at (:func:`training.training_spacing`); both are None for checkpoints written before
    strokelib recorded them. Folds trained at different voxel sizes are refused.
    """
    from .training import load_model

    folder = Path(folder)
    paths = fold_files(folder)
    if not paths:
        raise InferenceError(f"no fold<k>.pt models in {folder}; point --models at outputs/<profile>/models/<task>/<approach>")
    loaded = [load_model(p, device) for p in paths]
    metas = [m for _, m in loaded]
    for key in ("task", "modalities", "symmetric", "normalisation", "patch_shape", "orientation"):
        if any(m.get(key) != metas[0].get(key) for m in metas):
            raise InferenceError(f"the fold models in {folder} disagree on {key}; retrain them with one setting")
    spacings = [m.get("spacing") for m in metas]
    if any((s is None) != (spacings[0] is None) or (s is not None and spacing_differs(s, spacings[0])) for s in spacings):
        raise InferenceError(f"the fold models in {folder} were trained at different voxel sizes {spacings}; "
                             "retrain them on cases of one voxel size")
    return [model for model, _ in loaded], {**metas[0], "model_files": [provenance.file_digest(p) for p in paths]}


def load_ensemble(out_dir: str | Path, task: str, approach: str, device=None) -> tuple[list[nn.Module], dict]:
    """Every fold model of one approach under ``out_dir``, for the §4.2 ensemble, and the meta they share."""
    return load_models(fold_checkpoints(out_dir, task, approach)[0].parent, device)


POSTPROCESSING_FILE = "postprocessing.json"


def save_postprocessing(models_dir: str | Path, threshold: float, min_size: int, source: str) -> Path:
    """Store the grid-searched Th and S_min beside the fold models, so a models folder is self-describing."""
    import json

    from .files import write_text

    record = {"threshold": float(threshold), "min_size": int(min_size), "selected_on": source}
    return write_text(Path(models_dir) / POSTPROCESSING_FILE, json.dumps(record, indent=2) + "\n")


def load_postprocessing(models_dir: str | Path) -> dict:
    """Th and S_min stored by :func:`save_postprocessing`; a clear error when notebook 05 has not chosen them yet."""
    import json

    path = Path(models_dir) / POSTPROCESSING_FILE
    if not path.is_file():
        raise InferenceError(
            f"{path} not found: run notebook 05 on these models to choose Th and S_min by grid search, "
            "or pass --threshold and --min-size"
        )
    return json.loads(path.read_text())


def predict_ensemble(
    cases: Sequence[Case],
    models: Sequence[nn.Module],
    meta: dict,
    out_dir: str | Path,
    name: str | None = None,
    step: Sequence[int] = PAPER.inference_step,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    fresh: bool = False,
) -> dict[str, np.ndarray]:
    """Probability maps of new cases (e.g. the challenge test set) from the mean of all fold models (§4.2).

    Saved in :func:`probability_folder` with split ``test``, per approach (``name``, default the models' approach)
    and model set (``meta["model_files"]`` from :func:`load_models`), each map beside its record; reused only when
    the record matches (see :func:`predict_cross_validation`).
    """
    task = meta["task"]
    name = name or meta.get("approach", "ensemble")
    digests = meta.get("model_files") or [provenance.array_digest(*[v.detach().cpu().numpy() for v in m.state_dict().values()])
                                          for m in models]
    folder = probability_folder(out_dir, task, name, "test",
                                model_set_key(digests, _triple(meta.get("patch_shape", PAPER.patch_shape), "patch_shape"),
                                              _triple(step, "step")))
    return {
        case.case_id: _load_or_predict(folder / f"{case.case_id}.nii.gz", list(models), case, meta, cache_dir, digests,
                                       fresh, step=step, batch_size=batch_size, device=device, progress=False)
        for case in tqdm(cases, desc=f"{task} ensemble", disable=not progress, leave=False)
    }


def trained_approaches(out_dir: str | Path, task: str, approaches: Sequence[str]) -> list[str]:
    """The approaches among ``approaches`` that have at least one fold model under ``out_dir`` (logs the others)."""
    from .training import checkpoint_path

    found = [a for a in approaches if fold_files(checkpoint_path(out_dir, task, a, 0).parent)]
    missing = [a for a in approaches if a not in found]
    if missing:
        log.warning("no %s models for %s under %s; train them in notebook 04 to add their rows", task, ", ".join(missing), out_dir)
    if not found:
        raise InferenceError(f"no trained {task} models under {out_dir}; run notebook 04 (or `strokelib train`) first")
    return found
