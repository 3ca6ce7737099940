"""Voxel-size handling: resample a case to the voxel size the models were trained at, and maps back (§2.1, §2.2).

SUNet is trained on patches of a fixed number of voxels (24×24×16, §3.3), so its receptive field is a fixed size in
voxels, not in millimetres: ISLES 2015 SISS is 1 mm isotropic and SPES 2 mm. A case of another voxel size is
resampled to the models' spacing (checkpoint ``meta["spacing"]``, :func:`training.training_spacing`) before
prediction, and the probability map is brought back onto the input grid afterwards.

All grids here are the RAS+ case grids of :mod:`strokelib.data.cases`; world coordinates come from ``Case.affine``.
Interpolation (``scipy.ndimage``): images and probability maps linear; the label and the brain mask are 0/1 masks
interpolated linearly and kept where ≥ 0.5, which keeps their volume better than nearest neighbour when the grid
shrinks or grows by a non-integer factor. Samples outside the source grid take the nearest edge value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ..errors import ConfigError, InferenceError

if TYPE_CHECKING:
    from .cases import Case

SPACING_TOLERANCE = 0.05  # relative difference per axis under which two voxel sizes count as the same


def _spacing(value, name: str) -> np.ndarray:
    spacing = np.asarray(getattr(value, "spacing", value), dtype=float).reshape(-1)
    if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ConfigError(f"{name} must be three positive voxel sizes in mm (X, Y, Z), e.g. (2.0, 2.0, 2.0); got {value!r}")
    return spacing


def spacing_differs(a, b, tol: float = SPACING_TOLERANCE) -> bool:
    """Whether voxel sizes ``a`` and ``b`` (3 mm values, or cases) differ by more than ``tol`` (relative) on any axis."""
    sa, sb = _spacing(a, "spacing a"), _spacing(b, "spacing b")
    return bool(np.any(np.abs(sa - sb) > tol * np.minimum(sa, sb)))


def format_spacing(spacing) -> str:
    """``"2×2×2 mm"`` for printing a voxel size."""
    return "×".join(f"{s:g}" for s in np.round(_spacing(spacing, "spacing"), 4)) + " mm"


def _sample(array: np.ndarray, matrix: np.ndarray, offset: np.ndarray, shape: Sequence[int], order: int) -> np.ndarray:
    """``array`` sampled at source voxel ``matrix @ j + offset`` for every target voxel ``j`` (scipy.ndimage)."""
    return ndimage.affine_transform(np.asarray(array, dtype=np.float32), matrix, offset, output_shape=tuple(shape),
                                    order=order, mode="nearest", prefilter=False)


def _binary(mask: np.ndarray, matrix, offset, shape) -> np.ndarray:
    return _sample(np.asarray(mask, dtype=np.float32), matrix, offset, shape, 1) >= 0.5


def resample_case(case: Case, spacing: Sequence[float]) -> Case:
    """``case`` on a grid of voxel size ``spacing`` (mm, RAS axes) covering the same field of view.

    The new grid has ``round(shape · old / new)`` voxels per axis, its outer voxel faces on the old ones (the
    field of view is kept, its centre fixed). Images are interpolated linearly, the label and the brain mask as
    0/1 masks (module docstring); ``affine``, ``spacing`` and the header zooms are updated. The result is a case of
    its own grid: :func:`files.save_nifti` writes it on that grid (RAS+), not on the input file's; bring maps
    back to the input with :func:`resample_to` / :func:`probability_to_input`.
    """
    new = _spacing(spacing, "spacing")
    old = _spacing(case.spacing, f"case {case.case_id} spacing")
    ratio = new / old  # old voxels per new voxel
    shape = np.maximum(np.round(np.asarray(case.shape) / ratio), 1).astype(int)
    offset = -0.5 + 0.5 * ratio  # new voxel j lies at old voxel coordinate ratio·j + offset
    matrix = np.diag(ratio)
    step = np.eye(4)
    step[:3, :3] = matrix
    step[:3, 3] = offset
    affine = np.asarray(case.affine, dtype=np.float64) @ step
    images = np.stack([_sample(v, matrix, offset, shape, 1) for v in np.asarray(case.images)])
    label = None if case.label is None else _binary(case.label, matrix, offset, shape).astype(np.uint8)
    header = None
    if case.header is not None:
        header = case.header.copy()
        header.set_data_shape(tuple(int(s) for s in shape))
        header.set_zooms(tuple(float(s) for s in new))
        header.set_qform(affine, code=int(case.header["qform_code"]) or 1)
        header.set_sform(affine, code=int(case.header["sform_code"]) or 1)
    return dataclasses.replace(
        case, images=images, label=label, affine=affine, spacing=tuple(float(s) for s in new),
        brain_mask=_binary(case.brain_mask, matrix, offset, shape), header=header, source_affine=affine, source_ornt=None,
    )


def resample_to(array: np.ndarray, source: Case, target: Case, order: int = 1) -> np.ndarray:
    """An (X, Y, Z) ``array`` on ``source``'s grid sampled onto ``target``'s grid through their affines (world mm).

    ``order`` 1 (linear, for images and probability maps) or 0 (nearest, for label maps). Returns float32 of
    ``target.shape``; points outside ``source``'s grid take its nearest edge value.
    """
    array = np.asarray(array)
    if array.shape != tuple(source.shape):
        raise InferenceError(f"case {source.case_id}: array shape {array.shape} differs from the case grid {source.shape}")
    if order not in (0, 1):
        raise ConfigError(f"order must be 0 (nearest) or 1 (linear), not {order!r}")
    to_source = np.linalg.inv(np.asarray(source.affine, dtype=np.float64)) @ np.asarray(target.affine, dtype=np.float64)
    return _sample(array, to_source[:3, :3], to_source[:3, 3], target.shape, order)


def probability_to_input(probability: np.ndarray, model_case: Case, input_case: Case) -> np.ndarray:
    """A probability map predicted on ``model_case`` (the input resampled by :func:`resample_case`) on ``input_case``'s
    grid: linear interpolation, clipped to [0, 1], 0 outside ``input_case``'s brain mask (as ``predict_case``)."""
    back = np.clip(resample_to(probability, model_case, input_case, order=1), 0.0, 1.0)
    back[~np.asarray(input_case.brain_mask, dtype=bool)] = 0.0
    return back.astype(np.float32, copy=False)
