"""Training the paper's models (§3.4, §4.1): the three approaches of Table 1, 4-fold cross-validation, run settings.

* :data:`APPROACHES` — Baseline, Balanced and Proposed of Table 1 (loss, patch sampler, symmetric modalities).
* :func:`cross_validate` — contiguous folds in case order (as released), one checkpoint per fold in
  ``<out_dir>/models/<task>/<approach>/fold<k>.pt``; ``folds=[k]`` trains one fold so folds can run in parallel.
  Each fold is trained by :func:`strokelib.training.loop.train` (the loop, early stopping, resume).
* :class:`TrainRun` — how a cross-validation runs (folds, early stopping, seeds, pre-processing, device, precision),
  built from the declared run settings; what a fold checkpoint records of it is :meth:`TrainRun.record`.
* :func:`training_setup` and :func:`train_command` — run settings (a profile, ``-p``) to a :func:`cross_validate`
  call: what notebook 04 and ``strokelib train`` both run.

Where the released code and sound practice differ (``docs/released-code.md#cross-validation``), the option is named:
early stopping on an inner validation split of the training cases (default) or on the held-out fold itself
(``held_out``, what produced the published numbers). The loop is :mod:`strokelib.training.loop`'s and the checkpoint format
:mod:`strokelib.model.checkpoints`'.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import provenance
from ..config import PAPER, PaperConfig
from ..data.geometry import spacing_differs
from ..data.layout import ISLES22, LABEL_TOKEN
from ..errors import ConfigError, DataLayoutError, ProvenanceError, TrainingError
from ..files import write_csv
from ..model.checkpoints import checkpoint_path, load_checkpoint
from ..model.sunet import SUNet
from ..progress import progress_bar
from ..settings import (
    DEFAULTS,
    EARLY_STOPPING,
    TRAIN_SETTINGS,
    RunSettings,
    load_profile,
    project_root,
    unknown_hint,
    validate,
)
from .loop import derived_seed, train

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Approach:
    """One row of Table 1: the loss, the training patch sampler and whether symmetric modalities are added."""

    name: str
    loss: str
    sampler: str
    symmetric: bool


APPROACHES = {
    # §4.1: cross-entropy, uniform patch sampling without offsets, no pre-processing
    "baseline": Approach("baseline", loss="cross_entropy", sampler="baseline", symmetric=False),
    # §3.3 only: focal loss + balanced sampling
    "balanced": Approach("balanced", loss="focal", sampler="balanced", symmetric=False),
    # §3.1 + §3.3: the full method
    "proposed": Approach("proposed", loss="focal", sampler="balanced", symmetric=True),
}


def get_approach(name: str) -> Approach:
    """The :class:`Approach` called ``name`` (``baseline``, ``balanced`` or ``proposed``)."""
    if name not in APPROACHES:
        raise ConfigError(f"unknown approach {name!r}; use one of {', '.join(APPROACHES)} (Table 1)")
    return APPROACHES[name]


@dataclass(frozen=True)
class TrainRun:
    """How one cross-validation runs (§3.4, §4.1): everything :func:`cross_validate` needs besides the cases, the
    task, the approach and the method's constants (:class:`PaperConfig`). Defaults are the declared settings'
    (:data:`strokelib.settings.DEFAULTS`) except ``val_patches_per_case`` (None: as many as for training) and
    ``out_dir`` (relative to the current folder); :meth:`from_settings` builds one from validated run settings, with
    the folders resolved against the working folder.

    :meth:`record` holds the fields that change the trained weights: each fold's checkpoint records them and a
    reused checkpoint must match them. ``folds=[k]`` trains only fold k so folds can run in parallel, one process per GPU;
    ``sampler`` replaces the balanced sampler of ``balanced``/``proposed`` (``'reference'``: the released 2:1
    sampling); ``early_stopping='held_out'`` monitors the scored fold, as the released code did."""

    out_dir: Path = Path(DEFAULTS.outputs_dir)
    folds: Sequence[int] | None = None
    n_folds: int | None = None  # None: the config's
    shuffle: bool = DEFAULTS.train_fold_shuffle
    early_stopping: str = DEFAULTS.train_early_stopping
    val_fraction: float = DEFAULTS.train_val_fraction
    seed: int = DEFAULTS.seed
    normalisation: str = DEFAULTS.normalisation
    transform: str = DEFAULTS.sym_transform
    reference: str | None = None  # None: the task's default reference modality
    sampler: str | None = DEFAULTS.train_sampler
    val_patches_per_case: int | None = None  # None: as many as for training
    resample_each_epoch: bool = False
    precision: str = DEFAULTS.train_precision
    device: str | torch.device | None = None
    cache_dir: Path | None = None
    num_workers: int = DEFAULTS.train_num_workers
    compile_model: bool = DEFAULTS.train_compile
    progress: bool = True
    fresh: bool = DEFAULTS.fresh

    def record(self) -> dict:
        """What a fold checkpoint records of this run (with the config, the data and the folds' cases): the fields
        that change the weights. The sampler is recorded through the approach."""
        return {"n_folds": self.n_folds, "early_stopping": self.early_stopping, "cv_seed": self.seed,
                "normalisation": self.normalisation, "transform": self.transform, "reference": self.reference,
                "val_patches_per_case": self.val_patches_per_case, "resample_each_epoch": self.resample_each_epoch,
                "train_precision": self.precision}

    @classmethod
    def from_settings(cls, settings: RunSettings, out_dir: str | Path | None = None,
                      root: str | Path | None = None) -> TrainRun:
        """The run of validated ``settings``: ``out_dir`` defaults to ``<root>/<outputs_dir>``, the symmetric cache
        to ``<root>/<sym_cache_dir>``, else ``<out_dir>/symmetric_cache`` (shared with notebook 02)."""
        out_dir = Path(out_dir) if out_dir else project_root(root) / (settings.outputs_dir or "outputs")
        cache = project_root(root) / settings.sym_cache_dir if settings.sym_cache_dir else out_dir / "symmetric_cache"
        return cls(
            out_dir=out_dir, folds=None if settings.fold is None else [int(settings.fold)],
            shuffle=settings.train_fold_shuffle, early_stopping=settings.train_early_stopping,
            val_fraction=settings.train_val_fraction, seed=settings.seed, normalisation=settings.normalisation,
            transform=settings.sym_transform, reference=settings.sym_reference or None, sampler=settings.train_sampler,
            val_patches_per_case=settings.train_val_patches_per_case, precision=settings.train_precision,
            device=settings.device or None, cache_dir=cache, num_workers=settings.train_num_workers,
            compile_model=settings.train_compile, fresh=settings.fresh,
        )


# ---------------------------------------------------------------------------------------------------------
# folds
# ---------------------------------------------------------------------------------------------------------


def fold_splits(case_ids: Sequence[str], n_folds: int = 4, shuffle: bool = False, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """(training ids, held-out ids) for each of ``n_folds`` folds (§4.1).

    As released (``docs/released-code.md#cross-validation``), folds are contiguous in case order with ``ceil(N / n_folds)`` cases
    each, the last one smaller (SPES 30 cases: 8, 8, 8, 6). Where that rule would leave a fold empty the
    sizes are balanced instead. ``shuffle=True`` permutes the cases with ``seed`` first.
    """
    ids = [str(c) for c in case_ids]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"case ids are not unique: {ids}")
    if n_folds < 2 or len(ids) < n_folds:
        raise ConfigError(f"{n_folds}-fold cross-validation needs at least {max(n_folds, 2)} cases and 2 folds; got {len(ids)} cases")
    if shuffle:
        ids = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    per_fold = math.ceil(len(ids) / n_folds)
    bounds = [min(k * per_fold, len(ids)) for k in range(n_folds + 1)]
    if bounds[-2] >= len(ids):  # ceil rule leaves the last fold empty (e.g. 5 cases in 4 folds)
        sizes = [len(part) for part in np.array_split(np.arange(len(ids)), n_folds)]
        bounds = [0, *np.cumsum(sizes).tolist()]
    held = [ids[bounds[k] : bounds[k + 1]] for k in range(n_folds)]
    return [([c for c in ids if c not in fold], fold) for fold in held]


def inner_split(case_ids: Sequence[str], val_fraction: float = 0.25, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split training cases into (fit, validation) for early stopping; at least one case on each side."""
    ids = list(case_ids)
    if len(ids) < 2:
        raise ConfigError(
            f"an inner validation split needs at least 2 training cases, got {len(ids)}; use more cases "
            "or early_stopping='held_out'"
        )
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1); got {val_fraction}")
    n_val = min(max(1, round(val_fraction * len(ids))), len(ids) - 1)
    chosen = set(np.random.default_rng(seed).choice(len(ids), size=n_val, replace=False).tolist())
    return [c for i, c in enumerate(ids) if i not in chosen], [c for i, c in enumerate(ids) if i in chosen]


def fit_and_validation(k: int, split: tuple[list[str], list[str]], early_stopping: str = "inner",
                       val_fraction: float = 0.25, seed: int = 0) -> tuple[list[str], list[str]]:
    """Fold ``k``'s (cases the network is fitted on, cases early stopping monitors): an inner split of its training
    cases (``inner``), or all of them and the held-out fold itself (``held_out``, the released protocol)."""
    train_ids, held_out = split
    if early_stopping == "inner":
        return inner_split(train_ids, val_fraction, seed=derived_seed(seed, k))
    return list(train_ids), list(held_out)


def fold_roles(case_ids: Sequence[str], n_folds: int = 4, shuffle: bool = False, seed: int = 0,
               early_stopping: str = "inner", val_fraction: float = 0.25) -> pd.DataFrame:
    """What each case is in each fold (§4.1): ``held out`` (scored), ``fit`` (trained on) or ``validation`` (early
    stopping); with ``held_out`` early stopping the held-out cases are monitored too (``held out + validation``).
    Rows are folds, columns cases, exactly as :func:`cross_validate` splits them."""
    rows = {}
    for k, split in enumerate(fold_splits(case_ids, n_folds, shuffle, seed)):
        fit, val = fit_and_validation(k, split, early_stopping, val_fraction, seed)
        role = {c: "fit" for c in fit} | {c: "validation" for c in val}
        role |= {c: "held out + validation" if c in val else "held out" for c in split[1]}
        rows[k] = [role[c] for c in case_ids]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(case_ids)).rename_axis("fold")


