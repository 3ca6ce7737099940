"""What the ``paper`` profile costs on this machine, stage by stage: an estimate from rates measured here at full
size. Prints the table (markdown) and one JSON line.

Measured here (one case, a few batches):

* symmetric modalities of one paper-geometry SISS case (230×230×153 at 1 mm, the synthetic set at
  ``synthetic_geometry: paper``): affine registration + resampling (:func:`strokelib.preprocessing.symmetric.symmetric_modalities`);
* patch sampling of one case: a :class:`strokelib.sampling.patches.PatchDataset` with the profile's sampler and
  patches per case, and cutting all its patches once in batches of 16 (what one epoch reads);
* training patches/s (:func:`strokelib.estimates.training_rate`, batch 16), validation patches/s (batch 16) and
  inference patches/s (batch 64 on a CPU) (:func:`strokelib.estimates.inference_rate`) of a base-32 SUNet at the
  Proposed approach's 8 SISS channels, 24×24×16 patches;
* peak resident memory of the process during each of these (``/proc/self/statm`` polled every 5 ms).

Counted from the ``paper`` profile (:func:`strokelib.training.cross_validation.training_setup`): cases per fold
(:func:`strokelib.estimates.fold_case_counts`), patches per case, epochs, folds, and the 4×4×1 grid of a case of
each size (:func:`strokelib.sampling.patches.grid_centres` on the synthetic case's brain mask). Seconds come from
:func:`strokelib.estimates.training_seconds` and :func:`strokelib.estimates.inference_seconds`, the functions
behind the notebooks' ⏱ lines, so the table and the notebooks agree for the same rates.

    .venv/bin/python benchmarks/paper_cost.py              # about 2 minutes on a 2-core CPU
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

import numpy as np
import torch
from _peak_rss import PeakRSS  # benchmarks/_peak_rss.py (shared by the benchmarks)

from strokelib import estimates
from strokelib.data import cases as datasets
from strokelib.model.checkpoints import select_device
from strokelib.model.precision import cpu_features
from strokelib.preprocessing.normalisation import prepare_case
from strokelib.preprocessing.symmetric import symmetric_modalities
from strokelib.sampling.centres import drawn_per_case
from strokelib.sampling.patches import PatchDataset, grid_centres
from strokelib.settings import load_profile
from strokelib.synthetic import dataset as synthetic
from strokelib.training.cross_validation import approach_to_train, training_setup

CHANNELS = 8  # SISS with symmetric modalities (Proposed)


def work_counts(cfg, run, n_cases: int, grid_patches: dict[str, int], val_patches_per_case: int | None) -> dict:
    """The work of each stage, counted from the profile's settings."""
    fit, val = estimates.fold_case_counts([str(i) for i in range(1, n_cases + 1)], cfg, run)
    sampler = approach_to_train("proposed", run).sampler
    val_asked = val_patches_per_case or cfg.patches_per_case
    return {"cases": n_cases, "fit_cases": fit, "val_cases": val, "folds": cfg.n_folds, "sampler": sampler,
            "patches_per_case": cfg.patches_per_case,
            "drawn_per_case": drawn_per_case(sampler, cfg.patches_per_case, cfg.lesion_fraction),
            "val_drawn_per_case": drawn_per_case(sampler, val_asked, cfg.lesion_fraction),
            "max_epochs": cfg.max_epochs, "min_epochs": cfg.patience + 1, "grid_patches": grid_patches}


def cost_rows(rates: dict, counts: dict, memory: dict | None = None) -> list[dict]:
    """The table's rows: stage, work, seconds (float), peak RSS (MB or a note). ``rates``: ``registration_s`` and
    ``sampling_s`` (seconds per case), ``train``, ``validation`` and ``inference`` (patches/s)."""
    memory = memory or {}
    fit = counts["fit_cases"] * counts["drawn_per_case"]  # what the sampler draws: 1.5× the request for `reference`
    val = counts["val_cases"] * counts["val_drawn_per_case"]
    grid = counts["grid_patches"]["SISS"]
    epoch = estimates.training_seconds(1, 1, fit, val, rates["train"], rates["validation"])
    rows = [
        ("symmetric modalities, {cases} SISS cases at 1 mm", "{cases} × registration + resampling of one case",
         counts["cases"] * rates["registration_s"], "registration"),
        ("patch sampling, one fold ({fit_cases} + {val_cases} cases)", "{n} cases × one case's PatchDataset",
         (counts["fit_cases"] + counts["val_cases"]) * rates["sampling_s"], "sampling"),
        ("one training epoch, {patches_per_case} patches asked per case ({drawn_per_case} drawn by the {sampler} sampler)",
         f"{fit} training patches + {val} validation patches", epoch, "training"),
        ("a full fold with early stopping (earliest stop)", "{min_epochs} epochs (patience + 1)",
         estimates.training_seconds(1, counts["min_epochs"], fit, val, rates["train"], rates["validation"]), "training"),
        ("a full fold, every epoch run (the ⏱ line's bound)", "{max_epochs} epochs",
         estimates.training_seconds(1, counts["max_epochs"], fit, val, rates["train"], rates["validation"]), "training"),
        ("cross-validation, one approach, every epoch run", "{folds} folds × {max_epochs} epochs",
         estimates.training_seconds(counts["folds"], counts["max_epochs"], fit, val, rates["train"],
                                    rates["validation"]), "training"),
        ("cross-validated inference at 4×4×1, {cases} SISS cases", f"{{cases}} cases × 1 model × {grid} patches",
         estimates.inference_seconds(counts["cases"] * grid, 1, rates["inference"]), "inference"),
        ("one test case, 4-fold ensemble at 4×4×1 (SISS-size)", f"{{folds}} models × {grid} patches",
         estimates.inference_seconds(grid, counts["folds"], rates["inference"]), "inference"),
        ("one test case, 4-fold ensemble at 4×4×1 (SPES-size)", f"{{folds}} models × {counts['grid_patches']['SPES']} patches",
         estimates.inference_seconds(counts["grid_patches"]["SPES"], counts["folds"], rates["inference"]), "inference"),
    ]
    fmt = {**counts, "n": counts["fit_cases"] + counts["val_cases"]}
    return [{"stage": stage.format(**fmt), "work": work.format(**fmt), "seconds": seconds,
             "time": estimates.duration(seconds), "kind": kind, "peak_rss_mb": memory.get(kind)} for stage, work, seconds, kind in rows]


