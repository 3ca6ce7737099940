"""Model files (paper §3.4, §4.1, §4.2): the checkpoint format, the self-describing models folder, device choice.

A checkpoint (``fold<k>.pt``, written atomically every epoch by :func:`strokelib.training.loop.train`) holds the best
weights, the epoch history, the configuration and a ``meta`` record of everything using the model needs (task,
modalities, normalisation, symmetric-modality settings, patch shape, fold, held-out cases, training voxel size);
while training runs it also holds the optimiser and random states, so an interrupted run resumes. A models folder
``<out_dir>/models/<task>/<approach>/`` holds one checkpoint per fold and, once notebook 05 or ``strokelib
postprocess`` has chosen them, the post-processing parameters Th and S_min (§3.5) in ``postprocessing.json``: it is
all ``strokelib segment`` needs.
Both training and inference read and write model files only through this module.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import provenance
from ..config import PaperConfig
from ..data.geometry import spacing_differs
from ..errors import ConfigError, InferenceError, TrainingError
from ..files import atomic_path, write_text
from .sunet import SUNet

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 3
"""3: the record holds the symmetric reference, validation patches, patch re-drawing, training precision, a digest of
the labels as read and the code version; 2: epochs numbered from 1 (``epoch`` = epochs done, ``best_epoch``
1-based); format 1 counted from 0."""
EARLY_STOPPING_LABELS = {
    "inner": "early stopping on an inner validation split of the training cases",
    "held_out": "early stopping on the scored fold (the released protocol; optimistic)",
}
"""How tables name each early-stopping mode: ``held_out`` monitors the very cases that are then scored."""


def channels_last_helps(device: torch.device) -> bool:
    """Whether to run the network in ``channels_last_3d``: on CUDA and on CPUs. Measured here on SUNet training
    steps: 2.0× the patches/s at base 8 and 16 on an AVX-512 CPU, +16 % (base 16) and +14 % (base 32) on an AVX2-only
    CPU; not used on MPS, where it was never measured."""
    return device.type in ("cuda", "cpu")


def select_device(preference: str | torch.device | None = None) -> torch.device:
    """The training device: ``preference`` when given and available, else CUDA → MPS → CPU."""
    if isinstance(preference, torch.device):
        return preference
    if preference in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {preference!r} is not a torch device; use 'cuda', 'cuda:1', 'mps', 'cpu' or leave it empty") from exc
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "mps": torch.backends.mps.is_available(),
    }.get(device.type, False)
    if not available:
        raise ConfigError(f"device {preference!r} is not available on this machine; leave device empty to pick cuda → mps → cpu")
    return device


# ---------------------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------------------


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write a checkpoint dictionary atomically (a crash mid-write leaves the previous file intact)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a strokelib checkpoint (tensors and plain Python values only: ``weights_only`` loading)."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"no checkpoint at {path}; train the fold first (cross_validate or `strokelib train`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the file is not a usable checkpoint
        raise TrainingError(f"cannot read checkpoint {path} ({type(exc).__name__}: {exc}); delete it and train again") from exc
    if not isinstance(state, dict) or "format" not in state:
        raise TrainingError(f"{path} is not a strokelib checkpoint; delete it and train again")
    if state["format"] != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is a strokelib checkpoint of format {state['format']}, written by another version "
                            f"(this one reads format {CHECKPOINT_FORMAT}); delete it and train again")
    return state


def rng_state() -> dict:
    """The torch, CUDA, numpy and Python random states, as a checkpoint stores them (tensors and plain values)."""
    state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(state[1].astype(np.int64)), "pos": int(state[2]), "gauss": (int(state[3]), float(state[4]))},
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    """Restore the random states that :func:`rng_state` recorded (CUDA only on the same number of devices)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"], *np_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def model_meta(model: torch.nn.Module) -> dict:
    """The constructor arguments of a :class:`SUNet` that a checkpoint records to rebuild it."""
    return {k: getattr(model, k) for k in ("in_channels", "n_classes", "base_filters", "dropout") if hasattr(model, k)}