def training_spacing(cases: Sequence, tol: float = 0.05) -> dict:
    """What a model trained on ``cases`` assumes of its input grid: ``{"spacing": [mm] * 3, "orientation": "RAS"}``.

    ``spacing`` is the per-axis median voxel size of the cases (RAS axes, :mod:`strokelib.data.cases`); when the
    cases disagree by more than ``tol`` (relative) a warning says so and ``spacings`` lists the distinct sizes, so
    the mix stays visible in the checkpoint (patch training does not need one size; the median is what
    :mod:`strokelib.data.geometry` resamples new cases to).
    """
    spacings = np.array([[float(s) for s in c.spacing] for c in cases], dtype=float).reshape(-1, 3)
    median = np.median(spacings, axis=0)
    record = {"spacing": [round(float(s), 6) for s in median], "orientation": "RAS"}
    if any(spacing_differs(s, median, tol) for s in spacings):
        distinct = sorted({tuple(round(float(v), 4) for v in s) for s in spacings})
        log.warning("training cases have different voxel sizes %s; recording the median %s mm", distinct, record["spacing"])
        record["spacings"] = [list(s) for s in distinct]
    return record


# ---------------------------------------------------------------------------------------------------------
# cross-validation
# ---------------------------------------------------------------------------------------------------------


