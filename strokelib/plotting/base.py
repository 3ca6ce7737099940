"""What every figure of paper §2–§4 shares: save, show and close (``output_file=``), display slices, grey levels."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from ..files import save_figure


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


def lesion_slices(case) -> tuple[int, int, int]:
    """(x, y, z) indices through the lesion's centre of mass, or the volume centre when there is no label."""
    if case.label is not None and case.label.any():
        return tuple(int(round(c)) for c in np.argwhere(case.label).mean(axis=0))
    return tuple(s // 2 for s in case.shape)
