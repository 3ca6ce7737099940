"""Evaluation metrics of paper §4, the combined score of Eq. 2 and the post-processing grid search of §4.1.

The tables built from these per-case rows (Tables 1–3) are in :mod:`strokelib.evaluation.tables`.

DSC, PPV (precision), sensitivity (recall) and the Hausdorff distance are the metrics of the ISLES 2015 online
platform (§4). HD follows the released code (``docs/released-code.md#post-processing-and-metrics``, a vendored MedPy ``hd``): the symmetric
**maximum** distance between the two surfaces, a surface being ``mask XOR erosion(mask)`` with the full 3×3×3
structure. It is in voxel units when ``spacing`` is None (the released code; ``HD_max = 200`` voxels in Eq. 2)
and in millimetres when the voxel size is given. Distances are exact Euclidean nearest-neighbour distances
(``scipy.spatial.cKDTree``), equal to MedPy's distance-transform values.

Empty-mask policy, the same in every function and table:

* DSC is 1 when both masks are empty and 0 when exactly one is.
* PPV = TP / |pred| and sensitivity = TP / |truth|; a zero denominator gives 1 when both masks are empty, else 0.
* HD is undefined (NaN) when either mask is empty. Tables average HD over the cases where it is defined and
  always show how many were not (``hd_undefined``); the released code dropped them silently. The Eq. 2 score
  of a cell uses that mean unless ``undefined_hd="hd_max"`` asks to count them as ``HD_max`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree

from ..config import PAPER
from ..errors import EvaluationError
from ..inference.postprocessing import keep_components, label_components, read_prediction
from ..progress import progress_bar
from .isles22 import isles22_scores

log = logging.getLogger(__name__)

METRICS = ("dsc", "ppv", "sensitivity", "hd")
_FULL_CUBE = np.ones((3, 3, 3), dtype=bool)


# ---------------------------------------------------------------------------------------------------------
# Per-case metrics
# ---------------------------------------------------------------------------------------------------------
def _as_mask(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 3:
        raise EvaluationError(f"{what} must be a 3D (X, Y, Z) mask, got shape {array.shape}")
    return array if array.dtype == bool else array > 0


def _pair(pred: np.ndarray, truth: np.ndarray, case: str = "") -> tuple[np.ndarray, np.ndarray]:
    pred, truth = _as_mask(pred, "prediction"), _as_mask(truth, "ground truth")
    if pred.shape != truth.shape:
        where = f"case {case}: " if case else ""
        raise EvaluationError(
            f"{where}prediction shape {pred.shape} differs from ground truth shape {truth.shape}; "
            "predict on the case's own grid (predict_case returns the case's shape)"
        )
    return pred, truth


def _ratios(tp: int, n_pred: int, n_truth: int) -> tuple[float, float, float]:
    """DSC, PPV and sensitivity from counts, with the module's empty-mask policy."""
    both_empty = n_pred == 0 and n_truth == 0
    dsc = 2.0 * tp / (n_pred + n_truth) if n_pred + n_truth else 1.0
    ppv_ = tp / n_pred if n_pred else float(both_empty)
    sens = tp / n_truth if n_truth else float(both_empty)
    return float(dsc), float(ppv_), float(sens)


