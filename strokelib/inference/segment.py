"""Segment new cases with a trained models folder (the whole of paper §3: symmetric modalities, prediction and
post-processing): one case, a folder of cases, or an ISLES 2015 dataset root; for ISLES 2022 models (task
``ISLES22``) a BIDS root in either layout, one ``sub-*`` folder, or one file per modality.

:func:`segment` is what ``strokelib segment`` runs (and what a notebook can call). For every case it writes::

    OUT/<case>/probability.nii.gz   float32 lesion probability, with the input's own header and affine
    OUT/<case>/mask.nii.gz          uint8 mask after Th and S_min
    OUT/<case>/segmentation.json    what produced them: model file hashes, patch shape, step, Th, S_min, and a
                                    fingerprint (size and content hash) of the case's image files; and the result,
                                    with the precision the network ran in and why

ISLES 2022 cases are read with :func:`strokelib.data.isles22.load_isles22_for_model`: the models' recorded
modalities decide which images a case needs (FLAIR, registered onto DWI, only when the models read it; its
registration figures go into ``segmentation.json``), and the outputs lie on the DWI image's grid with its header.

and one row per case in ``OUT/segmentation_summary.csv`` (``segmentation_summary.shard-K-of-N.csv`` for
``shard=(K, N)``, so that shards running at once never overwrite each other's table), rewritten atomically after
every case so that an interrupted batch keeps what finished.

A case's files are written into a hidden staging folder and renamed onto ``OUT/<case>`` only once all three exist,
so a case that fails leaves no folder and an interrupted one no half-written NIfTI. A re-run with the same models
and settings skips the cases whose record matches; a case whose folder holds outputs of other models, settings or
input files is skipped with the reason in its row, and recomputed only with ``fresh=True``. The precision is part
of the result, not of the record compared (as for :mod:`strokelib.inference.maps`): ``auto`` resolves per machine, and
bf16 and fp32 outputs of the same models differ only by rounding.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .. import provenance
from ..config import PAPER
from ..data.isles22 import ISLES22_MODALITIES, load_isles22_for_model, require_isles22_images
from ..data.layout import ISLES22, case_files, task_modalities
from ..data.new_cases import (
    check_channels,
    check_headers,
    find_cases,
    find_isles22_inputs,
    whole_head_warning,
)
from ..errors import ConfigError, StrokelibError
from ..files import replace_folder, write_csv
from ..progress import progress_bar

log = logging.getLogger(__name__)

RECORD_FILE = "segmentation.json"
SUMMARY_FILE = "segmentation_summary.csv"
OUTPUT_FILES = ("probability.nii.gz", "mask.nii.gz")
COLUMNS = ("case", "status", "lesion_ml", "voxels", "seconds", "mode", "Th", "S_min", "warning", "reason")


def summary_name(shard: tuple[int, int] | None = None) -> str:
    """The summary file name: ``segmentation_summary.csv``, or ``segmentation_summary.shard-K-of-N.csv``."""
    return SUMMARY_FILE if shard is None else f"segmentation_summary.shard-{shard[0]}-of-{shard[1]}.csv"


def parse_shard(shard: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"K/N"`` or ``(K, N)`` as ``(K, N)`` with ``0 <= K < N``; None stays None."""
    if shard is None:
        return None
    try:
        k, n = (int(x) for x in (shard.split("/") if isinstance(shard, str) else shard))
    except (TypeError, ValueError):
        raise ConfigError(f"shard {shard!r}: write K/N, e.g. 0/4 for the first of 4 shards") from None
    if n < 1 or not 0 <= k < n:
        raise ConfigError(f"shard {k}/{n}: K must lie in 0..N-1 (e.g. 0/4 ... 3/4)")
    return k, n


def _check_out(out_dir: Path, inputs) -> None:
    blocker = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():  # say so before minutes of inference, not after
        raise ConfigError(f"output folder {out_dir}: {blocker} is a file, not a folder; choose another OUT")
    sources = [Path(inputs)] if not isinstance(inputs, Mapping) else []
    out = out_dir.resolve()
    for source in sources:
        src = source.resolve()
        if out == src or src in out.parents:
            raise ConfigError(f"output folder {out_dir} lies inside the input {source}: its results would be read as "
                              "cases on the next run; choose an OUT outside the input folder")


