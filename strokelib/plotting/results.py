"""Figures of notebook 05 (paper §3.5, §4, Figures 4–5): segmentation overlays, the (Th, S_min) score heatmap and
patch against whole-volume inference."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .base import _finish, _robust_limits, _slice

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


OUTLINE_COLOURS = {"old_lesion": "orange", "mimic": "cyan"}
"""Colours of the look-alikes outlined on Figures 4–5 (any other name is drawn in white)."""


def _draw_outlines(ax, outlines2d: dict[str, np.ndarray]) -> None:
    for name, mask in outlines2d.items():
        if mask.any():
            ax.contour(mask, levels=[0.5], colors=[OUTLINE_COLOURS.get(name, "white")], linewidths=1.0,
                       linestyles="dashed")


def segmentation_overlays(cases, probabilities, predictions, titles=None, modality: str | None = None,
                          plane: str = "axial", output_file=None, outlines=None):
    """Figures 4 and 5: one row per case — ``modality`` with TP/FP/FN colours, the lesion probability map, and
    the binarised mask with the ground-truth outline — on the slice where prediction ∪ truth is largest.

    ``cases`` hold the ground truth (``case.label``); ``probabilities`` and ``predictions`` are the matching
    (X, Y, Z) maps and masks; ``titles`` label the rows (e.g. "best DSC 0.85, case 9"). ``outlines`` (one
    ``{name: mask}`` per row, e.g. the synthetic look-alikes ``old_lesion`` and ``mimic``) are drawn dashed on the
    first panel (:data:`OUTLINE_COLOURS`), and the slice is then the one where they, the prediction and the truth
    together are largest, so false positives on them show.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    outlines = outlines or [{} for _ in cases]
    fig, axes = plt.subplots(len(cases), 3, figsize=(9.5, 3.2 * len(cases)), squeeze=False)
    for row, (case, prob, pred, marks) in enumerate(zip(cases, probabilities, predictions, outlines, strict=True)):
        pred = np.asarray(pred) > 0
        truth = case.label > 0 if case.label is not None else np.zeros_like(pred)
        index = _largest_slice(np.logical_or.reduce([pred, truth, *(np.asarray(m) > 0 for m in marks.values())]), plane)
        name = modality or case.modalities[0]
        image = _slice(case.channel(name), plane, index)
        pred2d, truth2d = _slice(pred, plane, index), _slice(truth, plane, index)
        error_overlay(axes[row, 0], image, pred2d, truth2d)
        _draw_outlines(axes[row, 0], {k: _slice(np.asarray(m) > 0, plane, index) for k, m in marks.items()})
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
    shown_names = sorted({k for marks in outlines for k in marks})
    handles += [Line2D([], [], color=OUTLINE_COLOURS.get(k, "white"), linestyle="dashed", label=k.replace("_", " "))
                for k in shown_names]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, -0.01))
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
