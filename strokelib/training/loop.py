"""The training loop (paper §3.4): one epoch, validation, early stopping, checkpoint every epoch and resume.

:func:`train` fits one SUNet with Adadelta (ρ 0.95, lr 1.0), batches of 16, early stopping on the validation
L1 + error rate with patience 8 and min-delta 1e-4, at most 200 epochs, and ends with the best epoch's weights. A
checkpoint (:mod:`strokelib.model.checkpoints`) is written atomically after every epoch, so an interrupted run resumes and
ends with the same weights. Where the loop runs and in which precision is decided in one place, the "device and
precision" section below (:func:`resolve_precision`, :func:`place_model`, :func:`_to_device`); how ``auto`` picks the
precision (per device, and on a CPU from a calibration) is :mod:`strokelib.model.precision`.
Which cases and settings a fold trains on is :mod:`strokelib.training.cross_validation`'s business.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from ..config import PAPER, PaperConfig
from ..errors import ConfigError, TrainingError
from ..model.checkpoints import (
    channels_last_helps,
    checkpoint_state,
    cpu_state,
    load_checkpoint,
    model_meta,
    save_checkpoint,
    select_device,
    set_rng_state,
)
from ..model.losses import LOSSES, l1_error_rate
from ..model.precision import autocast, choose_precision
from ..progress import progress_bar

log = logging.getLogger(__name__)

def early_stopping_status(values: Sequence[float], patience: int = 8, min_delta: float = 1e-4) -> tuple[int, bool]:
    """(index of the best value, 0-based; stop?) for a monitored metric where lower is better (§3.4).

    An epoch improves only if it beats the best so far by more than ``min_delta``; training stops once
    ``patience`` epochs passed without improvement (released ``EarlyStoppingTrain``).
    """
    best, best_epoch = math.inf, -1
    for epoch, value in enumerate(values):
        if best - value > min_delta:
            best, best_epoch = value, epoch
    return best_epoch, len(values) > 0 and len(values) - 1 - best_epoch >= patience


# ---------------------------------------------------------------------------------------------------------
# data loading
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


def derived_seed(*keys: int) -> int:
    """One 32-bit seed from several integers (run seed, fold, epoch...), independent for every combination."""
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
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch))
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


# ---------------------------------------------------------------------------------------------------------
# device and precision (one place: where the loop runs and in which number format)
# ---------------------------------------------------------------------------------------------------------


def resolve_precision(device: torch.device, precision: str = "auto", model: torch.nn.Module | None = None,
                      batch_size: int = PAPER.batch_size, patch_shape=PAPER.patch_shape) -> str:
    """The precision training runs in (:func:`strokelib.model.precision.choose_precision`, mode ``training``).

    ``auto``: bf16 on CUDA (fp16 where bf16 is unsupported), fp32 on MPS; on a CPU fp32 unless it computes bf16
    natively and a calibration on ``model`` at ``batch_size`` (cached per machine and width) measured bf16 at least
    10 % faster. Asking for ``bf16`` on a CPU without native bf16 is refused rather than emulated about 25× slower.
    """
    return choose_precision(device, precision, "training", model, batch_size, patch_shape).precision


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool):
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    return x.to(device, non_blocking=True, memory_format=fmt), y.to(device, non_blocking=True)


def place_model(model: torch.nn.Module, device, precision: str, channels_last: bool | None, compile_model: bool,
                 cfg: PaperConfig = PAPER) -> tuple[torch.device, str, bool, torch.nn.Module]:
    """Move ``model`` to the training device: (device, precision, channels_last, the network to call).

    CUDA → MPS → CPU unless ``device`` says otherwise; ``channels_last_3d`` by default where it was measured faster
    (:func:`strokelib.model.checkpoints.channels_last_helps`: CUDA and CPU); cuDNN benchmarking on
    CUDA (fixed patch shapes); ``compile_model`` wraps the model in ``torch.compile`` (:func:`compiled`; the wrapper
    shares the weights). The precision is resolved on the placed model at ``cfg``'s batch size and patch shape
    (:func:`resolve_precision`).
    """
    device = select_device(device)
    channels_last = channels_last_helps(device) if channels_last is None else channels_last
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: let cuDNN pick the fastest kernels once
    model.to(device, memory_format=torch.channels_last_3d if channels_last else torch.preserve_format)
    precision = resolve_precision(device, precision, model, cfg.batch_size, cfg.patch_shape)
    net = compiled(model, device) if compile_model else model
    return device, precision, channels_last, net


def compiled(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` through ``torch.compile`` for ``device``, or ``model`` itself where it cannot be compiled.

    On CUDA with CUDA graphs (``mode="reduce-overhead"``): batches of 16 small patches leave a GPU waiting on kernel
    launches, and this doubled the steps/s on an H200. On a CPU inductor fuses the batch-norm and PReLU passes around
    the convolutions into C++ kernels: 1.5× the training patches/s of the demo's SUNet on a 2-core AVX2 CPU
    (``benchmarks/train_throughput.py --compile default``). That needs a C++ compiler; without one the model runs
    uncompiled and the log says so. The first compile of a network shape takes about half a minute to a minute on
    two cores; torch keeps the result in its on-disk cache, and later folds and runs reuse it in seconds.
    """
    if device.type == "cuda":
        return torch.compile(model, mode="reduce-overhead", dynamic=False)
    if device.type == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "c++", "g++", "clang++")):
        log.warning("train_compile: no C++ compiler (c++, g++, clang++ or $CXX) for torch.compile on the CPU; "
                    "training runs uncompiled, about 1.5× slower")
        return model
    return torch.compile(model, dynamic=False)


