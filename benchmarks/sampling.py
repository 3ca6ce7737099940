"""Speed of training-patch sampling and extraction: one SISS-geometry case, 8 channels (4 modalities +
4 symmetric), 230×230×154 float32, a brain-like ellipsoid mask and a ~30 mL spherical lesion.

Measures, for ``--n-patches`` (default the paper's 10 000) balanced patches of 24×24×16:
* ``sample_s``  — balanced_centres (§3.3)
* ``extract_s`` — extract_patches of all patches at once (pad once + strided-view gather), (N, 8, 24, 24, 16):
  a 2.9 GB result, so much of it is the kernel mapping fresh memory (``extract_kernel_s``, system CPU time)
* ``dataset_build_s`` / ``batches_s`` — PatchDataset (pads once) and get_batch over every patch in batches of 16
  with the augmentation ops applied, the way training reads them (``batched_total_s`` = sample + build + batches).
The released code spends about 0.66 ms per patch on extraction and normalisation (``docs/released-code.md#patch-extraction-cost``).

Wall-clock figures (``*_s``, best of ``--repeats``) come with the process CPU time (``*_cpu_s``, user + system)
and the 1-minute load average, since a shared machine inflates wall-clock times. Prints one JSON line.  Usage: python benchmarks/sampling.py [--n-patches 10000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import torch

from strokelib.data.cases import Case
from strokelib.sampling import centres as samplers
from strokelib.sampling import patches as sampling

SHAPE = (230, 230, 154)
PATCH = (24, 24, 16)


def make_case(seed: int = 0) -> Case:
    rng = np.random.default_rng(seed)
    g = np.ogrid[tuple(slice(0, n) for n in SHAPE)]
    centre = [n / 2 for n in SHAPE]
    radii = (75.0, 90.0, 60.0)
    brain = sum(((a - c) / r) ** 2 for a, c, r in zip(g, centre, radii, strict=True)) <= 1
    radius = (30_000 * 3 / (4 * np.pi)) ** (1 / 3)  # 30 mL at 1 mm³ voxels
    lesion = sum((a - c) ** 2 for a, c in zip(g, (85, 100, 80), strict=True)) <= radius**2
    images = rng.standard_normal((8, *SHAPE), dtype=np.float32)
    images *= brain
    return Case("bench", images, tuple(f"m{i}" for i in range(8)), lesion.astype(np.uint8), np.eye(4),
                (1.0, 1.0, 1.0), brain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patches", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    case = make_case()
    n = args.n_patches
    best = {}
    for _ in range(args.repeats):
        clock = [(time.perf_counter(), time.process_time())]
        centres, ops = samplers.balanced_centres(case, n, PATCH, rng=0)
        clock.append((time.perf_counter(), time.process_time()))
        sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        patches = sampling.extract_patches(case.images, centres, PATCH)
        extract_kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys0
        clock.append((time.perf_counter(), time.process_time()))
        del patches
        dataset = sampling.PatchDataset([case], n_patches=n, patch_shape=PATCH, seed=0, progress=False)
        clock.append((time.perf_counter(), time.process_time()))
        for start in range(0, len(dataset), args.batch_size):
            dataset.get_batch(np.arange(start, min(start + args.batch_size, len(dataset))))
        clock.append((time.perf_counter(), time.process_time()))
        del dataset
        names = ("sample", "extract", "dataset_build", "batches")
        run = {f"{k}_s": clock[i + 1][0] - clock[i][0] for i, k in enumerate(names)}
        run |= {f"{k}_cpu_s": clock[i + 1][1] - clock[i][1] for i, k in enumerate(names)}
        run["extract_kernel_s"] = extract_kernel
        best = {k: min(v, best.get(k, np.inf)) for k, v in run.items()}
    total = best["sample_s"] + best["extract_s"]
    batched = best["sample_s"] + best["dataset_build_s"] + best["batches_s"]
    print(json.dumps({
        "benchmark": "sampling",
        "shape": [8, *SHAPE], "patch": list(PATCH), "n_patches": n,
        "lesion_ml": round(float(case.label.sum()) / 1000, 1), "brain_voxels": int(case.brain_mask.sum()),
        **{k: round(v, 3) for k, v in best.items()},
        "sample_plus_extract_s": round(total, 3),
        "patches_per_s": round(n / total, 1),
        "batched_total_s": round(batched, 3),
        "patches_per_s_batched": round(n / batched, 1),
        "ms_per_patch_extract": round(1000 * best["extract_s"] / n, 4),
        "ms_per_patch_batches": round(1000 * best["batches_s"] / n, 4),
        "batch_size": args.batch_size,
        "goal_s": 5.0, "reference_ms_per_patch": 0.66,
        "load_average_1min": round(os.getloadavg()[0], 2), "cpu_cores": os.cpu_count(),
        "repeats": args.repeats, "cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
