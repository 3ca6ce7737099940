"""What every figure of paper §2–§4 shares: save, show and close (``output_file=``), display slices, grey levels, the
one colour-blind-safe palette, outlines, L/R markers and the data-source label of data figures.

Colours: the Okabe–Ito palette (:data:`PALETTE`) is matplotlib's default colour cycle once :mod:`strokelib.plotting`
is imported, and every colour a figure names comes from it, with one meaning throughout (:data:`ROLE_COLOURS`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler

from ..files import save_figure

PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
"""The Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008), the only colours the figures use."""

CYCLE = [PALETTE[k] for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "black",
                              "yellow")]
"""The palette as matplotlib's colour cycle, ordered for lines on white (yellow, the palest, last)."""

ROLE_COLOURS = {
    "lesion": PALETTE["orange"],  # the ground-truth outline, in every figure
    "healthy": PALETTE["blue"],
    "prediction": PALETTE["sky_blue"],  # a thresholded probability map's outline
    "true positive": PALETTE["bluish_green"],
    "false positive": PALETTE["vermillion"],
    "false negative": PALETTE["blue"],
    "old_lesion": PALETTE["yellow"],  # look-alikes, drawn dashed
    "mimic": PALETTE["reddish_purple"],
}
"""One meaning per colour across the package (Figures 1–5 and the notebooks' own)."""

OUTLINE_COLOURS = {"old_lesion": ROLE_COLOURS["old_lesion"], "mimic": ROLE_COLOURS["mimic"]}
"""Colours of the dashed look-alike outlines (a name containing ``old`` or ``mimic``; others are sky blue)."""

COLOUR_NAMES = {hex_: name.replace("_", " ") for name, hex_ in PALETTE.items()}
"""A palette colour's name, for legends that say the colour in words."""


def use_palette() -> None:
    """Make :data:`CYCLE` matplotlib's default colour cycle (done when :mod:`strokelib.plotting` is imported)."""
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=CYCLE)


use_palette()

_DATA_SOURCE: dict[str, str | None] = {"label": None}


def set_data_source(label: str | None) -> None:
    """Say where the data of the following figures come from, e.g. ``"synthetic SISS-like data"``; every figure
    made from data then ends its title with it ("… — synthetic SISS-like data"). None (real data) adds nothing."""
    _DATA_SOURCE["label"] = str(label) if label else None


def data_source() -> str | None:
    """The label set by :func:`set_data_source` (None: nothing is added to the titles)."""
    return _DATA_SOURCE["label"]


def _inline_backend() -> bool:
    """True inside a Jupyter kernel with ``%matplotlib inline`` (also under papermill)."""
    return "inline" in matplotlib.get_backend().lower()


def _label_data_source(fig: plt.Figure) -> None:
    """Append the :func:`data_source` label to the figure's suptitle (made when missing)."""
    label = data_source()
    if not label:
        return
    current = fig._suptitle.get_text() if fig._suptitle is not None else ""
    if label in current:
        return
    if current:
        fig._suptitle.set_text(f"{current} — {label}")
    else:
        fig.suptitle(label, fontsize=10)
        fig.tight_layout()


def _finish(fig: plt.Figure, output_file: str | Path | None, data: bool = True) -> plt.Figure | None:
    """Return ``fig`` when no ``output_file`` is given; else save it, display it in a notebook, close it and
    return None. ``data=True`` (a figure made from images or results) appends :func:`data_source` to its title;
    diagrams of the method pass ``data=False``.

    The inline backend only shows figures that are still open when the cell ends, so a saved-and-closed figure
    would vanish from the notebook; displaying it explicitly first keeps it there, exactly once.
    """
    if data:
        _label_data_source(fig)
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


_OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}


