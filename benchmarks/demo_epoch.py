"""What `make demo` spends its time on (paper §3.4 training, §3.5 inference): one training epoch of one fold and one
cross-validated inference pass (every training case predicted once), at the demo profile's settings, on the
synthetic SISS-like set the demo uses (the Proposed approach: 8 channels, the heaviest of the three). Prints one JSON
line; ``training_and_cv_inference_upper_bound_s`` scales the two to the demo's 3 approaches × 4 folds × at most ``train_max_epochs``.

    python benchmarks/demo_epoch.py                 # the demo profile
    python benchmarks/demo_epoch.py --profile smoke # any profile
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time

import torch

from strokelib import settings
from strokelib.data import cases as datasets
from strokelib.inference.patches import predict_case
from strokelib.model import checkpoints as modelfiles
from strokelib.model.sunet import SUNet
from strokelib.preprocessing import normalisation as preprocessing
from strokelib.sampling.patches import PatchDataset
from strokelib.synthetic.dataset import resolve_data_root
from strokelib.training import cross_validation as training
from strokelib.training import loop as trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = settings.load_profile(args.profile)
    cfg, run = training.training_setup(params, out_dir=tempfile.mkdtemp())
    root = resolve_data_root("", params["task"], params["synthetic_geometry"], params["n_train"], params["n_test"],
                             params["seed"], phenomena=params.get("synthetic_phenomena"))
    cases = datasets.load_isles2015(root, params["task"], progress=False)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        prepared = [preprocessing.prepare_case(c, symmetric=True, cache_dir=cache) for c in cases]
    prepare_s = time.perf_counter() - t0
    train_ids, _ = training.fold_splits([c.case_id for c in cases], cfg.n_folds)[0]
    fit_ids, val_ids = training.inner_split(train_ids, run.val_fraction)
    by_id = {c.case_id: c for c in prepared}
    fit = PatchDataset([by_id[c] for c in fit_ids], "balanced", cfg.patches_per_case, cfg.patch_shape, progress=False)
    val = PatchDataset([by_id[c] for c in val_ids], "balanced", run.val_patches_per_case or cfg.patches_per_case,
                       cfg.patch_shape, progress=False)
    device = modelfiles.select_device(args.device)
    model = SUNet(prepared[0].images.shape[0], 2, cfg.base_filters, cfg.dropout)
    one_epoch = dataclasses.replace(cfg, max_epochs=1)
    t0 = time.perf_counter()
    history = trainer.train(model, fit, val, one_epoch, device=device, progress=False)
    epoch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for case in prepared:
        predict_case(model, case, cfg.patch_shape, params["inference_step"], params["inference_batch_size"], device,
                     progress=False)
    infer_s = time.perf_counter() - t0
    n_approaches = len(params["train_approaches"])
    report = {
        "benchmark": "demo_epoch", "profile": args.profile, "task": params["task"], "device": str(device),
        "threads": torch.get_num_threads(), "cases": len(cases), "channels": prepared[0].images.shape[0],
        "base_filters": cfg.base_filters, "fit_patches": len(fit), "val_patches": len(val),
        "symmetric_modalities_s": round(prepare_s, 1),
        "epoch_s": round(epoch_s, 1), "train_patches_per_s": round(float(history["patches_per_s"].iloc[0]), 1),
        "inference_step": params["inference_step"], "cv_inference_pass_s": round(infer_s, 1),
        "inference_s_per_case": round(infer_s / len(prepared), 2),
        "training_and_cv_inference_upper_bound_s": round(n_approaches * (cfg.n_folds * cfg.max_epochs * epoch_s + infer_s)),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
