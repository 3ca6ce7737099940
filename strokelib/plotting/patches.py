"""Figures of notebook 03 (paper §3.3, Figure 3): where training patches are centred, example patches, the
augmentation ops and the class balance of each sampler."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from ..sampling import patches as sampling
from .base import PALETTE, ROLE_COLOURS, _finish, _mark_sides, _outline, _robust_limits, _slice, lesion_slices

HEALTHY_CENTRES = PALETTE["sky_blue"]
LESION_CENTRES = PALETTE["bluish_green"]
SAMPLED_VOXEL = PALETTE["yellow"]
_LABEL_CMAP = ListedColormap([PALETTE["black"], ROLE_COLOURS["lesion"]], name="lesion_label")


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
    """Figure 3 of the paper on a real case: (a) one axial slice with the healthy grid centres (sky blue), the
    lesion-sampled centres (bluish green), the lesion outlined in orange and a few patch boxes; (b) a zoom on the lesion with each lesion patch's
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
        if case.label is not None:
            _outline(ax, _slice(case.label, "axial", z), ROLE_COLOURS["lesion"])
        ax.axis("off")
    _mark_sides(axes[0], "axial", case)
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
    ax.scatter(centres[healthy_here, 0], height - 1 - centres[healthy_here, 1], s=6, c=HEALTHY_CENTRES,
               label=f"healthy grid centres ({healthy_here.sum()} on this slice)")
    ax.scatter(centres[lesion_here, 0], height - 1 - centres[lesion_here, 1], s=6, c=LESION_CENTRES,
               label=f"lesion-sampled centres ({lesion_here.sum()})")
    for pool, colour in ((np.flatnonzero(lesion_here), LESION_CENTRES), (np.flatnonzero(healthy_here), HEALTHY_CENTRES)):
        for i in rng.choice(pool, min(n_boxes, len(pool)), replace=False) if len(pool) else []:
            _patch_box(ax, centres[i], patch_shape, height, edgecolor=colour, lw=1.2)
    ax.legend(loc="lower left", fontsize=7, framealpha=0.8)


def _offsets_panel(ax, case, centres, voxels, lesion_here, patch_shape) -> None:
    """Figure 3 (b): a zoom on the lesion, each lesion patch's offset an arrow from the sampled voxel to the centre."""
    height = case.shape[1]
    sel = np.flatnonzero(lesion_here)
    if len(sel):
        ax.quiver(voxels[sel, 0], height - 1 - voxels[sel, 1], centres[sel, 0] - voxels[sel, 0],
                  voxels[sel, 1] - centres[sel, 1], angles="xy", scale_units="xy", scale=1, color=LESION_CENTRES,
                  width=0.004, alpha=0.8)
        ax.scatter(voxels[sel, 0], height - 1 - voxels[sel, 1], s=5, c=SAMPLED_VOXEL, label="sampled lesion voxel")
        ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
        _patch_box(ax, centres[sel[0]], patch_shape, height, edgecolor=LESION_CENTRES, lw=1.2)
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


def _lesion_slice(y: np.ndarray) -> tuple[int, str]:
    """The axial slice of a patch label (X, Y, Z) with the most lesion voxels, or its middle slice when it has none."""
    counts = y.reshape(-1, y.shape[-1]).sum(axis=0)
    if counts.max() > 0:
        return int(np.argmax(counts)), "most lesion"
    return y.shape[-1] // 2, "middle"


