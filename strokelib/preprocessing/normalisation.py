"""Pre-processing (paper §3.1): the network's input for a case, intensity normalisation after symmetric modalities.

Per-modality z-scores over the brain mask (:func:`normalise`; the released code's whole-volume statistics as an
option), and :func:`prepare_case`, the composition every later step uses: symmetric modalities on raw intensities
(:mod:`strokelib.preprocessing.symmetric`), then every channel normalised. The brain mask is made when a case is loaded
(:func:`strokelib.data.cases.brain_mask`); the symmetric modalities are :mod:`strokelib.preprocessing.symmetric`'s and the
mid-sagittal measurements :mod:`strokelib.preprocessing.midsagittal`'s.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from ..errors import ConfigError, PreprocessingError
from ..settings import NORMALISATIONS
from .symmetric import SYM_PREFIX, RegistrationSettings, add_symmetric_modalities

log = logging.getLogger(__name__)


def normalise_images(images: np.ndarray, mask: np.ndarray, method: str = "brain") -> np.ndarray:
    """Per-modality z-score. ``brain``: statistics over ``mask`` and background set to 0 (default).

    ``whole_volume`` reproduces the released code: mean and std over every voxel, background included
    (``docs/released-code.md#intensity-normalisation``), so the background becomes ``-mean/std``.
    """
    if method not in NORMALISATIONS:
        raise PreprocessingError(f"unknown normalisation {method!r}; use one of {NORMALISATIONS}")
    images = np.asarray(images, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if method == "whole_volume":
        mean = images.mean(axis=(1, 2, 3), dtype=np.float64)[:, None, None, None]
        std = images.std(axis=(1, 2, 3), dtype=np.float64)[:, None, None, None]
        return ((images - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
    if not mask.any():
        raise PreprocessingError("the brain mask is empty: the images are all zero, so there is nothing to normalise")
    inside = images[:, mask]
    mean = inside.mean(axis=1, dtype=np.float64)[:, None, None, None]
    std = inside.std(axis=1, dtype=np.float64)[:, None, None, None]
    out = (images - mean) / np.where(std > 0, std, 1.0)
    out *= mask
    return out.astype(np.float32)


def normalise(case, method: str = "brain"):
    """Return a copy of ``case`` with normalised images (see :func:`normalise_images`)."""
    if method == "brain" and not case.brain_mask.any():
        first = next(iter(case.files.values()), None)
        raise PreprocessingError(
            f"case {case.case_id}: the brain mask is empty (all images are zero); check the files"
            f"{f' (e.g. {first})' if first else ''} hold the skull-stripped images, and re-extract them if not"
        )
    return dataclasses.replace(case, images=normalise_images(case.images, case.brain_mask, method))


def prepare_case(
    case,
    symmetric: bool,
    normalisation: str = "brain",
    transform: str = "rigid",
    cache_dir: str | Path | None = None,
    reference: str | None = None,
    settings: RegistrationSettings | None = None,
):
    """The network's input for one case (§3.1): optional symmetric modalities on raw intensities, then every
    channel (``sym_*`` included) normalised with its own statistics over the original brain mask.

    A case that already carries every ``sym_<modality>`` channel (precomputed files) is only normalised.
    """
    if normalisation not in NORMALISATIONS:
        raise ConfigError(f"case {case.case_id}: unknown normalisation {normalisation!r}; use one of {NORMALISATIONS}")
    base = [m for m in case.modalities if not m.startswith(SYM_PREFIX)]
    has_sym = len(base) < len(case.modalities)
    if symmetric and has_sym:
        missing = [m for m in base if SYM_PREFIX + m not in case.modalities]
        if missing:
            raise PreprocessingError(
                f"case {case.case_id} has some symmetric channels but not sym_{', sym_'.join(missing)}; "
                "load the case without sym_* modalities and let prepare_case compute them"
            )
        log.info("case %s already has symmetric modalities; normalising only", case.case_id)
    elif symmetric:
        case = add_symmetric_modalities(case, reference, transform, cache_dir, settings)
    elif has_sym:
        keep = [case.modalities.index(m) for m in base]
        case = dataclasses.replace(case, images=case.images[keep], modalities=tuple(base))
    return normalise(case, normalisation)