def side_letters(plane: str, orientation: str = "RAS") -> tuple[str, str]:
    """The patient directions at the (left, right) edges of a slice drawn by :func:`_slice`.

    Derived from ``_slice`` itself: the array axis that runs along the displayed columns, and whether it increases
    to the right, combined with the case's axis codes (``"RAS"``: axis 0 increases towards the patient's Right).
    Axial and coronal slices of an RAS+ case give ("L", "R"): the patient's right is on the image's right
    (neurological convention); sagittal slices give ("P", "A").
    """
    grids = np.indices((3, 4, 5))
    first_row = [_slice(g, plane, 1)[0] for g in grids]
    axis = next(a for a, row in enumerate(first_row) if row[0] != row[-1])
    code = orientation[axis]
    return (_OPPOSITE[code], code) if first_row[axis][-1] > first_row[axis][0] else (code, _OPPOSITE[code])


def _mark_sides(ax, plane: str, case=None) -> None:
    """Write the patient directions (:func:`side_letters`) at the left and right edges of an image panel."""
    import matplotlib.patheffects as pe

    try:
        orientation = case.orientation if case is not None else "RAS"
    except AttributeError:
        orientation = "RAS"
    letters = side_letters(plane, orientation if len(orientation) == 3 else "RAS")
    halo = [pe.withStroke(linewidth=2, foreground=PALETTE["black"])]
    for x, ha, letter in ((0.03, "left", letters[0]), (0.97, "right", letters[1])):
        ax.text(x, 0.5, letter, transform=ax.transAxes, ha=ha, va="center", fontsize=8, weight="bold",
                color="white", path_effects=halo)


def _outline(ax, mask2d: np.ndarray, colour: str, dashed: bool = False, lw: float = 1.4) -> None:
    """Outline a 2D mask, with a thin black halo so that the line shows over any grey level or colour map."""
    import matplotlib.patheffects as pe

    mask2d = np.asarray(mask2d) > 0
    if not mask2d.any():
        return
    halo = [pe.withStroke(linewidth=lw + 1.6, foreground=PALETTE["black"])]
    contour = ax.contour(mask2d.astype(np.float32), levels=[0.5], colors=[colour], linewidths=lw,
                         linestyles="dashed" if dashed else "solid")
    contour.set(path_effects=halo)


def outline_colour(name: str) -> str:
    """The colour of a look-alike's dashed outline: yellow for an old lesion, reddish purple for a mimic."""
    key = name.lower().replace(" ", "_")
    return next((colour for k, colour in OUTLINE_COLOURS.items() if k.split("_")[0] in key), PALETTE["sky_blue"])


def _draw_outlines(ax, outlines2d: dict[str, np.ndarray], lw: float = 2.0) -> None:
    """Look-alikes (``{name: 2D mask}``) as thick dashed outlines (:func:`outline_colour`)."""
    for name, mask in outlines2d.items():
        _outline(ax, mask, outline_colour(name), dashed=True, lw=lw)


def _outline_handles(names) -> list:
    """Legend entries for look-alike outlines, their colour said in words."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=outline_colour(n), linestyle="dashed", lw=2,
                   label=f"{n.replace('_', ' ')} ({COLOUR_NAMES[outline_colour(n)]}, dashed)") for n in names]


def _outline_legend(fig, case, outlines, show_label: bool = True) -> None:
    """The legend of the outlines at the foot of a figure: the lesion (solid orange) and each look-alike (dashed)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=ROLE_COLOURS["lesion"], lw=2, label="lesion (orange)")] if (
        show_label and case.label is not None) else []
    handles += _outline_handles(list(outlines or {}))
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)


def _robust_limits(volume: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    values = volume[mask] if mask is not None and mask.any() else volume[volume != 0]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [1, 99])
    return float(lo), float(hi if hi > lo else lo + 1)


def _most_voxels_slice(mask: np.ndarray, plane: str) -> int:
    """Index of the slice of ``plane`` where ``mask`` has the most voxels (the middle one when it is empty)."""
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    if not np.any(mask):
        return mask.shape[axis] // 2
    other = tuple(a for a in range(3) if a != axis)
    return int(np.argmax(np.asarray(mask).sum(axis=other)))


def lesion_slices(case) -> tuple[int, int, int]:
    """(x, y, z) indices through the lesion's centre of mass, or the volume centre when there is no label."""
    if case.label is not None and case.label.any():
        return tuple(int(round(c)) for c in np.argwhere(case.label).mean(axis=0))
    return tuple(s // 2 for s in case.shape)
