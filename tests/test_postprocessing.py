"""Threshold + minimum component size (paper §3.5)."""

from __future__ import annotations

import numpy as np
import pytest

from strokelib.errors import EvaluationError
from strokelib.inference.postprocessing import binarize, keep_components, label_components


def blobs() -> np.ndarray:
    """Probability map with a 2×2×2 blob (8 voxels, p=0.9) and a 3×3×3 blob (27 voxels, p=0.6)."""
    p = np.zeros((12, 12, 12), dtype=np.float32)
    p[1:3, 1:3, 1:3] = 0.9
    p[6:9, 6:9, 6:9] = 0.6
    return p


def test_threshold_is_strict():
    p = blobs()
    assert binarize(p, 0.6, 1).sum() == 8  # 0.6 is not > 0.6
    assert binarize(p, 0.59, 1).sum() == 35
    assert binarize(p, 0.9, 1).sum() == 0


def test_min_size_removes_components_below_it():
    p = blobs()
    assert binarize(p, 0.5, 8).sum() == 35  # size 8 survives min_size 8
    assert binarize(p, 0.5, 9).sum() == 27
    kept = binarize(p, 0.5, 27)
    assert kept.sum() == 27 and kept[7, 7, 7] and not kept[1, 1, 1]
    assert binarize(p, 0.5, 28).sum() == 0


def test_min_size_one_or_zero_keeps_everything():
    p = blobs()
    np.testing.assert_array_equal(binarize(p, 0.5, 1), p > 0.5)
    np.testing.assert_array_equal(binarize(p, 0.5, 0), p > 0.5)


def test_connectivity_6_splits_diagonal_neighbours_26_joins_them():
    p = np.zeros((5, 5, 5), dtype=np.float32)
    p[1, 1, 1] = p[2, 2, 2] = 1.0  # touching only by a corner
    assert binarize(p, 0.5, 2, connectivity=6).sum() == 0
    assert binarize(p, 0.5, 2, connectivity=26).sum() == 2
    labels, sizes = label_components(p > 0.5, 6)
    assert labels.max() == 2 and list(sizes[1:]) == [1, 1]


def test_empty_and_full_maps():
    assert not binarize(np.zeros((4, 4, 4)), 0.5, 10).any()
    full = np.ones((4, 4, 4))
    assert binarize(full, 0.5, 64).all()
    assert not binarize(full, 0.5, 65).any()
    out = binarize(full, 0.5, 1)
    assert out.dtype == bool and out.shape == (4, 4, 4)


def test_keep_components_never_keeps_background():
    keep = keep_components(np.array([1000, 5, 50]), 10)
    assert keep.tolist() == [False, False, True]


@pytest.mark.parametrize(
    "kwargs",
    [dict(connectivity=8), dict(min_size=-1), dict(min_size=2.5), dict(threshold=float("nan"))],
)
def test_bad_parameters_raise(kwargs):
    args = dict(threshold=0.5, min_size=1) | kwargs
    with pytest.raises(EvaluationError):
        binarize(blobs(), **args)


def test_non_3d_input_raises():
    with pytest.raises(EvaluationError, match="3D"):
        binarize(np.zeros((4, 4)), 0.5, 1)
