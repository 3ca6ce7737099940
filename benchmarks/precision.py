"""fp32 against bf16 autocast for SUNet (paper §3.4 training, §3.5 inference): patches/s of each at base 8, 16 and 32,
training (forward, loss, backward; batch 16) and inference (forward in eval mode; batch 64), and the
ratio. Prints one JSON line per width and mode.

    python benchmarks/precision.py            # 5 timed batches after 2 warm-up batches
    python benchmarks/precision.py --quick    # 2 timed batches after 1 warm-up batch

The timing is the one ``precision: auto`` calibrates with (:func:`strokelib.model.precision.measure_patches_per_s`:
a copy of the model in ``channels_last_3d``, the fastest timed batch), so ``auto`` says what ``precision: auto``
would pick from these figures. On a CPU without native bf16 (no AVX512_BF16, AMX or Arm BF16) bf16 is not run:
autocast would emulate it, about 25× slower than fp32; the line gives the fp32 figures and says so.
"""

from __future__ import annotations

import argparse
import json
import logging

import torch

from strokelib.config import PAPER
from strokelib.model.checkpoints import select_device
from strokelib.model.precision import MIN_SPEEDUP, cpu_features, cpu_supports_bf16, measure_patches_per_s
from strokelib.model.sunet import SUNet

BATCH = {"training": PAPER.batch_size, "inference": 64}
SKIPPED = ("skipped: this CPU has no native bf16 (no AVX512_BF16, AMX or Arm BF16), so autocast would emulate it, "
           "about 25x slower than fp32")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_features()[0] if device.type == "cpu" else device.type


def bf16_runs(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_supports_bf16()


def one_line(device: torch.device, mode: str, base: int, args) -> dict:
    """fp32 (and bf16 where it is native) patches/s of a SUNet of width ``base`` for ``mode``."""
    torch.manual_seed(0)
    model = SUNet(args.channels, 2, base, PAPER.dropout)
    batch = args.batch_size or BATCH[mode]
    timing = {"batch_size": batch, "patch_shape": PAPER.patch_shape, "batches": args.batches, "warmup": args.warmup}
    fp32 = measure_patches_per_s(model, device, mode, "fp32", **timing)
    line = {"benchmark": "precision", "device": device_name(device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "mode": mode, "base_filters": base, "in_channels": args.channels,
            "batch_size": batch, "patch_shape": list(PAPER.patch_shape), "timed_batches": args.batches,
            "fp32_patches_per_s": round(fp32, 2)}
    if not bf16_runs(device):
        return line | {"bf16_patches_per_s": None, "ratio": None, "bf16": SKIPPED, "auto": "fp32"}
    bf16 = measure_patches_per_s(model, device, mode, "bf16", **timing)
    ratio = bf16 / fp32
    auto = "bf16" if device.type == "cuda" or ratio >= MIN_SPEEDUP else "fp32"
    return line | {"bf16_patches_per_s": round(bf16, 2), "ratio": round(ratio, 3), "auto": auto}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--base-filters", type=int, nargs="+", default=[8, 16, 32], help="SUNet widths (paper: 32)")
    parser.add_argument("--modes", nargs="+", default=["training", "inference"], choices=["training", "inference"])
    parser.add_argument("--channels", type=int, default=14, help="input channels (14 = SPES with symmetric modalities)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 16 for training, 64 for inference")
    parser.add_argument("--batches", type=int, default=5, help="timed batches (the fastest counts)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 timed batches after 1 warm-up batch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.quick:
        args.batches, args.warmup = 2, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    for base in args.base_filters:
        for mode in args.modes:
            print(json.dumps(one_line(device, mode, base, args)), flush=True)


if __name__ == "__main__":
    main()
