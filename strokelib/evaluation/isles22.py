"""The ISLES 2022 challenge's metrics, and which ground-truth lesions a prediction found, by size (beyond the
paper's §4 metrics: the open successor of its ISLES 2015 evaluation).

:func:`isles22_scores` gives the four metrics of the challenge's ``utils/eval_utils.py``
(https://github.com/ezequieldlrosa/isles22): Dice (1.0 when both masks are empty), the absolute volume difference in
mL, the absolute lesion-count difference and the lesion-wise F1 = tp / (tp + (fp + fn) / 2) (1.0 without any lesion),
lesions being 26-connected components (:func:`strokelib.data.isles22.lesions`).

The lesion-wise F1 (:func:`lesion_counts`) counts a ground-truth lesion as found
when at least one predicted voxel touches it. ISLES 2022 masks hold anything from one embolus of a few voxels to a
territorial infarct of 100 mL, so the same F1 can hide that every small lesion was missed. :func:`lesion_table` lists
every ground-truth lesion (26-connected, as the challenge counts them) with its volume and whether it was found;
:func:`detection_by_size` sums that table into size classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from ..data.isles22 import lesions
from ..errors import EvaluationError


def _masks(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape or pred.ndim != 3:
        raise EvaluationError(
            f"ISLES 2022 metrics need two 3D masks of one shape; got prediction {pred.shape} and ground truth "
            f"{truth.shape} (predict on the case's own grid)"
        )
    return pred > 0, truth > 0


def isles22_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient; 1.0 when both masks are empty (eval_utils.compute_dice)."""
    pred, truth = _masks(pred, truth)
    total = int(pred.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(pred & truth)) / total


def lesion_counts(pred: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Lesion-wise detection counts: ``tp`` ground-truth lesions touched by a predicted voxel, ``fn`` those not
    touched, ``fp`` predicted components touching no ground-truth voxel; and the lesion numbers of both masks."""
    pred, truth = _masks(pred, truth)
    truth_labels, n_truth = lesions(truth)
    pred_labels, n_pred = lesions(pred)
    touched = np.unique(truth_labels[pred & truth])
    tp = int(np.count_nonzero(touched))  # label 0 never occurs where truth is set
    hit_pred = np.unique(pred_labels[pred & truth])
    fp = n_pred - int(np.count_nonzero(hit_pred))
    return {"tp": tp, "fp": fp, "fn": n_truth - tp, "n_truth": n_truth, "n_pred": n_pred}


def lesion_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    """Lesion-wise F1 = tp / (tp + (fp + fn) / 2); 1.0 when neither mask has a lesion (eval_utils)."""
    c = lesion_counts(pred, truth)
    denominator = c["tp"] + (c["fp"] + c["fn"]) / 2
    return 1.0 if denominator == 0 else c["tp"] / denominator


def isles22_scores(pred: np.ndarray, truth: np.ndarray, voxel_ml: float) -> dict[str, float]:
    """The four ISLES 2022 metrics of one case: ``dice``, ``volume_difference_ml`` (absolute, with voxel volume ``voxel_ml``, e.g.
    :attr:`Case.voxel_volume_ml`), ``lesion_count_difference`` (absolute) and ``lesion_f1``, plus the lesion counts."""
    voxel_ml = float(voxel_ml)
    if not np.isfinite(voxel_ml) or voxel_ml <= 0:
        raise EvaluationError(f"voxel_ml must be a positive voxel volume in mL (2 mm isotropic: 0.008), got {voxel_ml}")
    pred, truth = _masks(pred, truth)
    counts = lesion_counts(pred, truth)
    denominator = counts["tp"] + (counts["fp"] + counts["fn"]) / 2
    return {
        "dice": isles22_dice(pred, truth),
        "volume_difference_ml": abs(int(pred.sum()) - int(truth.sum())) * voxel_ml,
        "lesion_count_difference": abs(counts["n_pred"] - counts["n_truth"]),
        "lesion_f1": 1.0 if denominator == 0 else counts["tp"] / denominator,
        **counts,
    }


SIZE_CLASSES_ML = (0.0, 0.1, 1.0, 10.0, np.inf)
"""Lesion size classes in mL: under 0.1 (a few 2 mm voxels), 0.1–1, 1–10 and over 10 mL (territorial)."""


def lesion_table(pred: np.ndarray, truth: np.ndarray, voxel_ml: float, case_id: str = "") -> pd.DataFrame:
    """One row per 26-connected ground-truth lesion: ``case``, ``lesion`` (1, 2, …), ``volume_ml``, ``voxels`` and
    ``found`` (touched by at least one predicted voxel, the challenge's rule)."""
    pred, truth = np.asarray(pred) > 0, np.asarray(truth) > 0
    if pred.shape != truth.shape:
        raise EvaluationError(f"case {case_id}: prediction {pred.shape} and ground truth {truth.shape} differ in shape; "
                              "predict on the case's own grid")
    labels, n = lesions(truth)
    index = np.arange(1, n + 1)
    voxels = np.asarray(ndimage.sum_labels(truth, labels, index), dtype=int) if n else np.zeros(0, int)
    touched = np.asarray(ndimage.maximum(pred, labels, index), dtype=bool) if n else np.zeros(0, bool)
    return pd.DataFrame({"case": case_id, "lesion": index, "voxels": voxels, "volume_ml": voxels * float(voxel_ml),
                         "found": touched})


def lesion_tables(predictions: Mapping[str, np.ndarray], cases: Sequence) -> pd.DataFrame:
    """:func:`lesion_table` of every case (``case.label``, ``case.voxel_volume_ml``) that has a prediction."""
    tables = [lesion_table(predictions[c.case_id], c.label, c.voxel_volume_ml, c.case_id)
              for c in cases if c.case_id in predictions]
    return pd.concat(tables, ignore_index=True) if tables else lesion_table(np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), 1.0)


def detection_by_size(table: pd.DataFrame, edges: Sequence[float] = SIZE_CLASSES_ML) -> pd.DataFrame:
    """Lesions found per size class of ``table`` (:func:`lesion_tables`): ``lesions``, ``found`` and
    ``detection_rate`` (NaN for an empty class), one row per class named like ``0.1–1 mL`` (lower bound included,
    upper bound excluded)."""
    edges = list(edges)
    names = [f"< {edges[1]:g} mL" if lo == 0 else f"≥ {lo:g} mL" if np.isinf(hi) else f"{lo:g}–{hi:g} mL"
             for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    size = pd.cut(table["volume_ml"], edges, labels=names, right=False)
    counts = table.groupby(size, observed=False)["found"].agg(lesions="size", found="sum")
    counts["found"] = counts["found"].astype(int)
    counts["detection_rate"] = counts["found"] / counts["lesions"].where(counts["lesions"] > 0)
    return counts.rename_axis("size")