def _existing_matches(path: Path, plan: dict, cfg: PaperConfig, fresh: bool = False) -> bool:
    """True when ``path`` is a finished checkpoint of this very fold plan, config, data and code (skip training);
    False when there is none or it is unfinished (train or resume). A checkpoint whose record differs raises
    :class:`ProvenanceError` instead of being reused or overwritten; with ``fresh=True`` it is deleted and the fold
    trained again. ``fresh`` never touches a checkpoint whose record matches."""
    if not path.is_file():
        return False
    try:
        state = load_checkpoint(path)
    except TrainingError:
        if not fresh:
            raise
        state = None
    wanted = {**plan, **{f"config.{k}": v for k, v in dataclasses.asdict(cfg).items() if k != "extra"}}
    what = f"fold {plan['fold']} in {provenance.display(path.parent)} ({path.name})"
    try:
        if state is None:
            raise ProvenanceError(f"{what} is not a checkpoint this strokelib reads")
        found = {**state["meta"], **{f"config.{k}": v for k, v in state["config"].items()}}
        found = {k: found.get(k) for k in wanted if k != "data_root"}
        provenance.check(what, {**found, "data_root": state["meta"].get("data_root")}, wanted,
                         "choose another outputs_dir, or pass fresh (strokelib run/train --fresh) to train it again")
    except ProvenanceError as exc:
        if not fresh:
            raise
        log.info("fresh: %s; deleting it to train the fold again", exc)
        path.unlink()
        return False
    return bool(state["finished"])


