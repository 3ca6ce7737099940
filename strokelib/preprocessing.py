"""Pre-processing (paper §3.1): brain mask, intensity normalisation and symmetric modalities."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy import ndimage

from .errors import PreprocessingError

log = logging.getLogger(__name__)

NORMALISATIONS = ("brain", "whole_volume")


def brain_mask(images: np.ndarray) -> np.ndarray:
    """Brain mask of skull-stripped images: voxels where any channel is non-zero, holes filled.

    ISLES 2015 images are skull-stripped with a zero background. The released code used only the first
    modality (``images[0] > 0``); any channel is more robust when one modality has signal drop-outs.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise PreprocessingError(f"brain_mask expects (C, X, Y, Z) images, got shape {images.shape}")
    mask = np.any(images != 0, axis=0)
    return ndimage.binary_fill_holes(mask)


def normalise_images(images: np.ndarray, mask: np.ndarray, method: str = "brain") -> np.ndarray:
    """Per-modality z-score. ``brain``: statistics over ``mask`` and background set to 0 (default).

    ``whole_volume`` reproduces the released code: mean and std over every voxel, background included
    (reference-notes §2), so the background becomes ``-mean/std``.
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
        raise PreprocessingError(
            f"case {case.case_id}: the brain mask is empty (all images are zero); check the files {list(case.files.values())[:1]}"
        )
    return dataclasses.replace(case, images=normalise_images(case.images, case.brain_mask, method))