def _grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 on CUDA (bf16 and fp32 need none)."""
    return torch.amp.GradScaler("cuda") if precision == "fp16" and device.type == "cuda" else None


# ---------------------------------------------------------------------------------------------------------
# one epoch and validation
# ---------------------------------------------------------------------------------------------------------


def _step(model, x, y, optimizer, loss_fn: Callable, device: torch.device, precision: str, scaler,
          channels_last: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward, loss, backward and one optimiser step on one batch: (the batch's labels on the device, logits, loss)."""
    x, y = _to_device(x, y, device, channels_last)
    with autocast(device.type, precision):
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
    return y, logits, loss


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
    bar = progress_bar(total=n_total, desc=desc, unit="batch", disable=not progress, leave=False)
    start = time.perf_counter()
    batches = iter(loader)
    for step in range(n_total):
        t0 = time.perf_counter()
        x, y = next(batches)
        wait += time.perf_counter() - t0
        y, logits, loss = _step(model, x, y, optimizer, loss_fn, device, precision, scaler, channels_last)
        loss_sum += loss.detach() * len(y)
        correct_sum += (logits.detach().argmax(dim=1) == y).sum()
        n_patches += len(y)
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
    return {"train_loss": loss_sum.item() / n_patches, "train_acc": correct_sum.item() / n_voxels,
            "patches_per_s": n_patches / seconds, "data_wait": wait / seconds, "train_seconds": seconds,
            "n_patches": n_patches}


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
    for x, y in progress_bar(loader, desc="validate", unit="batch", disable=not progress, leave=False):
        x, y = _to_device(x, y, device, channels_last)
        with autocast(device.type, precision):
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
# the loop
# ---------------------------------------------------------------------------------------------------------


def _loss_function(loss: str, cfg: PaperConfig) -> Callable:
    """The loss called ``loss`` (:data:`strokelib.model.losses.LOSSES`), with the focal loss's α and γ from ``cfg``."""
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    if loss == "focal":
        return functools.partial(LOSSES["focal"], alpha=tuple(cfg.focal_alpha), gamma=cfg.focal_gamma)
    return LOSSES[loss]


@dataclass
class _Run:
    """What every epoch of one :func:`train` call shares: the network, optimiser, loss, device and precision."""

    model: torch.nn.Module
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable
    device: torch.device
    precision: str
    scaler: torch.amp.GradScaler | None
    channels_last: bool


def _resume(checkpoint: str | Path | None, run: _Run) -> tuple[list[dict], dict | None, int, bool]:
    """(history, best weights, first epoch to run, finished?) from an existing ``checkpoint``, its weights, optimiser,
    scaler and random states restored; ``([], None, 0, False)`` when there is none."""
    if checkpoint is None or not Path(checkpoint).is_file():
        return [], None, 0, False
    state = load_checkpoint(checkpoint)
    try:
        run.model.load_state_dict(state["best_model"] if state["finished"] else state["model"])
    except RuntimeError as exc:
        raise TrainingError(
            f"checkpoint {checkpoint} was written for another model ({state['meta'].get('in_channels')} input channels, "
            f"base {state['meta'].get('base_filters')}); delete it or choose another output folder"
        ) from exc
    history = list(state["history"])  # epochs are numbered from 1 in checkpoints, histories and logs
    if state["finished"]:
        log.info("%s is finished (best epoch %s); loading it without training", checkpoint, state["best_epoch"])
        return history, state["best_model"], state["epoch"], True
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scaler is not None and state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    log.info("resuming %s after epoch %d", checkpoint, state["epoch"])
    return history, state["best_model"], state["epoch"], False


def _epoch(run: _Run, train_set, val_set, val_loader: DataLoader, epoch: int, cfg: PaperConfig, seed: int,
           num_workers: int, progress: bool) -> dict:
    """Train one epoch on freshly shuffled (and, where the datasets resample, re-drawn) patches and validate."""
    for dataset in (train_set, val_set):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
    loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=seed, epoch=epoch, num_workers=num_workers,
                         pin_memory=run.device.type == "cuda")
    row = {"epoch": epoch + 1}  # people count epochs from 1: logs, bars, histories, plots
    row |= train_one_epoch(run.net, loader, run.optimizer, run.loss_fn, run.device, run.precision, run.scaler,
                           run.channels_last, progress=progress, desc=f"epoch {epoch + 1}/{cfg.max_epochs}")
    row |= evaluate(run.net, val_loader, run.loss_fn, run.device, run.precision, run.channels_last)
    return row


