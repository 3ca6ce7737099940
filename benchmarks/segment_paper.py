"""``strokelib segment`` on one case at the paper's settings (§3.5, §4.2): seconds per case and peak memory of a
4-fold base-32 ensemble at step 4×4×1 (fp32 and the ``auto`` choice) and with ``--fast`` (whole-volume passes).
Prints one JSON line per case size and mode.

Cases: one synthetic case of each size asked for (``--sizes``), generated at ``synthetic_geometry: paper`` into
``--data-dir`` when missing: SPES-size 96×110×72 at 2 mm (7 modalities) and SISS-size 230×230×153 at 1 mm (4
modalities), the ISLES 2015 geometry of ``strokelib.synthetic.dataset``.

Models: timing does not depend on the weights, so the benchmark writes a self-describing models folder per task in
the exact format ``segment`` reads (``fold<k>.pt`` finished checkpoints and ``postprocessing.json``): ``--models``
freshly initialised SUNets of ``--base-filters`` (paper 32), seeded (fold k from seed ``--seed + k``), for the
Proposed approach as the ``paper`` profile trains it (symmetric modalities from an affine registration, whole-volume
normalisation). The maps they give mean nothing; the time and memory are those of trained models of that width.

Each measurement is one run of the real command, ``python -m strokelib.cli segment CASE OUT --models ... --step ...
[--fast] --precision ...``, in a child process: ``seconds`` is the wall time of that process (Python start, model
loading, registration, prediction, post-processing, NIfTI writing), ``case_seconds`` the time ``segment`` records
for the case, and ``peak_rss_mb`` the child's peak resident memory (``resource``/``wait4`` ``ru_maxrss``).
``patches`` is the grid of ``strokelib.sampling.patches.grid_centres`` on the case's brain mask at the step (per
model); ``patches_per_s`` counts model × patches over ``case_seconds``; ``speedup_vs_fp32`` is the fp32 line's
``case_seconds`` over this line's (same models).

On a CPU the paper's step is long (4 models × ~14 800 patches for SPES-size, × ~139 000 for SISS-size). With
``--sample-steps`` the patch modes run at those coarser steps instead (with ``--sample-models`` models), a line
``case_seconds = a + b × model-patches`` is fitted to them (least squares), and the line for ``--step`` with
``--models`` is that line's value (``seconds`` adds the measured points' mean process start-up), labelled ``"extrapolated": true`` with the measured points beside it. Default:
the full paper run, measured.

    .venv/bin/python benchmarks/segment_paper.py                       # the full paper run (hours on a CPU)
    .venv/bin/python benchmarks/segment_paper.py --fast-only           # --fast with 4 models, both sizes
    .venv/bin/python benchmarks/segment_paper.py --sizes spes --modes fp32 auto \\
        --sample-steps 24,24,16 12,12,8 --sample-models 1             # 4x4x1 extrapolated from two coarse steps

On a CPU without native bf16 (no AVX512_BF16, AMX or Arm BF16) ``auto`` resolves to fp32 without running anything
else; its line then reuses the fp32 measurement and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from strokelib.config import PAPER
from strokelib.data import cases as datasets
from strokelib.data.new_cases import find_cases
from strokelib.model import checkpoints as modelfiles
from strokelib.model.precision import cpu_features, cpu_supports_bf16
from strokelib.model.sunet import SUNet
from strokelib.preprocessing.symmetric import SYM_PREFIX
from strokelib.sampling.patches import grid_centres
from strokelib.synthetic import dataset as synthetic
from strokelib.training.cross_validation import TrainRun, training_spacing

TASKS = {"spes": "SPES", "siss": "SISS"}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "bf16")


def cpu_summary() -> dict:
    name, flags = cpu_features()
    return {"cpu": name, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu_flags": sorted(f for f in CPU_FLAGS if f in flags), "native_bf16": cpu_supports_bf16()}


def write_models(folder: Path, case, n_models: int, base_filters: int, seed: int) -> Path:
    """A models folder of ``n_models`` freshly initialised SUNets in the format ``segment`` reads (Proposed
    approach, the ``paper`` profile's preparation), with a ``postprocessing.json``."""
    run = TrainRun(out_dir=folder, normalisation="whole_volume", transform="affine", early_stopping="held_out",
                   shuffle=False)
    modalities = [*case.modalities, *(SYM_PREFIX + m for m in case.modalities)]
    for k in range(n_models):
        torch.manual_seed(seed + k)
        model = SUNet(len(modalities), 2, base_filters, PAPER.dropout)
        meta = {**modelfiles.model_meta(model), "task": case.task, "approach": "proposed", "symmetric": True,
                "sampler": "reference", "loss": "focal", "patch_shape": list(PAPER.patch_shape), "fold": k,
                "held_out": [], "train_ids": [], "val_ids": [], **run.record(), "modalities": modalities,
                **training_spacing([case]), "seed": seed + k, "precision": "fp32", "device": "cpu",
                "note": "benchmark: freshly initialised weights, never trained"}
        cfg = dataclasses.replace(PAPER, base_filters=base_filters)
        state = modelfiles.checkpoint_state(1, 1, True, modelfiles.cpu_state(model), [], cfg, meta)
        modelfiles.save_checkpoint(state, folder / f"fold{k}.pt")
    modelfiles.save_postprocessing(folder, 0.5, 10, "benchmark: fixed values, untrained models")
    return folder


def run_segment(case_dir: Path, models: Path, task: str, out: Path, step, fast: bool, precision: str,
                batch_size: int | None, device: str) -> dict:
    """One ``strokelib segment`` process: its wall time, peak RSS and the case's segmentation.json result."""
    cmd = [sys.executable, "-m", "strokelib.cli", "segment", str(case_dir), str(out), "--models", str(models),
           "--task", task, "--step", *map(str, step), "--precision", precision, "--device", device]
    cmd += ["--fast"] if fast else []
    cmd += ["--batch-size", str(batch_size)] if batch_size else []
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout_file, tempfile.TemporaryFile("w+") as stderr_file:
        # output to files, not pipes: a pipe that fills while we wait for the child would block it for ever
        proc = subprocess.Popen(cmd, stdout=stdout_file, stderr=stderr_file, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout_file.seek(0)
        stderr_file.seek(0)
        stdout, stderr = stdout_file.read(), stderr_file.read()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stdout}\n{stderr[-3000:]}")
    record = json.loads((out / case_dir.name / "segmentation.json").read_text())["result"]
    kb = usage.ru_maxrss if platform.system() != "Darwin" else usage.ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "case_seconds": float(record["seconds"]),
            "peak_rss_mb": round(kb / 1024, 1), "precision": record["precision"],
            "precision_reason": record["precision_reason"], "cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}


def measure(ctx: dict, step, n_models: int, fast: bool, precision: str, args) -> dict:
    models = ctx["models"][n_models]
    out = Path(tempfile.mkdtemp(prefix="out-", dir=ctx["work"]))
    result = run_segment(ctx["case_dir"], models, ctx["task"], out, step, fast, precision, args.batch_size,
                         args.device)
    patches = 0 if fast else len(grid_centres(ctx["case"].brain_mask, PAPER.patch_shape, step))
    work = n_models * patches
    return {**result, "models": n_models, "step": None if fast else list(step), "patches": patches,
            "patches_per_s": round(work / result["case_seconds"], 2) if work else None}


def extrapolate(points: list[dict], patches: int, n_models: int) -> dict:
    """``a + b × model-patches`` fitted to the measured points, at ``n_models × patches``."""
    x = np.array([p["models"] * p["patches"] for p in points], float)
    b, a = np.polyfit(x, [p["case_seconds"] for p in points], 1)
    case_seconds = float(a + b * n_models * patches)
    startup = float(np.mean([p["seconds"] - p["case_seconds"] for p in points]))  # Python start, model loading
    return {"seconds": round(case_seconds + startup, 1), "case_seconds": round(case_seconds, 1),
            "case_seconds_fixed": round(float(a), 1), "patches_per_s": round(1 / b, 2),
            "peak_rss_mb": max(p["peak_rss_mb"] for p in points),
            "peak_rss_note": "the largest of the measured points (the patch grid is processed in batches)"}


def bench_size(size: str, args, work: Path) -> list[dict]:
    task = TASKS[size]
    root = synthetic.ensure_synthetic(task, 1, geometry="paper", base_dir=args.data_dir, progress=False)
    (case,) = datasets.load_isles2015(root, task, progress=False)
    folders, _ = find_cases(root, task, "training")
    case_dir = Path(folders[str(case.case_id)])
    counts = {args.models, *([args.sample_models] if args.sample_steps else [])}
    ctx = {"task": task, "case": case, "case_dir": case_dir, "work": work,
           "models": {n: write_models(work / f"models-{task}-{n}", case, n, args.base_filters, args.seed)
                      for n in counts}}
    base = {"benchmark": "segment_paper", "size": f"{task}-size", "shape": list(case.images.shape[1:]),
            "spacing_mm": list(case.spacing), "brain_voxels": int(case.brain_mask.sum()),
            "base_filters": args.base_filters, "patch_shape": list(PAPER.patch_shape),
            "weights": f"freshly initialised, seed {args.seed}+fold (timing does not depend on them)",
            "command": "python -m strokelib.cli segment (child process)", **cpu_summary()}
    lines, fp32 = [], None
    for mode in args.modes:
        if mode == "fast":
            row = measure(ctx, args.step, args.models, True, "auto", args)
            lines.append({**base, "mode": "fast (whole volume)", "extrapolated": False, **row})
            continue
        if mode == "auto" and fp32 is not None and not cpu_supports_bf16() and args.device == "cpu":
            lines.append({**fp32, "mode": "auto", "precision_reason": "this CPU has no native bf16: auto is fp32; "
                          "the fp32 measurement above, not run again"})
            continue
        if not args.sample_steps:
            row = measure(ctx, args.step, args.models, False, mode, args)
            line = {**base, "mode": mode, "extrapolated": False, **row}
        else:
            points = [measure(ctx, s, args.sample_models, False, mode, args) for s in args.sample_steps]
            patches = len(grid_centres(case.brain_mask, PAPER.patch_shape, args.step))
            line = {**base, "mode": mode, "extrapolated": True, "models": args.models, "step": list(args.step),
                    "patches": patches, **extrapolate(points, patches, args.models),
                    "precision": points[0]["precision"], "precision_reason": points[0]["precision_reason"],
                    "extrapolation": "case_seconds = a + b x model-patches, least squares over the measured points",
                    "measured_points": points}
        lines.append(line)
        fp32 = line if mode == "fp32" else fp32
    for line in lines:  # the ratio to fp32 at the same step and models: > 1 is faster
        if fp32 is not None and line["models"] == fp32["models"]:
            line["speedup_vs_fp32"] = round(fp32["case_seconds"] / line["case_seconds"], 2)
    return lines


def steps(text: str) -> tuple[int, int, int]:
    values = tuple(int(v) for v in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: write X,Y,Z, e.g. 12,12,8")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="spes,siss", help="comma-separated: spes, siss")
    parser.add_argument("--models", type=int, default=PAPER.n_folds, help="fold models in the ensemble (paper 4)")
    parser.add_argument("--step", type=int, nargs=3, default=list(PAPER.inference_step), help="paper 4 4 1")
    parser.add_argument("--modes", nargs="+", default=["fp32", "auto", "fast"], choices=["fp32", "auto", "fast"])
    parser.add_argument("--fast-only", action="store_true", help="only --fast (whole-volume passes)")
    parser.add_argument("--sample-steps", type=steps, nargs="+", default=None, metavar="X,Y,Z",
                        help="measure the patch modes at these coarser steps and extrapolate to --step (labelled)")
    parser.add_argument("--sample-models", type=int, default=None, help="models for the sample steps (default --models)")
    parser.add_argument("--base-filters", type=int, default=PAPER.base_filters)
    parser.add_argument("--batch-size", type=int, default=None, help="default: segment's (64 on a CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data/synthetic", help="where the synthetic cases are (made when missing)")
    args = parser.parse_args()
    args.modes = ["fast"] if args.fast_only else args.modes
    args.sample_models = args.sample_models or args.models
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    if unknown := [s for s in sizes if s not in TASKS]:
        parser.error(f"unknown sizes {unknown}; use spes, siss")
    with tempfile.TemporaryDirectory(prefix="segment-paper-") as tmp:
        for size in sizes:
            for line in bench_size(size, args, Path(tmp)):
                line["load_average_1min"] = round(os.getloadavg()[0], 2)
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