def _patch_rows(ax_row, x, y, names, limits, title: str, z: int | None = None) -> None:
    """One patch as a row: axial slice ``z`` (middle by default) of each channel, the label outlined in orange."""
    z = x.shape[-1] // 2 if z is None else z
    label = np.rot90(y[:, :, z])
    for c, ax in enumerate(ax_row[:-1]):
        ax.imshow(np.rot90(x[c, :, :, z]), cmap="gray", vmin=limits[c][0], vmax=limits[c][1])
        _outline(ax, label, ROLE_COLOURS["lesion"], lw=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(title, fontsize=7)
    ax_row[-1].imshow(label, cmap=_LABEL_CMAP, vmin=0, vmax=1)
    ax_row[-1].set_xticks([])
    ax_row[-1].set_yticks([])


def patch_gallery(case, centres, ops, origin, patch_shape=(24, 24, 16), n_healthy: int = 2, seed: int = 0,
                  output_file=None):
    """Example training patches across every modality (columns, label last): one lesion-sampled patch per
    augmentation op found in ``ops`` and ``n_healthy`` healthy ones, each shown as it reaches the network (op
    applied). A lesion patch is shown on its axial slice with the most lesion voxels (the middle one when the
    patch holds none), a healthy patch on its middle slice; each row says which slice."""
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
    fig, axes = plt.subplots(len(picks), cols, figsize=(1.3 * cols + 0.4, 1.35 * len(picks) + 0.3), squeeze=False)
    for row, i in enumerate(picks):
        z, why = _lesion_slice(y[row]) if origin[i] else (patch_shape[2] // 2, "middle")
        kind = "lesion" if origin[i] else "healthy"
        _patch_rows(axes[row], x[row], y[row], case.modalities, limits,
                    f"{kind}\n{sampling.AUGMENTATIONS[ops[i]]}\nz {z} ({why})", z)
        axes[row, -1].set_title(f"z = {z} (slices 0–{patch_shape[2] - 1})", fontsize=6.5)
    for c, name in enumerate((*case.modalities, "label")):
        axes[0, c].set_title(name if c < cols - 1 else f"label\n{axes[0, c].get_title()}", fontsize=8)
    fig.suptitle(f"case {case.case_id}: training patches {tuple(patch_shape)}, axial slice with the most lesion",
                 fontsize=10)
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
        _outline(axes[0, col], np.rot90(ya[:, :, z]), ROLE_COLOURS["lesion"])
        axes[1, col].imshow(np.rot90(ya[:, :, z]), cmap=_LABEL_CMAP, vmin=0, vmax=1)
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
    """Voxel-level lesion share of each patch set (rows of :func:`strokelib.sampling.patches.balance_table`)."""
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(table) + 1.2))
    values = table[column].to_numpy(float)
    bars = ax.barh(np.arange(len(table)), values, color=["0.6"] + [ROLE_COLOURS["lesion"]] * (len(table) - 1))
    ax.bar_label(bars, labels=[f"{v:.1f} %" for v in values], fontsize=8, padding=3)
    ax.set_yticks(np.arange(len(table)), table.index)
    ax.invert_yaxis()
    ax.set_xlabel(column)
    ax.set_xlim(0, max(values.max() * 1.25, 1e-3))
    fig.suptitle("class balance of the training patches (§3.3)", fontsize=10)
    fig.tight_layout()
    return _finish(fig, output_file)


