"""Benchmark: generating the embedded synthetic dataset at the ISLES 2015 geometries.

Speed goal: 28 SISS-like cases (230×230×153/154 at 1 mm, 4 modalities) and 30 SPES-like cases (96×110×72 at 2 mm,
7 modalities) each in ≤ 120 s on a 2-core CPU, written as .nii.gz in the ISLES 2015 layout. Also reports the disk size,
the CPU time (this process and its workers; less sensitive than wall time to other jobs on the machine) and the
worker count (``--n-jobs``; default: strokelib's automatic choice). Everything goes to a temporary folder that
is deleted afterwards.

Usage: ``python benchmarks/synthetic_generation.py [--tasks SISS SPES] [--geometry paper] [--n-jobs N]``.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from strokelib.synthetic import anatomy as synthetic_anatomy
from strokelib.synthetic import dataset as synthetic

CASES = {"SISS": 28, "SPES": 30}
GOAL_S = 120.0


def disk_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished worker processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(task: str, geometry: str, n_jobs: int | None, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="strokelib-synthetic-bench-") as tmp:
        cpu = cpu_seconds()
        start = time.perf_counter()
        root = synthetic.make_synthetic_isles(
            Path(tmp) / task, task, CASES[task], seed=seed, geometry=geometry, progress=False, n_jobs=n_jobs
        )
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
        truth = synthetic.read_truth(root)["cases"]["training"]
        volumes = [c["lesion_volume_ml"] for c in truth.values()]
        return {
            "cases": CASES[task],
            "shape": synthetic_anatomy.GEOMETRIES[(task, geometry)].shape,
            "seconds": round(seconds, 1),
            "seconds_per_case": round(seconds / CASES[task], 2),
            "cpu_seconds": round(cpu, 1),
            "goal_s": GOAL_S,
            "meets_goal": seconds <= GOAL_S,
            "disk_mb": round(disk_mb(root), 1),
            "lesion_ml_min": min(volumes),
            "lesion_ml_max": max(volumes),
            "confounders": sum(c["confounder"] for c in truth.values()),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["SISS", "SPES"])
    parser.add_argument("--geometry", default="paper", choices=["paper", "small"])
    parser.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: automatic)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = {
        "benchmark": "synthetic_generation",
        "geometry": args.geometry,
        "n_jobs": args.n_jobs or "auto",
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
    }
    for task in args.tasks:
        result[task.upper()] = measure(task.upper(), args.geometry, args.n_jobs, args.seed)
    result["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
