"""Figures of notebook 02 (paper §3.1, Figure 1): the symmetric modalities, a check of the registration and the
difference to the mirror."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .base import _finish, _robust_limits, _slice, lesion_slices


def _base_modalities(case) -> list[str]:
    return [m for m in case.modalities if not m.startswith("sym_") and f"sym_{m}" in case.modalities]


def _plane_line(ax, plane_voxel, z_index: int, shape, **style) -> None:
    """Draw where a plane (point, normal in voxel indices) cuts axial slice ``z_index`` (display of :func:`_slice`)."""
    point, normal = (np.asarray(v, float) for v in plane_voxel)
    if abs(normal[0]) < 1e-6:
        return
    y = np.array([0.0, shape[1] - 1.0])
    x = (normal @ point - normal[1] * y - normal[2] * z_index) / normal[0]
    ax.plot(x, shape[1] - 1 - y, **style)  # rot90: column = x, row = Y-1-y


def symmetric_modalities_figure(case, z_index: int | None = None, output_file=None):
    """Figure 1 of the paper: provided modalities (top row) and their symmetric versions (bottom row), one axial
    slice through the lesion; 2×4 for SISS, 2×7 for SPES. ``case`` must carry the ``sym_*`` channels."""
    names = _base_modalities(case)
    if not names:
        raise ValueError(f"case {case.case_id} has no sym_* channels; run preprocessing.add_symmetric_modalities first")
    z = lesion_slices(case)[2] if z_index is None else z_index
    aspect = case.shape[1] / case.shape[0]  # displayed height / width of an axial slice
    fig, axes = plt.subplots(2, len(names), figsize=(2.4 * len(names), 4.8 * aspect + 1.4), squeeze=False)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for c, name in enumerate(names):
        lo, hi = _robust_limits(case.channel(name), case.brain_mask)
        for r, channel in enumerate((name, f"sym_{name}")):
            ax = axes[r, c]
            ax.imshow(_slice(case.channel(channel), "axial", z), cmap="gray", vmin=lo, vmax=hi)
            label = channel if r == 0 else f"Sym. {name}"
            ax.set_title(f"({letters[r * len(names) + c]}) {label}", fontsize=9)
            ax.axis("off")
    fig.suptitle(f"case {case.case_id}: provided and symmetric modalities, axial slice {z}", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def registration_check(case, modality: str | None = None, z_index: int | None = None, squares: int = 8,
                       plane_voxel=None, true_plane_voxel=None, output_file=None):
    """Judge the flip registration: checkerboards of the original with the naive array flip and with the registered
    mirror (edges should continue across squares), and the mirror's edges drawn on the original.

    ``plane_voxel``/``true_plane_voxel``: (point, normal) in voxel indices, drawn as the recovered (cyan) and true
    (yellow, dashed) mid-sagittal lines on the last panel.
    """
    names = _base_modalities(case)
    modality = modality or names[0]
    z = lesion_slices(case)[2] if z_index is None else z_index
    original = case.channel(modality)
    lo, hi = _robust_limits(original, case.brain_mask)
    orig2d = _slice(original, "axial", z)
    naive2d = _slice(original[::-1], "axial", z)
    sym2d = _slice(case.channel(f"sym_{modality}"), "axial", z)
    rows, cols = np.indices(orig2d.shape)
    size = max(1, max(orig2d.shape) // squares)
    board = ((rows // size + cols // size) % 2).astype(bool)
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.0))
    for ax, other, title in ((axes[0], naive2d, "checkerboard: original | naive flip"),
                             (axes[1], sym2d, "checkerboard: original | registered mirror")):
        ax.imshow(np.where(board, orig2d, other), cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
    axes[2].imshow(orig2d, cmap="gray", vmin=lo, vmax=hi)
    from scipy import ndimage

    edges = np.hypot(ndimage.sobel(sym2d, 0), ndimage.sobel(sym2d, 1))
    if edges.max() > 0:
        axes[2].contour(edges, levels=[np.percentile(edges[edges > 0], 90)], colors="tab:orange", linewidths=0.6)
    if true_plane_voxel is not None:
        _plane_line(axes[2], true_plane_voxel, z, case.shape, color="yellow", ls="--", lw=1.2, label="true plane")
    if plane_voxel is not None:
        _plane_line(axes[2], plane_voxel, z, case.shape, color="cyan", lw=1.0, label="recovered plane")
        axes[2].legend(loc="lower right", fontsize=7)
    axes[2].set_title("edges of the registered mirror on the original", fontsize=9)
    for ax in axes:
        ax.axis("off")
        ax.set_xlim(0, orig2d.shape[1] - 1)
        ax.set_ylim(orig2d.shape[0] - 1, 0)
    fig.suptitle(f"case {case.case_id}: {modality}, axial slice {z}", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def symmetry_difference(case, modality: str | None = None, z_index: int | None = None, output_file=None):
    """Original, registered mirror and original − mirror for one modality; the lesion (outlined in red) stands out
    in the difference because its mirror location in the other hemisphere is healthy."""
    names = _base_modalities(case)
    modality = modality or names[0]
    z = lesion_slices(case)[2] if z_index is None else z_index
    original, mirror = case.channel(modality), case.channel(f"sym_{modality}")
    lo, hi = _robust_limits(original, case.brain_mask)
    difference = np.where(case.brain_mask, original - mirror, 0.0)
    limit = float(np.percentile(np.abs(difference[case.brain_mask]), 99.5)) if case.brain_mask.any() else 1.0
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.0))
    axes[0].imshow(_slice(original, "axial", z), cmap="gray", vmin=lo, vmax=hi)
    axes[1].imshow(_slice(mirror, "axial", z), cmap="gray", vmin=lo, vmax=hi)
    shown = axes[2].imshow(_slice(difference, "axial", z), cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.02)
    for ax, title in zip(axes, (modality, f"sym_{modality}", f"{modality} − sym_{modality}"), strict=True):
        if case.label is not None and _slice(case.label, "axial", z).any():
            ax.contour(_slice(case.label, "axial", z), levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"case {case.case_id}: the difference to the mirror highlights the lesion (axial {z})", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)
