"""Progress bars for the long steps of the method (§3.1 registration, §3.4 training, §3.5 inference, §4 grid search).

One function, :func:`progress_bar`, which every long loop of the package uses: tqdm's automatic choice (a widget in
Jupyter, text in a terminal), switched off where nobody watches it — when ``STROKELIB_PROGRESS=off``, which the
notebook runner sets for the notebooks it executes headless, so executed copies carry no frozen progress widgets.
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm

PROGRESS_ENV = "STROKELIB_PROGRESS"


def progress_enabled() -> bool:
    """False when ``STROKELIB_PROGRESS`` is ``off`` (or ``0``/``false``): no bar is drawn anywhere."""
    return os.environ.get(PROGRESS_ENV, "").strip().lower() not in {"off", "0", "false", "no"}


def progress_bar(iterable=None, *, disable: bool = False, **kwargs) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **kwargs)``, disabled when asked or when :func:`progress_enabled` is False."""
    return tqdm(iterable, disable=disable or not progress_enabled(), **kwargs)
