"""Probability maps from overlapping patches, averaged over patches and fold models (paper §3.5; ``docs/released-code.md#prediction``).

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

Precision: ``precision="auto"`` runs bf16 autocast on CUDA, and on a CPU only where it computes bf16 natively and a
calibration on the model measured bf16 faster (:func:`inference_precision`, :mod:`strokelib.model.precision`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import PAPER
from ..errors import ConfigError, InferenceError
from ..model.checkpoints import channels_last_helps
from ..model.precision import PrecisionChoice, autocast, choose_precision
from ..progress import progress_bar
from ..sampling.patches import grid_centres

if TYPE_CHECKING:
    from ..data.cases import Case

log = logging.getLogger(__name__)

GATHER_MODES = ("auto", "runs", "index")


def triple(value, name: str) -> tuple[int, int, int]:
    """``value`` as three positive whole numbers (X, Y, Z); a :class:`ConfigError` naming ``name`` otherwise."""
    values = tuple(int(v) for v in np.atleast_1d(value))
    if len(values) != 3 or any(v < 1 for v in values) or not np.allclose(np.atleast_1d(value), values):
        raise ConfigError(f"{name} must be three positive whole numbers (X, Y, Z), e.g. {PAPER.patch_shape}; got {value!r}")
    return values


def as_models(models) -> list[nn.Module]:
    """One model or a sequence of fold models as a non-empty list of modules."""
    models = [models] if isinstance(models, nn.Module) else list(models)
    if not models:
        raise InferenceError("no model given: pass a trained model, or the list of fold models to ensemble")
    for m in models:
        if not isinstance(m, nn.Module):
            raise InferenceError(f"models must be torch.nn.Module instances, got {type(m).__name__}")
    return models


def model_device(models: list[nn.Module], device) -> torch.device:
    """``device`` when given, else the device of the first model's weights (CPU for a model without any)."""
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


def patch_coverage(starts: Tensor, extent: tuple[int, int, int], patch: tuple[int, int, int]) -> Tensor:
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


def ensemble_forward(models: list[nn.Module], x: Tensor, patch, case_id: str, modalities, precision: str) -> Tensor:
    """Mean lesion-class softmax of all models for one batch (the fold ensemble, §3.5), the network run in
    ``precision`` (``fp32``, or ``bf16``/``fp16`` autocast); the softmax is computed in fp32."""
    prob = None
    with autocast(x.device.type, precision):
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


@contextlib.contextmanager
def eval_mode(models: list[nn.Module], device: torch.device, channels_last: bool = False) -> Iterator[None]:
    """Run ``models`` on ``device`` in eval mode (``channels_last_3d`` weights when asked); their training flags are
    restored afterwards."""
    states = [m.training for m in models]
    try:
        for m in models:
            m.to(device).eval()
            if channels_last:
                m.to(memory_format=torch.channels_last_3d)
        yield
    finally:
        for m, state in zip(models, states, strict=True):
            m.train(state)


def _checked_images(case: Case) -> np.ndarray:
    """The case's images as float32 (C, X, Y, Z), checked against its (X, Y, Z) brain mask."""
    images = np.asarray(case.images, dtype=np.float32)
    if images.ndim != 4 or np.shape(case.brain_mask) != images.shape[1:]:
        raise InferenceError(
            f"case {case.case_id}: images have shape {images.shape} and the brain mask {np.shape(case.brain_mask)}; "
            "expected (C, X, Y, Z) images and an (X, Y, Z) mask"
        )
    return images


@dataclass
class _Box:
    """The box the patches reach, zero-padded where it leaves the volume, on the device in (X, Y, Z, C) order, with
    the patch corners in it, the running sum of probabilities and how many patches cover each voxel."""

    src: tuple[slice, ...]
    dst: tuple[slice, ...]
    extent: tuple[int, int, int]
    volume: Tensor
    starts: np.ndarray
    starts_dev: Tensor
    total: Tensor
    count: Tensor

    @classmethod
    def around(cls, images: np.ndarray, centres: np.ndarray, patch, device: torch.device) -> _Box:
        low = np.array(patch) // 2
        origin = centres.min(0) - low
        extent = tuple(int(e) for e in centres.max(0) - centres.min(0) + np.array(patch))
        src_lo = np.maximum(origin, 0)
        src_hi = np.minimum(origin + extent, images.shape[1:])
        src = tuple(slice(a, b) for a, b in zip(src_lo, src_hi, strict=True))
        dst = tuple(slice(a - o, b - o) for a, b, o in zip(src_lo, src_hi, origin, strict=True))
        volume = torch.zeros((*extent, images.shape[0]), dtype=torch.float32, device=device)
        volume[dst] = torch.from_numpy(np.ascontiguousarray(images[(slice(None), *src)])).to(device).permute(1, 2, 3, 0)
        starts = centres - centres.min(0)  # patch corners in the box
        starts_dev = torch.from_numpy(starts).to(device)
        total = torch.zeros(extent, dtype=torch.float32, device=device)
        return cls(src, dst, extent, volume, starts, starts_dev, total, patch_coverage(starts_dev, extent, patch))


