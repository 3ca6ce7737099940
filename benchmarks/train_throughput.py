"""Training throughput of SUNet (paper §3.4): patches/s for forward + backward + Adadelta step at batch 16, and the
share of the step time spent waiting for data (goal ≤ 5 %). Prints one JSON line.

    python benchmarks/train_throughput.py                      # CPU: fp32 and bf16 autocast
    python benchmarks/train_throughput.py --device cuda --steps 300 --precision auto

Patches come from a real :class:`strokelib.sampling.patches.PatchDataset` (balanced sampler) over one synthetic
SPES-sized case, through the same loader and epoch loop as :func:`strokelib.training.cross_validation.train`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time

import numpy as np
import torch

from strokelib.config import PAPER
from strokelib.data.cases import Case
from strokelib.model.checkpoints import select_device
from strokelib.model.sunet import SUNet
from strokelib.sampling.patches import PatchDataset
from strokelib.training.loop import _loss_function, make_loader, resolve_precision, train_one_epoch


def synthetic_case(channels: int, shape=(96, 110, 72), seed: int = 0) -> Case:
    """Normalised-looking noise in an ellipsoid brain with a spherical lesion (SPES geometry at 2 mm)."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape, dtype=np.float32)
    centre = (np.array(shape, dtype=np.float32) - 1) / 2
    brain = (((grid - centre[:, None, None, None]) / (centre[:, None, None, None] * 0.9)) ** 2).sum(0) <= 1
    lesion_centre = centre + np.array([15, 10, 5])
    lesion = ((grid - lesion_centre[:, None, None, None]) ** 2).sum(0) <= 8**2
    images = (rng.standard_normal((channels, *shape), dtype=np.float32) + lesion) * brain
    return Case("bench", images, tuple(f"M{i}" for i in range(channels)), lesion.astype(np.uint8), np.eye(4),
                (2.0, 2.0, 2.0), brain, task="SPES")


def measure(model, dataset, cfg, device, precision, channels_last, steps, warmup, num_workers) -> dict:
    model.to(device, memory_format=torch.channels_last_3d if channels_last else torch.contiguous_format)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=cfg.adadelta_lr, rho=cfg.adadelta_rho)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    loss_fn = _loss_function("focal", cfg)
    pin = device.type == "cuda"
    run = dict(device=device, precision=precision, scaler=scaler, channels_last=channels_last, progress=False)
    train_one_epoch(model, make_loader(dataset, cfg.batch_size, True, 0, 0, num_workers, pin), optimizer, loss_fn,
                    max_batches=warmup, **run)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    stats = train_one_epoch(model, make_loader(dataset, cfg.batch_size, True, 0, 1, num_workers, pin), optimizer,
                            loss_fn, max_batches=steps, **run)
    out = {
        "patches_per_s": round(stats["patches_per_s"], 2),
        "step_ms": round(1000 * stats["train_seconds"] * cfg.batch_size / stats["n_patches"], 1),
        "data_wait": round(stats["data_wait"], 4),
        "steps": steps,
    }
    if device.type == "cuda":
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: cuda → mps → cpu)")
    parser.add_argument("--precision", nargs="+", default=None,
                        help="any of fp32 bf16 fp16 auto (default: fp32 bf16 on CPU, auto on CUDA)")
    parser.add_argument("--channels", type=int, default=14, help="input channels (14 = SPES with symmetric modalities)")
    parser.add_argument("--base-filters", type=int, default=PAPER.base_filters, help="SUNet width (paper: 32)")
    parser.add_argument("--compile", default=None, choices=("default", "reduce-overhead", "max-autotune"),
                        help="torch.compile the model with this mode (train_compile: default on a CPU, reduce-overhead on CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--steps", type=int, default=6, help="timed optimiser steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="channels_last_3d memory format (auto: on CUDA only)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dataclasses.replace(PAPER, base_filters=args.base_filters)
    device = select_device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as training.train does
    precisions = args.precision or (["auto"] if device.type == "cuda" else ["fp32", "bf16"])
    channels_last = device.type == "cuda" if args.channels_last == "auto" else args.channels_last == "on"
    n_patches = (args.steps + args.warmup) * cfg.batch_size
    t0 = time.perf_counter()
    dataset = PatchDataset([synthetic_case(args.channels)], sampler="balanced", n_patches=n_patches,
                           patch_shape=cfg.patch_shape, seed=0, progress=False)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for first in range(0, len(dataset), cfg.batch_size):
        dataset.get_batch(np.arange(first, min(first + cfg.batch_size, len(dataset))))
    data_rate = len(dataset) / (time.perf_counter() - t0)

    results = {}
    for name in precisions:
        precision = resolve_precision(device, name)
        torch.manual_seed(0)
        model = SUNet(args.channels, 2, cfg.base_filters, cfg.dropout)
        if args.compile:
            model = torch.compile(model, mode=args.compile)
        results[precision] = measure(model, dataset, cfg, device, precision, channels_last, args.steps, args.warmup,
                                     args.num_workers)
    report = {
        "benchmark": "train_throughput",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": cfg.batch_size,
        "patch_shape": list(cfg.patch_shape),
        "in_channels": args.channels,
        "base_filters": cfg.base_filters,
        "channels_last": channels_last,
        "num_workers": args.num_workers,
        "compile": args.compile,
        "dataset_setup_s": round(setup_s, 2),
        "data_only_patches_per_s": round(data_rate, 1),
        "results": results,
        "data_wait_goal": 0.05,
        "data_wait_ok": all(r["data_wait"] <= 0.05 for r in results.values()),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
