"""Every figure of the notebooks. Each function draws one figure. Without ``output_file`` it returns the
matplotlib Figure; given ``output_file=`` it saves the figure atomically, closes it and returns None (nilearn's
convention), so a loop that writes many figures does not keep them all open. Inside a notebook (an ``inline``
backend) the saved figure is displayed before it is closed, so it still appears in the cell's output.
:func:`slice_viewer` is the exception: it returns an ipywidgets viewer and saves nothing.

Sections follow the notebooks: 01 data, 02 symmetric modalities, 03 sampling, 04 training, 05 results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from .files import save_figure


def _inline_backend() -> bool:
    """True inside a Jupyter kernel with ``%matplotlib inline`` (also under papermill)."""
    return "inline" in matplotlib.get_backend().lower()


def _finish(fig: plt.Figure, output_file: str | Path | None) -> plt.Figure | None:
    """Return ``fig`` when no ``output_file`` is given; else save it, display it in a notebook, close it and
    return None.

    The inline backend only shows figures that are still open when the cell ends, so a saved-and-closed figure
    would vanish from the notebook; displaying it explicitly first keeps it there, exactly once.
    """
    if output_file is None:
        return fig
    save_figure(fig, output_file)
    if _inline_backend():
        from IPython.display import display

        display(fig)
    plt.close(fig)
    return None


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


# ---------------------------------------------------------------------------------------------------------
# 03 patch sampling (paper §3.3, Figure 3)
# ---------------------------------------------------------------------------------------------------------


def _patch_box(ax, centre, patch_shape, height: int, **style) -> None:
    """Outline the in-plane extent [c - p//2, c - p//2 + p) of a patch on an axial slice drawn by :func:`_slice`."""
    from matplotlib.patches import Rectangle

    x0 = centre[0] - patch_shape[0] // 2
    y_top = centre[1] - patch_shape[1] // 2 + patch_shape[1] - 1
    ax.add_patch(Rectangle((x0 - 0.5, height - 1 - y_top - 0.5), patch_shape[0], patch_shape[1], fill=False, **style))


def _sampling_slice(case, centres, origin) -> int:
    """The axial slice that shows the method best: the healthy-grid plane nearest the lesion's centre."""
    z_lesion = lesion_slices(case)[2]
    healthy_z = centres[~origin, 2]
    if len(healthy_z) == 0:
        return z_lesion
    planes, counts = np.unique(healthy_z, return_counts=True)
    return int(planes[np.lexsort((-counts, np.abs(planes - z_lesion)))[0]])


def sampling_diagram(case, centres, ops, info=None, patch_shape=(24, 24, 16), z_index: int | None = None,
                     modality: str | None = None, n_boxes: int = 3, seed: int = 0, output_file=None):
    """Figure 3 of the paper on a real case: (a) one axial slice with the healthy grid centres (blue), the
    lesion-sampled centres (orange) and a few patch boxes; (b) a zoom on the lesion with each lesion patch's
    random offset drawn as an arrow from the sampled voxel to the patch centre; (c) the offsets per axis.

    ``info`` is the sampler's ``return_info`` dict (``lesion`` origin, sampled ``voxel``); without it patches whose
    centre lies on the lesion count as lesion patches and no offset is drawn.
    """
    centres = np.asarray(centres)
    if info is None:
        origin = case.label[tuple(centres.T)] > 0 if case.label is not None else np.zeros(len(centres), bool)
        voxels = centres
    else:
        origin, voxels = np.asarray(info["lesion"], bool), np.asarray(info["voxel"])
    z = _sampling_slice(case, centres, origin) if z_index is None else z_index
    modality = modality or case.modalities[0]
    volume = case.channel(modality)
    lo, hi = _robust_limits(volume, case.brain_mask)
    height = case.shape[1]
    on_slice = centres[:, 2] == z
    lesion_here, healthy_here = on_slice & origin, on_slice & ~origin
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8), gridspec_kw={"width_ratios": [1.15, 1.15, 1]})
    for ax in axes[:2]:
        ax.imshow(_slice(volume, "axial", z), cmap="gray", vmin=lo, vmax=hi)
        if case.label is not None and _slice(case.label, "axial", z).any():
            ax.contour(_slice(case.label, "axial", z), levels=[0.5], colors="red", linewidths=0.9)
        ax.axis("off")
    ax = axes[0]
    ax.scatter(centres[healthy_here, 0], height - 1 - centres[healthy_here, 1], s=6, c="tab:blue",
               label=f"healthy grid centres ({healthy_here.sum()} on this slice)")
    ax.scatter(centres[lesion_here, 0], height - 1 - centres[lesion_here, 1], s=6, c="tab:orange",
               label=f"lesion-sampled centres ({lesion_here.sum()})")
    for pool, colour in ((np.flatnonzero(lesion_here), "tab:orange"), (np.flatnonzero(healthy_here), "tab:blue")):
        for i in rng.choice(pool, min(n_boxes, len(pool)), replace=False) if len(pool) else []:
            _patch_box(ax, centres[i], patch_shape, height, edgecolor=colour, lw=1.2)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
    ax.set_title(f"(a) {modality}, axial slice {z}: centres and {patch_shape[0]}×{patch_shape[1]} patch boxes",
                 fontsize=9)
    ax = axes[1]
    sel = np.flatnonzero(lesion_here)
    if len(sel):
        ax.quiver(voxels[sel, 0], height - 1 - voxels[sel, 1], centres[sel, 0] - voxels[sel, 0],
                  voxels[sel, 1] - centres[sel, 1], angles="xy", scale_units="xy", scale=1, color="tab:orange",
                  width=0.004, alpha=0.8)
        ax.scatter(voxels[sel, 0], height - 1 - voxels[sel, 1], s=5, c="yellow", label="sampled lesion voxel")
        ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
        _patch_box(ax, centres[sel[0]], patch_shape, height, edgecolor="tab:orange", lw=1.2)
        points = np.concatenate([voxels[sel, :2], centres[sel, :2]])
        margin = patch_shape[0] // 2 + 2
        ax.set_xlim(points[:, 0].min() - margin, points[:, 0].max() + margin)
        ax.set_ylim(height - 1 - points[:, 1].min() + margin, height - 1 - points[:, 1].max() - margin)
    ax.set_title("(b) lesion patches centred on this slice: offset from the sampled voxel", fontsize=9)
    ax = axes[2]
    offsets = (centres - voxels)[origin]
    if len(offsets):
        for axis, name in enumerate("xyz"):
            values, counts = np.unique(offsets[:, axis], return_counts=True)
            ax.step(values, counts / len(offsets), where="mid", label=f"{name} (|offset| ≤ {np.abs(values).max()})")
        ax.legend(fontsize=8)
    ax.set_xlabel("offset (voxels)")
    ax.set_ylabel("share of lesion patches")
    ax.set_title("(c) offsets keep the sampled voxel inside its patch", fontsize=9)
    n_lesion = int(origin.sum())
    augmented = int((np.asarray(ops) > 0).sum())
    fig.suptitle(f"case {case.case_id}: {len(centres)} patches = {n_lesion} lesion-sampled ({augmented} augmented) "
                 f"+ {len(centres) - n_lesion} healthy", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def _patch_rows(ax_row, x, y, names, limits, title: str) -> None:
    """One patch as a row: the middle axial slice of each channel, the label outlined in red."""
    z = x.shape[-1] // 2
    label = np.rot90(y[:, :, z])
    for c, ax in enumerate(ax_row[:-1]):
        ax.imshow(np.rot90(x[c, :, :, z]), cmap="gray", vmin=limits[c][0], vmax=limits[c][1])
        if label.any():
            ax.contour(label, levels=[0.5], colors="red", linewidths=0.7)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(title, fontsize=7)
    ax_row[-1].imshow(label, cmap="Reds", vmin=0, vmax=1)
    ax_row[-1].set_xticks([])
    ax_row[-1].set_yticks([])


def patch_gallery(case, centres, ops, origin, patch_shape=(24, 24, 16), n_healthy: int = 2, seed: int = 0,
                  output_file=None):
    """Example training patches across every modality (columns, label last): one lesion-sampled patch per
    augmentation op found in ``ops`` and ``n_healthy`` healthy ones, each shown as it reaches the network (op
    applied), middle axial slice."""
    from . import sampling

    rng = np.random.default_rng(seed)
    ops, origin = np.asarray(ops), np.asarray(origin, bool)
    picks = [int(rng.choice(np.flatnonzero(origin & (ops == op)))) for op in range(len(sampling.AUGMENTATIONS))
             if (origin & (ops == op)).any()]
    healthy = np.flatnonzero(~origin)
    picks += [int(i) for i in rng.choice(healthy, min(n_healthy, len(healthy)), replace=False)]
    picks = np.array(picks, np.int64)
    x = sampling.extract_patches(case.images, centres[picks], patch_shape)
    label = case.label if case.label is not None else np.zeros(case.shape, np.uint8)
    y = sampling.extract_patches((label > 0).astype(np.uint8), centres[picks], patch_shape)
    x, y = sampling.augment_batch(x, y, ops[picks])
    limits = [_robust_limits(case.images[c], case.brain_mask) for c in range(len(case.modalities))]
    cols = len(case.modalities) + 1
    fig, axes = plt.subplots(len(picks), cols, figsize=(1.25 * cols, 1.3 * len(picks)), squeeze=False)
    for row, i in enumerate(picks):
        kind = "lesion" if origin[i] else "healthy"
        _patch_rows(axes[row], x[row], y[row], case.modalities, limits,
                    f"{kind}\n{sampling.AUGMENTATIONS[ops[i]]}")
    for c, name in enumerate((*case.modalities, "label")):
        axes[0, c].set_title(name, fontsize=8)
    fig.suptitle(f"case {case.case_id}: training patches {tuple(patch_shape)}, middle axial slice", fontsize=10)
    fig.tight_layout()
    return _finish(fig, output_file)


def augmentation_gallery(case, centre, patch_shape=(24, 24, 16), modality: str | None = None, output_file=None):
    """One lesion patch under each augmentation op of §3.3 (columns): the image (top) and its label (bottom) turn
    together; rotations act in the axial plane, ``flip_x`` mirrors left-right."""
    from . import sampling

    modality = modality or case.modalities[0]
    c = case.modalities.index(modality)
    centre = np.asarray(centre, np.int64).reshape(1, 3)
    x = sampling.extract_patches(case.images[c:c + 1], centre, patch_shape)[0]
    y = sampling.extract_patches((case.label > 0).astype(np.uint8), centre, patch_shape)[0]
    lo, hi = _robust_limits(case.images[c], case.brain_mask)
    z = patch_shape[2] // 2
    fig, axes = plt.subplots(2, len(sampling.AUGMENTATIONS), figsize=(2.0 * len(sampling.AUGMENTATIONS), 4.2))
    for col, op in enumerate(sampling.AUGMENTATIONS):
        xa, ya = sampling.augment(x, op), sampling.augment(y, op)
        axes[0, col].imshow(np.rot90(xa[0, :, :, z]), cmap="gray", vmin=lo, vmax=hi)
        axes[0, col].contour(np.rot90(ya[:, :, z]), levels=[0.5], colors="red", linewidths=0.8)
        axes[1, col].imshow(np.rot90(ya[:, :, z]), cmap="Reds", vmin=0, vmax=1)
        axes[0, col].set_title(op, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel(modality, fontsize=8)
    axes[1, 0].set_ylabel("label", fontsize=8)
    fig.suptitle(f"case {case.case_id}: augmentation ops on one lesion patch (data and label together)", fontsize=10)
    fig.tight_layout()
    return _finish(fig, output_file)


def class_balance_bars(table, column: str = "lesion voxels % (all patch voxels)", output_file=None):
    """Voxel-level lesion share of each patch set (rows of :func:`strokelib.sampling.balance_table`)."""
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(table) + 1.2))
    values = table[column].to_numpy(float)
    bars = ax.barh(np.arange(len(table)), values, color=["0.6"] + ["tab:orange"] * (len(table) - 1))
    ax.bar_label(bars, labels=[f"{v:.1f} %" for v in values], fontsize=8, padding=3)
    ax.set_yticks(np.arange(len(table)), table.index)
    ax.invert_yaxis()
    ax.set_xlabel(column)
    ax.set_xlim(0, max(values.max() * 1.25, 1e-3))
    ax.set_title("class balance of the training patches (§3.3)", fontsize=10)
    fig.tight_layout()
    return _finish(fig, output_file)


