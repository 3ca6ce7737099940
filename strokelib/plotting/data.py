"""Figures of notebook 01 (paper §2 data): the modalities of a case, intensity histograms, lesion volumes, a
slice montage and an interactive slice viewer."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .base import _finish, _robust_limits, _slice, lesion_slices


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
    for ax, z in zip(axes.flat, zs, strict=False):
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
