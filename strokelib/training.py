"""Network training (paper §3.4) and the 4-fold cross-validation of §4.1.

* :func:`train` — Adadelta (ρ 0.95, lr 1.0), batch 16, early stopping on the validation L1 + error rate with
  patience 8 and min-delta 1e-4, at most 200 epochs; the best weights are kept. A checkpoint is written
  atomically after every epoch, so an interrupted run resumes and ends with the same weights.
* :func:`cross_validate` — contiguous folds in case order (as released), one checkpoint per fold in
  ``<out_dir>/models/<task>/<approach>/fold<k>.pt``; ``folds=[k]`` trains one fold so folds can run in parallel.
* :data:`APPROACHES` — Baseline, Balanced and Proposed of Table 1.

Where the released code and sound practice differ (``docs/released-code.md#cross-validation``), the option is named: early stopping
on an inner validation split of the training cases (default) or on the held-out fold itself (``held_out``,
what produced the published numbers).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from tqdm.auto import tqdm

from . import provenance
from .config import PAPER, PaperConfig
from .errors import ConfigError, TrainingError
from .files import atomic_path, write_csv
from .losses import LOSSES, l1_error_rate
from .model import SUNet
from .settings import EARLY_STOPPING, PRECISIONS, SETTINGS, TRAIN_SETTINGS

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
EARLY_STOPPING_LABELS = {
    "inner": "early stopping on an inner validation split of the training cases",
    "held_out": "early stopping on the scored fold (the released protocol; optimistic)",
}
"""How tables name each early-stopping mode: ``held_out`` monitors the very cases that are then scored."""


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
# folds and early stopping
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


def early_stopping_status(values: Sequence[float], patience: int = 8, min_delta: float = 1e-4) -> tuple[int, bool]:
    """(best epoch, stop?) for a monitored metric where lower is better (§3.4).

    An epoch improves only if it beats the best so far by more than ``min_delta``; training stops once
    ``patience`` epochs passed without improvement (released ``EarlyStoppingTrain``).
    """
    best, best_epoch = math.inf, -1
    for epoch, value in enumerate(values):
        if best - value > min_delta:
            best, best_epoch = value, epoch
    return best_epoch, len(values) > 0 and len(values) - 1 - best_epoch >= patience


# ---------------------------------------------------------------------------------------------------------
# data loading and one epoch
# ---------------------------------------------------------------------------------------------------------


class _Batches(Dataset):
    """Index = a list of patch indices; returns a whole batch through the dataset's vectorised ``get_batch``."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(self.dataset, "get_batch"):
            x, y = self.dataset.get_batch(indices)
        else:  # any map-style dataset of (x, y) items
            items = [self.dataset[i] for i in indices]
            x, y = np.stack([np.asarray(i[0]) for i in items]), np.stack([np.asarray(i[1]) for i in items])
        return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


