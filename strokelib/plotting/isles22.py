"""Figures of notebook 06 (ISLES 2022, beyond the paper's §2.2 data): FLAIR registered onto the DWI grid, and
lesions found by size."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

from .base import PALETTE, ROLE_COLOURS, _finish, _mark_sides, _outline, _robust_limits, _slice, lesion_slices


def _edges(image2d: np.ndarray) -> np.ndarray:
    return np.hypot(ndimage.sobel(image2d, 0), ndimage.sobel(image2d, 1))


def flair_registration_check(case, flair_header: np.ndarray, flair_registered: np.ndarray, info=None,
                             output_file=None):
    """Judge FLAIR → DWI: per plane (axial and coronal through the lesion), the DWI with the lesion outline, then the
    FLAIR resampled at the scanner's header alignment and after the rigid registration, each with the DWI's strongest
    edges drawn on it (bluish green): where they follow the FLAIR's own edges, the images are aligned. ``info``
    (:class:`strokelib.data.isles22.FlairRegistration`) puts the mutual information and the motion in the title."""
    dwi = case.channel("DWI")
    centre = lesion_slices(case)
    planes = (("axial", centre[2]), ("coronal", centre[1]))
    brain = case.brain_mask
    limits = {"dwi": _robust_limits(dwi, brain), "flair": _robust_limits(flair_registered, brain)}
    fig, axes = plt.subplots(len(planes), 3, figsize=(11, 7.2))
    for row, (plane, index) in zip(axes, planes, strict=True):
        dwi2d = _slice(dwi, plane, index)
        edges = _edges(dwi2d)
        level = np.percentile(edges[edges > 0], 90) if (edges > 0).any() else None
        row[0].imshow(dwi2d, cmap="gray", vmin=limits["dwi"][0], vmax=limits["dwi"][1])
        if case.label is not None:
            _outline(row[0], _slice(case.label, plane, index), ROLE_COLOURS["lesion"])
        row[0].set_title(f"DWI, {plane} slice {index} (lesion: orange)", fontsize=9)
        for ax, flair, name in ((row[1], flair_header, "FLAIR at the header alignment"),
                                (row[2], flair_registered, "FLAIR after rigid registration")):
            ax.imshow(_slice(flair, plane, index), cmap="gray", vmin=limits["flair"][0], vmax=limits["flair"][1])
            if level is not None:
                ax.contour(edges, levels=[level], colors=PALETTE["bluish_green"], linewidths=0.6)
            ax.set_title(f"{name}; DWI edges bluish green", fontsize=9)
        for ax in row:
            _mark_sides(ax, plane, case)
            ax.axis("off")
    title = f"case {case.case_id}: FLAIR resampled onto the DWI grid"
    if info is not None:
        title += (f" — mutual information {info.mi_header:.3f} → {info.mi_registered:.3f} (lower is better), "
                  f"rotation {info.rotation_deg:.1f}°, shift {info.shift_mm:.1f} mm")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _finish(fig, output_file)


def lesion_detection_bars(by_size, output_file=None, title: str = "lesions found, by size"):
    """Bars of :func:`strokelib.evaluation.isles22.detection_by_size`: lesions per size class (light) and those
    found (bluish green), the detection rate written above each class."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    x = np.arange(len(by_size))
    ax.bar(x, by_size["lesions"], color=PALETTE["sky_blue"], label="ground-truth lesions")
    ax.bar(x, by_size["found"], width=0.5, color=ROLE_COLOURS["true positive"], label="found (touched by the mask)")
    for xi, (n, rate) in enumerate(zip(by_size["lesions"], by_size["detection_rate"], strict=True)):
        ax.text(xi, n, "no lesions" if n == 0 else f"{rate:.0%}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [str(i) for i in by_size.index])
    ax.set_xlabel("lesion volume (26-connected components)")
    ax.set_ylabel("lesions")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax.margins(y=0.15)
    fig.tight_layout()
    return _finish(fig, output_file)
