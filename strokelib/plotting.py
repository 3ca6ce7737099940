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