# ---------------------------------------------------------------------------------------------------------
# one case
# ---------------------------------------------------------------------------------------------------------
def _record(case_id: str, files: Mapping[str, Path], modalities, meta: dict, step, post: dict, mode: str) -> dict:
    fingerprint = provenance.case_fingerprint(SimpleNamespace(files={m: files[m] for m in modalities}))
    return {"task": str(meta["task"]).upper(), "model_files": list(meta["model_files"]),
            "patch_shape": list(meta["patch_shape"]), "step": list(step), "threshold": float(post["threshold"]),
            "min_size": int(post["min_size"]), "data": {case_id: fingerprint}, "mode": mode,
            provenance.CODE_KEY: provenance.code_version()}


def _finished(case_out: Path) -> bool:
    return all((case_out / name).is_file() for name in (*OUTPUT_FILES, RECORD_FILE))


def input_modalities(task: str, meta: dict) -> tuple[str, ...]:
    """The images a case must provide for models with ``meta``: the task's modalities for ISLES 2015; for ISLES 2022
    the modalities the checkpoints recorded, less the symmetric channels computed from them."""
    from ..preprocessing.symmetric import SYM_PREFIX

    if str(task).upper() != ISLES22:
        return task_modalities(task)
    return tuple(m for m in meta["modalities"] if not str(m).startswith(SYM_PREFIX))


def _load_input(case_id: str, files: Mapping[str, Path], task: str, modalities: tuple[str, ...]) -> tuple[object, dict]:
    """(the raw case, what its loading adds to the result): an ISLES 2015 case after the header checks, or an ISLES
    2022 case on its DWI grid, with FLAIR registered onto it when ``modalities`` hold FLAIR (the figures returned)."""
    from ..data.cases import load_case

    if task != ISLES22:
        check_headers({m: files[m] for m in modalities}, case_id)
        return load_case(dict(files), task, case_id=case_id), {}
    case, registration = load_isles22_for_model(dict(files), case_id, modalities)
    if registration is None:
        return case, {}
    figures = {k: round(v, 4) for k, v in dataclasses.asdict(registration).items()}
    return case, {"flair_registration": figures}


def _segment_one(case_id: str, files: Mapping[str, Path], run: dict, stage: Path) -> dict:
    """Load, prepare and predict one case, and write its probability map and mask into ``stage``; the result."""
    from ..data import geometry
    from ..files import save_nifti
    from .maps import predict_case, prepare_for_model
    from .postprocessing import binarize
    from .whole_volume import predict_whole_volume

    meta, post, models, precision = run["meta"], run["post"], run["models"], run["precision"].precision
    case, loaded = _load_input(case_id, files, run["task"], run["modalities"])
    check_channels(case)
    warning = whole_head_warning(case)
    if warning:
        log.warning("case %s: %s", case_id, warning)
    work = case  # the models' voxel size: resample there, predict, bring the map back to the input grid
    trained = meta["spacing"]
    if geometry.spacing_differs(case.spacing, trained):
        log.warning("case %s: voxel size %s differs from the models' %s; resampling to it and back", case_id,
                    geometry.format_spacing(case.spacing), geometry.format_spacing(trained))
        work = geometry.resample_case(case, trained)
    prepared = prepare_for_model(work, meta, cache_dir=None)
    if run["fast"]:
        probability = predict_whole_volume(models, prepared, device=run["device"], progress=False, precision=precision)
    else:
        probability = predict_case(models, prepared, patch_shape=meta["patch_shape"], step=run["step"],
                                   batch_size=run["batch_size"], device=run["device"], progress=False,
                                   precision=precision)
    if work is not case:
        probability = geometry.probability_to_input(probability, work, case)
    mask = binarize(probability, post["threshold"], int(post["min_size"]))
    save_nifti(probability, case, stage / OUTPUT_FILES[0], dtype=np.float32)
    save_nifti(mask.astype(np.uint8), case, stage / OUTPUT_FILES[1], dtype=np.uint8)
    voxels = int(mask.sum())
    resampled = (f"resampled {geometry.format_spacing(case.spacing)} -> {geometry.format_spacing(trained)}"
                 if work is not case else "")
    return {"lesion_ml": round(voxels * case.voxel_volume_ml, 3), "voxels": voxels,
            "warning": "; ".join(w for w in (warning, resampled) if w), **loaded}


def _publish(stage: Path, case_out: Path) -> None:
    """Rename the staging folder onto ``case_out``, replacing an older folder only once the new one is complete."""
    replace_folder(stage, case_out)


