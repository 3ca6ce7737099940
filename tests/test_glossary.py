"""The worked example of docs/glossary.md and strokelib.evaluation.metrics.toy_masks() cannot drift apart: the drawn grid is
the function's masks, and every number the document works out by hand is the package's and the definitions'."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import directed_hausdorff

from strokelib.evaluation import metrics

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"
ROW = re.compile(r"^\s*(\d)\s+([01]{8})\s+([01]{8})\s*$")
# The hand-worked values of the glossary, as exact fractions.
HAND = {"dsc": Fraction(3, 4), "ppv": Fraction(6, 7), "sensitivity": Fraction(2, 3), "hd": Fraction(5),
        "score": Fraction(39, 92)}


@pytest.fixture(scope="module")
def text() -> str:
    return GLOSSARY.read_text(encoding="utf-8")


def _drawn_masks(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) parsed from the code block of the glossary that draws them."""
    blocks = re.findall(r"```text\n(.*?)```", text, flags=re.S)
    block = next(b for b in blocks if "T (truth)" in b)
    rows = [m.groups() for m in map(ROW.match, block.splitlines()) if m]
    assert [int(r[0]) for r in rows] == list(range(8)), "the drawing must have rows 0..7 in order"
    grid = np.array([[[c == "1" for c in r[1]], [c == "1" for c in r[2]]] for r in rows])  # (row, mask, column)
    return grid[:, 0, :, None], grid[:, 1, :, None]


def _surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxel coordinates by the glossary's definition: mask XOR erosion(mask), full 3×3×3 cube."""
    return np.argwhere(mask & ~ndimage.binary_erosion(mask, structure=np.ones((3, 3, 3)), border_value=0))


def _by_definition(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp, n_pred, n_truth = np.sum(pred & truth), np.sum(pred), np.sum(truth)
    a, b = _surface(pred).astype(float), _surface(truth).astype(float)
    hd = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
    dsc = 2 * tp / (n_pred + n_truth)
    h = 1 - hd / 200
    return {"dsc": dsc, "ppv": tp / n_pred, "sensitivity": tp / n_truth, "hd": hd, "score": dsc * h / (dsc + h)}


def test_toy_masks_shape_and_type():
    truth, pred = metrics.toy_masks()
    assert truth.shape == pred.shape == (8, 8, 1)
    assert truth.dtype == pred.dtype == bool
    assert (truth.sum(), pred.sum(), (truth & pred).sum()) == (9, 7, 6)


def test_drawn_grid_is_toy_masks(text):
    truth, pred = metrics.toy_masks()
    drawn_truth, drawn_pred = _drawn_masks(text)
    np.testing.assert_array_equal(drawn_truth, truth)
    np.testing.assert_array_equal(drawn_pred, pred)


def test_package_equals_definitions_and_hand_values():
    truth, pred = metrics.toy_masks()
    package = metrics.evaluate(pred, truth)
    independent = _by_definition(pred, truth)
    for name, exact in HAND.items():
        assert package[name] == pytest.approx(independent[name], abs=1e-12), name
        assert package[name] == pytest.approx(float(exact), abs=1e-12), name
    assert (package["tp"], package["fp"], package["fn"]) == (6, 1, 3)
    # The single-slice claim of the glossary: every lesion voxel is a surface voxel here.
    assert len(metrics.surface_voxels(truth)) == truth.sum() and len(metrics.surface_voxels(pred)) == pred.sum()


def test_grid_metrics_agrees_with_evaluate():
    truth, pred = metrics.toy_masks()
    row = metrics.grid_metrics([pred.astype(float)], [truth], thresholds=[0.5], min_sizes=[1], progress=False).iloc[0]
    expected = metrics.evaluate(pred, truth)
    for name in HAND:
        assert row[name] == pytest.approx(expected[name], abs=1e-12), name


def test_glossary_states_each_value_to_three_decimals(text):
    truth, pred = metrics.toy_masks()
    package = metrics.evaluate(pred, truth)
    for name in HAND:
        shown = f"**{package[name]:.3f}**"
        assert shown in text, f"docs/glossary.md should show {name} as {shown}"
