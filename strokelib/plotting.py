"""Every figure of the notebooks. Each function draws one figure and, given ``output_file=``, saves it
atomically (nilearn's convention) and returns the matplotlib Figure.

Sections follow the notebooks: 01 data, 02 symmetric modalities, 03 sampling, 04 training, 05 results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .files import save_figure


def _finish(fig: plt.Figure, output_file: str | Path | None) -> plt.Figure:
    """Save ``fig`` when ``output_file`` is given; always return it for display."""
    if output_file is not None:
        save_figure(fig, output_file)
    return fig


def _slice(volume: np.ndarray, plane: str, index: int | None = None) -> np.ndarray:
    """A 2D slice of an (X, Y, Z) volume, oriented for display (anterior/superior up)."""
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    if index is None:
        index = volume.shape[axis] // 2
    return np.rot90(np.take(volume, index, axis=axis))


def _robust_limits(volume: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    values = volume[mask] if mask is not None and mask.any() else volume[volume != 0]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [1, 99])
    return float(lo), float(hi if hi > lo else lo + 1)


# ---------------------------------------------------------------------------------------------------------
# 01 data inspection
# ---------------------------------------------------------------------------------------------------------


def lesion_slices(case) -> tuple[int, int, int]:
    """(x, y, z) indices through the lesion's centre of mass, or the volume centre when there is no label."""
    if case.label is not None and case.label.any():
        return tuple(int(round(c)) for c in np.argwhere(case.label).mean(axis=0))
    return tuple(s // 2 for s in case.shape)


def modality_grid(case, output_file=None, planes=("axial", "coronal", "sagittal"), show_label: bool = True):
    """Every modality of one case (rows) in three planes (columns) through the lesion, lesion outlined in red."""
    centre = lesion_slices(case)
    axis_index = {"sagittal": 0, "coronal": 1, "axial": 2}
    n_mod = len(case.modalities)
    fig, axes = plt.subplots(n_mod, len(planes), figsize=(2.4 * len(planes), 2.2 * n_mod), squeeze=False)
    for r, name in enumerate(case.modalities):
        vol = case.images[r]
        lo, hi = _robust_limits(vol, case.brain_mask)
        for c, plane in enumerate(planes):
            idx = centre[axis_index[plane]]
            ax = axes[r, c]
            ax.imshow(_slice(vol, plane, idx), cmap="gray", vmin=lo, vmax=hi)
            if show_label and case.label is not None:
                lab = _slice(case.label, plane, idx)
                if lab.any():
                    ax.contour(lab, levels=[0.5], colors="red", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{plane} {idx}", fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=10)
    fig.suptitle(f"case {case.case_id}: modalities, lesion outlined", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def intensity_histograms(case, output_file=None, bins: int = 60):
    """Per-modality intensity histograms inside the brain: lesion vs healthy voxels (densities)."""
    if case.label is None:
        raise ValueError(f"case {case.case_id} has no label; histograms inside vs outside the lesion need one")
    lesion = case.label.astype(bool) & case.brain_mask
    healthy = case.brain_mask & ~lesion
    n = len(case.modalities)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for i, name in enumerate(case.modalities):
        ax = axes.flat[i]
        vol = case.images[i]
        lo, hi = _robust_limits(vol, case.brain_mask)
        edges = np.linspace(lo, hi, bins + 1)
        ax.hist(vol[healthy], bins=edges, density=True, alpha=0.6, label="healthy brain", color="tab:blue")
        ax.hist(vol[lesion], bins=edges, density=True, alpha=0.6, label="lesion", color="tab:red")
        ax.set_title(name, fontsize=10)
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"case {case.case_id}: intensities inside vs outside the lesion", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def lesion_volume_distribution(table, output_file=None):
    """Histogram (log scale) of lesion volumes in mL from :func:`strokelib.datasets.case_table`."""
    volumes = table["lesion_ml"].to_numpy()
    volumes = volumes[volumes > 0]
    fig, ax = plt.subplots(figsize=(5, 3))
    if volumes.size:
        edges = np.logspace(np.log10(volumes.min() * 0.8), np.log10(volumes.max() * 1.25), 12)
        ax.hist(volumes, bins=edges, color="tab:red", alpha=0.7, edgecolor="k")
        ax.set_xscale("log")
    ax.set_xlabel("lesion volume (mL)")
    ax.set_ylabel("cases")
    ax.set_title(f"lesion volumes, {len(volumes)} cases")
    fig.tight_layout()
    return _finish(fig, output_file)


def slice_montage(case, modality: str | None = None, n_slices: int = 12, output_file=None):
    """Axial slices of one modality evenly spread over the brain, lesion outlined: the static slice viewer."""
    modality = modality or case.modalities[0]
    vol = case.channel(modality)
    z_brain = np.flatnonzero(case.brain_mask.any(axis=(0, 1)))
    zs = np.linspace(z_brain.min(), z_brain.max(), n_slices + 2)[1:-1].round().astype(int) if z_brain.size else [vol.shape[2] // 2]
    cols = min(len(zs), 6)
    rows = int(np.ceil(len(zs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows), squeeze=False)
    lo, hi = _robust_limits(vol, case.brain_mask)
    for ax, z in zip(axes.flat, zs):
        ax.imshow(_slice(vol, "axial", z), cmap="gray", vmin=lo, vmax=hi)
        if case.label is not None and case.label[:, :, z].any():
            ax.contour(_slice(case.label, "axial", z), levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title(f"z = {z}", fontsize=8)
        ax.axis("off")
    for ax in list(axes.flat)[len(zs):]:
        ax.axis("off")
    fig.suptitle(f"case {case.case_id}: {modality}, axial montage", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def slice_viewer(case):
    """An ipywidgets viewer (modality, plane, slice). Only for interactive sessions: papermill cannot run it."""
    import ipywidgets as widgets

    def show(modality, plane, position):
        axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
        idx = int(position * (case.shape[axis] - 1))
        vol = case.channel(modality)
        lo, hi = _robust_limits(vol, case.brain_mask)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.imshow(_slice(vol, plane, idx), cmap="gray", vmin=lo, vmax=hi)
        if case.label is not None:
            lab = _slice(case.label, plane, idx)
            if lab.any():
                ax.contour(lab, levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title(f"{modality} {plane} {idx}")
        ax.axis("off")
        plt.show()

    return widgets.interactive(
        show,
        modality=widgets.Dropdown(options=list(case.modalities)),
        plane=widgets.ToggleButtons(options=["axial", "coronal", "sagittal"]),
        position=widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, continuous_update=False),
    )


# ---------------------------------------------------------------------------------------------------------
# 02 symmetric modalities (paper §3.1, Figure 1)
# ---------------------------------------------------------------------------------------------------------


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
    fig, axes = plt.subplots(2, len(names), figsize=(2.3 * len(names), 5.0), squeeze=False)
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
    for ax, title in zip(axes, (modality, f"sym_{modality}", f"{modality} − sym_{modality}")):
        if case.label is not None and _slice(case.label, "axial", z).any():
            ax.contour(_slice(case.label, "axial", z), levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"case {case.case_id}: the difference to the mirror highlights the lesion (axial {z})", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)