def _seen_offsets(position: int, patch: int, step: int) -> np.ndarray:
    """The offsets inside a patch at which voxel ``position`` is seen by the inference patches of one axis: the
    patches are centred every ``step`` voxels (:func:`strokelib.sampling.patches.grid_centres`) and cover
    ``[c - patch//2, c - patch//2 + patch)``."""
    first = (position + patch // 2) % step
    return np.arange(first, patch, step)


def _border_share(patch_shape, step, size: tuple[int, int], border: int) -> np.ndarray:
    """In-plane map: the share of a voxel's inference patches in which it lies within ``border`` voxels of the
    patch's in-plane border (where the network sees least context)."""
    near = []
    for axis in (0, 1):
        fractions = []
        for position in range(size[axis]):
            seen = _seen_offsets(position, patch_shape[axis], step[axis])
            fractions.append(np.mean((seen < border) | (seen >= patch_shape[axis] - border)))
        near.append(np.array(fractions))
    return 1 - np.outer(1 - near[0], 1 - near[1])


def _overlap_sketch(ax, patch_shape, step, window: int) -> None:
    """(a) In-plane: a few of the inference patches that contain one voxel (those shifted by one step in x and y
    at once, so each outline shows), the lattice of patch centres and the voxel."""
    from matplotlib.patches import Rectangle

    v = window // 2
    xs = [v - o for o in _seen_offsets(v, patch_shape[0], step[0])][::-1]  # patch starts along x, left to right
    ys = [v - o for o in _seen_offsets(v, patch_shape[1], step[1])][::-1]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"][:6]  # not yellow: the voxel's colour
    diagonal = list(zip(xs, ys, strict=False))
    shown = [diagonal[i] for i in np.unique(np.linspace(0, len(diagonal) - 1, min(len(diagonal), 6)).round().astype(int))]
    for k, (x0, y0) in enumerate(shown):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), patch_shape[0], patch_shape[1], fill=False,
                               ec=colours[k % len(colours)], lw=1.6))
    centres = [np.arange((starts[0] + patch_shape[a] // 2) % step[a] - step[a], window + step[a], step[a])
               for a, starts in ((0, xs), (1, ys))]
    gx, gy = np.meshgrid(*centres, indexing="ij")
    ax.plot(gx.ravel(), gy.ravel(), ".", color="0.45", ms=2.5 if step[0] > 2 else 1, label=f"patch centres, every {step[0]}×{step[1]}")
    ax.plot([v], [v], "o", color=PALETTE["yellow"], ms=9, mec=PALETTE["black"], label="one voxel")
    lo, hi = min(xs[0], ys[0]) - 2, max(xs[-1] + patch_shape[0], ys[-1] + patch_shape[1]) + 2
    ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal", xlabel="x (voxels)", ylabel="y (voxels)")
    ax.legend(loc="upper left", fontsize=7, framealpha=0.95)
    ax.set_title(f"(a) {len(shown)} of the {len(xs)}×{len(ys)} = {len(xs) * len(ys)} patches (in-plane) that contain "
                 "one voxel", fontsize=9)


def patch_overlap_diagram(patch_shape=(24, 24, 16), step=(4, 4, 1), border: int = 2, output_file=None):
    """How the overlapping inference patches of §3.5 cover the volume at a given ``step``: (a) in-plane, the
    outlines of all the patches that contain one voxel; (b) the share of a voxel's patches in which it lies within
    ``border`` voxels of a patch border, where the network sees least context. Where that share changes from voxel
    to voxel, the averaged map inherits a lattice with the period of the step (8×8×8: 18 patches per voxel);
    at 4×4×1 (576 patches) every voxel is seen at as many positions of the patch as its neighbours. The title gives
    :func:`strokelib.sampling.patches.patches_per_voxel`.
    """
    p = sampling.as_patch_shape(patch_shape)
    s = sampling.as_patch_shape(step)
    n = sampling.patches_per_voxel(p, s)
    window = int(2 * max(p[0], p[1]))
    share = _border_share(p, s, (window, window), border)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.9))
    _overlap_sketch(axes[0], p, s, window)
    shown = axes[1].imshow(share.T, origin="lower", cmap="cividis", vmin=0.0, vmax=0.6)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.03, label=f"share of patches, voxel ≤ {border} from border")
    flat = share.max() - share.min() < 1e-9
    axes[1].set(xlabel="x (voxels)", ylabel="y (voxels)")
    axes[1].set_title(f"(b) share of a voxel's patches that see it near their border: {share.min():.2f}–{share.max():.2f}"
                      f"\n{'the same for every voxel: no lattice' if flat else f'varies with period {s[0]}×{s[1]}: a lattice'}",
                      fontsize=9)
    divides = bool(np.all(p % s == 0))
    factors = " · ".join(f"{a}/{b}" if a % b == 0 else f"⌊{a}/{b}⌋" for a, b in zip(p.tolist(), s.tolist(), strict=True))
    fig.suptitle(f"inference patches {'×'.join(map(str, p.tolist()))} at step {'×'.join(map(str, s.tolist()))}: "
                 f"{'' if divides else 'at least '}{n} patches per interior voxel ({factors}) (§3.5)", fontsize=11)
    fig.tight_layout()
    return _finish(fig, output_file, data=False)
