"""Benchmark of whole-volume inference (``volume_inference.predict_whole_volume``, ``--fast``) against the patch-based map of
``inference.predict_case`` (paper §3.5). Prints one JSON line.

For one synthetic case of each size asked for (``--sizes``: SPES 96×110×72 at 2 mm, SISS 230×230×153 at 1 mm, the
paper geometry of ``strokelib.synthetic.dataset``), brain-normalised, it times

* ``whole``: one forward pass over the brain's bounding box (or ``--tile`` tiles);
* ``patches_8x8x4``: 24×24×16 patches at step 8×8×4;
* ``patches_4x4x1`` (only with ``--paper-step``): the paper's step, 16× as many patches;

(``--whole-only`` skips the patch maps, e.g. for SISS on a CPU, where 8×8×4 patches take many minutes;
``--geometry small`` uses the small synthetic geometry instead, for models trained on it);

and reports the speed ratios, the agreement of the whole-volume map with each patch map (DSC of the masks at
threshold 0.5, Pearson correlation and mean absolute difference inside the brain) and the peak resident memory of
each method above the memory before it (``/proc/self/statm`` polled every 5 ms, so torch allocations count).

Weights: by default one SUNet (``--base-filters`` 16) with random weights from ``--seed`` on the case's own
modalities (no symmetric channels: that keeps registration out of the timing; only the first convolution would
grow). With random weights the maps are near-uniform and the DSC at 0.5 says little, so the correlation is the
agreement figure then. ``--models FOLDER`` (a models folder such as ``outputs/demo/models/SPES/proposed``) uses
those trained fold models instead, with the case prepared as they were trained (symmetric channels included);
only cases of the models' task are run then.

Usage: python benchmarks/fast_inference.py [--sizes SPES SISS] [--models FOLDER] [--paper-step] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _peak_rss import PeakRSS  # benchmarks/_peak_rss.py (shared by the benchmarks)

from strokelib.data import cases as datasets
from strokelib.inference import maps as inference
from strokelib.inference import whole_volume as volume_inference
from strokelib.model import checkpoints as modelfiles
from strokelib.model.sunet import SUNet
from strokelib.preprocessing import normalisation as preprocessing
from strokelib.synthetic import dataset as synthetic


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run(fn, device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with PeakRSS() as mem:
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        seconds = time.perf_counter() - start
    extra = {"cuda_peak_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)} if device.type == "cuda" else {}
    return out, {"seconds": round(seconds, 3), "peak_rss_mb": mem.above_mb, **extra}


def _agreement(a: np.ndarray, b: np.ndarray, brain: np.ndarray) -> dict:
    ma, mb = a >= 0.5, b >= 0.5
    total = int(ma.sum() + mb.sum())
    dsc = 1.0 if total == 0 else 2.0 * float(np.logical_and(ma, mb).sum()) / total
    va, vb = a[brain].astype(np.float64), b[brain].astype(np.float64)
    corr = float(np.corrcoef(va, vb)[0, 1]) if va.std() > 0 and vb.std() > 0 else float("nan")
    return {"dsc_at_0.5": round(dsc, 4), "pearson": round(corr, 4), "mean_abs_diff": round(float(np.abs(va - vb).mean()), 5),
            "positive_fraction_whole": round(float(ma[brain].mean()), 4), "positive_fraction_patches": round(float(mb[brain].mean()), 4)}


def bench_case(task: str, data_dir: Path, args, device: torch.device) -> dict:
    root = synthetic.ensure_synthetic(task, 1, geometry=args.geometry, base_dir=data_dir, progress=False)
    (case,) = datasets.load_isles2015(root, task, progress=False)
    if args.models:
        models, meta = modelfiles.load_models(args.models, device=device)
        prepared = inference.prepare_for_model(case, meta)
        weights = f"trained ({args.models}, {len(models)} fold model(s))"
    else:
        prepared = preprocessing.normalise(case)
        torch.manual_seed(args.seed)
        models = [SUNet(prepared.images.shape[0], 2, args.base_filters, 0.2).to(device).eval()]
        weights = f"random (seed {args.seed}, base {args.base_filters})"
    tile = tuple(args.tile) if args.tile else None
    maps, timing = {}, {}
    maps["whole"], timing["whole"] = _run(
        lambda: volume_inference.predict_whole_volume(models, prepared, tile=tile, device=device, progress=False), device)
    steps = {} if args.whole_only else {"patches_8x8x4": (8, 8, 4)} | ({"patches_4x4x1": (4, 4, 1)} if args.paper_step else {})
    for name, step in steps.items():
        maps[name], timing[name] = _run(
            lambda step=step: inference.predict_case(models, prepared, step=step, device=device, progress=False), device)
    brain = np.asarray(prepared.brain_mask, dtype=bool)
    return {
        "task": task, "shape": list(case.shape), "spacing_mm": list(case.spacing), "channels": int(prepared.images.shape[0]),
        "brain_voxels": int(brain.sum()), "weights": weights, "tile": list(tile) if tile else None, "timing": timing,
        "speedup_vs": {k: round(timing[k]["seconds"] / timing["whole"]["seconds"], 1) for k in steps},
        "agreement_whole_vs": {k: _agreement(maps["whole"], maps[k], brain) for k in steps},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["SPES"], choices=["SPES", "SISS"])
    parser.add_argument("--models", type=Path, default=None, help="a models folder (trained weights) instead of random ones")
    parser.add_argument("--paper-step", action="store_true", help="also time the paper's 4×4×1 step (16× the patches)")
    parser.add_argument("--whole-only", action="store_true", help="time the whole-volume pass only (e.g. SISS on a CPU)")
    parser.add_argument("--geometry", default="paper", choices=["paper", "small"], help="synthetic geometry of the cases")
    parser.add_argument("--tile", type=int, nargs=3, default=None, help="whole-volume tiles (multiples of 8)")
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the synthetic cases are kept (default: a temporary folder)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.models:
        _, meta = modelfiles.load_models(args.models, device="cpu")
        args.sizes = [t for t in args.sizes if t == meta["task"]] or [meta["task"]]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        cases = [bench_case(task, data_dir, args, device) for task in args.sizes]
    print(json.dumps({
        "benchmark": "fast_inference", "device": str(device), "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
        "cases": cases, "process_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
