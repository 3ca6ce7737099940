"""Figures of notebook 01 (paper §2 data): the modalities of a case, intensity histograms, lesion volumes, a
slice montage and an interactive slice viewer. The lesion is outlined in orange, look-alikes dashed
(:mod:`.base` colours)."""

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
    outline_colour,
)


def modality_grid(case, output_file=None, planes=("axial", "coronal", "sagittal"), show_label: bool = True,
                  outlines: dict[str, np.ndarray] | None = None):
    """Every modality of one case (rows) in three planes (columns) through the lesion: the lesion outlined in
    orange on every panel, look-alikes (``outlines``, name -> 3D mask, e.g. ``{"mimic": ..., "old lesion": ...}``)
    dashed, and the patient's sides (L/R, or P/A on sagittal slices) at the edges."""
    centre = lesion_slices(case)
    axis_index = {"sagittal": 0, "coronal": 1, "axial": 2}
    n_mod = len(case.modalities)
    fig, axes = plt.subplots(n_mod, len(planes), figsize=(2.4 * len(planes), 2.2 * n_mod + 0.6), squeeze=False)
    for r, name in enumerate(case.modalities):
        vol = case.images[r]
        lo, hi = _robust_limits(vol, case.brain_mask)
        for c, plane in enumerate(planes):
            idx = centre[axis_index[plane]]
            ax = axes[r, c]
            ax.imshow(_slice(vol, plane, idx), cmap="gray", vmin=lo, vmax=hi)
            if show_label and case.label is not None:
                _outline(ax, _slice(case.label, plane, idx), ROLE_COLOURS["lesion"])
            _draw_outlines(ax, {k: _slice(np.asarray(m) > 0, plane, idx) for k, m in (outlines or {}).items()})
            _mark_sides(ax, plane, case)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{plane} {idx}", fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=10)
    _outline_legend(fig, case, outlines, show_label)
    fig.suptitle(f"case {case.case_id}: modalities through the lesion", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _finish(fig, output_file)


def _look_alike_masks(case, look_alikes) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(healthy, lesion, {name: look-alike}) voxel masks inside the brain; healthy excludes lesion and look-alikes."""
    brain = np.asarray(case.brain_mask, bool)
    lesion = case.label.astype(bool) & brain
    others = {name: np.asarray(m, bool) & brain & ~lesion for name, m in (look_alikes or {}).items()}
    healthy = brain & ~lesion
    for mask in others.values():
        healthy &= ~mask
    return healthy, lesion, others


def intensity_histograms(case, output_file=None, bins: int = 60, look_alikes: dict[str, np.ndarray] | None = None):
    """Per-modality intensity histograms inside the brain: voxel counts (log scale) of healthy brain, lesion and
    each look-alike (``look_alikes``: name -> 3D mask, e.g. "old lesion", "symmetric mimic"), on the same bins.

    Counts, not densities, and a log axis, so a small class (a few hundred lesion voxels) and the tail of a
    look-alike stay visible next to a million healthy voxels. The bins span the brain's 0.1–99.9th percentiles;
    the few voxels beyond are counted in the end bins (nothing is dropped).
    """
    if case.label is None:
        raise ValueError(f"case {case.case_id} has no label; histograms inside vs outside the lesion need one")
    healthy, lesion, others = _look_alike_masks(case, look_alikes)
    classes = [("healthy brain", healthy, ROLE_COLOURS["healthy"]), ("lesion", lesion, ROLE_COLOURS["lesion"])]
    classes += [(name.replace("_", " "), mask, outline_colour(name)) for name, mask in others.items()]
    n = len(case.modalities)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows + 0.4), squeeze=False)
    for i, name in enumerate(case.modalities):
        _histogram_panel(axes.flat[i], case.images[i], case.brain_mask, classes, bins)
        axes.flat[i].set_title(name, fontsize=10)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("voxels (log scale)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=8)
    fig.suptitle(f"case {case.case_id}: intensities of healthy brain, lesion and look-alikes (voxel counts)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.07 if rows == 1 else 0.04, 1, 1))
    return _finish(fig, output_file)


def _histogram_panel(ax, volume: np.ndarray, brain: np.ndarray, classes, bins: int) -> None:
    """One modality: a step histogram of voxel counts per class on shared bins over the brain's 0.1–99.9th pct."""
    import matplotlib.patheffects as pe

    values = volume[brain] if np.any(brain) else volume.ravel()
    lo, hi = np.percentile(values, [0.1, 99.9]) if values.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    halo = [pe.withStroke(linewidth=3.4, foreground=PALETTE["black"])]
    for k, (label, mask, colour) in enumerate(classes):
        if not mask.any():
            continue
        data = np.clip(volume[mask], lo, hi)
        if k == 0:  # healthy brain: the filled background distribution
            ax.hist(data, bins=edges, color=colour, alpha=0.25, histtype="stepfilled")
        ax.hist(data, bins=edges, color=colour, histtype="step", lw=2.0 if k else 1.4,
                path_effects=halo if k else None, label=f"{label} ({mask.sum():,} voxels)")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.set_xlabel("intensity (brain 0.1–99.9th percentile;\nvalues beyond counted in the end bins)", fontsize=7)
    ax.tick_params(labelsize=7)


def lesion_volume_distribution(table, output_file=None):
    """Histogram (log scale) of lesion volumes in mL from :func:`strokelib.data.cases.case_table`."""
    volumes = table["lesion_ml"].to_numpy()
    volumes = volumes[volumes > 0]
    fig, ax = plt.subplots(figsize=(5, 3))
    if volumes.size:
        edges = np.logspace(np.log10(volumes.min() * 0.8), np.log10(volumes.max() * 1.25), 12)
        ax.hist(volumes, bins=edges, color=ROLE_COLOURS["lesion"], alpha=0.8, edgecolor=PALETTE["black"])
        ax.set_xscale("log")
    ax.set_xlabel("lesion volume (mL)")
    ax.set_ylabel("cases")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"lesion volumes, {len(volumes)} cases", fontsize=11)
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
        if case.label is not None:
            _outline(ax, _slice(case.label, "axial", z), ROLE_COLOURS["lesion"])
        _mark_sides(ax, "axial", case)
        ax.set_title(f"z = {z}", fontsize=8)
        ax.axis("off")
    for ax in list(axes.flat)[len(zs):]:
        ax.axis("off")
    fig.suptitle(f"case {case.case_id}: {modality}, axial montage (lesion outlined in orange)", fontsize=11)
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
            _outline(ax, _slice(case.label, plane, idx), ROLE_COLOURS["lesion"])
        _mark_sides(ax, plane, case)
        ax.set_title(f"{modality} {plane} {idx}")
        ax.axis("off")
        plt.show()

    return widgets.interactive(
        show,
        modality=widgets.Dropdown(options=list(case.modalities)),
        plane=widgets.ToggleButtons(options=["axial", "coronal", "sagittal"]),
        position=widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, continuous_update=False),
    )
