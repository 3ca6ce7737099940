"""Time estimates and run-scale notes are computed from the settings and a rate measured on the spot."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from strokelib import estimates
from strokelib.config import PAPER
from strokelib.sampling import patches as sampling
from strokelib.training import cross_validation as training
from strokelib.training.cross_validation import TrainRun

TINY = dataclasses.replace(PAPER, patch_shape=(16, 16, 8), base_filters=4, batch_size=2, patches_per_case=6,
                           max_epochs=3, patience=2)


def test_rates_are_positive_and_estimates_count_the_work():
    assert estimates.training_rate(2, TINY, "cpu", batches=1) > 0
    assert estimates.inference_rate(2, TINY, batch_size=2, device="cpu", batches=1) > 0
    line = estimates.training_estimate(TINY, {"baseline": 2, "proposed": 4}, {"baseline": 4, "proposed": 1},
                                       fit_cases=5, val_cases=2, val_patches_per_case=3, device="cpu")
    assert line.startswith("⏱ about ") and "if every fold runs all 3 epochs" in line
    assert "folds to train (baseline 4, proposed 1) × ≤ 3 epochs × (30 training + 6 validation patches)" in line
    none = estimates.training_estimate(TINY, {"baseline": 2}, {"baseline": 0}, 5, 2, device="cpu")
    assert none.startswith("⏱ nothing to train here")
    assert "at 2 channels" in line and "at 4 channels" in line
    mask = np.zeros((32, 32, 16), bool)
    mask[4:28, 4:28, 2:14] = True
    n = len(sampling.grid_centres(mask, TINY.patch_shape, (8, 8, 4)))
    line = estimates.inference_estimate([mask, mask], TINY, (8, 8, 4), {"proposed": 4}, models_per_case=4,
                                        batch_size=2, device="cpu")
    assert f"1 approach(es) × 2 cases × 4 model(s), {n} patches per case at step 8×8×4" in line
    assert re.match(r"⏱ about \d+ (s|min)", line)


def test_durations_read_naturally():
    assert estimates.duration(0.2) == "1 s"
    assert estimates.duration(89) == "89 s"
    assert estimates.duration(600) == "10 min"
    assert estimates.duration(4 * 3600 + 20 * 60) == "4 h 20 min"
    assert estimates.duration(7190) == "2 h 0 min"


def test_scale_notes_say_when_early_stopping_cannot_act():
    acts = training.scale_notes(dataclasses.replace(PAPER, patches_per_case=50, max_epochs=20, patience=4))
    assert "50 per case" in acts[0] and "200× more" in acts[0]
    assert acts[2].startswith("Early stopping: a fold stops after 4 epochs") and "at most 20 epochs" in acts[2]
    never = training.scale_notes(dataclasses.replace(PAPER, max_epochs=5, patience=8))
    assert never[2].startswith("Early stopping cannot act in this run: at most 5 epochs")
    edge = training.scale_notes(dataclasses.replace(PAPER, max_epochs=5, patience=4))  # the stop would be epoch 5
    assert edge[2].startswith("Early stopping cannot act")
    assert training.scale_notes(dataclasses.replace(PAPER, max_epochs=6, patience=4))[2].startswith("Early stopping: ")
    narrow = training.scale_notes(dataclasses.replace(PAPER, base_filters=8))
    assert "8 base filters, 0.44 M parameters" in narrow[1] and "(the paper's 32 filters: 7.04 M)" in narrow[1]


def test_patches_per_voxel():
    assert sampling.patches_per_voxel((24, 24, 16), (4, 4, 1)) == 576
    assert sampling.patches_per_voxel((24, 24, 16), (8, 8, 4)) == 36
    assert sampling.patches_per_voxel((24, 24, 16), (12, 12, 8)) == 8


def test_cross_validation_estimate_uses_the_folds_and_channels(rng, tmp_path):
    from strokelib.data.cases import Case

    cases = [Case(str(i), np.zeros((3, 8, 8, 8), np.float32), ("A", "B", "C"), None, np.eye(4), (1.0, 1.0, 1.0),
                  np.ones((8, 8, 8), bool)) for i in range(1, 9)]
    cfg = dataclasses.replace(TINY, n_folds=4)
    line = estimates.cross_validation_estimate(cases, ["balanced", "proposed"], cfg,
                                               TrainRun(tmp_path, early_stopping="inner", val_fraction=0.25,
                                                        val_patches_per_case=2), device="cpu")
    # 8 cases, 4 folds: 6 training cases per fold, an inner quarter (2) for early stopping -> 4 fit, 2 validation
    assert "folds to train (balanced 4, proposed 4) × ≤ 3 epochs × (24 training + 4 validation patches)" in line
    assert "at 3 channels" in line and "at 6 channels" in line


def test_finished_folds_are_not_counted(tmp_path):
    from strokelib.data.cases import Case
    from strokelib.model import checkpoints as modelfiles

    cases = [Case(str(i), np.zeros((3, 8, 8, 8), np.float32), ("A", "B", "C"), None, np.eye(4), (1.0, 1.0, 1.0),
                  np.ones((8, 8, 8), bool), task="SISS") for i in range(1, 9)]
    for k in range(4):
        modelfiles.save_checkpoint({"format": modelfiles.CHECKPOINT_FORMAT, "finished": True},
                                   modelfiles.checkpoint_path(tmp_path, "SISS", "balanced", k))
    modelfiles.save_checkpoint({"format": modelfiles.CHECKPOINT_FORMAT, "finished": False},
                               modelfiles.checkpoint_path(tmp_path, "SISS", "proposed", 0))
    cfg = dataclasses.replace(TINY, n_folds=4)
    line = estimates.cross_validation_estimate(cases, ["balanced", "proposed"], cfg,
                                               TrainRun(tmp_path, val_patches_per_case=2), device="cpu")
    assert "folds to train (proposed 4)" in line  # an unfinished fold still trains
    everything = estimates.cross_validation_estimate(cases, ["balanced"], cfg, TrainRun(tmp_path), device="cpu")
    assert everything.startswith("⏱ nothing to train here")
