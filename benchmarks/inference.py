"""Benchmark of whole-volume inference (strokelib.inference.maps.predict_case, paper §3.5). Prints one JSON line.

1. Time outside the network: a zero-cost stand-in model (returns constant logits without reading its input) on a
   14-channel SPES-size case, (14, 96, 110, 71), whole volume as foreground (the worst case the released pipeline
   was timed on: 47,712 patches at step 4×4×1). Goal ≤ 0.15 ms per patch on a CPU; the released pipeline took
   ≈ 0.66 ms per patch there (``docs/released-code.md#patch-extraction-cost``).
2. The real SUNet (strokelib.model.sunet.SUNet, 14 → 2 channels, 32 filters): its forward passes are timed apart
   (synchronised), so ``non_network_share`` = 1 − network time / total time. Goal ≤ 5 %. On a CPU only the first
   ``--sunet-patches`` centres are predicted, since SUNet costs ~0.1 s per patch there.
3. MONAI's ``sliding_window_inference`` at the same patch size and step on the same volume, when MONAI is installed.

Usage: python benchmarks/inference.py [--device cuda] [--gather runs index] [--sunet-patches 128]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from torch import nn

from strokelib.data.cases import Case
from strokelib.inference.maps import predict_case
from strokelib.sampling.patches import grid_centres

RELEASED_MS_PER_PATCH = 0.66
GOAL_MS_PER_PATCH = 0.15
GOAL_NON_NETWORK_SHARE = 0.05


class ZeroCost(nn.Module):
    """Stand-in network: constant logits of the right shape, without touching the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(1, 2, 1, 1, 1).expand(x.shape[0], 2, *x.shape[2:])


class Timed(nn.Module):
    """Wraps a model and adds up the wall time of its forward passes (device synchronised before and after)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.seconds = model, 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _sync(x.device)
        start = time.perf_counter()
        out = self.model(x)
        _sync(x.device)
        self.seconds += time.perf_counter() - start
        return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_case(shape, channels: int, seed: int = 0, n_centres: int | None = None, step=(4, 4, 1), patch=(24, 24, 16)) -> Case:
    """A random case; foreground = the whole volume, or only the first ``n_centres`` grid centres."""
    rng = np.random.default_rng(seed)
    images = rng.random((channels, *shape), dtype=np.float32)
    mask = np.ones(shape, dtype=bool)
    if n_centres is not None:
        centres = grid_centres(mask, patch, step)[:n_centres]
        mask = np.zeros(shape, dtype=bool)
        mask[tuple(centres.T)] = True
    modalities = tuple(f"m{i}" for i in range(channels))
    return Case("bench", images, modalities, None, np.eye(4), (2.0, 2.0, 2.0), mask)


def timed_predict(model, case, device, args, gather: str) -> tuple[float, float]:
    """Wall and process CPU seconds of one predict_case (CPU time is robust to a shared, busy machine)."""
    _sync(torch.device(device))
    start, cpu_start = time.perf_counter(), time.process_time()
    predict_case(model, case, args.patch, args.step, args.batch_size, device, progress=False, gather=gather,
                 precision="auto" if args.amp else "fp32")
    _sync(torch.device(device))
    return time.perf_counter() - start, time.process_time() - cpu_start


def bench_standin(args, device) -> dict:
    case = make_case(args.shape, args.channels)
    n = len(grid_centres(case.brain_mask, args.patch, args.step))
    warm = make_case(args.shape, args.channels, n_centres=2 * args.batch_size)
    result = {"patches": n}
    for gather in args.gather:
        timed_predict(ZeroCost(), warm, device, args, gather)
        seconds, cpu_seconds = min(timed_predict(ZeroCost(), case, device, args, gather) for _ in range(args.repeats))
        result[gather] = {
            "seconds": round(seconds, 3),
            "ms_per_patch": round(1e3 * seconds / n, 4),
            "cpu_ms_per_patch": round(1e3 * cpu_seconds / n, 4),
            "patches_per_s": round(n / seconds, 1),
        }
    return result


def bench_sunet(args, device) -> dict:
    try:
        from strokelib.model.sunet import SUNet
    except ImportError as exc:
        return {"skipped": f"strokelib.model.sunet.SUNet not available ({exc})"}
    torch.manual_seed(0)
    net = SUNet(args.channels).to(device).eval()
    if args.channels_last_model:
        net = net.to(memory_format=torch.channels_last_3d)
    n_centres = None if torch.device(device).type == "cuda" else args.sunet_patches
    case = make_case(args.shape, args.channels, n_centres=n_centres)
    n = len(grid_centres(case.brain_mask, args.patch, args.step))
    warm = make_case(args.shape, args.channels, n_centres=2 * args.batch_size)
    result = {"patches": n, "channels_last_model": args.channels_last_model}
    for gather in args.gather:
        model = Timed(net)
        timed_predict(model, warm, device, args, gather)
        model.seconds = 0.0
        seconds, _ = timed_predict(model, case, device, args, gather)
        result[gather] = {
            "seconds": round(seconds, 3),
            "network_seconds": round(model.seconds, 3),
            "non_network_share": round(1.0 - model.seconds / seconds, 4),
            "patches_per_s": round(n / seconds, 1),
        }
    return result


def bench_monai(args, device) -> dict:
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:
        return {"skipped": "MONAI not installed (optional, benchmark only)"}
    case = make_case(args.shape, args.channels)
    volume = torch.from_numpy(case.images[None]).to(device)
    overlap = [1.0 - s / p for s, p in zip(args.step, args.patch, strict=True)]
    model = ZeroCost()
    with torch.inference_mode():
        _sync(volume.device)
        start = time.perf_counter()
        sliding_window_inference(volume, args.patch, args.batch_size, model, overlap=overlap, mode="constant")
        _sync(volume.device)
    seconds = time.perf_counter() - start
    return {"overlap": overlap, "standin_seconds": round(seconds, 3), "note": "MONAI tiles the whole volume"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shape", type=int, nargs=3, default=(96, 110, 71))
    parser.add_argument("--channels", type=int, default=14)
    parser.add_argument("--patch", type=int, nargs=3, default=(24, 24, 16))
    parser.add_argument("--step", type=int, nargs=3, default=(4, 4, 1))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--gather", nargs="+", default=["runs", "index"], choices=["runs", "index"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sunet-patches", type=int, default=128, help="patches predicted with SUNet on a CPU")
    parser.add_argument("--no-sunet", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-amp", dest="amp", action="store_false",
                        help="fp32 everywhere (default: precision auto, strokelib.model.precision)")
    parser.add_argument("--channels-last-model", action="store_true", help="convert SUNet to channels_last_3d")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = {
        "benchmark": "inference",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "case": [args.channels, *args.shape],
        "patch": list(args.patch),
        "step": list(args.step),
        "batch_size": args.batch_size,
        "precision": "auto" if args.amp else "fp32",
        "goal_ms_per_patch": GOAL_MS_PER_PATCH,
        "released_ms_per_patch": RELEASED_MS_PER_PATCH,
        "goal_non_network_share": GOAL_NON_NETWORK_SHARE,
        "standin": bench_standin(args, device),
        "sunet": {"skipped": "--no-sunet"} if args.no_sunet else bench_sunet(args, device),
        "monai": bench_monai(args, device),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