# ---------------------------------------------------------------------------------------------------------
# the steps of segment
# ---------------------------------------------------------------------------------------------------------
def _checked_step(step: Sequence[int]) -> tuple[int, ...]:
    step = tuple(int(s) for s in step)
    if len(step) != 3 or min(step) < 1:
        raise ConfigError(f"step {step}: give three positive integers, e.g. 4 4 1")
    return step


def _existing(given: Mapping[str, Path]) -> dict[str, Path]:
    """``given`` ({modality: file}), every file checked to exist."""
    for modality, path in given.items():
        if not path.is_file():
            raise ConfigError(f"{modality} image {path}: no such file")
    return dict(given)


def _isles22_sources(inputs, split: str | None, case_id: str | None) -> tuple[dict, bool]:
    """:func:`_case_sources` of ISLES 2022: the cases of a BIDS root or ``sub-*`` folder, or the given files (which
    of them are needed is for the models to say, once loaded)."""
    if split is not None:
        raise ConfigError(f"split {split!r}: an ISLES 2022 input has no splits; give the BIDS root or a sub-* folder")
    if not isinstance(inputs, Mapping):
        return find_isles22_inputs(inputs)
    given = {str(k).upper(): Path(v) for k, v in inputs.items()}
    unknown = [m for m in given if m not in ISLES22_MODALITIES]
    if unknown:
        raise ConfigError(f"{ISLES22} reads {', '.join(ISLES22_MODALITIES)}; unknown modalities {', '.join(unknown)}")
    return {case_id or "input": _existing(given)}, True


def _case_sources(inputs, task: str, split: str | None, case_id: str | None) -> tuple[dict, bool]:
    """({case id: case folder, or {modality: file}}, whether ``inputs`` is a single case) of :func:`segment`."""
    if task == ISLES22:
        return _isles22_sources(inputs, split, case_id)
    if not isinstance(inputs, Mapping):
        folders, single = find_cases(inputs, task, split)
        return dict(folders), single
    modalities = task_modalities(task)
    given = {str(k): Path(v) for k, v in inputs.items()}
    missing = [m for m in modalities if m not in given]
    if missing:
        raise ConfigError(f"{task} needs every modality: missing {', '.join(missing)}")
    _existing(given)
    return {case_id or "input": {m: given[m] for m in modalities}}, True


def _resolve_files(cases: Mapping, task: str, keep_going: bool) -> dict[str, Mapping[str, Path] | StrokelibError]:
    """{case id: {modality: file}}, or the layout error of a case when ``keep_going`` (else it is raised)."""
    resolved: dict[str, Mapping[str, Path] | StrokelibError] = {}
    for cid, source in cases.items():
        try:
            resolved[cid] = source if isinstance(source, Mapping) else case_files(source, task, cid)
        except StrokelibError as exc:
            if not keep_going:
                raise
            resolved[cid] = exc
    return resolved


def _load(models, task: str, device, threshold: float | None, min_size: int | None,
          step: tuple[int, ...]) -> tuple[list, dict, dict]:
    """(fold models, their meta, {threshold, min_size}): the models folder, checked against the task and the step;
    Th and S_min from ``postprocessing.json`` unless both are given."""
    from ..model.checkpoints import POSTPROCESSING_FILE, load_models, load_postprocessing

    loaded, meta = load_models(models, device)
    if str(meta["task"]).upper() != task:
        raise ConfigError(f"the models in {models} were trained for {meta['task']}, not {task}")
    if threshold is not None and min_size is not None:
        post = {"threshold": float(threshold), "min_size": int(min_size)}
    elif task == ISLES22 and not (Path(models) / POSTPROCESSING_FILE).is_file():
        raise ConfigError(f"no {POSTPROCESSING_FILE} in {models}: `strokelib postprocess` chooses Th and S_min on ISLES "
                          "2015 data only; give both --threshold and --min-size (e.g. 0.5 and 10) for ISLES22 models")
    else:
        post = {**load_postprocessing(models), **{k: v for k, v in (("threshold", threshold), ("min_size", min_size))
                                                  if v is not None}}
    patch = tuple(int(p) for p in meta["patch_shape"])
    if any(s > p for s, p in zip(step, patch, strict=True)):
        raise ConfigError(f"inference step {step} is larger than the patch {patch}: some voxels would never be "
                          "predicted; use a step no larger than the patch")
    return loaded, meta, post


