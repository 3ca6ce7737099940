"""Figures of notebook 03 (paper §3.3, Figure 3): where training patches are centred, example patches, the
augmentation ops and the class balance of each sampler."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .. import sampling
from .base import _finish, _robust_limits, _slice, lesion_slices


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
    on_slice = centres[:, 2] == z
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8), gridspec_kw={"width_ratios": [1.15, 1.15, 1]})
    for ax in axes[:2]:
        ax.imshow(_slice(volume, "axial", z), cmap="gray", vmin=lo, vmax=hi)
        if case.label is not None and _slice(case.label, "axial", z).any():
            ax.contour(_slice(case.label, "axial", z), levels=[0.5], colors="red", linewidths=0.9)
        ax.axis("off")
    _centres_panel(axes[0], case, centres, on_slice & origin, on_slice & ~origin, patch_shape, n_boxes, rng)
    axes[0].set_title(f"(a) {modality}, axial slice {z}: centres and {patch_shape[0]}×{patch_shape[1]} patch boxes",
                      fontsize=9)
    _offsets_panel(axes[1], case, centres, voxels, on_slice & origin, patch_shape)
    _offset_histogram(axes[2], (centres - voxels)[origin])
    n_lesion = int(origin.sum())
    augmented = int((np.asarray(ops) > 0).sum())
    fig.suptitle(f"case {case.case_id}: {len(centres)} patches = {n_lesion} lesion-sampled ({augmented} augmented) "
                 f"+ {len(centres) - n_lesion} healthy", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file)


def _centres_panel(ax, case, centres, lesion_here, healthy_here, patch_shape, n_boxes: int, rng) -> None:
    """Figure 3 (a): healthy grid and lesion-sampled centres on the slice, with a few patch boxes."""
    height = case.shape[1]
    ax.scatter(centres[healthy_here, 0], height - 1 - centres[healthy_here, 1], s=6, c="tab:blue",
               label=f"healthy grid centres ({healthy_here.sum()} on this slice)")
    ax.scatter(centres[lesion_here, 0], height - 1 - centres[lesion_here, 1], s=6, c="tab:orange",
               label=f"lesion-sampled centres ({lesion_here.sum()})")
    for pool, colour in ((np.flatnonzero(lesion_here), "tab:orange"), (np.flatnonzero(healthy_here), "tab:blue")):
        for i in rng.choice(pool, min(n_boxes, len(pool)), replace=False) if len(pool) else []:
            _patch_box(ax, centres[i], patch_shape, height, edgecolor=colour, lw=1.2)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.8)


def _offsets_panel(ax, case, centres, voxels, lesion_here, patch_shape) -> None:
    """Figure 3 (b): a zoom on the lesion, each lesion patch's offset an arrow from the sampled voxel to the centre."""
    height = case.shape[1]
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


def _offset_histogram(ax, offsets: np.ndarray) -> None:
    """Figure 3 (c): the share of lesion patches per offset value, one line per axis."""
    if len(offsets):
        for axis, name in enumerate("xyz"):
            values, counts = np.unique(offsets[:, axis], return_counts=True)
            ax.step(values, counts / len(offsets), where="mid", label=f"{name} (|offset| ≤ {np.abs(values).max()})")
        ax.legend(fontsize=8)
    ax.set_xlabel("offset (voxels)")
    ax.set_ylabel("share of lesion patches")
    ax.set_title("(c) offsets keep the sampled voxel inside its patch", fontsize=9)


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