def cpu_state(model: torch.nn.Module) -> dict:
    """A detached CPU copy of the model's weights (what a checkpoint stores)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def checkpoint_state(epoch: int, best_epoch: int, finished: bool, best_model: dict | None, history: list[dict],
                     cfg: PaperConfig, meta: dict, model: torch.nn.Module | None = None,
                     optimizer: torch.optim.Optimizer | None = None,
                     scaler: torch.amp.GradScaler | None = None) -> dict:
    """The checkpoint of one epoch (format :data:`CHECKPOINT_FORMAT`), ready for :func:`save_checkpoint`.

    Always: ``format``, ``finished``, ``epoch``, ``best_epoch``, ``best_model`` (the best weights so far),
    ``history``, ``config`` (every :class:`PaperConfig` field but ``extra``) and ``meta`` (what using the model
    needs). An unfinished checkpoint also holds what resuming needs: the current weights, the optimiser and scaler
    states and the random states; a finished one keeps only what using the model needs.
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "finished": finished,
        "epoch": epoch,
        "best_epoch": best_epoch,
        "best_model": best_model,
        "history": history,
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "extra"},
        "meta": provenance.with_commit(meta),  # the git commit beside the code version: information, not compared
    }
    if not finished:
        state |= {
            "model": cpu_state(model),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "rng": rng_state(),
        }
    return state


def load_model(path: str | Path, device: str | torch.device | None = None) -> tuple[SUNet, dict]:
    """The best weights of a training checkpoint as an eval-mode :class:`SUNet`, and its ``meta``.

    ``meta`` holds what using the model on a new case needs: task, approach, modalities, in_channels,
    base_filters, normalisation, patch_shape, fold, held-out case ids, best epoch, ``history`` (a DataFrame)
    and ``finished`` (False while its training is still running).
    """
    state = load_checkpoint(path)
    meta = dict(state["meta"])
    if "in_channels" not in meta or state.get("best_model") is None:
        raise TrainingError(f"checkpoint {path} holds no trained SUNet yet; let its first epoch finish, then load it")
    model = SUNet(meta["in_channels"], meta["n_classes"], meta["base_filters"], meta["dropout"])
    model.load_state_dict(state["best_model"])
    meta |= {"best_epoch": state["best_epoch"], "history": pd.DataFrame(state["history"]), "finished": state["finished"],
             "config": state["config"]}
    if not state["finished"]:
        log.warning("%s is not finished (epoch %d); using its best weights so far", path, state["epoch"])
    return model.to(select_device(device)).eval(), meta


# ---------------------------------------------------------------------------------------------------------
# the models folder
# ---------------------------------------------------------------------------------------------------------


def checkpoint_path(out_dir: str | Path, task: str, approach: str, fold: int) -> Path:
    """``<out_dir>/models/<task>/<approach>/fold<k>.pt``."""
    return Path(out_dir) / "models" / str(task).upper() / approach / f"fold{fold}.pt"


def fold_files(folder: str | Path) -> list[Path]:
    """The ``fold<k>.pt`` files in ``folder``, in fold order (empty when there are none or no folder)."""
    folder = Path(folder)
    return sorted(folder.glob("fold[0-9]*.pt"), key=lambda p: int(p.stem[4:])) if folder.is_dir() else []


def fold_checkpoints(out_dir: str | Path, task: str, approach: str) -> list[Path]:
    """The ``fold<k>.pt`` files of one task and approach, in fold order; an error when there is none."""
    folder = checkpoint_path(out_dir, task, approach, 0).parent
    paths = fold_files(folder)
    if not paths:
        raise InferenceError(
            f"no trained models in {folder}; train them first (notebook 04 or `strokelib train --task {task} "
            f"--approach {approach}`)"
        )
    return paths


def early_stopping_protocol(out_dir: str | Path, task: str, approach: str) -> str:
    """How the fold models of one approach were early-stopped, as tables name it (:data:`EARLY_STOPPING_LABELS`)."""
    modes = {load_checkpoint(p)["meta"]["early_stopping"] for p in fold_checkpoints(out_dir, task, approach)}
    return "; ".join(EARLY_STOPPING_LABELS.get(m, m) for m in sorted(modes))