class _Summary:
    """The summary rows so far, written to ``path`` after every case (an interrupted run keeps what it finished)."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, []

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def add(self, row: dict) -> None:
        self.rows.append({c: row.get(c) for c in COLUMNS})
        write_csv(self.table(), self.path, index=False)

    def failed(self, base: dict, start: float, exc: StrokelibError) -> None:
        log.error("case %s failed: %s", base["case"], exc)
        self.add({**base, "status": "failed", "seconds": round(time.perf_counter() - start, 2), "reason": str(exc)})


def _earlier(case_out: Path, record: dict, fresh: bool) -> dict | None:
    """The row of a case whose output folder exists: skipped, because it was finished with the same record or was
    made otherwise (then the reason says what differs); None when the case is to be computed: new, or made otherwise
    and ``fresh``. A case finished with the same record is skipped with or without ``fresh``."""
    if not case_out.exists():
        return None
    stored = provenance.read_record(case_out / RECORD_FILE)
    if _finished(case_out) and provenance.matches((stored or {}).get("provenance"), record):
        return {**stored.get("result", {}), "status": "skipped", "reason": "done earlier with the same models and settings"}
    if fresh:
        return None
    why = ("; ".join(provenance.differences(stored["provenance"], record)) if stored and "provenance" in stored
           else f"it has no complete {RECORD_FILE}")
    reason = (f"{case_out} holds outputs made otherwise ({why}); pass --fresh (fresh=True) to recompute "
              "them, or choose another OUT")
    if _finished(case_out) and stored and provenance.only_code_differs(stored.get("provenance") or {}, record):
        reason = (f"{case_out} was made by another version of strokelib ({stored['provenance'].get(provenance.CODE_KEY)}; "
                  f"this is {record[provenance.CODE_KEY]}) with the same models, settings and input files: pass "
                  "--fresh to recompute it, or --accept-code-change to keep it as it is")
    log.warning("case %s skipped: %s", case_out.name, reason)
    return {"status": "skipped", "reason": reason}


def _compute(cid: str, files: Mapping[str, Path], record: dict, out_dir: Path, start: float, run: dict) -> dict:
    """Segment one case into a staging folder in ``out_dir``, then publish it as ``out_dir/<case>/`` with its record;
    nothing is left behind when it fails (not even an ``out_dir`` this case created)."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{cid}.partial-", dir=out_dir))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes 0700; give the case folder the usual permissions
    try:
        choice = run["precision"]
        result = _segment_one(cid, files, run, stage)
        result |= {"seconds": round(time.perf_counter() - start, 2), "precision": choice.precision,
                   "precision_reason": choice.reason}
        provenance.write_record(stage / RECORD_FILE, {"provenance": record, "result": result})
        _publish(stage, out_dir / cid)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a case that failed leaves no empty OUT behind
    return result


def _segment_row(summary: _Summary, cid: str, files, out_dir: Path, mode: str, fresh: bool, keep_going: bool,
                 run: dict) -> None:
    """One case of :func:`segment`: failed, skipped or done, its row added to the summary."""
    start = time.perf_counter()
    post = run["post"]
    base = {"case": cid, "mode": mode, "Th": float(post["threshold"]), "S_min": int(post["min_size"])}
    try:
        if isinstance(files, StrokelibError):
            raise files
        if run["task"] == ISLES22:  # the images the models read: named before anything is fingerprinted
            require_isles22_images(dict(files), cid, run["modalities"])
        record = _record(cid, files, run["modalities"], run["meta"], run["step"], post, mode)
    except StrokelibError as exc:
        if not keep_going:
            raise
        summary.failed(base, start, exc)
        return
    earlier = _earlier(out_dir / cid, record, fresh)
    if earlier is not None:
        summary.add({**base, **earlier})
        return
    try:
        result = _compute(cid, files, record, out_dir, start, run)
    except StrokelibError as exc:
        if not keep_going:
            raise
        summary.failed(base, start, exc)
        return
    log.info("case %s: %.1f mL (%d voxels) in %.1f s", cid, result["lesion_ml"], result["voxels"], result["seconds"])
    summary.add({**base, **result, "status": "done"})