def _counts(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    return int(np.count_nonzero(pred & truth)), int(np.count_nonzero(pred)), int(np.count_nonzero(truth))


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice similarity coefficient 2|P∩T| / (|P| + |T|) (§4); 1 when both masks are empty, 0 when one is."""
    return _ratios(*_counts(*_pair(pred, truth)))[0]


def ppv(pred: np.ndarray, truth: np.ndarray) -> float:
    """Positive predictive value TP / (TP + FP) (§4): the fraction of predicted lesion that is lesion."""
    return _ratios(*_counts(*_pair(pred, truth)))[1]


def sensitivity(pred: np.ndarray, truth: np.ndarray) -> float:
    """Sensitivity TP / (TP + FN) (§4): the fraction of the true lesion that is found."""
    return _ratios(*_counts(*_pair(pred, truth)))[2]


def _spacing(spacing) -> np.ndarray:
    if spacing is None:
        return np.ones(3)
    values = np.asarray(spacing, dtype=float).ravel()
    if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise EvaluationError(f"spacing must be three positive voxel sizes in mm (e.g. case.spacing), not {spacing!r}")
    return values


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    """(N, 3) indices of the surface of ``mask``: ``mask XOR erosion(mask)`` with the full 3×3×3 cube.

    Voxels on the volume border count as surface (erosion treats the outside as empty), as MedPy does.
    """
    mask = _as_mask(mask, "mask")
    box = ndimage.find_objects(mask.astype(np.uint8))
    if not box or box[0] is None:
        return np.empty((0, 3), dtype=np.intp)
    # Cropping to the bounding box changes nothing: every voxel outside it is background either way.
    sub = mask[box[0]]
    edge = sub & ~ndimage.binary_erosion(sub, structure=_FULL_CUBE, border_value=0)
    return np.argwhere(edge) + np.array([s.start for s in box[0]])


def _directed_max(points: np.ndarray, tree: cKDTree) -> float:
    """max over ``points`` of the distance to the nearest point of ``tree``."""
    return float(tree.query(points)[0].max())


def hausdorff(pred: np.ndarray, truth: np.ndarray, spacing=None) -> float:
    """Symmetric Hausdorff distance between the surfaces of two masks (§4, released-code definition).

    ``max(max_p d(p, S_T), max_t d(t, S_P))`` over surface voxels (see :func:`surface_voxels`), in voxels when
    ``spacing`` is None and in mm when it is the voxel size. NaN when either mask is empty.
    """
    pred, truth = _pair(pred, truth)
    scale = _spacing(spacing)
    a, b = surface_voxels(pred) * scale, surface_voxels(truth) * scale
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return max(_directed_max(a, cKDTree(b)), _directed_max(b, cKDTree(a)))


def score(dsc, hd, hd_max: float = PAPER.hd_max):
    """Combined score of Eq. 2: ``DSC·(1 − HD/HD_max) / (DSC + (1 − HD/HD_max))``.

    ``HD_max`` (200 voxels in the paper) maps HD onto [0, 1]; larger distances count as ``HD_max``. The formula is
    half the harmonic mean of DSC and ``1 − HD/HD_max``, as printed in the paper, so its maximum is 0.5. NaN where
    HD is undefined. Works on scalars and arrays.
    """
    dsc = np.asarray(dsc, dtype=float)
    h = np.clip(1.0 - np.asarray(hd, dtype=float) / hd_max, 0.0, 1.0)
    total = dsc + h
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(total > 0, dsc * h / np.where(total > 0, total, 1.0), 0.0)
    value = np.where(np.isnan(h) | np.isnan(dsc), np.nan, value)
    return float(value) if value.ndim == 0 else value


def evaluate(pred: np.ndarray, truth: np.ndarray, spacing=None, hd_max: float = PAPER.hd_max) -> dict:
    """Every per-case metric of §4: ``dsc, ppv, sensitivity, hd, score`` and the voxel counts behind them."""
    pred, truth = _pair(pred, truth)
    tp, n_pred, n_truth = _counts(pred, truth)
    dsc, ppv_, sens = _ratios(tp, n_pred, n_truth)
    hd = hausdorff(pred, truth, spacing)
    return {
        "dsc": dsc, "ppv": ppv_, "sensitivity": sens, "hd": hd, "score": score(dsc, hd, hd_max),
        "tp": tp, "fp": n_pred - tp, "fn": n_truth - tp, "pred_voxels": n_pred, "truth_voxels": n_truth,
    }


# ---------------------------------------------------------------------------------------------------------
# Grid search over Th × S_min (§4.1)
# ---------------------------------------------------------------------------------------------------------
def _cases(probabilities, truths, case_ids) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if isinstance(probabilities, Mapping):
        ids = [str(k) for k in probabilities]
        probs = list(probabilities.values())
        truths = [truths[k] for k in probabilities] if isinstance(truths, Mapping) else list(truths)
    else:
        probs, truths = list(probabilities), list(truths.values()) if isinstance(truths, Mapping) else list(truths)
        ids = [str(c) for c in case_ids] if case_ids is not None else [str(i) for i in range(len(probs))]
    if not (len(probs) == len(truths) == len(ids)):
        raise EvaluationError(
            f"got {len(probs)} probability maps, {len(truths)} ground truths and {len(ids)} case ids; "
            "pass one ground truth (and one id) per probability map, in the same order"
        )
    if not probs:
        raise EvaluationError("no cases to evaluate: pass at least one probability map and its ground truth")
    return list(zip(ids, probs, truths, strict=True))


def _case_spacings(spacing, n: int) -> list:
    if spacing is None or np.ndim(spacing) == 1:
        return [spacing] * n
    if len(spacing) != n:
        raise EvaluationError(f"got {len(spacing)} spacings for {n} cases; pass one (X, Y, Z) spacing, or one per case")
    return list(spacing)


def _case_grid(case, prob, truth, thresholds, min_sizes, spacing, connectivity, hd_max) -> list[dict]:
    """All (Th, S_min) cells of one case: label once per threshold, then filter components by size."""
    prob = np.asarray(prob, dtype=np.float32)
    truth = _as_mask(truth, f"case {case}: ground truth")
    if prob.shape != truth.shape:
        raise EvaluationError(
            f"case {case}: probability map shape {prob.shape} differs from ground truth shape {truth.shape}; "
            "pass the map predict_case returned for this case"
        )
    scale = _spacing(spacing)
    # Nothing outside the box of (lowest-threshold mask ∪ truth) can change any metric: crop once.
    box = ndimage.find_objects(((prob > min(thresholds)) | truth).astype(np.uint8))
    if box and box[0] is not None:
        prob, truth = prob[box[0]], truth[box[0]]
    n_truth = int(np.count_nonzero(truth))
    truth_points = surface_voxels(truth) * scale
    truth_tree = cKDTree(truth_points) if n_truth else None
    rows = []
    for th in thresholds:
        labels, sizes = label_components(prob > th, connectivity)
        tp_per_component = np.bincount(labels[truth], minlength=len(sizes))
        # The surface of a union of components is the union of their surfaces (a voxel whose 3×3×3 cube is
        # inside the mask has its whole cube in one component), so surfaces are computed once per threshold.
        surface = surface_voxels(labels > 0)
        surface_label = labels[tuple(surface.T)]
        points = surface * scale
        to_truth = truth_tree.query(points)[0] if truth_tree is not None and len(points) else None
        hd_cache: dict[int, float] = {}
        for min_size in min_sizes:
            keep = keep_components(sizes, min_size)
            n_pred, tp = int(sizes[keep].sum()), int(tp_per_component[keep].sum())
            dsc, ppv_, sens = _ratios(tp, n_pred, n_truth)
            hd = float("nan")
            if n_pred and n_truth:
                # Kept sets are nested in min_size, so the number of kept components identifies the mask.
                key = int(keep.sum())
                if key not in hd_cache:
                    on = keep[surface_label]
                    hd_cache[key] = max(float(to_truth[on].max()), _directed_max(truth_points, cKDTree(points[on])))
                hd = hd_cache[key]
            rows.append({
                "case": case, "threshold": float(th), "min_size": int(min_size), "dsc": dsc, "ppv": ppv_,
                "sensitivity": sens, "hd": hd, "score": score(dsc, hd, hd_max), "tp": tp, "fp": n_pred - tp,
                "fn": n_truth - tp, "pred_voxels": n_pred, "truth_voxels": n_truth,
            })
    return rows


def grid_metrics(
    probabilities: Sequence[np.ndarray] | Mapping[str, np.ndarray],
    truths: Sequence[np.ndarray] | Mapping[str, np.ndarray],
    thresholds: Sequence[float] = PAPER.thresholds,
    min_sizes: Sequence[int] = PAPER.min_sizes,
    spacing=None,
    case_ids: Sequence[str] | None = None,
    connectivity: int = 6,
    hd_max: float = PAPER.hd_max,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-case metrics for every (Th, S_min) cell of the §4.1 grid: one row per case and cell.

    Each cell equals ``evaluate(binarize(p, Th, S_min), truth)``, computed faster: each threshold is labelled
    once, every S_min is derived by dropping components by size, and HD is computed once per distinct mask.
    ``probabilities``/``truths`` are sequences (ids from ``case_ids``, else 0, 1, …) or dicts keyed by case id;
    ``spacing`` is None (HD in voxels, as the paper), one (X, Y, Z) size for all cases, or one per case.
    """
    thresholds, min_sizes = list(thresholds), list(min_sizes)
    if not thresholds or not min_sizes:
        raise EvaluationError("the grid needs at least one threshold and one minimum size (paper: 0.1…0.9 × 1…1000)")
    cases = _cases(probabilities, truths, case_ids)
    spacings = _case_spacings(spacing, len(cases))
    rows = []
    for (case, prob, truth), sp in zip(progress_bar(cases, desc="grid search", disable=not progress, leave=False), spacings, strict=True):
        rows += _case_grid(case, prob, truth, thresholds, min_sizes, sp, connectivity, hd_max)
    return pd.DataFrame(rows)


def aggregate_grid(per_case: pd.DataFrame, undefined_hd: str = "exclude", hd_max: float = PAPER.hd_max) -> pd.DataFrame:
    """One row per (Th, S_min): mean and sd (population, as the released code) of each metric, the count of
    cases with undefined HD, and the Eq. 2 score of the mean DSC and mean HD (§4.1).

    ``undefined_hd``: ``"exclude"`` averages HD over the cases where it is defined (the paper's numbers);
    ``"hd_max"`` counts an undefined HD as ``hd_max``, which penalises cells that miss whole lesions.
    """
    if undefined_hd not in ("exclude", "hd_max"):
        raise EvaluationError(f"undefined_hd must be 'exclude' or 'hd_max', not {undefined_hd!r}")
    frame = per_case.copy()
    frame["hd_undefined"] = frame["hd"].isna()
    if undefined_hd == "hd_max":
        frame["hd"] = frame["hd"].fillna(hd_max)
    grouped = frame.groupby(["threshold", "min_size"], sort=True)
    table = grouped[list(METRICS)].agg(["mean", lambda s: s.std(ddof=0)])
    table.columns = [f"{metric}_{'mean' if stat == 'mean' else 'sd'}" for metric, stat in table.columns]
    table["hd_undefined"] = grouped["hd_undefined"].sum().astype(int)
    table["n_cases"] = grouped.size()
    table["score"] = score(table["dsc_mean"].to_numpy(), table["hd_mean"].to_numpy(), hd_max)
    return table.reset_index()


def grid_search(
    probabilities,
    truths,
    thresholds: Sequence[float] = PAPER.thresholds,
    min_sizes: Sequence[int] = PAPER.min_sizes,
    spacing=None,
    undefined_hd: str = "exclude",
    **kwargs,
) -> pd.DataFrame:
    """Grid search of §4.1 over Th × S_min: :func:`grid_metrics` then :func:`aggregate_grid`.

    Returns one row per cell; :func:`best_cell` picks the highest Eq. 2 score. Keep the per-case frame by
    calling the two steps yourself. Extra keyword arguments go to :func:`grid_metrics`.
    """
    per_case = grid_metrics(probabilities, truths, thresholds, min_sizes, spacing, **kwargs)
    return aggregate_grid(per_case, undefined_hd, kwargs.get("hd_max", PAPER.hd_max))


def best_cell(table: pd.DataFrame, by: str = "score") -> pd.Series:
    """The row of a grid table with the highest ``by`` (ties: the first in grid order, i.e. lower Th, then S_min)."""
    if table.empty or table[by].isna().all():
        raise EvaluationError(f"no grid cell has a defined {by}: every prediction or ground truth is empty")
    return table.loc[table[by].idxmax()]


def select_cell(per_case: pd.DataFrame, threshold: float, min_size: int) -> pd.DataFrame:
    """The per-case rows of one (Th, S_min) cell of :func:`grid_metrics`' output."""
    rows = per_case[np.isclose(per_case["threshold"], threshold) & (per_case["min_size"] == min_size)]
    if rows.empty:
        raise EvaluationError(f"no cell Th={threshold}, S_min={min_size} in the grid; use one of its values")
    return rows


def nested_choice(per_case: pd.DataFrame, folds: Mapping[str, int], undefined_hd: str = "exclude",
                  hd_max: float = PAPER.hd_max) -> pd.DataFrame:
    """Per-case rows of an honest post-processing choice: for each fold, Th and S_min are chosen by Eq. 2 on the
    *other* folds' cases (:func:`aggregate_grid`, :func:`best_cell`) and applied to the fold's own cases.

    ``per_case`` is :func:`grid_metrics` output for every cross-validated case; ``folds`` maps case id → the fold
    that held it out. The paper chooses one (Th, S_min) on all cases and reports those same cases, which is
    optimistic; this nested choice never looks at the cases it reports. Returns the chosen cell's rows of each case
    with a ``fold`` column (Th and S_min may differ between folds).
    """
    cases = per_case["case"].astype(str)
    fold_of = cases.map({str(k): int(v) for k, v in folds.items()})
    if fold_of.isna().any():
        missing = sorted(set(cases[fold_of.isna()]))
        raise EvaluationError(f"cases {', '.join(missing)} belong to no fold; pass the fold of every case")
    if fold_of.nunique() < 2:
        raise EvaluationError("a nested choice needs at least two folds (Th and S_min are chosen on the other folds)")
    parts = []
    for k in sorted(fold_of.unique()):
        inner = per_case[fold_of != k]
        cell = best_cell(aggregate_grid(inner, undefined_hd, hd_max))
        own = per_case[fold_of == k]
        parts.append(select_cell(own, cell["threshold"], int(cell["min_size"])).assign(fold=int(k)))
    return pd.concat(parts, ignore_index=True)


def protocol_rows(per_case: pd.DataFrame, folds: Mapping[str, int], undefined_hd: str = "exclude",
                  hd_max: float = PAPER.hd_max) -> pd.DataFrame:
    """Per-case rows of one approach under both post-processing protocols, for :func:`table1`:
    :data:`PAPER_PROTOCOL` (the best cell over all cases, reported on the same cases) and, when there are at least two
    folds, :data:`NESTED_PROTOCOL` (:func:`nested_choice`). A ``protocol`` column tells them apart."""
    cell = best_cell(aggregate_grid(per_case, undefined_hd, hd_max))
    parts = [select_cell(per_case, cell["threshold"], int(cell["min_size"])).assign(protocol=PAPER_PROTOCOL)]
    held = {str(k): v for k, v in folds.items() if str(k) in set(per_case["case"].astype(str))}
    if len(set(held.values())) >= 2:
        parts.append(nested_choice(per_case, held, undefined_hd, hd_max).assign(protocol=NESTED_PROTOCOL))
    else:
        log.info("one fold only: no nested choice of Th and S_min (it needs the other folds' cases)")
    return pd.concat(parts, ignore_index=True)




PAPER_PROTOCOL = "on the reported cases (paper)"
"""Table 1 label of the paper's post-processing protocol: Th and S_min chosen on the very cases they are reported
on, which is optimistic."""
NESTED_PROTOCOL = "on the other folds (nested)"
"""Table 1 label of the nested choice: each fold's Th and S_min chosen on the other folds' cases."""


def evaluate_predictions(cases: Sequence, pred_dir: str | Path, threshold: float | None = None, min_size: int = 1,
                         mm: bool = False) -> pd.DataFrame:
    """One row per case: :func:`evaluate` of the prediction found in ``pred_dir``
    (:func:`strokelib.inference.postprocessing.read_prediction`) against the case's ground truth; HD in mm with ``mm``, else
    in voxels (``strokelib evaluate``)."""
    rows = []
    for case in cases:
        pred = read_prediction(pred_dir, case, threshold, min_size)
        row = evaluate(pred, case.label.astype(bool), spacing=case.spacing if mm else None)
        rows.append({"case": case.case_id, **row})
    return pd.DataFrame(rows)


def evaluate_isles22_predictions(cases: Sequence, pred_dir: str | Path, threshold: float | None = None,
                                 min_size: int = 1) -> pd.DataFrame:
    """One row per ISLES 2022 case: the challenge's metrics (:func:`strokelib.evaluation.isles22.isles22_scores`: Dice,
    absolute volume difference in mL, absolute lesion-count difference, lesion-wise F1) of the prediction found in
    ``pred_dir`` (:func:`strokelib.inference.postprocessing.read_prediction`) against the case's mask."""
    rows = []
    for case in cases:
        if case.label is None:
            raise EvaluationError(f"case {case.case_id} has no lesion mask to score against; evaluate on cases with "
                                  "derivatives/<case>/ses-*/<case>_ses-*_msk.nii.gz")
        pred = read_prediction(pred_dir, case, threshold, min_size)
        rows.append({"case": case.case_id, **isles22_scores(pred, case.label, case.voxel_volume_ml)})
    return pd.DataFrame(rows)


def toy_masks() -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) of the worked example in docs/glossary.md: boolean (8, 8, 1) masks for :func:`evaluate`."""
    truth = np.zeros((8, 8, 1), dtype=bool)
    truth[1:4, 1:4] = True  # a 3 × 3 lesion, rows 1–3, columns 1–3
    pred = truth.copy()
    pred[3, 1:4] = False  # its bottom row missed: 3 false negatives
    pred[6, 7] = True  # one false positive, 3 rows and 4 columns from truth voxel (3, 3): distance 5
    return truth, pred