def input_channels(approach: str, n_modalities: int) -> int:
    """The network's input channels for ``approach``: the modalities, doubled by their symmetric copies (§3.1)."""
    return n_modalities * (2 if get_approach(approach).symmetric else 1)


def approach_to_train(approach: str, run: TrainRun) -> Approach:
    """The :class:`Approach` ``run`` trains, with ``run.sampler`` replacing a balanced sampler; checks
    ``run.early_stopping``."""
    spec = get_approach(approach)
    if run.sampler and spec.sampler == "balanced":
        spec = dataclasses.replace(spec, sampler=run.sampler)
    if run.early_stopping not in EARLY_STOPPING:
        raise ConfigError(f"early_stopping {run.early_stopping!r} unknown; use 'inner' (sound) or 'held_out' (as "
                          "released)")
    return spec


def _labelled(cases: Sequence) -> dict:
    """{case id: case}; every case must have a ground truth."""
    unlabelled = [c.case_id for c in cases if c.label is None]
    if unlabelled:
        raise TrainingError(f"cases {', '.join(unlabelled)} have no ground truth; train on the ISLES 2015 training split only")
    return {c.case_id: c for c in cases}


def _fold_numbers(folds: Sequence[int] | None, n_folds: int) -> list[int]:
    folds = list(range(n_folds)) if folds is None else [int(k) for k in folds]
    bad = [k for k in folds if not 0 <= k < n_folds]
    if bad:
        raise ConfigError(f"folds {bad} out of range; folds are numbered 0..{n_folds - 1}")
    return folds


def _fold_plan(k: int, split: tuple[list[str], list[str]], by_id: dict, task: str, approach: str, spec: Approach,
               cfg: PaperConfig, run: TrainRun) -> dict:
    """Everything that defines fold ``k``'s model: its cases, the run's recorded settings (:meth:`TrainRun.record`),
    the fingerprint of its data, the labels as they were read (``penumbra_label`` changes them, not the files) and
    the code version — what its checkpoint records and what a reused checkpoint must match."""
    train_ids, held_out = split
    fit_ids, val_ids = fit_and_validation(k, split, run.early_stopping, run.val_fraction, run.seed)
    return {
        "task": task, "approach": approach, "symmetric": spec.symmetric, "sampler": spec.sampler, "loss": spec.loss,
        "patch_shape": list(cfg.patch_shape), "fold": k, "held_out": held_out, "train_ids": fit_ids,
        "val_ids": val_ids, **run.record(),
        "data_root": provenance.data_root(list(by_id.values())),
        "data": provenance.data_fingerprint(by_id[c] for c in sorted({*fit_ids, *val_ids, *held_out})),
        "labels": {c: provenance.array_digest(by_id[c].label) for c in sorted({*fit_ids, *val_ids}, key=str)},
        provenance.CODE_KEY: provenance.code_version(),
    }