def cv_folds(out_dir: str | Path, task: str, approach: str) -> dict[str, int]:
    """{case id: fold} of the trained folds of one approach (the cases each fold held out)."""
    return {str(c): int(state["meta"]["fold"]) for path in fold_checkpoints(out_dir, task, approach)
            for state in [load_checkpoint(path)] for c in state["meta"]["held_out"]}


def load_models(folder: str | Path, device=None) -> tuple[list[nn.Module], dict]:
    """Every ``fold<k>.pt`` model in ``folder`` (a self-describing models folder), and the meta they share.

    ``meta["spacing"]`` is the voxel size (mm, RAS axes) and ``meta["orientation"]`` the voxel order (``"RAS"``)
    the models were trained at (:func:`strokelib.training.cross_validation.training_spacing`). Folds trained at
    different voxel sizes are refused.
    """
    folder = Path(folder)
    paths = fold_files(folder)
    if not paths:
        raise InferenceError(f"no fold<k>.pt models in {folder}; point --models at outputs/<profile>/models/<task>/<approach>")
    loaded = [load_model(p, device) for p in paths]
    metas = [m for _, m in loaded]
    for key in ("task", "modalities", "symmetric", "normalisation", "transform", "reference", "patch_shape", "orientation"):
        if any(m.get(key) != metas[0].get(key) for m in metas):
            raise InferenceError(f"the fold models in {folder} disagree on {key}; retrain them with one setting")
    spacings = [m["spacing"] for m in metas]
    if any(spacing_differs(s, spacings[0]) for s in spacings):
        raise InferenceError(f"the fold models in {folder} were trained at different voxel sizes {spacings}; "
                             "retrain them on cases of one voxel size")
    return [model for model, _ in loaded], {**metas[0], "model_files": [provenance.file_digest(p) for p in paths]}


def load_ensemble(out_dir: str | Path, task: str, approach: str, device=None) -> tuple[list[nn.Module], dict]:
    """Every fold model of one approach under ``out_dir``, for the §4.2 ensemble, and the meta they share."""
    return load_models(fold_checkpoints(out_dir, task, approach)[0].parent, device)


POSTPROCESSING_FILE = "postprocessing.json"


def save_postprocessing(models_dir: str | Path, threshold: float, min_size: int, source: str) -> Path:
    """Store the grid-searched Th and S_min beside the fold models, so a models folder is self-describing."""
    record = {"threshold": float(threshold), "min_size": int(min_size), "selected_on": source}
    return write_text(Path(models_dir) / POSTPROCESSING_FILE, json.dumps(record, indent=2) + "\n")


def load_postprocessing(models_dir: str | Path) -> dict:
    """Th and S_min stored by :func:`save_postprocessing`; a clear error naming ``strokelib postprocess`` when
    nothing has chosen them yet."""
    path = Path(models_dir) / POSTPROCESSING_FILE
    if not path.is_file():
        raise InferenceError(
            f"no {POSTPROCESSING_FILE} in {models_dir}: run `strokelib postprocess --models {models_dir}` (the Eq. 2 "
            "grid search over the cross-validated maps, as notebook 05 does), or give --threshold and --min-size"
        )
    return json.loads(path.read_text())


def trained_approaches(out_dir: str | Path, task: str, approaches: Sequence[str]) -> list[str]:
    """The approaches among ``approaches`` that have at least one fold model under ``out_dir`` (logs the others)."""
    found = [a for a in approaches if fold_files(checkpoint_path(out_dir, task, a, 0).parent)]
    missing = [a for a in approaches if a not in found]
    if missing:
        log.warning("no %s models for %s under %s; train them in notebook 04 to add their rows", task, ", ".join(missing), out_dir)
    if not found:
        raise InferenceError(f"no trained {task} models under {out_dir}; run notebook 04 (or `strokelib train`) first")
    return found