def _index_windows(box: _Box, patch) -> tuple[Tensor, Tensor]:
    """``"index"`` gather: every patch of the box as a strided view (indexed by corner), and the flat offsets of
    one patch's voxels in the box (to put a batch back with one ``index_add_``)."""
    volume, extent, device = box.volume, box.extent, box.volume.device
    windows = volume.as_strided(
        (*(e - p + 1 for e, p in zip(extent, patch, strict=True)), *patch, volume.shape[3]), (*volume.stride()[:3], *volume.stride())
    )
    offsets = (
        torch.arange(patch[0], device=device)[:, None, None] * (extent[1] * extent[2])
        + torch.arange(patch[1], device=device)[None, :, None] * extent[2]
        + torch.arange(patch[2], device=device)[None, None, :]
    ).reshape(-1)
    return windows, offsets


def _sum_patches(models: list[nn.Module], case: Case, box: _Box, patch, step, batch_size: int, gather: str,
                 precision: str, progress: bool) -> None:
    """Run every patch of the box through the models and add its lesion probabilities into ``box.total``."""
    starts, starts_dev, extent = box.starts, box.starts_dev, box.extent
    if gather == "index":
        windows, offsets = _index_windows(box, patch)
        flat_total = box.total.view(-1)
    else:
        buffer = torch.empty((min(int(batch_size), len(starts)), *patch, box.volume.shape[3]), dtype=torch.float32,
                             device=box.volume.device)
    with torch.inference_mode():
        for first in progress_bar(range(0, len(starts), batch_size), desc=f"case {case.case_id}", unit="batch",
                          disable=not progress, leave=False):
            batch = starts[first : first + batch_size]
            if gather == "index":
                b = starts_dev[first : first + batch_size]
                x = windows[b[:, 0], b[:, 1], b[:, 2]]
            else:
                runs = _runs(batch, step[2])
                x = buffer[: len(batch)]
                _gather_runs(box.volume, runs, patch, step[2], x)
            prob = ensemble_forward(models, x.permute(0, 4, 1, 2, 3), patch, case.case_id, case.modalities, precision)
            if gather == "index":
                base = (b[:, 0] * extent[1] + b[:, 1]) * extent[2] + b[:, 2]
                flat_total.index_add_(0, (base[:, None] + offsets).reshape(-1), prob.reshape(-1))
            else:
                _accumulate_runs(box.total, runs, prob, patch, step[2])


def default_batch_size(device: torch.device) -> int:
    """Patches per forward pass when none is given: 64 on a CPU (as the released code; larger batches were no
    faster there) and 2048 on CUDA, where the non-network share of the time falls from 9 % (batch 64) to under 5 %
    on an H200."""
    return 2048 if device.type == "cuda" else 64


def inference_precision(models: nn.Module | Sequence[nn.Module], device=None, precision: str = "auto",
                        batch_size: int | None = None, patch_shape: Sequence[int] = PAPER.patch_shape) -> PrecisionChoice:
    """The precision inference with ``models`` runs in on ``device`` (None: the first model's) and why
    (:func:`strokelib.model.precision.choose_precision`, mode ``inference``): on a CPU with native bf16, ``auto``
    calibrates the first model at ``batch_size`` (default :func:`default_batch_size`) and ``patch_shape``."""
    models = as_models(models)
    device = model_device(models, device)
    return choose_precision(device, precision, "inference", models[0], batch_size or default_batch_size(device),
                            triple(patch_shape, "patch_shape"))


def predict_case(
    models: nn.Module | Sequence[nn.Module],
    case: Case,
    patch_shape: Sequence[int] = PAPER.patch_shape,
    step: Sequence[int] = PAPER.inference_step,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    gather: str = "auto",
    precision: str = "auto",
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
    precision : ``auto`` (bf16 autocast on CUDA; on a CPU bf16 only where it is native and was measured faster,
        :func:`inference_precision`), ``fp32``, ``bf16`` or ``fp16``.
    brain_only : set the map to 0 outside the brain mask (as the released code saved ``probs * foreground``):
        patches reach into the background, where the network has no lesion to find.

    Returns
    -------
    float32 (X, Y, Z) map; 0 where no patch reaches. Save it with ``files.save_nifti(prob, case, path)``,
    which copies the case's own header and affine.
    """
    models = as_models(models)
    patch, step = triple(patch_shape, "patch_shape"), triple(step, "step")
    if gather not in GATHER_MODES:
        raise ConfigError(f"gather must be one of {GATHER_MODES}, not {gather!r}")
    if batch_size is not None and int(batch_size) < 1:
        raise ConfigError(f"batch_size must be at least 1, not {batch_size!r}")
    images = _checked_images(case)
    centres = grid_centres(case.brain_mask, patch, step)
    if len(centres) == 0:
        raise InferenceError(
            f"case {case.case_id}: the brain mask is empty, so there is nowhere to put patches; "
            "check the images are not all zero (datasets.load_isles2015 builds the mask from them)"
        )
    device = model_device(models, device)
    if gather == "auto":
        gather = "index" if device.type == "cuda" else "runs"
    batch_size = batch_size or default_batch_size(device)
    precision = inference_precision(models, device, precision, batch_size, patch).precision
    box = _Box.around(images, centres, patch, device)
    log.debug("case %s: %d patches of %s on %s (%s gather, %s, %d model(s))", case.case_id, len(box.starts), patch,
              device, gather, precision, len(models))
    with eval_mode(models, device, channels_last=channels_last_helps(device)):
        _sum_patches(models, case, box, patch, step, batch_size, gather, precision, progress)
    probability = np.zeros(images.shape[1:], dtype=np.float32)
    probability[box.src] = (box.total / box.count.clamp_min(1.0))[box.dst].cpu().numpy()
    if brain_only:
        probability[~np.asarray(case.brain_mask, dtype=bool)] = 0.0
    return probability