def _symmetric_reference(by_id: dict, spec: Approach, reference: str | None) -> str | None:
    """The modality the symmetric modalities are registered on (§3.1): ``reference``, else the task's default; None
    for approaches without them."""
    if not spec.symmetric:
        return None
    from ..preprocessing.symmetric import default_reference

    return reference or default_reference(next(iter(by_id.values())))


def _prepare(by_id: dict, needed: set, spec: Approach, progress: bool, **prepare_kwargs) -> dict:
    """{case id: prepared case} of the ``needed`` cases (:func:`strokelib.preprocessing.normalisation.prepare_case`)."""
    from ..preprocessing.normalisation import prepare_case

    return {case_id: prepare_case(by_id[case_id], symmetric=spec.symmetric, **prepare_kwargs)
            for case_id in progress_bar([c for c in by_id if c in needed], desc=f"preparing {spec.name} cases",
                                disable=not progress, leave=False)}


def _train_fold(plan: dict, path: Path, prepared: dict, by_id: dict, spec: Approach, cfg: PaperConfig,
                run: TrainRun) -> pd.DataFrame:
    """Sample the fold's training and validation patches and train its SUNet (:func:`strokelib.training.loop.train`)."""
    from ..sampling.patches import PatchDataset

    k = plan["fold"]
    fit = [prepared[c] for c in plan["train_ids"]]
    val = [prepared[c] for c in plan["val_ids"]]
    # ISLES 2022 has cases without a lesion (its metrics score them): they give healthy patches only. An ISLES 2015
    # case with an empty ground truth is a data error, and the sampler still says so.
    lesion_free = {"allow_no_lesion": True} if plan["task"] == ISLES22 else {}
    train_set = PatchDataset(fit, sampler=spec.sampler, n_patches=cfg.patches_per_case, patch_shape=cfg.patch_shape,
                             lesion_fraction=cfg.lesion_fraction, seed=derived_seed(run.seed, k, 0),
                             resample_each_epoch=run.resample_each_epoch, progress=run.progress, **lesion_free)
    val_set = PatchDataset(val, sampler=spec.sampler, n_patches=run.val_patches_per_case or cfg.patches_per_case,
                           patch_shape=cfg.patch_shape, lesion_fraction=cfg.lesion_fraction,
                           seed=derived_seed(run.seed, k, 1), progress=run.progress, **lesion_free)
    torch.manual_seed(run.seed)  # the same initial weights in every fold and every process
    model = SUNet(fit[0].images.shape[0], 2, cfg.base_filters, cfg.dropout)
    log.debug("%s %s fold %d: %d training, %d validation cases, held out %s", plan["task"], plan["approach"], k,
             len(plan["train_ids"]), len(plan["val_ids"]), plan["held_out"])
    return train(model, train_set, val_set, cfg, checkpoint=path, seed=derived_seed(run.seed, k), progress=run.progress,
                 loss=spec.loss, meta={**plan, "modalities": list(fit[0].modalities),
                                       **training_spacing([by_id[c] for c in plan["train_ids"] + plan["val_ids"]])},
                 device=run.device, num_workers=run.num_workers, precision=run.precision,
                 compile_model=run.compile_model)


