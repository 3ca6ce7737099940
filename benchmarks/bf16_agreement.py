"""How far a bf16 probability map is from the fp32 one (paper §3.5 inference with trained models): for each case, the
largest and mean absolute difference of the two maps inside the brain, and the Dice between the two masks at the
models' own Th and S_min. Prints one JSON line per case and one summary line.

    python benchmarks/bf16_agreement.py --models outputs/figures-isles22/run/models/ISLES22/proposed \\
        --task ISLES22 --data outputs/figures-isles22/synthetic/ISLES22_paper_n12_seed0_v1 --step 8 8 8

On a CPU without native bf16 (no AVX512_BF16, AMX or Arm BF16) strokelib refuses bf16 (it would be emulated, about
25x slower); this benchmark runs it anyway, labelled ``"bf16": "emulated"``, because the question is numerical: bf16
autocast rounds the same way whether the CPU computes it natively or not (the kernels may differ in summation order,
so a native run can differ from these figures in the last bits).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from unittest import mock

import numpy as np

from strokelib.data.cases import load_isles2015
from strokelib.data.isles22 import find_isles22_cases, load_isles22_for_model
from strokelib.evaluation.metrics import dice
from strokelib.inference.maps import prepare_for_model
from strokelib.inference.patches import predict_case
from strokelib.inference.postprocessing import binarize
from strokelib.model.checkpoints import load_models, load_postprocessing
from strokelib.model.precision import cpu_supports_bf16


def _cases(task: str, data: Path, modalities, limit: int) -> list:
    if task == "ISLES22":
        table = sorted(find_isles22_cases(data).items())[:limit]
        return [load_isles22_for_model(files, case_id, tuple(modalities))[0] for case_id, files in table]
    return load_isles2015(data, task, progress=False)[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, required=True, help="a models folder (fold<k>.pt, postprocessing.json)")
    parser.add_argument("--task", required=True, choices=("SISS", "SPES", "ISLES22"))
    parser.add_argument("--data", type=Path, required=True, help="the dataset root the cases are read from")
    parser.add_argument("--cases", type=int, default=4, help="the first N cases (default 4)")
    parser.add_argument("--step", type=int, nargs=3, default=(8, 8, 8), help="patch grid step (default 8 8 8)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    models, meta = load_models(args.models, "cpu")
    post = load_postprocessing(args.models)
    threshold, min_size = float(post["threshold"]), int(post["min_size"])
    native = cpu_supports_bf16()
    base = [m for m in meta["modalities"] if not m.startswith("sym_")]
    rows = []
    for case in _cases(args.task, args.data, base, args.cases):
        prepared = prepare_for_model(case, meta, None)
        maps, seconds = {}, {}
        for precision in ("fp32", "bf16"):
            start = time.perf_counter()
            with mock.patch("strokelib.model.precision.cpu_supports_bf16", return_value=True):
                maps[precision] = predict_case(models, prepared, meta["patch_shape"], args.step, device="cpu",
                                               progress=False, precision=precision)
            seconds[precision] = round(time.perf_counter() - start, 1)
        brain = prepared.brain_mask
        diff = np.abs(maps["bf16"] - maps["fp32"])[brain]
        masks = {p: binarize(m, threshold, int(min_size)) for p, m in maps.items()}
        row = {"case": case.case_id, "max_abs_diff": round(float(diff.max()), 5),
               "mean_abs_diff": round(float(diff.mean()), 6), "mask_dsc": round(dice(masks["bf16"], masks["fp32"]), 5),
               "voxels_fp32": int(masks["fp32"].sum()), "voxels_bf16": int(masks["bf16"].sum()),
               "seconds": seconds, "bf16": "native" if native else "emulated"}
        rows.append(row)
        print(json.dumps(row))
    print(json.dumps({"summary": True, "models": str(args.models), "threshold": threshold, "min_size": int(min_size),
                      "step": list(args.step), "cases": len(rows),
                      "max_abs_diff": max(r["max_abs_diff"] for r in rows),
                      "min_mask_dsc": min(r["mask_dsc"] for r in rows), "bf16": "native" if native else "emulated"}))


if __name__ == "__main__":
    main()