# ---------------------------------------------------------------------------------------------------------
# 04 network and training (paper §3.2–3.4, Figure 2)
# ---------------------------------------------------------------------------------------------------------

_SUNET_LEVEL = {"inconv": 0, "dual1": 0, "down1": 1, "dual2": 1, "down2": 2, "dual3": 2, "down3": 3, "dual4": 3,
                "up4": 2, "mono3": 2, "up3": 1, "mono2": 1, "up2": 0, "mono1": 0, "outconv": 0}
_SUNET_OP = {"inconv": "conv 3³", "dual": "2× BN·PReLU·conv\n+ x", "down": "conv 3³ @2\n‖ maxpool 2",
             "up": "convT 3³ @2\n+ skip", "mono": "BN·PReLU·conv\n+ x", "outconv": "conv 3³\n→ logits"}


def architecture_diagram(table, in_channels: int, patch_shape=(24, 24, 16), output_file=None):
    """Figure 2-like schematic of SUNet from :func:`strokelib.model.layer_table`: blocks in execution order on a U,
    one row per resolution level, additive long skips as dashed arrows; encoder blue, decoder orange."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    names = list(table["name"])
    rows = table.set_index("name")
    dx, w, h = 1.7, 1.5, 1.2
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 6.0))
    pos = {name: (i * dx, -1.6 * _SUNET_LEVEL[name]) for i, name in enumerate(names)}
    for name, (x, y) in pos.items():
        row = rows.loc[name]
        colour = "#c6dbef" if row["part"] == "encoder" else "#fdd0a2"
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=colour, ec="0.3"))
        ax.text(x, y + 0.42, name, ha="center", va="center", fontsize=8, weight="bold")
        ax.text(x, y + 0.08, _SUNET_OP[name.rstrip("0123456789")], ha="center", va="center", fontsize=6)
        ax.text(x, y - 0.29, row["output shape"], ha="center", va="center", fontsize=6.5)
        ax.text(x, y - 0.46, f"{row['params']:,} params", ha="center", va="center", fontsize=5.5, color="0.35")
    for a, b in zip(names[:-1], names[1:], strict=True):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.add_patch(FancyArrowPatch((xa + w / 2, ya), (xb - w / 2, yb), arrowstyle="-|>", mutation_scale=8, color="0.3"))
    for enc, up in (("dual1", "up2"), ("dual2", "up3"), ("dual3", "up4")):
        (xa, ya), (xb, yb) = pos[enc], pos[up]
        ax.add_patch(FancyArrowPatch((xa, ya + h / 2), (xb, yb + h / 2), connectionstyle="arc3,rad=-0.1",
                                     arrowstyle="-|>", mutation_scale=8, color="tab:green", ls="--"))
        ax.text((xa + xb) / 2, ya + h / 2 + 0.05 * (xb - xa) + 0.08, "+  additive long skip", ha="center",
                fontsize=6.5, color="tab:green")
    x0, y0 = pos[names[0]]
    ax.annotate(f"input\n{'×'.join(map(str, patch_shape))}\n@ {in_channels}", (x0 - w / 2, y0), (x0 - 1.6, y0),
                fontsize=7, ha="center", va="center", arrowprops={"arrowstyle": "-|>", "color": "0.3"})
    enc = table.loc[table.part == "encoder", "params"].sum()
    total = table["params"].sum()
    ax.set_title(f"SUNet (§3.2, Figure 2): {total:,} parameters, encoder {enc / total:.1%}, decoder {1 - enc / total:.1%}",
                 fontsize=10)
    xs, ys = zip(*pos.values(), strict=True)
    ax.set_xlim(min(xs) - 2.1, max(xs) + w / 2 + 0.1)
    ax.set_ylim(min(ys) - h / 2 - 0.2, max(ys) + h / 2 + 0.05 * (max(xs) - min(xs)) + 0.4)
    ax.set_aspect("equal")
    ax.axis("off")
    return _finish(fig, output_file)


def focal_vs_cross_entropy(gammas=(0.0, 0.5, 1.0, 2.0, 5.0), alpha=(0.25, 0.75), output_file=None):
    """Eq. 1 as a function of the true-class probability p_t: the loss (left) and its weight relative to
    cross-entropy, (1 − p_t)^γ (right), which is what lets the many easy healthy voxels fade out (§3.3)."""
    p = np.linspace(0.001, 0.999, 400)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for gamma in gammas:
        label = "cross-entropy (γ = 0)" if gamma == 0 else f"focal γ = {gamma:g}"
        axes[0].plot(p, -((1 - p) ** gamma) * np.log(p), label=label, lw=2 if gamma in (0, 2) else 1)
        if gamma:
            axes[1].semilogy(p, (1 - p) ** gamma, label=label)
    for t, name in enumerate(("healthy", "lesion")):
        axes[0].plot(p, -alpha[t] * (1 - p) ** 2 * np.log(p), ls=":", color="k" if t else "0.6",
                     label=f"γ = 2, α{t} = {alpha[t]} ({name})")
    axes[0].set(xlabel="probability of the true class p_t", ylabel="loss per voxel", ylim=(0, 3),
                title="FL(p_t) = −α_t (1 − p_t)^γ log p_t   (Eq. 1)")
    axes[1].set(xlabel="probability of the true class p_t", ylabel="focal / cross-entropy",
                title="weight of a voxel relative to cross-entropy")
    axes[1].axvline(0.9, color="0.7", lw=0.8)
    axes[1].set_ylim(1e-4, 2)
    axes[1].text(0.88, 2e-4, "p_t = 0.9: γ = 2 weighs it 100× less", ha="right", fontsize=7)
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _finish(fig, output_file)


def training_curves(history, output_file=None, title: str | None = None):
    """Per-fold training and validation loss, and the early-stopping metric (validation L1 + error rate, §3.4)
    with each fold's best epoch marked. ``history`` is what :func:`strokelib.training.cross_validate` returns."""
    folds = sorted(history["fold"].unique()) if "fold" in history else [0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, fold in enumerate(folds):
        h = history[history["fold"] == fold] if "fold" in history else history
        c = colours[i % len(colours)]
        epochs = h["epoch"] + 1
        axes[0].plot(epochs, h["train_loss"], "-o", ms=3, color=c, label=f"fold {fold} train")
        axes[0].plot(epochs, h["val_loss"], "--s", ms=3, color=c, label=f"fold {fold} validation")
        axes[1].plot(epochs, h["val_l1_er"], "-o", ms=3, color=c, label=f"fold {fold}")
        best = int(h["best_epoch"].iloc[-1])
        axes[1].plot(best + 1, h.loc[h["epoch"] == best, "val_l1_er"], "*", ms=12, color=c)
    axes[0].set(xlabel="epoch", ylabel="loss", title="training (solid) and validation (dashed) loss")
    axes[1].set(xlabel="epoch", ylabel="L1 + error rate", title="early-stopping metric (★ best epoch)")
    for ax in axes:
        ax.legend(fontsize=7, ncol=2)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, output_file)


