"""Figures of notebook 05 (paper §3.5, §4, Figures 4–5): segmentation overlays, the (Th, S_min) score heatmap and
patch against whole-volume inference."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb

from .base import (
    COLOUR_NAMES,
    PALETTE,
    ROLE_COLOURS,
    _draw_outlines,
    _finish,
    _mark_sides,
    _most_voxels_slice,
    _outline,
    _outline_handles,
    _robust_limits,
    _slice,
)

OVERLAY_COLOURS = {name: to_rgb(ROLE_COLOURS[name]) for name in ("true positive", "false positive", "false negative")}
"""Figures 4–5's error colours as RGB: the paper's green / red / blue in the Okabe–Ito palette (bluish green,
vermillion, blue)."""

_largest_slice = _most_voxels_slice


def _colour_word(name: str) -> str:
    return COLOUR_NAMES[ROLE_COLOURS[name]]


def error_overlay(ax, image: np.ndarray, pred: np.ndarray, truth: np.ndarray, alpha: float = 0.7) -> None:
    """Draw a 2D image in grey with true positives bluish green, false positives vermillion and false negatives
    blue (Figs 4–5, :data:`OVERLAY_COLOURS`)."""
    lo, hi = _robust_limits(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
    rgba = np.zeros((*image.shape, 4))
    for name, region in (("true positive", pred & truth), ("false positive", pred & ~truth), ("false negative", ~pred & truth)):
        rgba[region] = (*OVERLAY_COLOURS[name], alpha)
    ax.imshow(rgba)
    ax.axis("off")


def _overlay_slice(masks: list[np.ndarray], plane: str) -> int:
    """The slice of ``plane`` that shows the most of ``masks`` (prediction ∪ truth first, then each look-alike):
    first the most masks present at all, then the most look-alikes, then the most voxels of their union. A
    look-alike thus always gets a slice where it is drawn, even far from the lesion."""
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    other = tuple(a for a in range(3) if a != axis)
    shape = np.shape(masks[0])
    masks = [np.asarray(m, bool) for m in masks]
    if not any(m.any() for m in masks):
        return shape[axis] // 2
    on_slice = [m.any(axis=other).astype(int) for m in masks]
    present, look_alikes = sum(on_slice), sum(on_slice[1:], np.zeros(shape[axis], int))
    union = np.logical_or.reduce(masks).sum(axis=other)
    return int(np.lexsort((union, look_alikes, present))[-1])


def _overlay_row(fig, axes, case, prob, pred, marks: dict, title: str, modality: str | None, plane: str,
                 focus: str = "union") -> None:
    """One row of Figures 4–5: errors on the image (look-alikes dashed), probability, binarised mask."""
    pred = np.asarray(pred) > 0
    truth = case.label > 0 if case.label is not None else np.zeros_like(pred)
    marks = {k: np.asarray(m) > 0 for k, m in marks.items()}
    shown = truth if focus == "truth" and truth.any() else pred | truth
    index = _overlay_slice([shown, *marks.values()], plane)
    name = modality or case.modalities[0]
    pred2d, truth2d = _slice(pred, plane, index), _slice(truth, plane, index)
    error_overlay(axes[0], _slice(case.channel(name), plane, index), pred2d, truth2d)
    _draw_outlines(axes[0], {k: _slice(m, plane, index) for k, m in marks.items()})
    _mark_sides(axes[0], plane, case)
    axes[0].set_title(f"{title}\n{name}, {plane} slice {index}", fontsize=9)
    shown = axes[1].imshow(_slice(np.asarray(prob), plane, index), cmap="magma", vmin=0.0, vmax=1.0)
    axes[1].set_title("lesion probability", fontsize=9)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.02)
    axes[2].imshow(pred2d, cmap="gray", vmin=0, vmax=1)
    _outline(axes[2], truth2d, ROLE_COLOURS["lesion"])
    axes[2].set_title(f"binarised mask (truth outlined, {_colour_word('lesion')})", fontsize=9)
    for ax in axes[1:]:
        ax.axis("off")


FIGURES_4_5 = "Figures 4–5: true positives bluish green, false positives vermillion, false negatives blue"


def segmentation_overlays(cases, probabilities, predictions, titles=None, modality: str | None = None,
                          plane: str = "axial", output_file=None, outlines=None, focus: str = "union",
                          suptitle: str = FIGURES_4_5):
    """Figures 4 and 5: one row per case — ``modality`` with true positives bluish green, false positives
    vermillion and false negatives blue, the lesion probability map, and the binarised mask with the ground truth
    outlined in orange.

    ``cases`` hold the ground truth (``case.label``); ``probabilities`` and ``predictions`` are the matching
    (X, Y, Z) maps and masks; ``titles`` label the rows (e.g. "best DSC 0.85, case 9"). ``outlines`` (one
    ``{name: mask}`` per row, e.g. the synthetic look-alikes ``old_lesion`` and ``mimic``) are drawn thick and
    dashed on the first panel (old lesion yellow, mimic reddish purple), on a slice that shows each of them
    together with the prediction and the truth where one exists, so false positives on them show. ``focus="truth"``
    picks the slice with the most ground truth instead of the most prediction ∪ truth (a map with many false
    positives would otherwise show a slice without the lesion); ``suptitle`` heads the figure.
    """
    if focus not in ("union", "truth"):
        raise ValueError(f"focus {focus!r}: use 'union' or 'truth'")
    from matplotlib.patches import Patch

    outlines = outlines or [{} for _ in cases]
    fig, axes = plt.subplots(len(cases), 3, figsize=(9.5, 3.2 * len(cases) + 0.9), squeeze=False)
    for row, (case, prob, pred, marks) in enumerate(zip(cases, probabilities, predictions, outlines, strict=True)):
        title = titles[row] if titles is not None else f"case {case.case_id}"
        _overlay_row(fig, axes[row], case, prob, pred, marks, title, modality, plane, focus)
    handles = [Patch(color=colour, label=f"{name} ({_colour_word(name)})") for name, colour in OVERLAY_COLOURS.items()]
    handles += _outline_handles(sorted({k for marks in outlines for k in marks}))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), frameon=False, fontsize=8)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 if len(handles) > 3 else 0.035, 1, 1))
    return _finish(fig, output_file)


def score_heatmap(table, value: str = "score", output_file=None, title: str | None = None):
    """The Th × S_min grid of §4.1 as a heatmap of ``value`` (the Eq. 2 score by default), best cell boxed.

    ``table`` is :func:`strokelib.evaluation.metrics.grid_search` output; cells without a value (every HD undefined) are grey.
    """
    from matplotlib.patches import Rectangle

    grid = table.pivot(index="threshold", columns="min_size", values=value).sort_index()
    values = grid.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.0 + 0.75 * values.shape[1]), 1.2 + 0.45 * values.shape[0]))
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
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=PALETTE["vermillion"], linewidth=2.5))
    fig.colorbar(shown, ax=ax, label=value)
    fig.suptitle(title or f"{value} over the Th × S_min grid (§4.1), best cell boxed in vermillion", fontsize=10)
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
    _mark_sides(axes[0], plane, case)
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


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1)


def step_comparison(case, maps: dict[str, np.ndarray], threshold: float = 0.5, output_file=None,
                    modality: str | None = None, plane: str = "axial"):
    """One case's probability maps from two (or more) inference steps (§3.5) side by side on one slice, the one
    with the most lesion (else the most of the thresholded maps): each map with its mask at ``threshold``
    outlined in sky blue and the ground truth in orange. Panel titles are the keys of ``maps`` (e.g. "step 8×8×8
    (18 patches per voxel)"), with the mask's DSC against the truth when the case has a label."""
    from matplotlib.lines import Line2D

    maps = {k: np.asarray(v, np.float32) for k, v in maps.items()}
    truth = case.label > 0 if case.label is not None else None
    masks = {k: v > threshold for k, v in maps.items()}
    index = _most_voxels_slice(truth if truth is not None and truth.any() else np.logical_or.reduce(list(masks.values())),
                               plane)
    fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps) + 0.8, 4.0), squeeze=False)
    for ax, (key, volume) in zip(axes[0], maps.items(), strict=True):
        shown = ax.imshow(_slice(volume, plane, index), cmap="magma", vmin=0.0, vmax=1.0)
        _outline(ax, _slice(masks[key], plane, index), ROLE_COLOURS["prediction"])
        if truth is not None:
            _outline(ax, _slice(truth, plane, index), ROLE_COLOURS["lesion"], lw=1.8)
        _mark_sides(ax, plane, case)
        score = f"\nDSC {_dice(masks[key], truth):.3f} (3D)" if truth is not None else ""
        ax.set_title(f"{key}{score}", fontsize=9)
        ax.axis("off")
    fig.colorbar(shown, ax=axes[0, -1], fraction=0.046, pad=0.02, label="lesion probability")
    handles = [Line2D([], [], color=ROLE_COLOURS["prediction"], lw=2, label=f"probability > {threshold:g} (sky blue)")]
    if truth is not None:
        handles.append(Line2D([], [], color=ROLE_COLOURS["lesion"], lw=2, label="ground truth (orange)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)
    fig.suptitle(f"case {case.case_id}: inference steps compared, {plane} slice {index}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _finish(fig, output_file)