def markdown(rows: list[dict], memory_notes: dict) -> str:
    lines = ["| stage | work | time (estimate) | peak memory |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['work']} | {r['time']} | {memory_notes.get(r['stage'], '')} |")
    return "\n".join(lines)


def measure(args) -> tuple[dict, dict, dict]:
    device = select_device(args.device)
    root = synthetic.ensure_synthetic("SISS", 1, geometry="paper", base_dir=args.data_dir, progress=False)
    (case,) = datasets.load_isles2015(root, "SISS", progress=False)
    settings = load_profile("paper")
    cfg, run = training_setup(settings)
    rates, memory, extra = {}, {}, {}
    with PeakRSS() as m:
        sym_case, _ = symmetric_modalities(case, run.reference, run.transform)
    rates["registration_s"], memory["registration"] = m.seconds, m.mb
    prepared = prepare_case(sym_case, symmetric=True, normalisation=run.normalisation, transform=run.transform)
    del sym_case
    with PeakRSS() as m:
        data = PatchDataset([prepared], sampler=approach_to_train("proposed", run).sampler, n_patches=cfg.patches_per_case,
                            patch_shape=cfg.patch_shape, lesion_fraction=cfg.lesion_fraction, progress=False)
    rates["sampling_s"], memory["sampling"] = m.seconds, m.mb
    extra["patches_drawn_per_case"] = len(data)
    extra["padded_case_mb"] = round(sum(a.nbytes for a in (*data._images, *data._labels)) / 2**20)
    start = time.perf_counter()
    order = np.arange(len(data))
    for i in range(0, len(order), cfg.batch_size):
        data.get_batch(order[i:i + cfg.batch_size])
    extra["cut_all_patches_s"] = round(time.perf_counter() - start, 1)
    grid = {"SISS": len(grid_centres(case.brain_mask, cfg.patch_shape, cfg.inference_step))}
    spes_root = synthetic.ensure_synthetic("SPES", 1, geometry="paper", base_dir=args.data_dir, progress=False)
    (spes,) = datasets.load_isles2015(spes_root, "SPES", progress=False)
    grid["SPES"] = len(grid_centres(spes.brain_mask, cfg.patch_shape, cfg.inference_step))
    del data, prepared, case, spes
    with PeakRSS() as m:
        rates["train"] = estimates.training_rate(CHANNELS, cfg, device, run.precision, batches=args.batches,
                                                 compile_model=run.compile_model)
    memory["training"] = m.mb
    rates["validation"] = estimates.inference_rate(CHANNELS, cfg, cfg.batch_size, device, batches=args.batches)
    batch = settings.get("inference_batch_size") or default_batch(device)
    with PeakRSS() as m:
        rates["inference"] = estimates.inference_rate(CHANNELS, cfg, batch, device, batches=args.batches)
    memory["inference"] = m.mb
    counts = work_counts(cfg, run, int(settings["n_train"]), grid, run.val_patches_per_case)
    extra |= {"inference_batch_size": batch, "training_batch_size": cfg.batch_size, "sampler": counts["sampler"], "compiled": run.compile_model,
              "base_filters": cfg.base_filters, "patch_shape": list(cfg.patch_shape), "channels": CHANNELS,
              "step": list(cfg.inference_step), "device": str(device)}
    return rates, counts, {"memory": memory, **extra}


def default_batch(device) -> int:
    from strokelib.inference.patches import default_batch_size

    return default_batch_size(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per rate (after 2 warm-up batches)")
    parser.add_argument("--data-dir", default="data/synthetic")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("strokelib.model.precision").setLevel(logging.INFO)  # the precision `auto` chose, and why
    rates, counts, info = measure(args)
    memory = info["memory"]
    rows = cost_rows(rates, counts, memory)
    notes = {}
    for r in rows:
        notes[r["stage"]] = {
            "registration": f"{memory['registration']} MB (one case, measured)",
            "sampling": f"{memory['sampling']} MB (one case, measured); a fold's dataset holds "
                        f"{counts['fit_cases'] + counts['val_cases']} × {info['padded_case_mb']} MB padded cases",
            "training": f"{memory['training']} MB (measured at batch {info['training_batch_size']}), plus the fold's dataset",
            "inference": f"{memory['inference']} MB (measured at batch {info['inference_batch_size']})",
        }[r["kind"]]
    name, flags = cpu_features()
    machine = (f"{name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
               f"{'AMX' if 'amx_bf16' in flags else 'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'}, "
               f"torch {torch.__version__}")
    print(f"Estimate from rates measured on {machine} (load average {os.getloadavg()[0]:.2f}):\n")
    print(markdown(rows, notes))
    print(json.dumps({"benchmark": "paper_cost", "machine": machine, "rates": {k: round(v, 2) for k, v in rates.items()},
                      "counts": counts, **info,
                      "rows": [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}))


if __name__ == "__main__":
    main()