# ---------------------------------------------------------------------------------------------------------
# 05 inference and metrics (paper §3.5 and §4, Figures 4–5)
# ---------------------------------------------------------------------------------------------------------
OVERLAY_COLOURS = {"true positive": (0.0, 0.8, 0.0), "false positive": (0.9, 0.0, 0.0), "false negative": (0.0, 0.35, 1.0)}


def _largest_slice(mask: np.ndarray, plane: str) -> int:
    """Index of the slice of ``plane`` where ``mask`` has the most voxels (the middle one when it is empty)."""
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    if not mask.any():
        return mask.shape[axis] // 2
    other = tuple(a for a in range(3) if a != axis)
    return int(np.argmax(mask.sum(axis=other)))


def error_overlay(ax, image: np.ndarray, pred: np.ndarray, truth: np.ndarray, alpha: float = 0.7) -> None:
    """Draw a 2D image in grey with true positives green, false positives red and false negatives blue (Figs 4–5)."""
    lo, hi = _robust_limits(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
    rgba = np.zeros((*image.shape, 4))
    for name, region in (("true positive", pred & truth), ("false positive", pred & ~truth), ("false negative", ~pred & truth)):
        rgba[region] = (*OVERLAY_COLOURS[name], alpha)
    ax.imshow(rgba)
    ax.axis("off")


def segmentation_overlays(cases, probabilities, predictions, titles=None, modality: str | None = None,
                          plane: str = "axial", output_file=None):
    """Figures 4 and 5: one row per case — ``modality`` with TP/FP/FN colours, the lesion probability map, and
    the binarised mask with the ground-truth outline — on the slice where prediction ∪ truth is largest.

    ``cases`` hold the ground truth (``case.label``); ``probabilities`` and ``predictions`` are the matching
    (X, Y, Z) maps and masks; ``titles`` label the rows (e.g. "best DSC 0.85, case 9").
    """
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(len(cases), 3, figsize=(9.5, 3.2 * len(cases)), squeeze=False)
    for row, (case, prob, pred) in enumerate(zip(cases, probabilities, predictions, strict=True)):
        pred = np.asarray(pred) > 0
        truth = case.label > 0 if case.label is not None else np.zeros_like(pred)
        index = _largest_slice(pred | truth, plane)
        name = modality or case.modalities[0]
        image = _slice(case.channel(name), plane, index)
        pred2d, truth2d = _slice(pred, plane, index), _slice(truth, plane, index)
        error_overlay(axes[row, 0], image, pred2d, truth2d)
        label = titles[row] if titles is not None else f"case {case.case_id}"
        axes[row, 0].set_title(f"{label}\n{name}, {plane} slice {index}", fontsize=9)
        shown = axes[row, 1].imshow(_slice(np.asarray(prob), plane, index), cmap="magma", vmin=0.0, vmax=1.0)
        axes[row, 1].set_title("lesion probability", fontsize=9)
        axes[row, 1].axis("off")
        fig.colorbar(shown, ax=axes[row, 1], fraction=0.046, pad=0.02)
        axes[row, 2].imshow(pred2d, cmap="gray", vmin=0, vmax=1)
        if truth2d.any():
            axes[row, 2].contour(truth2d, levels=[0.5], colors=["yellow"], linewidths=1.0)
        axes[row, 2].set_title("binarised mask (truth outlined)", fontsize=9)
        axes[row, 2].axis("off")
    handles = [Patch(color=colour, label=name) for name, colour in OVERLAY_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _finish(fig, output_file)


def score_heatmap(table, value: str = "score", output_file=None, title: str | None = None):
    """The Th × S_min grid of §4.1 as a heatmap of ``value`` (the Eq. 2 score by default), best cell boxed.

    ``table`` is :func:`strokelib.metrics.grid_search` output; cells without a value (every HD undefined) are grey.
    """
    from matplotlib.patches import Rectangle

    grid = table.pivot(index="threshold", columns="min_size", values=value).sort_index()
    values = grid.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * values.shape[1], 1.0 + 0.45 * values.shape[0]))
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    shown = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(values.shape[0]), [f"{t:g}" for t in grid.index])
    ax.set_xlabel("minimum lesion size S_min (voxels)")
    ax.set_ylabel("threshold Th")
    finite = np.isfinite(values)
    middle = np.nanmean(values[finite]) if finite.any() else 0.0
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="white" if v < middle else "black")
    if finite.any():
        i, j = np.unravel_index(np.nanargmax(np.where(finite, values, -np.inf)), values.shape)
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    fig.colorbar(shown, ax=ax, label=value)
    ax.set_title(title or f"{value} over the Th × S_min grid (§4.1)")
    fig.tight_layout()
    return _finish(fig, output_file)