def _end_epoch(run: _Run, checkpoint: str | Path | None, history: list[dict], best_state: dict | None, finished: bool,
               cfg: PaperConfig, meta: dict) -> None:
    """Log the epoch just trained (the last row of ``history``) and write its checkpoint."""
    row = history[-1]
    epoch, best_epoch = row["epoch"], row["best_epoch"]
    log.debug("epoch %d: train loss %.4f, val loss %.4f, val L1+ER %.4f (best epoch %d), %.1f patches/s",
             epoch, row["train_loss"], row["val_loss"], row["val_l1_er"], best_epoch, row["patches_per_s"])
    if checkpoint is not None:
        save_checkpoint(checkpoint_state(epoch, best_epoch, finished, best_state, history, cfg, meta, run.model,
                                         run.optimizer, run.scaler), checkpoint)


def _check_finite(row: dict, meta: dict, checkpoint: str | Path | None) -> None:
    """Stop at the first epoch whose training loss or validation L1 + ER is not a finite number: early stopping
    cannot rank it, and the weights that produced it are of no use."""
    bad = {name: row[name] for name in ("train_loss", "val_l1_er") if not math.isfinite(row[name])}
    if not bad:
        return
    where = " ".join(str(meta[k]) for k in ("task", "approach") if meta.get(k) is not None)
    where += f" fold {meta['fold']}" if meta.get("fold") is not None else ""
    kept = (f"the checkpoint {checkpoint} keeps epoch {row['epoch'] - 1}" if checkpoint is not None and row["epoch"] > 1
            else "nothing was saved")
    values = ", ".join(f"{name} = {value}" for name, value in bad.items())
    raise TrainingError(f"{where or 'training'}: epoch {row['epoch']} gave {values}; training stopped and {kept}. "
                        "Look for NaN or infinite values in the input images (strokelib check-data) or a diverging "
                        "optimiser (a smaller adadelta_lr, with --fresh: the saved epochs were made with the old one)")


def _check_inputs(cfg: PaperConfig, train_set, val_set) -> None:
    if cfg.max_epochs < 1 or cfg.batch_size < 1:
        raise ConfigError(f"max_epochs and batch_size must be ≥ 1; got {cfg.max_epochs} and {cfg.batch_size}")
    if len(train_set) == 0 or len(val_set) == 0:
        raise TrainingError(f"cannot train on {len(train_set)} training and {len(val_set)} validation patches; both must be non-empty")


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
    loaded without training. On CUDA: mixed precision (``precision='auto'``); ``channels_last_3d`` on CUDA and CPU;
    ``compile_model=True`` runs the network through ``torch.compile`` (:func:`compiled`: CUDA graphs on a GPU, fused
    C++ kernels on a CPU).

    Datasets are map-style (x (C, *p) float32, y (*p) int64) and ideally offer ``get_batch(indices)`` and
    ``set_epoch(epoch)`` (:class:`strokelib.sampling.patches.PatchDataset`).
    """
    _check_inputs(cfg, train_set, val_set)
    device, precision, channels_last, net = place_model(model, device, precision, channels_last, compile_model, cfg)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=cfg.adadelta_lr, rho=cfg.adadelta_rho)
    run = _Run(model, net, optimizer, _loss_function(loss, cfg), device, precision, _grad_scaler(device, precision),
               channels_last)
    meta = {**model_meta(model), **(meta or {}), "loss": loss, "seed": seed, "precision": precision, "device": str(device)}
    torch.manual_seed(seed)  # dropout; patch order is seeded separately per epoch
    history, best_state, start_epoch, finished = _resume(checkpoint, run)
    if finished:
        return pd.DataFrame(history)
    val_loader = make_loader(val_set, val_batch_size or cfg.batch_size, shuffle=False, num_workers=num_workers,
                             pin_memory=device.type == "cuda")
    for index in range(start_epoch, cfg.max_epochs):  # 0-based index; epoch number index + 1
        row = _epoch(run, train_set, val_set, val_loader, index, cfg, seed, num_workers, progress)
        _check_finite(row, meta, checkpoint)
        history.append(row)
        best_index, stop = early_stopping_status([r["val_l1_er"] for r in history], cfg.patience, cfg.min_delta)
        if best_index == index:
            best_state = cpu_state(model)
        row["best_epoch"] = best_index + 1
        _end_epoch(run, checkpoint, history, best_state, stop or index == cfg.max_epochs - 1, cfg, meta)
        if callback is not None:
            callback(index + 1, row)
        if stop:
            log.debug("early stopping after epoch %d: no improvement for %d epochs", index + 1, cfg.patience)
            break
    model.load_state_dict(best_state)
    return pd.DataFrame(history)