def _fold_history(plan: dict, path: Path, train_it: bool, prepared: dict, by_id: dict, spec: Approach,
                  cfg: PaperConfig, run: TrainRun) -> pd.DataFrame:
    """Fold ``plan["fold"]``'s epoch history: trained now (``train_it``) or read from its finished checkpoint; also
    written beside the checkpoint as ``fold<k>_history.csv``."""
    k = plan["fold"]
    if train_it:
        start = time.perf_counter()
        history = _train_fold(plan, path, prepared, by_id, spec, cfg, run)
        last = history.iloc[-1]
        ended = "early stopping" if len(history) < cfg.max_epochs else f"the {cfg.max_epochs}-epoch cap"
        log.info("%s %s fold %d: %d epochs (ended by %s), best epoch %d, validation L1+ER %.4f, %.0f s", plan["task"],
                 plan["approach"], k, int(last["epoch"]), ended, int(last["best_epoch"]),
                 float(history["val_l1_er"].min()), time.perf_counter() - start)
    else:
        history = pd.DataFrame(load_checkpoint(path)["history"])
        log.info("%s %s fold %d already trained (%s)", plan["task"], plan["approach"], k, path)
    history.insert(0, "fold", k)
    write_csv(history, path.with_name(f"fold{k}_history.csv"), index=False)
    return history


def cross_validate(
    cases: Sequence,
    task: str,
    approach: str,
    cfg: PaperConfig = PAPER,
    run: TrainRun | None = None,
) -> pd.DataFrame:
    """Train one SUNet per fold for ``approach`` (§4.1, Table 1) and return all folds' epoch histories.

    ``cases`` are raw loaded training cases; each is prepared for the approach with
    :func:`strokelib.preprocessing.normalisation.prepare_case` (symmetric modalities for ``proposed``, then z-scores).
    ``run`` (:class:`TrainRun`, default: the declared settings) says how: which folds, early stopping, seeds,
    pre-processing, device and precision. Every fold starts from the same initial weights (as released).
    ``early_stopping='inner'`` holds out ``val_fraction`` of each fold's training cases for early stopping;
    ``'held_out'`` monitors the fold that is then scored, as the released code did (optimistic,
    ``docs/released-code.md#cross-validation``). Finished folds are skipped, an interrupted one resumes. Writes
    ``fold<k>.pt`` and ``fold<k>_history.csv`` under ``<run.out_dir>/models/<task>/<approach>/``.

    Each checkpoint records the data it was trained on (the data folder and a fingerprint of every case file of the
    fold, :mod:`strokelib.provenance`) beside the config and :meth:`TrainRun.record`; an existing checkpoint is
    reused only when all of them match, and one made from other data or settings stops the run with a
    :class:`ProvenanceError` saying what differs. ``run.fresh`` retrains such folds instead.
    """
    run = run or TrainRun()
    spec = approach_to_train(approach, run)
    task = str(task).upper()
    by_id = _labelled(cases)
    run = dataclasses.replace(run, n_folds=run.n_folds or cfg.n_folds,
                              reference=_symmetric_reference(by_id, spec, run.reference))
    splits = fold_splits(list(by_id), run.n_folds, run.shuffle, run.seed)
    folds = _fold_numbers(run.folds, run.n_folds)
    plans = {k: _fold_plan(k, splits[k], by_id, task, approach, spec, cfg, run) for k in folds}
    paths = {k: checkpoint_path(run.out_dir, task, approach, k) for k in folds}
    todo = [k for k in folds if not _existing_matches(paths[k], plans[k], cfg, run.fresh)]
    prepared = _prepare(by_id, {c for k in todo for c in plans[k]["train_ids"] + plans[k]["val_ids"]}, spec,
                        run.progress, normalisation=run.normalisation, transform=run.transform,
                        cache_dir=run.cache_dir, reference=run.reference)
    histories = [_fold_history(plans[k], paths[k], k in todo, prepared, by_id, spec, cfg, run) for k in folds]
    result = pd.concat(histories, ignore_index=True)
    result.insert(0, "approach", approach)
    result.insert(0, "task", task)
    return result


# ---------------------------------------------------------------------------------------------------------
# profiles and the command line
# ---------------------------------------------------------------------------------------------------------


PROFILE_KEYS = {
    "train_patches_per_case": "patches_per_case",
    "train_max_epochs": "max_epochs",
    "train_patience": "patience",
    "train_base_filters": "base_filters",
    "train_batch_size": "batch_size",
    "train_n_folds": "n_folds",
}
"""Profile parameter → :class:`PaperConfig` field it overrides."""