# ---------------------------------------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------------------------------------
def segment(
    inputs: str | os.PathLike | Mapping[str, str | os.PathLike],
    models: str | os.PathLike,
    task: str,
    out_dir: str | os.PathLike,
    *,
    split: str | None = None,
    step: Sequence[int] = PAPER.inference_step,
    batch_size: int | None = None,
    device: str | None = None,
    threshold: float | None = None,
    min_size: int | None = None,
    shard: str | Sequence[int] | None = None,
    fresh: bool = False,
    fast: bool = False,
    keep_going: bool | None = None,
    case_id: str | None = None,
    progress: bool = True,
    precision: str = "auto",
) -> pd.DataFrame:
    """Segment one case or every case of a folder with the fold ensemble in ``models``; one summary row per case.

    Parameters
    ----------
    inputs : a case folder, a folder of case folders, an ISLES 2015 root or split folder (see :func:`find_cases`),
        or ``{modality: NIfTI file}`` for one case (named ``case_id``, default ``"input"``). ISLES22: a BIDS root in
        either layout or one ``sub-*`` folder (:func:`find_isles22_inputs`), or ``{"DWI", "ADC", "FLAIR": file}``
        (NIfTI or .mha; FLAIR only for models that read it).
    models : a self-describing models folder (``fold<k>.pt`` and ``postprocessing.json``); loaded once.
    task : ``"SISS"``, ``"SPES"`` or ``"ISLES22"``; must be the task the models were trained for.
    out_dir : results go to ``out_dir/<case>/`` and the summary CSV to ``out_dir`` (never inside ``inputs``).
    split : ``"training"`` or ``"testing"`` for a root holding both splits (None: the only split there).
    step, batch_size, device : patch grid step (paper 4×4×1), patches per forward pass, torch device.
    threshold, min_size : Th and S_min; None = the values in ``models/postprocessing.json``.
    shard : ``"K/N"`` or ``(K, N)``: only every N-th case from the K-th (cases sorted by id), summary in
        ``segmentation_summary.shard-K-of-N.csv``.
    fresh : recompute cases whose stored outputs were made by other models, settings or input files (they are
        otherwise skipped, with the reason in the row).
    fast : whole-volume inference (:func:`strokelib.inference.whole_volume.predict_whole_volume`: one forward pass per model over
        the padded volume) instead of the paper's overlapping patches at ``step``; a documented deviation from §3.5,
        about 16x faster than 8x8x4 patches on a CPU (``benchmarks/fast_inference.py``).
    keep_going : record a failing case in the summary and go on (default for a folder of cases), or raise its
        error with nothing written (default for a single case).
    progress : show a progress bar over the cases.
    precision : ``auto`` (bf16 on CUDA; on a CPU bf16 only where it is native and a calibration on the models measured
        it faster, :mod:`strokelib.model.precision`), ``fp32``, ``bf16`` (refused on a CPU without native bf16) or
        ``fp16``. Decided once, logged, and recorded in each case's ``segmentation.json`` result.

    Returns
    -------
    The summary table, columns ``COLUMNS``: status is ``done``, ``skipped`` (finished earlier with the same record,
    or outputs of other settings without ``fresh``) or ``failed``; ``reason`` says why for the last two.
    """
    from .patches import inference_precision

    task = str(task).upper()
    out_dir, shard, step = Path(out_dir), parse_shard(shard), _checked_step(step)
    _check_out(out_dir, inputs)
    cases, single = _case_sources(inputs, task, split, case_id)
    if shard is not None:
        cases = dict(list(cases.items())[shard[0]::shard[1]])
    keep_going = (not single) if keep_going is None else keep_going
    resolved = _resolve_files(cases, task, keep_going)  # layout problems first: before the models load
    loaded, meta, post = _load(models, task, device, threshold, min_size, step)
    choice = inference_precision(loaded, device, precision, batch_size, meta["patch_shape"])
    mode = "whole volume (fast)" if fast else "patches " + "x".join(map(str, step))
    summary = _Summary(out_dir / summary_name(shard))
    run = {"task": task, "models": loaded, "meta": meta, "step": step, "post": post, "batch_size": batch_size,
           "device": device, "fast": fast, "precision": choice, "modalities": input_modalities(task, meta)}
    for cid, files in progress_bar(resolved.items(), desc=f"segment {task}", unit="case", disable=not progress or len(cases) < 2):
        _segment_row(summary, cid, files, out_dir, mode, fresh, keep_going, run)
    table = summary.table()
    if not summary.rows:  # e.g. a shard K/N with K beyond the number of cases: an empty table says so
        log.warning("no cases to segment%s", f" in shard {shard[0]}/{shard[1]}" if shard else "")
        write_csv(table, summary.path, index=False)
    table.attrs["shard"] = shard
    return table
