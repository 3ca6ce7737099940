"""Choosing Th and S_min for a trained models folder (paper §4.1, Eq. 2), what ``strokelib postprocess`` runs.

The post-processing of §3.5 has two numbers, the threshold Th and the minimum lesion size S_min. §4.1 chooses them by
grid search (Th 0.1…0.9 × S_min 1…1000, :data:`strokelib.config.PAPER`) on the Eq. 2 score of the mean DSC and HD of
the cross-validated training cases. :func:`choose_postprocessing` does it for one models folder
(``<outputs>/models/<task>/<approach>/``): it reuses or predicts the cross-validated maps
(:func:`strokelib.inference.maps.predict_cross_validation`), scores the grid (:mod:`strokelib.evaluation.metrics`), stores the best
cell in ``postprocessing.json`` beside the fold models (what ``strokelib segment`` reads) and returns the Table 1
rows of both protocols (the paper's, and the nested choice on the other folds). It lives apart from
:mod:`strokelib.inference.postprocessing` because it needs the metrics, which themselves import the post-processing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import provenance
from ..config import PAPER
from ..errors import DataLayoutError, InferenceError, ProvenanceError
from ..inference.maps import cv_map_folder, predict_cross_validation, probability_folder
from ..inference.patches import triple
from ..model.checkpoints import checkpoint_path, cv_folds, fold_files, load_checkpoint, save_postprocessing
from . import metrics
from .tables import table1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostprocessingChoice:
    """The chosen Th and S_min of one models folder, the grid behind them and the Table 1 rows they give."""

    threshold: float
    min_size: int
    best: pd.Series  # the chosen cell of ``grid``: means, sds, hd_undefined, n_cases and the Eq. 2 score
    grid: pd.DataFrame  # metrics.aggregate_grid: one row per (Th, S_min)
    rows: pd.DataFrame  # metrics.protocol_rows with an ``approach`` column: per case, both protocols
    table: pd.DataFrame  # tables.table1 of ``rows``: one row per protocol
    source: str  # what the choice was made on, as postprocessing.json records it
    path: Path | None  # the postprocessing.json written (None when not saved)


def choose_on_maps(probabilities: Mapping[str, np.ndarray], truths: Mapping[str, np.ndarray],
                   folds: Mapping[str, int], progress: bool = True) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """``(grid, best cell, protocol rows)`` of cross-validated maps: notebook 05's sections 3 and 4 for one approach.

    The grid is :func:`strokelib.evaluation.metrics.aggregate_grid` of :func:`~strokelib.evaluation.metrics.grid_metrics` over the paper's
    Th × S_min (§4.1); the best cell maximises Eq. 2; the rows are :func:`~strokelib.evaluation.metrics.protocol_rows` with
    ``folds`` ({case id: fold that held it out}).
    """
    per_case = metrics.grid_metrics(dict(probabilities), truths, progress=progress)
    grid = metrics.aggregate_grid(per_case)
    return grid, metrics.best_cell(grid), metrics.protocol_rows(per_case, folds)


def fold_records(models_dir: str | Path) -> list[dict]:
    """The ``meta`` of every fold checkpoint in ``models_dir``, checked to be one complete, finished fold set.

    An :class:`InferenceError` names the folder and what is missing: no checkpoint at all, a fold of ``n_folds``
    without its file, an unfinished fold, or folds of different tasks or approaches.
    """
    folder = Path(models_dir)
    paths = fold_files(folder)
    if not paths:
        raise InferenceError(f"no fold<k>.pt checkpoints in {folder}; train the folds first (`strokelib train`) and point "
                             "--models at outputs/<profile>/models/<task>/<approach>")
    states = [load_checkpoint(p) for p in paths]
    metas = [s["meta"] for s in states]
    for key in ("task", "approach", "n_folds"):
        if len({str(m.get(key)) for m in metas}) > 1:
            raise InferenceError(f"the fold checkpoints in {folder} disagree on {key}; keep the folds of one training run")
    n_folds = int(metas[0].get("n_folds") or len(paths))
    missing = sorted(set(range(n_folds)) - {int(m["fold"]) for m in metas})
    unfinished = [f"{p.name} (epoch {s['epoch']})" for p, s in zip(paths, states, strict=True) if not s["finished"]]
    if missing or unfinished:
        what = [f"fold{k}.pt missing" for k in missing] + [f"{u} still training" for u in unfinished]
        task, approach = metas[0].get("task"), metas[0].get("approach")
        raise InferenceError(
            f"the folds in {folder} are incomplete ({n_folds} folds: {'; '.join(what)}); the grid search needs every "
            f"training case's cross-validated map: finish them with `strokelib train --task {task} --approach {approach} "
            "--fold K` (and the same settings)")
    return metas


def _outputs_dir(models_dir: Path, task: str, approach: str) -> Path:
    """The outputs folder above ``models_dir``, which must be ``<outputs>/models/<task>/<approach>``."""
    models_dir = models_dir.resolve()  # "." or "../x" has no parents to climb otherwise
    out_dir = models_dir.parent.parent.parent
    if checkpoint_path(out_dir, task, approach, 0).parent.resolve() != models_dir.resolve():
        raise InferenceError(
            f"{models_dir} holds {task} {approach} folds but is not <outputs>/models/{str(task).upper()}/{approach}; "
            "the cross-validated maps live beside the models (<outputs>/probabilities/): keep the folder where "
            "training wrote it")
    return out_dir


def found_steps(out_dir: str | Path, task: str, approach: str) -> list[tuple[int, int, int]]:
    """The inference steps of cross-validated maps already saved for the current fold models, finest first."""
    folder = probability_folder(out_dir, task, approach, "cv", "").parent
    steps = set()
    for maps in sorted(folder.glob("cv-*")) if folder.is_dir() else []:
        record = next((r for p in sorted(maps.glob("*.json")) if (r := provenance.read_record(p))), None)
        if record and "step" in record and cv_map_folder(out_dir, task, approach, record["step"]) == maps:
            steps.add(triple(record["step"], "step"))
    return sorted(steps, key=lambda s: (int(np.prod(s)), s))


def _training_cases(metas: Sequence[dict], data_root, cases, penumbra_label: int | None, progress: bool) -> tuple[list, str]:
    """The training cases the folds held out (loaded from ``data_root`` or the recorded data folder), checked against
    the fingerprints the checkpoints recorded; and the data folder, for the record."""
    from ..data.cases import load_isles2015

    if cases is None:
        root = data_root or metas[0].get("data_root")
        if not root or not Path(root).exists():
            raise DataLayoutError(f"the training data of these folds ({root or 'not recorded'}) is not there; give "
                                  "--data-root, the ISLES 2015 (or synthetic) folder the folds were trained on")
        cases = load_isles2015(root, metas[0]["task"], "training", penumbra_label=penumbra_label, progress=progress)
    root = str(data_root or provenance.data_root(list(cases)))
    by_id = {str(c.case_id): c for c in cases}
    held_out = [str(c) for m in metas for c in m["held_out"]]
    missing = [c for c in held_out if c not in by_id]
    if missing:
        raise DataLayoutError(f"cases {', '.join(missing)} held out by the folds are not in {root}; give --data-root, "
                              "the training data the folds were trained on")
    recorded = {c: f for m in metas for c, f in (m.get("data") or {}).items() if c in held_out}
    found = {c: provenance.case_fingerprint(by_id[c]) for c in recorded}
    if found != recorded:
        raise ProvenanceError(f"the training data in {root} is not what the folds were trained on "
                              f"({provenance.describe_data_change(recorded, found)}); give --data-root the right folder")
    return [by_id[c] for c in by_id if c in held_out], root


def choose_postprocessing(models_dir: str | Path, data_root: str | Path | None = None,
                          step: Sequence[int] | None = None, *, cases: Sequence | None = None,
                          penumbra_label: int | None = None, batch_size: int | None = None, device=None,
                          cache_dir: str | Path | None = None, source: str | None = None, save: bool = True,
                          fresh: bool = False, progress: bool = True) -> PostprocessingChoice:
    """Th and S_min of a models folder by the grid search of §4.1 on Eq. 2, stored in its ``postprocessing.json``.

    ``models_dir`` is ``<outputs>/models/<task>/<approach>/`` with every ``fold<k>.pt`` of one finished
    cross-validation (:func:`fold_records`). The training cases come from ``cases`` or are loaded from ``data_root``
    (default: the folder the checkpoints recorded) and must be the data the folds were trained on. Their
    cross-validated maps are read from ``<outputs>/probabilities/`` or predicted (:func:`predict_cross_validation`,
    at ``step``; default the step of maps already saved for these models, else the paper's 4×4×1). Then
    :func:`choose_on_maps`, as notebook 05 does; ``source`` (what ``selected_on`` records) says what data it was.
    """
    models_dir = Path(models_dir)
    metas = fold_records(models_dir)
    task, approach = str(metas[0]["task"]).upper(), str(metas[0]["approach"])
    out_dir = _outputs_dir(models_dir, task, approach)
    cases, root = _training_cases(metas, data_root, cases, penumbra_label, progress)
    if step is None:
        step = next(iter(found_steps(out_dir, task, approach)), PAPER.inference_step)
    step = triple(step, "step")
    maps = predict_cross_validation(cases, task, approach, out_dir, step=step, batch_size=batch_size, device=device,
                                    cache_dir=cache_dir or out_dir / "symmetric_cache", progress=progress, fresh=fresh)
    grid, best, rows = choose_on_maps(maps, {c.case_id: c.label for c in cases}, cv_folds(out_dir, task, approach),
                                      progress)
    source = source or (f"cross-validated maps of {len(maps)} {task} training cases in {provenance.display(root)}, "
                        f"step {'×'.join(map(str, step))}")
    path = save_postprocessing(models_dir, best["threshold"], int(best["min_size"]), source) if save else None
    rows = rows.assign(approach=approach)
    table = table1(rows, task, voxel_mm={c.case_id: c.spacing for c in cases})
    return PostprocessingChoice(float(best["threshold"]), int(best["min_size"]), best, grid, rows, table, source, path)
