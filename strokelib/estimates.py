"""Time estimates printed before the long cells of the notebooks (paper §3.4 training, §3.5 inference).

An estimate is the work a cell is about to do, counted from its settings (patches, epochs, folds, approaches, cases,
the inference grid), divided by a rate measured here and now on a few batches of the same network, with the same
device, precision and memory format as the real run. So the line adapts to the machine (2-core laptop, GPU) and to
the profile, and says how it was obtained; training estimates assume every fold runs ``max_epochs``, which early
stopping often cuts short.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import torch

from .config import PAPER, PaperConfig
from .inference.patches import default_batch_size
from .model.checkpoints import (
    channels_last_helps,
    checkpoint_path,
    fold_checkpoints,
    load_checkpoint,
    select_device,
)
from .model.losses import LOSSES
from .model.precision import autocast, choose_precision
from .model.sunet import SUNet
from .sampling.centres import drawn_per_case
from .sampling.patches import grid_centres
from .training.cross_validation import (
    TrainRun,
    approach_to_train,
    fold_splits,
    get_approach,
    inner_split,
    input_channels,
)
from .training.loop import make_loader, place_model, train_one_epoch


class _RandomPatches(torch.utils.data.Dataset):
    """Random patches and labels of the network's input shape: enough to time steps, nothing to learn from."""

    def __init__(self, n: int, channels: int, patch: Sequence[int]) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, channels, *patch, generator=generator)
        self.y = (torch.rand(n, *patch, generator=generator) > 0.5).long()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]

    def get_batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]


def training_rate(in_channels: int, cfg: PaperConfig, device=None, precision: str = "auto", batches: int = 3,
                  compile_model: bool = False) -> float:
    """Training patches per second (forward, focal loss, backward, Adadelta step) of a fresh SUNet of
    ``cfg.base_filters``: two warm-up batches, then one timed pass over ``batches`` + 2 batches, placed as
    :func:`strokelib.training.loop.train` places it (:func:`strokelib.training.loop.place_model`: device, precision,
    ``channels_last_3d``, and compiled with ``compile_model``: the warm-up then pays for the compilation, which the
    training that follows reuses)."""
    model = SUNet(in_channels, 2, cfg.base_filters, cfg.dropout)
    device, precision, channels_last, net = place_model(model, device, precision, None, compile_model, cfg)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=cfg.adadelta_lr, rho=cfg.adadelta_rho)
    loss = LOSSES["focal"]
    data = _RandomPatches((batches + 2) * cfg.batch_size, in_channels, cfg.patch_shape)
    run = {"device": device, "precision": precision, "channels_last": channels_last, "progress": False}
    train_one_epoch(net, make_loader(data, cfg.batch_size, False), optimizer, loss, max_batches=2, **run)
    return float(train_one_epoch(net, make_loader(data, cfg.batch_size, False), optimizer, loss, **run)["patches_per_s"])


def inference_rate(in_channels: int, cfg: PaperConfig, batch_size: int = 64, device=None, batches: int = 3) -> float:
    """Patches per second of one SUNet forward pass in eval mode (inference and validation) in the precision ``auto``
    picks for inference: the median of ``batches`` timed batches after two warm-up batches (the first calls pay for
    kernel selection)."""
    device = select_device(device)
    model = SUNet(in_channels, 2, cfg.base_filters, cfg.dropout).to(device).eval()
    x = torch.randn(batch_size, in_channels, *cfg.patch_shape, device=device)
    if channels_last_helps(device):
        model, x = model.to(memory_format=torch.channels_last_3d), x.contiguous(memory_format=torch.channels_last_3d)
    precision = choose_precision(device, "auto", "inference", model, batch_size, cfg.patch_shape).precision
    seconds = []
    with torch.inference_mode(), autocast(device.type, precision):
        for i in range(2 + batches):
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= 2:
                seconds.append(time.perf_counter() - start)
    return batch_size / float(np.median(seconds))