def _derived_seed(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def _seed_worker(_worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32  # set by the DataLoader from its seeded generator
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0, num_workers: int = 0, pin_memory: bool = False
) -> DataLoader:
    """A DataLoader of whole batches: a (seeded, per-epoch) BatchSampler yields index lists, the dataset's
    ``get_batch`` extracts them at once (``batch_size=None`` turns off per-sample collation)."""
    generator = torch.Generator().manual_seed(_derived_seed(seed, epoch))
    order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    return DataLoader(
        _Batches(dataset),
        batch_size=None,
        sampler=BatchSampler(order, batch_size, drop_last=False),
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_seed_worker if num_workers else None,
        generator=generator,
    )


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """``auto``: bf16 on CUDA (fp16 where bf16 is unsupported), fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} unknown; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    return precision


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool):
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    return x.to(device, non_blocking=True, memory_format=fmt), y.to(device, non_blocking=True)


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable,
    device: torch.device,
    precision: str = "fp32",
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    max_batches: int | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict:
    """One pass of forward, loss, backward, Adadelta step over ``loader``.

    Returns the patch-weighted mean loss and voxel accuracy, patches/s and ``data_wait``: the share of the
    wall time spent waiting for the next batch (the goal is ≤ 5 %).
    """
    model.train()
    n_total = len(loader) if max_batches is None else min(len(loader), max_batches)
    loss_sum = torch.zeros((), device=device)
    correct_sum = torch.zeros((), device=device)
    n_patches = n_voxels = 0
    wait = 0.0
    bar = tqdm(total=n_total, desc=desc, unit="batch", disable=not progress, leave=False)
    start = time.perf_counter()
    batches = iter(loader)
    for step in range(n_total):
        t0 = time.perf_counter()
        x, y = next(batches)
        wait += time.perf_counter() - t0
        x, y = _to_device(x, y, device, channels_last)
        with _autocast(device, precision):
            logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        loss_sum += loss.detach() * len(x)
        correct_sum += (logits.detach().argmax(dim=1) == y).sum()
        n_patches += len(x)
        n_voxels += y.numel()
        bar.update()
        if progress and (step % 10 == 0 or step == n_total - 1):  # .item() synchronises a GPU: not every step
            bar.set_postfix(loss=f"{loss_sum.item() / n_patches:.4f}", patches_s=f"{n_patches / (time.perf_counter() - start):.1f}")
    bar.close()
    del batches
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if n_patches == 0:
        raise TrainingError("the training patch set is empty: sample patches from at least one case with a lesion")
    return {
        "train_loss": loss_sum.item() / n_patches,
        "train_acc": correct_sum.item() / n_voxels,
        "patches_per_s": n_patches / seconds,
        "data_wait": wait / seconds,
        "train_seconds": seconds,
        "n_patches": n_patches,
    }


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: Callable,
    device: torch.device,
    precision: str = "fp32",
    channels_last: bool = False,
    progress: bool = False,
) -> dict:
    """Validation loss, accuracy and the early-stopping metric L1 + error rate (§3.4), in eval mode."""
    model.eval()
    sums = torch.zeros(3, device=device)
    n_patches = n_voxels = 0
    for x, y in tqdm(loader, desc="validate", unit="batch", disable=not progress, leave=False):
        x, y = _to_device(x, y, device, channels_last)
        with _autocast(device, precision):
            logits = model(x)
        # every metric is a voxel mean: weight each batch by its size so the result is the mean over all voxels
        sums += torch.stack(
            [loss_fn(logits, y), (logits.argmax(dim=1) == y).float().mean(), l1_error_rate(logits, y)]
        ) * len(x)
        n_patches += len(x)
        n_voxels += y.numel()
    if n_patches == 0:
        raise TrainingError("the validation patch set is empty: give at least one validation case with patches")
    loss, acc, l1_er = (sums / n_patches).tolist()
    return {"val_loss": loss, "val_acc": acc, "val_l1_er": l1_er}


# ---------------------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------------------


def _rng_state() -> dict:
    state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(state[1].astype(np.int64)), "pos": int(state[2]), "gauss": (int(state[3]), float(state[4]))},
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"], *np_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


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
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a strokelib checkpoint (format {CHECKPOINT_FORMAT}); delete it and train again")
    return state


def _model_meta(model: torch.nn.Module) -> dict:
    return {k: getattr(model, k) for k in ("in_channels", "n_classes", "base_filters", "dropout") if hasattr(model, k)}


def _loss_function(loss: str, cfg: PaperConfig) -> Callable:
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    if loss == "focal":
        return functools.partial(LOSSES["focal"], alpha=tuple(cfg.focal_alpha), gamma=cfg.focal_gamma)
    return LOSSES[loss]


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def train(
    model: torch.nn.Module,
    train_set,
    val_set,
    cfg: PaperConfig = PAPER,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    num_workers: int = 0,
    progress: bool = True,
    loss: str = "focal",
    precision: str = "auto",
    channels_last: bool | None = None,
    meta: dict | None = None,
    val_batch_size: int | None = None,
    callback: Callable[[int, dict], None] | None = None,
    compile_model: bool = False,
) -> pd.DataFrame:
    """Train ``model`` on ``train_set`` with early stopping on ``val_set`` (§3.4); returns the epoch history.

    Adadelta with ``cfg.adadelta_rho``/``cfg.adadelta_lr``, batches of ``cfg.batch_size``, shuffled with
    ``seed`` per epoch; after each epoch the validation L1 + error rate decides early stopping (patience
    ``cfg.patience``, ``cfg.min_delta``, at most ``cfg.max_epochs``). The model ends with the best epoch's
    weights. With ``checkpoint`` a file (weights, best weights, optimiser, RNG states, epoch, history, config,
    ``meta``) is written atomically every epoch: an existing unfinished one is resumed, a finished one is
    loaded without training. On CUDA: mixed precision (``precision='auto'``) and ``channels_last_3d``;
    ``compile_model=True`` runs the network through ``torch.compile(mode="reduce-overhead")`` (CUDA graphs): batches of
    16 small patches are bound by kernel-launch overhead, and this doubled the steps/s on an H200.

    Datasets are map-style (x (C, *p) float32, y (*p) int64) and ideally offer ``get_batch(indices)`` and
    ``set_epoch(epoch)`` (:class:`strokelib.sampling.PatchDataset`).
    """
    if cfg.max_epochs < 1 or cfg.batch_size < 1:
        raise ConfigError(f"max_epochs and batch_size must be ≥ 1; got {cfg.max_epochs} and {cfg.batch_size}")
    if len(train_set) == 0 or len(val_set) == 0:
        raise TrainingError(f"cannot train on {len(train_set)} training and {len(val_set)} validation patches; both must be non-empty")
    device = select_device(device)
    precision = resolve_precision(device, precision)
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: let cuDNN pick the fastest kernels once
    loss_fn = _loss_function(loss, cfg)
    model.to(device, memory_format=torch.channels_last_3d if channels_last else torch.preserve_format)
    net = torch.compile(model, mode="reduce-overhead", dynamic=False) if compile_model else model  # shares the weights
    optimizer = torch.optim.Adadelta(model.parameters(), lr=cfg.adadelta_lr, rho=cfg.adadelta_rho)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and device.type == "cuda" else None
    meta = {**_model_meta(model), **(meta or {}), "loss": loss, "seed": seed}
    torch.manual_seed(seed)  # dropout; patch order is seeded separately per epoch

    history: list[dict] = []
    best_state: dict | None = None
    start_epoch = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint)
        try:
            model.load_state_dict(state["best_model"] if state["finished"] else state["model"])
        except RuntimeError as exc:
            raise TrainingError(
                f"checkpoint {checkpoint} was written for another model ({state['meta'].get('in_channels')} input channels, "
                f"base {state['meta'].get('base_filters')}); delete it or choose another output folder"
            ) from exc
        history = list(state["history"])
        if state["finished"]:
            log.info("%s is finished (best epoch %s); loading it without training", checkpoint, state["best_epoch"])
            return pd.DataFrame(history)
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        best_state = state["best_model"]
        start_epoch = state["epoch"] + 1
        _set_rng_state(state["rng"])
        log.info("resuming %s after epoch %d", checkpoint, state["epoch"])

    pin = device.type == "cuda"
    val_loader = make_loader(val_set, val_batch_size or cfg.batch_size, shuffle=False, num_workers=num_workers, pin_memory=pin)
    for epoch in range(start_epoch, cfg.max_epochs):
        for dataset in (train_set, val_set):
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
        loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=seed, epoch=epoch, num_workers=num_workers, pin_memory=pin)
        row = {"epoch": epoch}
        row |= train_one_epoch(
            net, loader, optimizer, loss_fn, device, precision, scaler, channels_last, progress=progress,
            desc=f"epoch {epoch + 1}/{cfg.max_epochs}",
        )
        row |= evaluate(net, val_loader, loss_fn, device, precision, channels_last)
        history.append(row)
        best_epoch, stop = early_stopping_status([r["val_l1_er"] for r in history], cfg.patience, cfg.min_delta)
        if best_epoch == epoch:
            best_state = _cpu_state(model)
        row["best_epoch"] = best_epoch
        finished = stop or epoch == cfg.max_epochs - 1
        log.info(
            "epoch %d: train loss %.4f, val loss %.4f, val L1+ER %.4f (best epoch %d), %.1f patches/s",
            epoch, row["train_loss"], row["val_loss"], row["val_l1_er"], best_epoch, row["patches_per_s"],
        )
        if checkpoint is not None:
            state = {
                "format": CHECKPOINT_FORMAT,
                "finished": finished,
                "epoch": epoch,
                "best_epoch": best_epoch,
                "best_model": best_state,
                "history": history,
                "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "extra"},
                "meta": {**meta, "precision": precision, "device": str(device)},
            }
            if not finished:  # a finished file keeps only what using the model needs
                state |= {
                    "model": _cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else {},
                    "rng": _rng_state(),
                }
            save_checkpoint(state, checkpoint)
        if callback is not None:
            callback(epoch, row)
        if stop:
            log.info("early stopping after epoch %d: no improvement for %d epochs", epoch, cfg.patience)
            break
    model.load_state_dict(best_state)
    return pd.DataFrame(history)


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
    model = SUNet(meta["in_channels"], meta.get("n_classes", 2), meta.get("base_filters", 32), meta.get("dropout", 0.2))
    model.load_state_dict(state["best_model"])
    meta |= {"best_epoch": state["best_epoch"], "history": pd.DataFrame(state["history"]), "finished": state["finished"],
             "config": state["config"]}
    if not state["finished"]:
        log.warning("%s is not finished (epoch %d); using its best weights so far", path, state["epoch"])
    return model.to(select_device(device)).eval(), meta


# ---------------------------------------------------------------------------------------------------------
# cross-validation
# ---------------------------------------------------------------------------------------------------------


def checkpoint_path(out_dir: str | Path, task: str, approach: str, fold: int) -> Path:
    """``<out_dir>/models/<task>/<approach>/fold<k>.pt``."""
    return Path(out_dir) / "models" / str(task).upper() / approach / f"fold{fold}.pt"


def _existing_matches(path: Path, plan: dict, cfg: PaperConfig, fresh: bool = False) -> bool:
    """True when ``path`` is a finished checkpoint of this very fold plan, config and data (skip training); False
    when there is none or it is unfinished (train or resume). A checkpoint made from other data or settings raises
    :class:`ProvenanceError` instead of being reused or overwritten; ``fresh=True`` deletes it so the fold is trained
    again."""
    if not path.is_file():
        return False
    if fresh:
        log.info("fresh: deleting %s to train fold %s again", path, plan["fold"])
        path.unlink()
        return False
    state = load_checkpoint(path)
    wanted = {**plan, **{f"config.{k}": v for k, v in dataclasses.asdict(cfg).items() if k != "extra"}}
    found = {**state["meta"], **{f"config.{k}": v for k, v in state["config"].items()}}
    found = {k: found.get(k) for k in wanted if k != "data_root"}
    provenance.check(
        f"fold {plan['fold']} in {provenance.display(path.parent)} ({path.name})", {**found, "data_root": state["meta"].get("data_root")},
        wanted, "choose another outputs_dir, or pass fresh (strokelib run/train --fresh) to train it again",
    )
    return bool(state["finished"])


def training_spacing(cases: Sequence, tol: float = 0.05) -> dict:
    """What a model trained on ``cases`` assumes of its input grid: ``{"spacing": [mm] * 3, "orientation": "RAS"}``.

    ``spacing`` is the per-axis median voxel size of the cases (RAS axes, :mod:`strokelib.datasets`); when the
    cases disagree by more than ``tol`` (relative) a warning says so and ``spacings`` lists the distinct sizes, so
    the mix stays visible in the checkpoint (patch training does not need one size; the median is what
    :mod:`strokelib.geometry` resamples new cases to).
    """
    from .geometry import spacing_differs

    spacings = np.array([[float(s) for s in c.spacing] for c in cases], dtype=float).reshape(-1, 3)
    median = np.median(spacings, axis=0)
    record = {"spacing": [round(float(s), 6) for s in median], "orientation": "RAS"}
    if any(spacing_differs(s, median, tol) for s in spacings):
        distinct = sorted({tuple(round(float(v), 4) for v in s) for s in spacings})
        log.warning("training cases have different voxel sizes %s; recording the median %s mm", distinct, record["spacing"])
        record["spacings"] = [list(s) for s in distinct]
    return record


def cross_validate(
    cases: Sequence,
    task: str,
    approach: str,
    cfg: PaperConfig = PAPER,
    out_dir: str | Path = "outputs",
    folds: Sequence[int] | None = None,
    n_folds: int | None = None,
    shuffle: bool = False,
    early_stopping: str = "inner",
    val_fraction: float = 0.25,
    seed: int = 0,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    normalisation: str = "brain",
    transform: str = "rigid",
    val_patches_per_case: int | None = None,
    resample_each_epoch: bool = False,
    num_workers: int = 0,
    precision: str = "auto",
    sampler: str | None = None,
    reference: str | None = None,
    compile_model: bool = False,
    fresh: bool = False,
) -> pd.DataFrame:
    """Train one SUNet per fold for ``approach`` (§4.1, Table 1) and return all folds' epoch histories.

    ``cases`` are raw loaded training cases; each is prepared for the approach with
    :func:`strokelib.preprocessing.prepare_case` (symmetric modalities for ``proposed``, then z-scores).
    Every fold starts from the same initial weights (as released). ``early_stopping='inner'`` holds out
    ``val_fraction`` of each fold's training cases for early stopping; ``'held_out'`` monitors the fold that
    is then scored, as the released code did (optimistic, ``docs/released-code.md#cross-validation``). ``folds=[k]`` trains only fold
    k (0-based), so folds can run in parallel, one process per GPU. Finished folds are skipped, an interrupted
    one resumes. Writes ``fold<k>.pt`` and ``fold<k>_history.csv`` under ``<out_dir>/models/<task>/<approach>/``.
    ``sampler`` replaces the balanced sampler of ``balanced``/``proposed`` (``'reference'``: the released 2:1
    sampling); the Baseline keeps its own. ``normalisation``, ``transform``, ``reference`` and ``cache_dir`` go to
    ``prepare_case`` (the cache is shared with notebook 02).

    Each checkpoint records the data it was trained on (the data folder and a fingerprint of every case file of the
    fold, :mod:`strokelib.provenance`) beside every setting; an existing checkpoint is reused only when all of them
    match, and one made from other data or settings stops the run with a :class:`ProvenanceError` saying what
    differs. ``fresh=True`` retrains such folds instead.
    """
    from .preprocessing import prepare_case
    from .sampling import PatchDataset

    spec = get_approach(approach)
    if sampler and spec.sampler == "balanced":
        spec = dataclasses.replace(spec, sampler=sampler)
    if early_stopping not in EARLY_STOPPING:
        raise ConfigError(f"early_stopping {early_stopping!r} unknown; use 'inner' (sound) or 'held_out' (as released)")
    task = str(task).upper()
    n_folds = n_folds or cfg.n_folds
    unlabelled = [c.case_id for c in cases if c.label is None]
    if unlabelled:
        raise TrainingError(f"cases {', '.join(unlabelled)} have no ground truth; train on the ISLES 2015 training split only")
    by_id = {c.case_id: c for c in cases}
    splits = fold_splits(list(by_id), n_folds, shuffle, seed)
    folds = list(range(n_folds)) if folds is None else [int(k) for k in folds]
    bad = [k for k in folds if not 0 <= k < n_folds]
    if bad:
        raise ConfigError(f"folds {bad} out of range; folds are numbered 0..{n_folds - 1}")

    plans = {}
    for k in folds:
        train_ids, held_out = splits[k]
        fit_ids, val_ids = (inner_split(train_ids, val_fraction, seed=_derived_seed(seed, k)) if early_stopping == "inner"
                            else (train_ids, held_out))
        plans[k] = {
            "task": task, "approach": approach, "symmetric": spec.symmetric, "sampler": spec.sampler, "loss": spec.loss,
            "normalisation": normalisation, "transform": transform, "patch_shape": list(cfg.patch_shape), "fold": k,
            "n_folds": n_folds, "held_out": held_out, "train_ids": fit_ids, "val_ids": val_ids,
            "early_stopping": early_stopping, "cv_seed": seed,
            "data_root": provenance.data_root(list(by_id.values())),
            "data": provenance.data_fingerprint(by_id[c] for c in sorted({*fit_ids, *val_ids, *held_out})),
        }
    todo = [k for k in folds if not _existing_matches(checkpoint_path(out_dir, task, approach, k), plans[k], cfg, fresh)]
    prepared: dict[str, object] = {}
    needed = {c for k in todo for c in plans[k]["train_ids"] + plans[k]["val_ids"]}
    for case_id in tqdm([c for c in by_id if c in needed], desc=f"preparing {approach} cases", disable=not progress,
                        leave=False):
        prepared[case_id] = prepare_case(by_id[case_id], symmetric=spec.symmetric, normalisation=normalisation,
                                         transform=transform, cache_dir=cache_dir, reference=reference or None)

    histories = []
    for k in folds:
        plan, path = plans[k], checkpoint_path(out_dir, task, approach, k)
        if k in todo:
            fit = [prepared[c] for c in plan["train_ids"]]
            val = [prepared[c] for c in plan["val_ids"]]
            train_set = PatchDataset(fit, sampler=spec.sampler, n_patches=cfg.patches_per_case, patch_shape=cfg.patch_shape,
                                     lesion_fraction=cfg.lesion_fraction, seed=_derived_seed(seed, k, 0),
                                     resample_each_epoch=resample_each_epoch, progress=progress)
            val_set = PatchDataset(val, sampler=spec.sampler, n_patches=val_patches_per_case or cfg.patches_per_case,
                                   patch_shape=cfg.patch_shape, lesion_fraction=cfg.lesion_fraction,
                                   seed=_derived_seed(seed, k, 1), progress=progress)
            torch.manual_seed(seed)  # the same initial weights in every fold and every process
            model = SUNet(fit[0].images.shape[0], 2, cfg.base_filters, cfg.dropout)
            log.info("%s %s fold %d: %d training, %d validation cases, held out %s", task, approach, k,
                     len(plan["train_ids"]), len(plan["val_ids"]), plan["held_out"])
            history = train(model, train_set, val_set, cfg, device=device, checkpoint=path, seed=_derived_seed(seed, k),
                            num_workers=num_workers, progress=progress, loss=spec.loss, precision=precision,
                            meta={**plan, "modalities": list(fit[0].modalities),
                                  **training_spacing([by_id[c] for c in plan["train_ids"] + plan["val_ids"]])},
                            compile_model=compile_model)
        else:
            history = pd.DataFrame(load_checkpoint(path)["history"])
            log.info("%s %s fold %d already trained (%s)", task, approach, k, path)
        history.insert(0, "fold", k)
        write_csv(history, path.with_name(f"fold{k}_history.csv"), index=False)
        histories.append(history)
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
TRAIN_PARAMS = TRAIN_SETTINGS
"""The settings that :func:`train_command` reads (``strokelib train -p NAME VALUE``); see :mod:`strokelib.settings`."""


def config_from_params(params: dict, base: PaperConfig = PAPER) -> PaperConfig:
    """``base`` with the training keys of a profile (:data:`PROFILE_KEYS`) applied; absent or null keys keep the paper's value."""
    changes = {field: params[key] for key, field in PROFILE_KEYS.items() if params.get(key) is not None}
    return dataclasses.replace(base, **changes)


def training_setup(params: dict, out_dir: str | Path | None = None, root: str | Path | None = None,
                   base: PaperConfig = PAPER) -> tuple[PaperConfig, dict]:
    """The :class:`PaperConfig` and the :func:`cross_validate` keyword arguments of validated settings ``params``.

    What ``strokelib train`` and notebook 04 both run: ``cross_validate(cases, task, approach, cfg, **kwargs)``.
    ``out_dir`` defaults to ``<root>/<outputs_dir>``; the symmetric cache to ``<root>/<sym_cache_dir>``, else
    ``<out_dir>/symmetric_cache`` (shared with notebook 02). Absent settings take their declared default.
    """
    from .settings import project_root, validate

    params = validate(params, "training settings")
    get = {name: s.default for name, s in SETTINGS.items()} | params
    out_dir = Path(out_dir) if out_dir else project_root(root) / (get["outputs_dir"] or "outputs")
    fold = get["fold"]
    kwargs = {
        "out_dir": out_dir,
        "folds": None if fold is None else [int(fold)],
        "shuffle": bool(get["train_fold_shuffle"]),
        "early_stopping": get["train_early_stopping"],
        "val_fraction": get["train_val_fraction"],
        "seed": get["seed"],
        "device": get["device"] or None,
        "cache_dir": project_root(root) / get["sym_cache_dir"] if get["sym_cache_dir"] else out_dir / "symmetric_cache",
        "normalisation": get["normalisation"],
        "transform": get["sym_transform"],
        "reference": get["sym_reference"] or None,
        "val_patches_per_case": get["train_val_patches_per_case"],
        "num_workers": get["train_num_workers"],
        "precision": get["train_precision"],
        "sampler": get["train_sampler"],
        "compile_model": bool(get["train_compile"]),
        "fresh": bool(get["fresh"]),
    }
    return config_from_params(params, base), kwargs


def train_command(
    task: str,
    approach: str = "proposed",
    fold: int | None = None,
    data_root: str | Path | None = None,
    profile: str = "paper",
    out_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    **overrides,
) -> pd.DataFrame:
    """What ``strokelib train --task T --approach A [--fold K] [--profile P] [--data-root D]`` runs.

    Loads the training cases (``data_root`` or the profile's synthetic set), builds the config from the profile
    (plus ``overrides``, any setting in :data:`TRAIN_PARAMS`) with :func:`training_setup` and runs
    :func:`cross_validate` for one fold or all of them. Folds run in parallel as separate processes:
    ``CUDA_VISIBLE_DEVICES=K strokelib train ... --fold K &``.
    """
    from . import settings
    from .datasets import load_isles2015

    unknown = [k for k in overrides if k not in TRAIN_PARAMS]
    if unknown:
        raise ConfigError(f"training has no parameter {settings.unknown_hint(unknown, TRAIN_PARAMS)}; check the "
                          f"spelling (training reads {', '.join(TRAIN_PARAMS)})")
    overrides = settings.validate(overrides, "strokelib train -p")
    params = {**settings.load_profile(profile), **{k: v for k, v in overrides.items() if v is not None}}
    params.update({k: str(v) for k, v in (("data_root", data_root), ("device", device)) if v is not None})
    params["fold"] = fold
    root = settings.resolve_data_root(params.get("data_root"), task, params.get("synthetic_geometry", "paper"),
                                      params.get("n_train", 30), params.get("n_test", 0), params.get("seed", 0))
    cases = load_isles2015(root, task, "training", penumbra_label=params.get("penumbra_label"), progress=progress)
    cfg, kwargs = training_setup(params, out_dir)
    return cross_validate(cases, task, approach, cfg, kwargs.pop("out_dir"), progress=progress, **kwargs)