def inference_modes(case, patch_map: np.ndarray, fast_map: np.ndarray, threshold: float = 0.5,
                    modality: str | None = None, plane: str = "axial", output_file=None):
    """One case segmented two ways (§3.5): the paper's overlapping patches vs whole-volume inference (``--fast``),
    and their difference, on the slice where the two masks (``map > threshold``) together are largest; the title
    gives the mask agreement DSC."""
    patch_map, fast_map = np.asarray(patch_map, np.float32), np.asarray(fast_map, np.float32)
    a, b = patch_map > threshold, fast_map > threshold
    agreement = 2.0 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1)
    index = _largest_slice(a | b, plane)
    name = modality or case.modalities[0]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    axes[0].imshow(_slice(case.channel(name), plane, index), cmap="gray")
    axes[0].set_title(f"case {case.case_id}: {name}", fontsize=9)
    for ax, volume, title in ((axes[1], patch_map, "overlapping patches"), (axes[2], fast_map, "whole volume (fast)")):
        shown = ax.imshow(_slice(volume, plane, index), cmap="magma", vmin=0.0, vmax=1.0)
        ax.set_title(f"{title}: lesion probability", fontsize=9)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.02)
    difference = _slice(fast_map - patch_map, plane, index)
    limit = max(float(np.abs(difference).max()), 1e-3)
    shown = axes[3].imshow(difference, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[3].set_title("whole volume − patches", fontsize=9)
    fig.colorbar(shown, ax=axes[3], fraction=0.046, pad=0.02)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"{plane} slice {index}; masks at Th {threshold:g} agree with DSC {agreement:.3f}", fontsize=10)
    fig.tight_layout()
    return _finish(fig, output_file)