def duration(seconds: float) -> str:
    """``"40 s"``, ``"7 min"`` or ``"1 h 20 min"``."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def training_seconds(folds: int, epochs: int, fit_patches: int, val_patches: int, train_rate: float,
                     eval_rate: float) -> float:
    """Seconds of ``folds`` folds of ``epochs`` epochs, each one pass over ``fit_patches`` training patches at
    ``train_rate`` and ``val_patches`` validation patches at ``eval_rate`` (patches/s): the count behind
    :func:`training_estimate` and the paper cost table (``benchmarks/paper_cost.py``)."""
    return folds * epochs * (fit_patches / train_rate + val_patches / eval_rate)


def inference_seconds(patches: int, models: int, rate: float) -> float:
    """Seconds of ``models`` models each predicting ``patches`` patches at ``rate`` patches/s: the count behind
    :func:`inference_estimate` and the paper cost table (``benchmarks/paper_cost.py``)."""
    return models * patches / rate


def training_estimate(cfg: PaperConfig, channels: dict[str, int], folds: dict[str, int], fit_cases: int,
                      val_cases: int, val_patches_per_case: int | None = None, device=None,
                      precision: str = "auto", compile_model: bool = False,
                      samplers: dict[str, str] | None = None) -> str:
    """One line: how long the cross-validation of notebook 04 takes here if every fold runs ``max_epochs`` (data
    preparation and checkpoint writes not counted).

    ``channels`` maps each approach to its input channels (Proposed doubles them) and ``folds`` to the number of
    folds still to train; ``fit_cases``/``val_cases`` are the cases per fold that give training and early-stopping
    patches, as many per case as each approach's sampler draws (``samplers``, approach → sampler, default the
    approach's own; the released ``reference`` sampler draws 1.5× ``patches_per_case``:
    :func:`strokelib.sampling.centres.drawn_per_case`); with ``compile_model`` the training rate is the compiled network's (``train_compile``).
    """
    val_per_case = val_patches_per_case or cfg.patches_per_case
    todo = {a: c for a, c in channels.items() if folds.get(a, 0)}
    if not todo:
        return "⏱ nothing to train here: every fold already has a finished checkpoint (reused only if its record matches)."
    sampler = {a: (samplers or {}).get(a) or get_approach(a).sampler for a in todo}
    patches = {a: (fit_cases * drawn_per_case(sampler[a], cfg.patches_per_case, cfg.lesion_fraction),
                   val_cases * drawn_per_case(sampler[a], val_per_case, cfg.lesion_fraction)) for a in todo}
    total, rates = 0.0, []
    for c in sorted(set(todo.values())):
        train_rate = training_rate(c, cfg, device, precision, compile_model=compile_model)
        eval_rate = inference_rate(c, cfg, cfg.batch_size, device)
        total += sum(training_seconds(folds[a], cfg.max_epochs, *patches[a], train_rate, eval_rate)
                     for a, ch in todo.items() if ch == c)
        rates.append(f"{train_rate:.0f} {'compiled ' if compile_model else ''}training / {eval_rate:.0f} validation "
                     f"patches/s at {c} channels")
    listed = ", ".join(f"{a} {folds[a]}" for a in todo)
    counts = sorted(set(patches.values()))
    per_epoch = " or ".join(f"{fit} training + {val} validation patches" for fit, val in counts)
    if len(counts) > 1:
        per_epoch += " (" + "; ".join(f"{a}: {sampler[a]} sampler" for a in todo) + ")"
    return (f"⏱ about {duration(total)} here if every fold runs all {cfg.max_epochs} epochs: folds to train "
            f"({listed}) × ≤ {cfg.max_epochs} epochs × ({per_epoch}), at "
            f"{'; '.join(rates)} measured just now; early stopping usually ends a fold sooner.")


def inference_estimate(masks: Sequence[np.ndarray], cfg: PaperConfig, step: Sequence[int], channels: dict[str, int],
                       models_per_case: int = 1, batch_size: int = 64, device=None) -> str:
    """One line: how long predicting ``masks`` (one brain mask per case) from overlapping patches at ``step`` will
    take here, for each approach in ``channels`` with ``models_per_case`` models per case (4 for a fold ensemble)."""
    patches = sum(len(grid_centres(m, cfg.patch_shape, step)) for m in masks)
    total, rates = 0.0, []
    for c in sorted(set(channels.values())):
        rate = inference_rate(c, cfg, batch_size, device)
        total += inference_seconds(patches, sum(ch == c for ch in channels.values()) * models_per_case, rate)
        rates.append(f"{rate:.0f} patches/s at {c} channels")
    step_text = "×".join(str(int(s)) for s in step)
    return (f"⏱ about {duration(total)} here: {len(channels)} approach(es) × {len(masks)} cases × {models_per_case} "
            f"model(s), {patches / max(len(masks), 1):.0f} patches per case at step {step_text}, at "
            f"{'; '.join(rates)} measured just now.")


def _folds_to_train(out_dir, task: str, approach: str, folds: Sequence[int]) -> int:
    """How many of ``folds`` have no finished checkpoint yet (a finished one is reused after its record is checked)."""
    paths = [checkpoint_path(out_dir, task, approach, k) for k in folds]
    return sum(not (p.is_file() and load_checkpoint(p).get("finished")) for p in paths)


def fold_case_counts(ids: Sequence[str], cfg: PaperConfig, run: TrainRun) -> tuple[int, int]:
    """(training cases, early-stopping cases) of one fold of ``ids`` under ``run``: the inner split of the fold's
    training cases, or its training and held-out cases (``early_stopping='held_out'``)."""
    train_ids, _ = fold_splits(list(ids), cfg.n_folds, run.shuffle, run.seed)[0]
    if run.early_stopping == "inner":
        fit, val = (len(part) for part in inner_split(train_ids, run.val_fraction))
        return fit, val
    return len(train_ids), len(ids) - len(train_ids)


def cross_validation_estimate(cases: Sequence, approaches: Sequence[str], cfg: PaperConfig, run: TrainRun,
                              device=None) -> str:
    """:func:`training_estimate` for notebook 04: the folds still to train, the inner validation splits and input
    channels that :func:`strokelib.training.cross_validation.cross_validate` will use with ``run``, at its precision."""
    fit, val = fold_case_counts([c.case_id for c in cases], cfg, run)
    specs = {a: approach_to_train(a, run) for a in approaches}
    channels = {a: input_channels(a, len(cases[0].modalities)) for a in approaches}
    planned = run.folds or range(cfg.n_folds)
    folds = {a: _folds_to_train(run.out_dir, str(cases[0].task).upper(), a, planned) for a in approaches}
    return training_estimate(cfg, channels, folds, fit, val, run.val_patches_per_case, device or run.device,
                             run.precision, run.compile_model, {a: spec.sampler for a, spec in specs.items()})


def saved_models_estimate(out_dir, task: str, approaches: Sequence[str], cases: Sequence, step: Sequence[int],
                          models_per_case: int = 1, batch_size: int | None = None, device=None) -> str:
    """:func:`inference_estimate` for notebook 05: the trained models' own width and channels (read from their
    checkpoints) on ``cases``' brain masks."""
    channels, base = {}, {}
    for a in approaches:
        meta = load_checkpoint(fold_checkpoints(out_dir, task, a)[0])["meta"]
        channels[a], base[a] = int(meta["in_channels"]), int(meta.get("base_filters", 32))
    cfg = dataclasses.replace(PAPER, base_filters=max(base.values()))
    device = select_device(device)
    batch = batch_size or default_batch_size(device)
    return inference_estimate([c.brain_mask for c in cases], cfg, step, channels, models_per_case, batch, device)


def per_case_estimate(seconds_one: float, n_cases: int, how: str) -> str:
    """One line for work repeated per case, timed on one case: ``⏱ about … here: n cases × s s (how)``."""
    return f"⏱ about {duration(seconds_one * n_cases)} here: {n_cases} cases × {seconds_one:.1f} s ({how})."
