"""Where a run reads its notebooks and profiles and writes its results (paper §2–§4: the notebooks that walk through
the method, the profiles that size them, and the folder their outputs, figures and data go to), alike in a checkout
of the repository and in a strokelib installed with pip.

* :func:`working_folder` — the folder a run writes under, in the repository's layout (``outputs/``, the profiles'
  ``figures_dir``, ``data/synthetic/``): ``$STROKELIB_WORKDIR`` when set (the notebook runner sets it for its
  kernels; ``strokelib run --workdir DIR`` sets it), else the first folder upwards from the current one that is a
  checkout (``pyproject.toml`` and ``notebooks/``) or a folder ``strokelib notebooks`` filled (``notebooks/`` with
  numbered notebooks and ``profiles/``), else the current folder itself.
* :func:`notebooks_folder` — the notebooks a run executes: the working folder's ``notebooks/`` when it holds numbered
  notebooks (a checkout, or copies made with :func:`copy_notebooks` and perhaps edited), else the ones this strokelib
  carries (:func:`packaged_notebooks`); the profiles are in its ``profiles/``.
* :func:`copy_notebooks` — ``strokelib notebooks DIR``: the carried notebooks and profiles copied into
  ``DIR/notebooks/``, to open in JupyterLab or to edit and run.

An installed wheel carries the notebooks and profiles as package data in ``strokelib/_notebooks/`` (copied from the
repository's ``notebooks/`` when the wheel is built, see ``setup.py``); a checkout, editable install included, reads
``notebooks/`` itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ConfigError

WORKDIR_ENV = "STROKELIB_WORKDIR"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
PROFILE_GLOB = "*.yaml"
PACKAGED = Path(__file__).resolve().parent / "_notebooks"
"""Where a wheel puts the notebooks and profiles (absent in a checkout: there ``notebooks/`` is read)."""
SAMPLE = Path("tests") / "data" / "isles22"
"""The real ISLES 2022 sample case (sub-strokecase0009, CC BY-SA 4.0, see its SOURCE.md), relative to a checkout;
a wheel carries it as ``strokelib/_notebooks/isles22_sample/``."""


def is_checkout(folder: Path) -> bool:
    """A repository checkout: ``pyproject.toml`` and ``notebooks/`` (the test the repository root always passed)."""
    return (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir()


def holds_notebooks(folder: Path) -> bool:
    """A folder whose ``notebooks/`` holds numbered notebooks and ``profiles/``, as :func:`copy_notebooks` leaves it
    (``docs/``, with executed copies but no profiles, is not one)."""
    notebooks = folder / "notebooks"
    return (notebooks / "profiles").is_dir() and any(notebooks.glob(NOTEBOOK_GLOB))


def _chosen() -> Path | None:
    """``$STROKELIB_WORKDIR``, resolved; a value that is not a folder is an error naming it."""
    value = os.environ.get(WORKDIR_ENV, "").strip()
    if not value:
        return None
    folder = Path(value).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(f"{WORKDIR_ENV}={value}: {folder} is not a folder; create it or unset {WORKDIR_ENV}")
    return folder


def working_folder(start: str | Path | None = None) -> Path:
    """The folder a run writes under: ``$STROKELIB_WORKDIR`` when set and ``start`` (default: the current folder) is
    not outside it; else the first folder upwards from ``start`` that :func:`is_checkout` or :func:`holds_notebooks`;
    else ``start`` itself, so an installed strokelib works from any folder."""
    here = Path(start or Path.cwd()).resolve()
    chosen = _chosen()
    if chosen is not None and (start is None or chosen == here or chosen in here.parents):
        return chosen
    return next((folder for folder in (here, *here.parents) if is_checkout(folder) or holds_notebooks(folder)), here)


def packaged_notebooks() -> Path:
    """The notebooks this strokelib carries: ``strokelib/_notebooks/`` of an installed wheel, else the ``notebooks/``
    of the checkout the package lies in (an editable install)."""
    if any(PACKAGED.glob(NOTEBOOK_GLOB)):
        return PACKAGED
    checkout = PACKAGED.parent.parent
    if is_checkout(checkout) and any((checkout / "notebooks").glob(NOTEBOOK_GLOB)):
        return checkout / "notebooks"
    raise ConfigError(f"this strokelib ({PACKAGED.parent}) carries no notebooks: {PACKAGED} is missing or empty and "
                      f"{checkout} is not a strokelib checkout; reinstall strokelib from its wheel (pip install "
                      "strokelib-*.whl) or a checkout (pip install .)")


def isles22_sample_folder() -> Path:
    """The real ISLES 2022 sample case this strokelib carries (notebook 06 segments it): ``tests/data/isles22/`` of the
    checkout the package lies in, else the wheel's copy."""
    checkout = PACKAGED.parent.parent
    for folder in (checkout / SAMPLE, PACKAGED / "isles22_sample"):
        if (folder / "SOURCE.md").is_file():
            return folder
    raise ConfigError(f"this strokelib ({PACKAGED.parent}) carries no ISLES 2022 sample case: neither {checkout / SAMPLE} "
                      f"nor {PACKAGED / 'isles22_sample'} exists; reinstall strokelib from its wheel or a checkout, or "
                      "set isles22_sample to a case folder")


def notebooks_folder(root: str | Path | None = None) -> Path:
    """The folder of the numbered notebooks a run executes: ``<working folder>/notebooks/`` when it holds some,
    else :func:`packaged_notebooks`. Its ``profiles/`` holds the profiles."""
    own = working_folder(root) / "notebooks"
    return own if any(own.glob(NOTEBOOK_GLOB)) else packaged_notebooks()


def profile_file(profile: str | Path, root: str | Path | None = None) -> Path:
    """The YAML file of a profile: a name (``smoke``) in :func:`notebooks_folder`'s ``profiles/``, or a path as given."""
    path = Path(profile)
    return path if path.suffix else notebooks_folder(root) / "profiles" / f"{profile}.yaml"


def copy_notebooks(destination: str | Path, force: bool = False) -> list[Path]:
    """Copy the notebooks and profiles this strokelib carries into ``destination/notebooks/`` (and its
    ``profiles/``), the layout a run from ``destination`` then reads. Existing files are refused, all named at once,
    unless ``force``; nothing is written then. Returns the files written."""
    source = packaged_notebooks()
    files = sorted(source.glob(NOTEBOOK_GLOB)) + sorted((source / "profiles").glob(PROFILE_GLOB))
    target = Path(destination) / "notebooks"
    pairs = [(path, target / path.relative_to(source)) for path in files]
    blocker = next((p for p in (target / "profiles", target, *target.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ConfigError(f"cannot copy the notebooks into {target}: {blocker} is a file, not a folder")
    existing = [str(dest) for _, dest in pairs if dest.exists()]
    if existing and not force:
        shown = ", ".join(existing[:4]) + (f" and {len(existing) - 4} more" if len(existing) > 4 else "")
        raise ConfigError(f"{len(existing)} file(s) already exist: {shown}; pass --force to overwrite them, or choose "
                          "another folder")
    for path, dest in pairs:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return [dest for _, dest in pairs]