def scale_notes(cfg: PaperConfig, base: PaperConfig = PAPER) -> list[str]:
    """How this run's training differs in scale from the paper's (§3.4, §4.1), in sentences computed from ``cfg``:
    patches per case, the network's width and parameters, and whether early stopping can act at all."""
    params = sum(p.numel() for p in SUNet(8, 2, cfg.base_filters).parameters())
    paper_params = sum(p.numel() for p in SUNet(8, 2, base.base_filters).parameters())
    lines = [
        f"Training patches: {cfg.patches_per_case} per case and epoch (lesion_fraction {cfg.lesion_fraction:.0%}); the "
        f"paper extracts {base.patches_per_case:_} per case (§4.1), {base.patches_per_case / cfg.patches_per_case:.0f}× "
        "more.".replace("_", " "),
        f"Network: SUNet with {cfg.base_filters} base filters, {params / 1e6:.2f} M parameters at 8 input channels "
        f"(the paper's {base.base_filters} filters: {paper_params / 1e6:.2f} M).",
    ]
    if cfg.max_epochs > cfg.patience + 1:  # the earliest stop comes after patience + 1 epochs (best = the first)
        lines.append(f"Early stopping: a fold stops after {cfg.patience} epochs without improvement of the validation "
                     f"L1 + error rate, and trains at most {cfg.max_epochs} epochs (the paper: patience "
                     f"{base.patience}, at most {base.max_epochs}); the best epoch's weights are kept.")
    else:
        lines.append(f"Early stopping cannot act in this run: at most {cfg.max_epochs} epochs, no more than the "
                     f"patience of {cfg.patience} plus one, so every fold runs {cfg.max_epochs} epochs and keeps its best one "
                     f"(the paper: patience {base.patience}, at most {base.max_epochs}).")
    return lines


def config_from_settings(settings: RunSettings, base: PaperConfig = PAPER) -> PaperConfig:
    """``base`` with the run's training sizes applied (:data:`PROFILE_KEYS`); a null setting keeps the paper's value."""
    changes = {field: getattr(settings, key) for key, field in PROFILE_KEYS.items() if getattr(settings, key) is not None}
    return dataclasses.replace(base, **changes)


def training_setup(settings: RunSettings | dict, out_dir: str | Path | None = None, root: str | Path | None = None,
                   base: PaperConfig = PAPER) -> tuple[PaperConfig, TrainRun]:
    """The :class:`PaperConfig` and the :class:`TrainRun` of run settings (a :class:`RunSettings`, or a mapping of
    settings that is validated, absent ones at their declared defaults — the small interactive sizes, e.g. 3 epochs
    of 200 patches per case; give ``None`` for the paper's value, as the ``paper`` profile gives the paper's numbers).

    What ``strokelib train`` and notebook 04 both run: ``cross_validate(cases, task, approach, cfg, run)``.
    """
    if not isinstance(settings, RunSettings):
        settings = RunSettings.from_params(settings, "training settings")
    return config_from_settings(settings, base), TrainRun.from_settings(settings, out_dir, root)


FLAIR_CACHE = "flair_cache"
"""Folder under a run's outputs where ISLES 2022 FLAIR images registered onto DWI are cached."""


