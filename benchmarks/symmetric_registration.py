"""Benchmark: symmetric modalities (paper §3.1) of whole cases at the ISLES 2015 geometries.

Speed goal: all modalities of one case in ≤ 20 s at SISS geometry (1 mm, 230×230×153) and ≤ 5 s at SPES
geometry (2 mm, 96×110×72) on a 2-core CPU. Accuracy on synthetic cases with a known head pose: NCC inside the brain
between each modality and its ``sym_`` version (registered vs naive array flip) and the error of the recovered
mid-sagittal plane. No cache is used, so every case is registered.

Usage: ``python benchmarks/symmetric_registration.py [--cases 2] [--transform rigid] [--tasks SISS SPES]``.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import time

import numpy as np

from strokelib import notebooks
from strokelib.data import cases as datasets
from strokelib.preprocessing import midsagittal
from strokelib.preprocessing import symmetric as symmetry
from strokelib.synthetic import dataset as synthetic

GOAL_S = {"SISS": 20.0, "SPES": 5.0}


def measure(task: str, n_cases: int, transform: str, seed: int) -> dict:
    root = synthetic.ensure_synthetic(task, n_train=n_cases, n_test=0, seed=seed, geometry="paper",
                                      base_dir=notebooks.project_root() / "data" / "synthetic" / "benchmarks",
                                      progress=False)
    truths = midsagittal.planes_from_truth(synthetic.read_truth(root))
    cases = datasets.load_isles2015(root, task, progress=False)
    seconds, registration_s, angles, distances, tables = [], [], [], [], []
    for case in cases:
        start = time.perf_counter()
        sym_case, registration = symmetry.symmetric_modalities(case, transform=transform)
        seconds.append(time.perf_counter() - start)
        registration_s.append(registration.seconds)
        angle, distance = midsagittal.plane_error(*midsagittal.mid_sagittal_plane(registration, case),
                                                    *truths[case.case_id])
        angles.append(angle)
        distances.append(distance)
        tables.append(midsagittal.symmetry_ncc(case, sym_case))
    ncc = sum(tables) / len(tables)  # mean over cases, per modality
    return {
        "geometry": list(cases[0].shape), "spacing_mm": list(cases[0].spacing), "channels": len(cases[0].modalities),
        "cases": len(cases), "seconds_per_case": [round(s, 2) for s in seconds],
        "seconds_mean": round(float(np.mean(seconds)), 2), "seconds_max": round(float(np.max(seconds)), 2),
        "registration_seconds_mean": round(float(np.mean(registration_s)), 2),
        "goal_s": GOAL_S[task], "meets_goal": bool(np.max(seconds) <= GOAL_S[task]),
        "ncc_registered": ncc["registered"].round(3).to_dict(), "ncc_naive_flip": ncc["naive_flip"].round(3).to_dict(),
        "ncc_registered_mean": round(float(ncc["registered"].mean()), 3),
        "ncc_naive_flip_mean": round(float(ncc["naive_flip"].mean()), 3),
        "plane_angle_deg_max": round(float(np.max(angles)), 3),
        "plane_distance_mm_max": round(float(np.max(distances)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2, help="synthetic cases per task (paper geometry)")
    parser.add_argument("--transform", default="rigid", choices=symmetry.TRANSFORMS)
    parser.add_argument("--tasks", nargs="+", default=["SPES", "SISS"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = {"benchmark": "symmetric_registration", "transform": args.transform,
              "cpu_count": os.cpu_count(), "load_average_1min_at_start": round(os.getloadavg()[0], 2),
              "machine": platform.machine(),
              "settings": dataclasses.asdict(symmetry.RegistrationSettings())}
    for task in args.tasks:
        result[task.upper()] = measure(task.upper(), args.cases, args.transform, args.seed)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
