"""Probability maps of whole datasets, saved with a record of what produced them (paper §4.1, §4.2).

:func:`predict_cross_validation` predicts every training case with the model of the fold that held it out (§4.1);
:func:`predict_ensemble` predicts new cases with the mean of all fold models (§4.2). Each map is predicted by
:func:`strokelib.inference.patches.predict_case` (overlapping patches, §3.5) on the case prepared exactly as the
models were trained, and saved as NIfTI on the case's own grid beside a record of the case files, the model files,
the patch and the step; a later run reuses a map only when its record matches (:mod:`strokelib.provenance`). The
record also says in which precision the map was predicted (``precision``, ``precision_reason``), as information that
the match ignores: bf16 and fp32 maps of the same models differ only by rounding (a CUDA bf16 map was within 2e-4 of
the CPU fp32 one), and ``auto`` resolves per machine, so a map stays reusable on another machine or after another
calibration; pass ``fresh`` with another ``precision`` to predict it again.

The prediction functions themselves live in :mod:`strokelib.inference.patches` and :mod:`strokelib.inference.whole_volume`,
the models folder in :mod:`strokelib.model.checkpoints` and the SMIR export in :mod:`strokelib.files`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import provenance
from ..config import PAPER
from ..errors import InferenceError
from ..files import save_nifti
from ..model.checkpoints import fold_checkpoints, load_checkpoint, load_model
from ..preprocessing.normalisation import prepare_case
from ..progress import progress_bar
from .patches import inference_precision, predict_case, triple

if TYPE_CHECKING:
    from ..data.cases import Case

log = logging.getLogger(__name__)

def prepare_for_model(case: Case, meta: dict, cache_dir: str | Path | None = None) -> Case:
    """Prepare a raw case exactly as the model described by ``meta`` was trained (symmetric channels, normalisation)."""
    prepared = prepare_case(case, symmetric=bool(meta["symmetric"]), normalisation=meta["normalisation"],
                            transform=meta["transform"], cache_dir=cache_dir, reference=meta["reference"] or None)
    if list(prepared.modalities) != list(meta["modalities"]):
        raise InferenceError(
            f"case {case.case_id}: channels {list(prepared.modalities)} differ from the model's {meta['modalities']}; "
            "use models trained for this task"
        )
    return prepared


MAP_RECORD_SUFFIX = ".json"
PRECISION_KEYS = ("precision", "precision_reason")
"""Keys of a map record that say how it was computed, not what from: written, shown, never compared."""


def model_set_key(model_digests: Sequence[str], patch_shape: Sequence[int], step: Sequence[int]) -> str:
    """Short hash of a model set (its files' digests), the patch shape and the step: the name of its maps' folder."""
    return provenance.digest({"models": list(model_digests), "patch_shape": list(patch_shape), "step": list(step)})


def probability_folder(out_dir: str | Path, task: str, approach: str, split: str, key: str) -> Path:
    """``<out_dir>/probabilities/<task>/<approach>/<split>-<key>/``: maps of one approach, split (``cv`` for the
    cross-validated training cases, ``test`` for the ensemble on new cases) and model set (``key``,
    :func:`model_set_key`), so maps of other models never meet."""
    return Path(out_dir) / "probabilities" / str(task).upper() / approach / f"{split}-{key}"


def _map_record(case: Case, meta: dict, model_digests: Sequence[str], patch, step) -> dict:
    """What produced one probability map: the case's files, the models' files, patch, step and preparation."""
    return {
        "case_id": str(case.case_id),
        "data": {str(case.case_id): provenance.case_fingerprint(case)},
        "data_root": provenance.data_root([case]),
        "models": list(model_digests),
        "patch_shape": list(patch),
        "step": list(step),
        "preparation": {k: meta.get(k) for k in ("task", "modalities", "symmetric", "normalisation", "transform", "reference")},
        "brain_only": True,
        provenance.CODE_KEY: provenance.code_version(),
    }


def _load_or_predict(path: Path, models, case: Case, meta: dict, cache_dir, model_digests: Sequence[str],
                     fresh: bool = False, precision: str = "auto", **predict_kwargs) -> np.ndarray:
    """Read a saved probability map when its record matches, or predict and save it (atomically, map then record).

    A map whose record differs (data, models, settings or code version) stops with a :class:`ProvenanceError`
    (``fresh=True`` predicts it again; a matching map is reused with or without ``fresh``); a map without a record
    (an interrupted write, or an older strokelib) is predicted again. The record's :data:`PRECISION_KEYS` are not
    compared.
    """
    import nibabel as nib

    patch = triple(meta["patch_shape"], "patch_shape")
    step = triple(predict_kwargs.get("step", PAPER.inference_step), "step")
    record = _map_record(case, meta, model_digests, patch, step)
    record_path = path.with_name(path.name.removesuffix(".nii.gz") + MAP_RECORD_SUFFIX)
    stored = provenance.read_record(record_path)
    if stored is not None:
        stored = {k: v for k, v in stored.items() if k not in PRECISION_KEYS}
    if path.is_file() and (stored is None or not fresh or provenance.matches(stored, record)):
        if stored is None:
            log.warning("%s has no record of what produced it; predicting it again", path)
        else:
            provenance.check(f"probability map {provenance.display(path)}", stored, record,
                             "choose another outputs_dir, or pass fresh (strokelib run --fresh) to predict it again")
            probability = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
            if probability.shape == case.source_shape:  # written by save_nifti in the input files' voxel order
                return case.from_source(probability)
            log.warning("%s has shape %s, not the case's %s; predicting again", path, probability.shape, case.source_shape)
    record_path.unlink(missing_ok=True)  # a map without its record is never reused
    prepared = prepare_for_model(case, meta, cache_dir)
    choice = inference_precision(models, predict_kwargs.get("device"), precision, predict_kwargs.get("batch_size"), patch)
    probability = predict_case(models, prepared, patch_shape=patch, precision=choice.precision, **predict_kwargs)
    save_nifti(probability, case, path, dtype=np.float32)
    provenance.write_record(record_path, {**record, "precision": choice.precision, "precision_reason": choice.reason})
    return probability


def predict_cross_validation(
    cases: Sequence[Case],
    task: str,
    approach: str,
    out_dir: str | Path,
    step: Sequence[int] = PAPER.inference_step,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    fresh: bool = False,
    precision: str = "auto",
) -> dict[str, np.ndarray]:
    """Probability map of every training case from the model of the fold that held it out (§4.1).

    Maps are saved as ``<case>.nii.gz`` with the case's header in :func:`probability_folder` (split ``cv``, keyed
    by the fold models' files, the patch and the step), each beside a ``<case>.json`` record of what produced it.
    A second run (or notebook 05 after an interruption) predicts only what is missing; a map made from other data
    stops the run (:class:`ProvenanceError`) unless ``fresh``. :func:`cv_map_folder` gives the folder. ``precision``
    as :func:`~strokelib.inference.patches.predict_case`; the one used is recorded beside each map, not compared.
    """
    by_id = {c.case_id: c for c in cases}
    paths = fold_checkpoints(out_dir, task, approach)
    digests = [provenance.file_digest(p) for p in paths]
    folder = probability_folder(out_dir, task, approach, "cv", model_set_key(digests, _fold_patch(paths[0]), step))
    maps: dict[str, np.ndarray] = {}
    for path, model_digest in zip(paths, digests, strict=True):
        model, meta = load_model(path, device)
        held_out = [c for c in meta["held_out"] if c in by_id]
        for case_id in progress_bar(held_out, desc=f"{approach} fold {meta['fold']}", disable=not progress, leave=False):
            maps[case_id] = _load_or_predict(
                folder / f"{case_id}.nii.gz", model, by_id[case_id], meta, cache_dir, [model_digest], fresh,
                precision, step=step, batch_size=batch_size, device=device, progress=False,
            )
    missing = [c for c in by_id if c not in maps]
    if missing:
        log.warning("cases %s are held out by no trained fold of %s %s; they are not predicted", missing, task, approach)
    return {c: maps[c] for c in by_id if c in maps}


def _fold_patch(path: Path) -> tuple[int, int, int]:
    return triple(load_checkpoint(path)["meta"]["patch_shape"], "patch_shape")


def cv_map_folder(out_dir: str | Path, task: str, approach: str, step: Sequence[int] = PAPER.inference_step) -> Path:
    """The folder :func:`predict_cross_validation` writes the maps of the current fold models to."""
    paths = fold_checkpoints(out_dir, task, approach)
    key = model_set_key([provenance.file_digest(p) for p in paths], _fold_patch(paths[0]), triple(step, "step"))
    return probability_folder(out_dir, task, approach, "cv", key)


def predict_ensemble(
    cases: Sequence[Case],
    models: Sequence[nn.Module],
    meta: dict,
    out_dir: str | Path,
    name: str | None = None,
    step: Sequence[int] = PAPER.inference_step,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    fresh: bool = False,
    precision: str = "auto",
) -> dict[str, np.ndarray]:
    """Probability maps of new cases (e.g. the challenge test set) from the mean of all fold models (§4.2).

    Saved in :func:`probability_folder` with split ``test``, per approach (``name``, default the models' approach)
    and model set (``meta["model_files"]`` from :func:`load_models`), each map beside its record; reused only when
    the record matches (see :func:`predict_cross_validation`).
    """
    task = meta["task"]
    name = name or meta.get("approach", "ensemble")
    digests = meta.get("model_files") or [provenance.array_digest(*[v.detach().cpu().numpy() for v in m.state_dict().values()])
                                          for m in models]
    folder = probability_folder(out_dir, task, name, "test",
                                model_set_key(digests, triple(meta["patch_shape"], "patch_shape"),
                                              triple(step, "step")))
    return {
        case.case_id: _load_or_predict(folder / f"{case.case_id}.nii.gz", list(models), case, meta, cache_dir, digests,
                                       fresh, precision, step=step, batch_size=batch_size, device=device,
                                       progress=False)
        for case in progress_bar(cases, desc=f"{task} ensemble", disable=not progress, leave=False)
    }


def compare_steps(case: Case, task: str, approach: str, out_dir: str | Path, steps: Sequence[Sequence[int]],
                  batch_size: int | None = None, device: str | torch.device | None = None,
                  cache_dir: str | Path | None = None) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """One training case predicted by the model of the fold that held it out, once per inference step (§3.5): the
    maps (keyed ``"step 8×8×8 (18 patches per voxel)"``) and a table of step, patches per voxel, patches and
    seconds. A demonstration of what the step changes; nothing is saved."""
    from ..sampling.patches import grid_centres, patches_per_voxel

    path = next((p for p in fold_checkpoints(out_dir, task, approach)
                 if case.case_id in load_checkpoint(p)["meta"]["held_out"]), None)
    if path is None:
        raise InferenceError(f"case {case.case_id} is held out by no trained fold of {task} {approach}")
    model, meta = load_model(path, device)
    prepared = prepare_for_model(case, meta, cache_dir)
    patch = triple(meta["patch_shape"], "patch_shape")
    maps, rows = {}, []
    for step in steps:
        step = triple(step, "step")
        per_voxel = patches_per_voxel(patch, step)
        start = time.perf_counter()
        label = f"step {'×'.join(map(str, step))} ({per_voxel} patches per voxel)"
        maps[label] = predict_case(model, prepared, patch, step, batch_size, device, progress=False)
        rows.append({"step": "×".join(map(str, step)), "patches per voxel": per_voxel,
                     "patches": len(grid_centres(case.brain_mask, patch, step)), "seconds": time.perf_counter() - start})
    return maps, pd.DataFrame(rows).set_index("step")