def isles22_training_cases(settings: RunSettings, modalities: Sequence[str] | None, cache_dir: str | Path | None,
                           progress: bool = True) -> list:
    """The ISLES 2022 training cases of a run, with the channels ``modalities`` (None: ``settings.isles22_modalities``;
    e.g. DWI, ADC or DWI, ADC, FLAIR) — the cases notebook 06 trains on, from the same settings.

    From ``settings.isles22_data_root`` (a BIDS root in either layout, :func:`strokelib.data.isles22.find_isles22_cases`),
    else the embedded ISLES 2022-like synthetic set of ``isles22_n_train`` cases, ``seed`` and ``isles22_geometry``
    (generated on first use). FLAIR is registered onto DWI with the run's ``seed`` and cached under ``cache_dir``.
    Every case needs a mask.
    """
    from ..data.isles22 import find_isles22_cases, load_isles22_for_model
    from ..synthetic.isles22 import resolve_isles22_root

    root = resolve_isles22_root(settings.isles22_data_root, settings.isles22_n_train, settings.seed,
                                settings.isles22_geometry, progress=progress)
    table = find_isles22_cases(root)
    unlabelled = [case_id for case_id, files in table.items() if LABEL_TOKEN not in files]
    if unlabelled:
        raise DataLayoutError(f"training needs a lesion mask for every case; {', '.join(unlabelled)} under {root} "
                              "have none (derivatives/<case>/ses-*/<case>_ses-*_msk.nii.gz)")
    modalities = tuple(modalities or settings.isles22_modalities)
    bar = progress_bar(sorted(table.items()), desc="loading ISLES22 cases", disable=not progress, leave=False)
    return [load_isles22_for_model(files, case_id, modalities, cache_dir, settings.seed)[0] for case_id, files in bar]


def train_command(
    task: str,
    approach: str = "proposed",
    fold: int | None = None,
    data_root: str | Path | None = None,
    profile: str = "paper",
    out_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    modalities: Sequence[str] | None = None,
    **overrides,
) -> pd.DataFrame:
    """What ``strokelib train --task T --approach A [--fold K] [--profile P] [--data-root D]`` runs.

    Loads the training cases (``data_root`` or the profile's synthetic set), builds the config from the profile
    (plus ``overrides``, any setting in :data:`strokelib.TRAIN_SETTINGS`) with :func:`training_setup` and runs
    :func:`cross_validate` for one fold or all of them. Folds run in parallel as separate processes:
    ``CUDA_VISIBLE_DEVICES=K strokelib train ... --fold K &``. Task ``ISLES22`` reads ISLES 2022 cases
    (:func:`isles22_training_cases`: ``data_root`` is then the ISLES 2022 root, else the profile's ``isles22_*``
    settings, as in notebook 06) with ``modalities`` (default: the profile's ``isles22_modalities``; FLAIR registered
    and cached under ``<outputs>/flair_cache``); the ISLES 2015 tasks read their fixed modalities and refuse
    ``modalities``.
    """
    from ..data.cases import load_isles2015
    from ..synthetic.dataset import resolve_data_root

    task = str(task).upper()
    if modalities and task != ISLES22:
        raise ConfigError(f"{task} reads its own modalities; --modalities chooses the images of ISLES22 models only")
    unknown = [k for k in overrides if k not in TRAIN_SETTINGS]
    if unknown:
        raise ConfigError(f"training has no parameter {unknown_hint(unknown, TRAIN_SETTINGS)}; check the "
                          f"spelling (training reads {', '.join(TRAIN_SETTINGS)})")
    overrides = validate(overrides, "strokelib train -p")
    params = {**load_profile(profile), **{k: v for k, v in overrides.items() if v is not None}}
    root_key = "isles22_data_root" if task == ISLES22 else "data_root"  # the ISLES 2022 root notebook 06 reads too
    params.update({k: str(v) for k, v in ((root_key, data_root), ("device", device)) if v is not None})
    params["fold"] = fold
    run_settings = RunSettings.from_params(params, "strokelib train")
    cfg, run = training_setup(run_settings, out_dir)
    if task == ISLES22:
        cases = isles22_training_cases(run_settings, modalities, run.out_dir / FLAIR_CACHE, progress)
    else:
        root = resolve_data_root(run_settings.data_root, task, run_settings.synthetic_geometry, run_settings.n_train,
                                 run_settings.n_test, run_settings.seed, phenomena=run_settings.synthetic_phenomena)
        cases = load_isles2015(root, task, "training", penumbra_label=run_settings.penumbra_label, progress=progress)
    return cross_validate(cases, task, approach, cfg, dataclasses.replace(run, progress=progress))
