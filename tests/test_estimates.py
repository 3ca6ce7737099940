"""Time estimates and run-scale notes are computed from the settings and a rate measured on the spot."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

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
    reference = estimates.training_estimate(TINY, {"baseline": 2, "proposed": 4}, {"baseline": 4, "proposed": 1},
                                            fit_cases=5, val_cases=2, val_patches_per_case=3, device="cpu",
                                            samplers={"baseline": "baseline", "proposed": "reference"})
    assert ("(30 training + 6 validation patches or 45 training + 10 validation patches (baseline: baseline "
            "sampler; proposed: reference sampler))") in reference  # the released 2:1 sampler draws 1.5×
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


def test_cross_validation_estimate_counts_the_reference_samplers_draws(tmp_path, monkeypatch):
    """``train_sampler: reference`` replaces the balanced sampler (not the Baseline's) and draws 1.5× the request."""
    from strokelib.data.cases import Case

    monkeypatch.setattr(estimates, "training_rate", lambda *a, **k: 2.0)
    monkeypatch.setattr(estimates, "inference_rate", lambda *a, **k: 4.0)
    cases = [Case(str(i), np.zeros((3, 8, 8, 8), np.float32), ("A", "B", "C"), None, np.eye(4), (1.0, 1.0, 1.0),
                  np.ones((8, 8, 8), bool)) for i in range(1, 9)]
    run = TrainRun(tmp_path, early_stopping="inner", val_fraction=0.25, val_patches_per_case=2, sampler="reference")
    line = estimates.cross_validation_estimate(cases, ["baseline", "proposed"], dataclasses.replace(TINY, n_folds=4),
                                               run, device="cpu")
    assert ("(24 training + 4 validation patches or 36 training + 6 validation patches (baseline: baseline sampler; "
            "proposed: reference sampler))") in line
    seconds = 4 * 3 * (24 / 2.0 + 4 / 4.0) + 4 * 3 * (36 / 2.0 + 6 / 4.0)
    assert line.startswith(f"⏱ about {estimates.duration(seconds)} here")


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


def _paper_cost(monkeypatch):
    import importlib.util
    from pathlib import Path

    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    monkeypatch.syspath_prepend(str(benchmarks))  # as `python benchmarks/paper_cost.py` finds its _peak_rss helper
    path = benchmarks / "paper_cost.py"
    spec = importlib.util.spec_from_file_location("paper_cost", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("sampler", "drawn"), [(None, 10_000), ("reference", 15_000)])
def test_paper_cost_table_counts_as_the_notebook_lines(monkeypatch, sampler, drawn):
    """docs/paper-cost.md's training and inference rows and the notebooks' ⏱ lines are one computation: the same
    rates give the same time (the rates are fixed here, so nothing is timed)."""
    cost = _paper_cost(monkeypatch)
    rates = {"train": 3.7, "validation": 11.0, "inference": 15.0, "registration_s": 40.0, "sampling_s": 2.0}
    monkeypatch.setattr(estimates, "training_rate", lambda *a, **k: rates["train"])
    monkeypatch.setattr(estimates, "inference_rate",
                        lambda c, cfg, batch_size=64, *a, **k: rates["validation" if batch_size == 16 else "inference"])
    cfg, run = training.training_setup({"train_early_stopping": "held_out", "train_fold_shuffle": False,
                                        "train_patches_per_case": None, "train_max_epochs": None,
                                        "train_patience": None, "train_base_filters": None,
                                        "train_sampler": sampler})
    mask = np.zeros((40, 40, 20), bool)
    mask[6:34, 6:34, 3:17] = True
    grid = len(sampling.grid_centres(mask, cfg.patch_shape, cfg.inference_step))
    counts = cost.work_counts(cfg, run, 28, {"SISS": grid, "SPES": grid}, None)
    assert (counts["fit_cases"], counts["val_cases"]) == (21, 7)
    rows = {r["stage"]: r for r in cost.cost_rows(rates, counts)}

    line = estimates.training_estimate(cfg, {"proposed": 8}, {"proposed": 4}, 21, 7, None, device="cpu",
                                       samplers={"proposed": sampler or "balanced"})
    all_folds = rows["cross-validation, one approach, every epoch run"]
    assert line.startswith(f"⏱ about {all_folds['time']} here")
    assert all_folds["seconds"] == estimates.training_seconds(4, 200, 21 * drawn, 7 * drawn, 3.7, 11.0)
    one_fold = rows["a full fold, every epoch run (the ⏱ line's bound)"]
    assert one_fold["seconds"] * 4 == pytest.approx(all_folds["seconds"])
    epoch = rows[f"one training epoch, 10000 patches asked per case ({drawn} drawn by the {sampler or 'balanced'} sampler)"]
    assert epoch["seconds"] == pytest.approx(21 * drawn / 3.7 + 7 * drawn / 11.0)

    cv = estimates.inference_estimate([mask] * 28, cfg, cfg.inference_step, {"proposed": 8}, 1, 64, "cpu")
    cv_row = rows["cross-validated inference at 4×4×1, 28 SISS cases"]
    assert cv.startswith(f"⏱ about {cv_row['time']} here") and cv_row["seconds"] == pytest.approx(28 * grid / 15.0)
    test = estimates.inference_estimate([mask], cfg, cfg.inference_step, {"proposed": 8}, 4, 64, "cpu")
    test_row = rows["one test case, 4-fold ensemble at 4×4×1 (SISS-size)"]
    assert test.startswith(f"⏱ about {test_row['time']} here") and test_row["seconds"] == pytest.approx(4 * grid / 15.0)


def test_patience_replay_stops_where_the_training_loop_would():
    """benchmarks/patience_replay.py replays the loop's own early-stopping rule on a finished fold's history."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "patience_replay.py"
    spec = importlib.util.spec_from_file_location("patience_replay", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    history = [0.5, 0.4, 0.3, 0.35, 0.36, 0.29995, 0.37, 0.38, 0.2]  # epoch 6 is not better by more than 1e-4
    assert module.replay(history, 3, 1e-4) == (6, 0.3)
    assert module.replay(history, 4, 1e-4) == (7, 0.3)
    assert module.replay(history, 9, 1e-4) == (9, 0.2)  # never stops: every epoch runs, the best is kept
