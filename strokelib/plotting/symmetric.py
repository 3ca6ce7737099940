"""Figures of notebook 02 (paper §3.1, Figure 1): the symmetric modalities, a check of the registration and the
difference to the mirror."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .base import (
    PALETTE,
    ROLE_COLOURS,
    _draw_outlines,
    _finish,
    _mark_sides,
    _outline,
    _outline_legend,
    _robust_limits,
    _slice,
    lesion_slices,
)


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


def symmetric_modalities_figure(case, z_index: int | None = None, output_file=None,
                                outlines: dict[str, np.ndarray] | None = None):
    """Figure 1 of the paper: provided modalities (top row) and their symmetric versions (bottom row), one axial
    slice through the lesion; 2×4 for SISS, 2×7 for SPES. ``case`` must carry the ``sym_*`` channels.

    Every panel outlines the lesion (orange; on the symmetric row it marks where the lesion is, so its healthy
    mirror shows inside the outline) and look-alikes (``outlines``, name -> 3D mask, dashed), and marks the
    patient's left and right.
    """
    names = _base_modalities(case)
    if not names:
        raise ValueError(f"case {case.case_id} has no sym_* channels; run preprocessing.add_symmetric_modalities first")
    z = lesion_slices(case)[2] if z_index is None else z_index
    aspect = case.shape[1] / case.shape[0]  # displayed height / width of an axial slice
    fig, axes = plt.subplots(2, len(names), figsize=(2.4 * len(names), 4.8 * aspect + 1.8), squeeze=False)
    letters = "abcdefghijklmnopqrstuvwxyz"
    marks = {k: _slice(np.asarray(m) > 0, "axial", z) for k, m in (outlines or {}).items()}
    for c, name in enumerate(names):
        lo, hi = _robust_limits(case.channel(name), case.brain_mask)
        for r, channel in enumerate((name, f"sym_{name}")):
            ax = axes[r, c]
            ax.imshow(_slice(case.channel(channel), "axial", z), cmap="gray", vmin=lo, vmax=hi)
            if case.label is not None:
                _outline(ax, _slice(case.label, "axial", z), ROLE_COLOURS["lesion"], lw=1.2)
            _draw_outlines(ax, marks, lw=1.6)
            _mark_sides(ax, "axial", case)
            label = channel if r == 0 else f"Sym. {name}"
            ax.set_title(f"({letters[r * len(names) + c]}) {label}", fontsize=9)
            ax.axis("off")
    _outline_legend(fig, case, outlines)
    fig.suptitle(f"Figure 1: provided and symmetric modalities, case {case.case_id}, axial slice {z}", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _finish(fig, output_file)


def registration_check(case, modality: str | None = None, z_index: int | None = None, squares: int = 8,
                       plane_voxel=None, true_plane_voxel=None, output_file=None):
    """Judge the flip registration: checkerboards of the original with the naive array flip and with the registered
    mirror (edges should continue across squares), and the mirror's edges drawn on the original.

    ``plane_voxel``/``true_plane_voxel``: (point, normal) in voxel indices, drawn as the recovered (sky blue) and true
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
        axes[2].contour(edges, levels=[np.percentile(edges[edges > 0], 90)], colors=PALETTE["bluish_green"], linewidths=0.6)
    if true_plane_voxel is not None:
        _plane_line(axes[2], true_plane_voxel, z, case.shape, color=PALETTE["yellow"], ls="--", lw=1.4, label="true plane (yellow, dashed)")
    if plane_voxel is not None:
        _plane_line(axes[2], plane_voxel, z, case.shape, color=PALETTE["sky_blue"], lw=1.2, label="recovered plane (sky blue)")
        axes[2].legend(loc="lower right", fontsize=7)
    axes[2].set_title("registered mirror's edges (bluish green)", fontsize=9)
    for ax in axes:
        _mark_sides(ax, "axial", case)
        ax.axis("off")
        ax.set_xlim(0, orig2d.shape[1] - 1)
        ax.set_ylim(orig2d.shape[0] - 1, 0)
    fig.suptitle(f"case {case.case_id}: {modality}, axial slice {z}", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def _brain_zscores(case, original: np.ndarray, mirror: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as z-scores over the case's brain mask (:func:`strokelib.preprocessing.normalisation.normalise_images`), so a
    difference reads in one unit whether the images were raw or already normalised."""
    from ..preprocessing.normalisation import normalise_images

    z = normalise_images(np.stack([original, mirror]), case.brain_mask)
    return z[0], z[1]


def symmetry_difference(case, modality: str | None = None, z_index: int | None = None, output_file=None,
                        limit: float = 3.0, title: str | None = None):
    """Original, mirror and original − mirror for one modality, in z-scores over the brain; the lesion (outlined
    in orange) stands out in the difference because its mirror location in the other hemisphere is healthy.

    Both images are z-scored over the brain mask first and the difference is drawn on the fixed scale ±``limit``
    z with a labelled colour bar, so the naive-flip and the registered-mirror figures (two calls) compare
    directly. ``title`` replaces the default figure title (e.g. to say which mirror the case carries).
    """
    names = _base_modalities(case)
    modality = modality or names[0]
    z = lesion_slices(case)[2] if z_index is None else z_index
    original, mirror = _brain_zscores(case, case.channel(modality), case.channel(f"sym_{modality}"))
    difference = np.where(case.brain_mask, original - mirror, 0.0)
    lo, hi = _robust_limits(original, case.brain_mask)
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 4.2))
    grey = plt.get_cmap("gray").with_extremes(bad=PALETTE["black"])  # outside the brain: black, not z = 0
    outside = ~np.asarray(case.brain_mask, bool)
    for ax, image in ((axes[0], original), (axes[1], mirror)):
        ax.imshow(np.ma.masked_array(_slice(image, "axial", z), _slice(outside, "axial", z)), cmap=grey, vmin=lo,
                  vmax=hi)
    shown = axes[2].imshow(_slice(difference, "axial", z), cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.02, label="original − mirror (z-score, brain)",
                 extend="both")
    for ax, panel in zip(axes, (modality, f"sym_{modality}", f"{modality} − sym_{modality}"), strict=True):
        if case.label is not None:
            _outline(ax, _slice(case.label, "axial", z), ROLE_COLOURS["lesion"], lw=1.0)
        _mark_sides(ax, "axial", case)
        ax.set_title(panel, fontsize=10)
        ax.axis("off")
    fig.suptitle(title or f"case {case.case_id}: the difference to the mirror highlights the lesion (axial {z}, "
                 f"±{limit:g} z)", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)
