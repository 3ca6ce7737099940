"""Training loop, early stopping, checkpoints/resume, folds and cross-validation (§3.4, §4.1)."""

from __future__ import annotations

import dataclasses
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch

from strokelib.config import PAPER
from strokelib.data.cases import Case
from strokelib.errors import ConfigError, ProvenanceError, TrainingError
from strokelib.model import checkpoints as modelfiles
from strokelib.model.checkpoints import checkpoint_path, load_model, select_device
from strokelib.model.sunet import SUNet
from strokelib.settings import RunSettings
from strokelib.training import cross_validation as training
from strokelib.training import loop as trainer
from strokelib.training.cross_validation import APPROACHES, TrainRun, cross_validate, fold_splits, inner_split
from strokelib.training.loop import early_stopping_status, train

PATCH = (8, 8, 8)
TINY = dataclasses.replace(PAPER, batch_size=8, max_epochs=3, patience=8, base_filters=4, patch_shape=PATCH, patches_per_case=24)
TIMING = ["patches_per_s", "data_wait", "train_seconds"]


def synthetic_case(case_id: str, seed: int, shape=(24, 24, 16), modalities=("M0", "M1")) -> Case:
    """A case with a bright spherical lesion in every channel, on noise."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape)
    centre = rng.integers(6, np.array(shape) - 6)
    label = (((grid - centre[:, None, None, None]) ** 2).sum(0) <= 16).astype(np.uint8)
    images = rng.normal(size=(len(modalities), *shape)).astype(np.float32) + 2.0 * label
    return Case(case_id, images, tuple(modalities), label, np.eye(4), (1.0, 1.0, 1.0),
                np.ones(shape, bool), task="SPES")


class Patches:
    """Stand-in for sampling.PatchDataset: half the patches on lesion, a vectorised get_batch, set_epoch."""

    def __init__(self, cases, sampler="balanced", n_patches=24, patch_shape=PATCH, lesion_fraction=0.5, seed=0,
                 resample_each_epoch=False, progress=True):
        rng = np.random.default_rng(seed)
        self.cases, self.patch_shape, self.epochs = list(cases), tuple(patch_shape), []
        half = np.array(patch_shape) // 2
        rows = []
        for i, case in enumerate(self.cases):
            lesion = np.argwhere(case.label > 0)
            n_lesion = int(n_patches * lesion_fraction) if sampler == "balanced" else 0
            centres = np.concatenate([
                lesion[rng.integers(0, len(lesion), n_lesion)],
                rng.integers(half, np.array(case.shape) - half, size=(n_patches - n_lesion, 3)),
            ])
            centres = np.clip(centres, half, np.array(case.shape) - half)
            rows.append(np.column_stack([np.full(len(centres), i), centres]))
        self.index = np.concatenate(rows)

    def __len__(self):
        return len(self.index)

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def get_batch(self, indices):
        half = np.array(self.patch_shape) // 2
        xs, ys = [], []
        for i, *c in self.index[np.asarray(indices)]:
            sl = tuple(slice(a - h, a + h) for a, h in zip(c, half, strict=True))
            xs.append(self.cases[i].images[(slice(None), *sl)])
            ys.append(self.cases[i].label[sl])
        return np.stack(xs), np.stack(ys).astype(np.int64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data():
    cases = [synthetic_case(str(i), i) for i in range(3)]
    return Patches(cases[:2], n_patches=24, seed=1), Patches(cases[2:], n_patches=16, seed=2)


def _model(seed=0):
    torch.manual_seed(seed)
    return SUNet(2, base_filters=4)


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_select_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert select_device().type == expected
    assert select_device("cpu") == torch.device("cpu")


def test_select_device_refuses_what_is_missing(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="not available"):
        select_device("cuda")


def test_approaches_match_table1():
    assert APPROACHES["baseline"].loss == "cross_entropy" and APPROACHES["baseline"].sampler == "baseline"
    assert not APPROACHES["baseline"].symmetric and not APPROACHES["balanced"].symmetric
    assert APPROACHES["balanced"].loss == APPROACHES["proposed"].loss == "focal"
    assert APPROACHES["proposed"].symmetric and APPROACHES["proposed"].sampler == "balanced"
    with pytest.raises(dataclasses.FrozenInstanceError):
        APPROACHES["proposed"].loss = "cross_entropy"


def test_fold_splits_contiguous_as_released():
    ids = [str(i) for i in range(1, 31)]
    splits = fold_splits(ids, 4)
    assert [len(held) for _, held in splits] == [8, 8, 8, 6]
    assert splits[1][1] == [str(i) for i in range(9, 17)]
    assert all(set(train).isdisjoint(held) and len(train) + len(held) == 30 for train, held in splits)
    assert [h for _, held in fold_splits([str(i) for i in range(28)], 4) for h in held] == [str(i) for i in range(28)]
    assert [len(h) for _, h in fold_splits(list("abcde"), 4)] == [2, 1, 1, 1]  # never an empty fold


def test_fold_splits_shuffled_with_seed():
    ids = [str(i) for i in range(12)]
    a, b, c = fold_splits(ids, 4, True, 1), fold_splits(ids, 4, True, 1), fold_splits(ids, 4, True, 2)
    assert a == b and a != c and a != fold_splits(ids, 4)
    assert sorted(h for _, held in a for h in held) == sorted(ids)
    with pytest.raises(ConfigError, match="at least"):
        fold_splits(["1", "2"], 4)


def test_inner_split():
    fit, val = inner_split([str(i) for i in range(8)], 0.25, seed=3)
    assert len(val) == 2 and len(fit) == 6 and set(fit).isdisjoint(val)
    assert inner_split(["a", "b", "c"], 0.25, seed=0)[1] and inner_split(["a", "b"], 0.9)[0]
    with pytest.raises(ConfigError, match="held_out"):
        inner_split(["a"], 0.25)


def test_early_stopping_on_scripted_sequence():
    values = [1.0, 0.8, 0.79995, 0.7, 0.71, 0.70, 0.69995, 0.75, 0.72]
    # 0.79995 and 0.69995 do not beat the best by more than min_delta 1e-4
    assert early_stopping_status(values[:3], patience=3) == (1, False)
    assert early_stopping_status(values[:6], patience=3) == (3, False)
    assert early_stopping_status(values[:7], patience=3) == (3, True)
    assert early_stopping_status(values, patience=8) == (3, False)
    assert early_stopping_status(values + [0.7] * 3, patience=8) == (3, True)
    assert early_stopping_status([], patience=8) == (-1, False)


def test_train_stops_early_and_keeps_best_weights(data, tmp_path, monkeypatch):
    scripted = iter([0.5, 0.4, 0.45, 0.46, 0.47, 0.3])
    seen = {}

    def fake_evaluate(model, *args, **kwargs):
        seen[len(seen)] = {k: v.clone() for k, v in model.state_dict().items()}
        return {"val_loss": 0.0, "val_acc": 0.0, "val_l1_er": next(scripted)}

    monkeypatch.setattr(trainer, "evaluate", fake_evaluate)
    cfg = dataclasses.replace(TINY, patience=3, max_epochs=10)
    model = _model()
    history = train(model, *data, cfg, device="cpu", checkpoint=tmp_path / "m.pt", progress=False)
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]  # epochs count from 1: best at 2, then three without improvement
    assert history["best_epoch"].iloc[-1] == 2
    assert all(torch.equal(v, seen[1][k]) for k, v in model.state_dict().items())
    assert data[0].epochs == [0, 1, 2, 3, 4]
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["finished"] and "optimizer" not in state and state["best_epoch"] == 2 and state["epoch"] == 5


@pytest.mark.parametrize("first_bad", [0, 2])
def test_non_finite_validation_metric_stops_with_fold_and_epoch(data, tmp_path, monkeypatch, first_bad):
    scripted = iter([0.5, 0.4, float("nan"), 0.3][2 - first_bad:])

    def fake_evaluate(model, *args, **kwargs):
        return {"val_loss": 0.0, "val_acc": 0.0, "val_l1_er": next(scripted)}

    monkeypatch.setattr(trainer, "evaluate", fake_evaluate)
    meta = {"task": "SISS", "approach": "proposed", "fold": 2}
    with pytest.raises(TrainingError, match=rf"SISS proposed fold 2: epoch {first_bad + 1} gave val_l1_er = nan") as err:
        train(_model(), *data, TINY, device="cpu", checkpoint=tmp_path / "m.pt", progress=False, meta=meta)
    if first_bad:
        assert f"keeps epoch {first_bad}" in str(err.value)
        assert torch.load(tmp_path / "m.pt", weights_only=True)["epoch"] == first_bad
    else:
        assert "nothing was saved" in str(err.value) and not (tmp_path / "m.pt").exists()


def test_resume_equals_uninterrupted(data, tmp_path):
    full = train(_model(), *data, TINY, device="cpu", checkpoint=tmp_path / "full.pt", seed=5, progress=False)
    reference = torch.load(tmp_path / "full.pt", weights_only=True)

    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_model(), *data, TINY, device="cpu", checkpoint=tmp_path / "cut.pt", seed=5, progress=False, callback=interrupt)
    assert not torch.load(tmp_path / "cut.pt", weights_only=True)["finished"]
    torch.manual_seed(123)  # a different global RNG state must not matter after resuming
    model = _model(seed=9)
    resumed = train(model, *data, TINY, device="cpu", checkpoint=tmp_path / "cut.pt", seed=5, progress=False)
    after = torch.load(tmp_path / "cut.pt", weights_only=True)
    assert all(torch.equal(reference["best_model"][k], after["best_model"][k]) for k in reference["best_model"])
    assert all(torch.equal(v, reference["best_model"][k]) for k, v in model.state_dict().items())
    pd.testing.assert_frame_equal(full.drop(columns=TIMING), resumed.drop(columns=TIMING))
    # same seed, no interruption: identical weights on CPU
    again = _model()
    train(again, *data, TINY, device="cpu", seed=5, progress=False)
    assert all(torch.equal(v, reference["best_model"][k]) for k, v in again.state_dict().items())


def test_short_training_lowers_the_loss(data):
    cfg = dataclasses.replace(TINY, max_epochs=4, batch_size=4)
    history = train(_model(), *data, cfg, device="cpu", progress=False, loss="focal")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["val_l1_er"].min() < history["val_l1_er"].iloc[0]
    assert {"train_acc", "val_loss", "val_acc", "patches_per_s", "data_wait"} <= set(history.columns)
    assert (history["patches_per_s"] > 0).all() and history["data_wait"].between(0, 1).all()


def test_finished_checkpoint_is_loaded_not_retrained(data, tmp_path):
    path = tmp_path / "m.pt"
    cfg = dataclasses.replace(TINY, max_epochs=1)
    first = train(_model(), *data, cfg, device="cpu", checkpoint=path, progress=False, meta={"task": "SPES"})
    stamp = path.stat().st_mtime_ns
    model = _model(seed=3)
    second = train(model, *data, cfg, device="cpu", checkpoint=path, progress=False)
    assert path.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first, second)
    loaded, meta = load_model(path, device="cpu")
    assert not loaded.training and meta["task"] == "SPES" and meta["in_channels"] == 2 and meta["best_epoch"] == 1
    assert isinstance(meta["history"], pd.DataFrame)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    with pytest.raises(TrainingError, match="another model"):
        train(SUNet(3, base_filters=4), *data, cfg, device="cpu", checkpoint=path, progress=False)


def test_bad_checkpoint_and_empty_sets(data, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(TrainingError, match="bad.pt"):
        load_model(bad)
    with pytest.raises(TrainingError, match="no checkpoint"):
        load_model(tmp_path / "missing.pt")
    empty = Patches([synthetic_case("9", 9)], n_patches=0)
    with pytest.raises(TrainingError, match="non-empty"):
        train(_model(), empty, data[1], TINY, device="cpu", progress=False)


@pytest.fixture
def fake_pipeline(monkeypatch):
    """prepare_case and PatchDataset stand-ins, so cross_validate is tested on its own."""
    calls = []

    def prepare_case(case, symmetric, normalisation="brain", transform="rigid", cache_dir=None, reference=None):
        calls.append((case.case_id, symmetric))
        if not symmetric:
            return case
        images = np.concatenate([case.images, case.images[:, ::-1]])
        return dataclasses.replace(case, images=images, modalities=case.modalities + tuple(f"sym_{m}" for m in case.modalities))

    monkeypatch.setattr("strokelib.preprocessing.normalisation.prepare_case", prepare_case, raising=False)
    monkeypatch.setitem(sys.modules, "strokelib.sampling.patches", types.SimpleNamespace(PatchDataset=Patches))
    return calls


def test_cross_validate_one_fold_then_the_rest(fake_pipeline, tmp_path):
    cases = [synthetic_case(str(i), i) for i in range(1, 5)]
    cfg = dataclasses.replace(TINY, max_epochs=1, patches_per_case=8)
    one = cross_validate(cases, "spes", "proposed", cfg, TrainRun(tmp_path, folds=[1], device="cpu", progress=False))
    path = checkpoint_path(tmp_path, "SPES", "proposed", 1)
    assert path == tmp_path / "models" / "SPES" / "proposed" / "fold1.pt" and path.is_file()
    assert set(one["fold"]) == {1} and (one["approach"] == "proposed").all()
    model, meta = load_model(path, "cpu")
    assert meta["held_out"] == ["2"] and meta["in_channels"] == 4 and meta["symmetric"]
    assert meta["modalities"] == ["M0", "M1", "sym_M0", "sym_M1"] and len(meta["val_ids"]) == 1
    assert set(meta["train_ids"]) | set(meta["val_ids"]) == {"1", "3", "4"}
    stamp = path.stat().st_mtime_ns
    fake_pipeline.clear()
    again = cross_validate(cases, "SPES", "proposed", cfg, TrainRun(tmp_path, folds=[1], device="cpu", progress=False))
    assert fake_pipeline == [] and path.stat().st_mtime_ns == stamp  # finished: nothing prepared, nothing trained
    pd.testing.assert_frame_equal(one, again)
    every = cross_validate(cases, "SPES", "proposed", cfg, TrainRun(tmp_path, device="cpu", progress=False))
    assert sorted(set(every["fold"])) == [0, 1, 2, 3] and path.stat().st_mtime_ns == stamp
    assert (tmp_path / "models" / "SPES" / "proposed" / "fold3_history.csv").is_file()
    with pytest.raises(ProvenanceError, match="patches_per_case"):  # never silently reuse a model of other settings
        cross_validate(cases, "SPES", "proposed", dataclasses.replace(cfg, patches_per_case=9), TrainRun(tmp_path, folds=[1], device="cpu", progress=False))


def test_cross_validate_held_out_and_baseline(fake_pipeline, tmp_path):
    cases = [synthetic_case(str(i), i) for i in range(1, 5)]
    cfg = dataclasses.replace(TINY, max_epochs=1, patches_per_case=8)
    cross_validate(cases, "SPES", "baseline", cfg, TrainRun(tmp_path, folds=[0], early_stopping="held_out", device="cpu", progress=False))
    _, meta = load_model(checkpoint_path(tmp_path, "SPES", "baseline", 0), "cpu")
    assert meta["val_ids"] == meta["held_out"] == ["1"] and meta["in_channels"] == 2 and meta["loss"] == "cross_entropy"
    assert all(not sym for _, sym in fake_pipeline)
    with pytest.raises(ConfigError, match="approach"):
        cross_validate(cases, "SPES", "fancy", cfg, TrainRun(tmp_path))
    with pytest.raises(ConfigError, match="out of range"):
        cross_validate(cases, "SPES", "balanced", cfg, TrainRun(tmp_path, folds=[4]))


def test_cross_validate_with_real_sampling_and_preprocessing(tmp_path):
    cases = [synthetic_case(str(i), i, shape=(32, 32, 16), modalities=("DWI", "T1c")) for i in range(1, 5)]
    cfg = dataclasses.replace(TINY, max_epochs=2, patches_per_case=16)
    history = cross_validate(cases, "SPES", "proposed", cfg, TrainRun(tmp_path, folds=[3], device="cpu", progress=False, transform="none"))
    assert list(history["epoch"]) == [1, 2] and np.isfinite(history["val_l1_er"]).all()
    model, meta = load_model(checkpoint_path(tmp_path, "SPES", "proposed", 3))
    assert meta["held_out"] == ["4"] and meta["modalities"] == ["DWI", "T1c", "sym_DWI", "sym_T1c"]
    with torch.no_grad():
        assert model(torch.zeros(1, 4, *PATCH)).shape == (1, 2, *PATCH)


def test_config_from_settings():
    run_settings = RunSettings(train_patches_per_case=50, train_max_epochs=3, train_patience=None, train_batch_size=8)
    cfg = training.config_from_settings(run_settings)
    assert (cfg.patches_per_case, cfg.max_epochs, cfg.patience, cfg.batch_size) == (50, 3, PAPER.patience, 8)


def test_train_command_passes_profile_to_cross_validate(tmp_path, monkeypatch):
    profile = tmp_path / "p.yaml"
    profile.write_text("n_train: 4\ntrain_max_epochs: 2\ntrain_early_stopping: held_out\ntrain_sampler: reference\nseed: 3\n")
    seen = {}
    monkeypatch.setattr("strokelib.synthetic.dataset.resolve_data_root", lambda root, task, *a, **k: tmp_path)
    monkeypatch.setattr("strokelib.data.cases.load_isles2015", lambda root, task, split, **kwargs: ["cases"])
    monkeypatch.setattr(training, "cross_validate", lambda *a, **k: seen.update(args=a, kwargs=k) or "ran")
    assert training.train_command("SPES", "balanced", fold=2, profile=str(profile), out_dir=tmp_path, progress=False) == "ran"
    cases, task, approach, cfg, run = seen["args"]
    assert (cases, task, approach, cfg.max_epochs, run.out_dir) == (["cases"], "SPES", "balanced", 2, tmp_path)
    assert run.folds == [2] and run.early_stopping == "held_out" and run.sampler == "reference" and run.seed == 3
    assert run.progress is False


def test_training_curves_figure(tmp_path):
    from strokelib.plotting import training_curves

    history = pd.DataFrame({"fold": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "train_loss": [1.0, 0.5, 1.1, 0.6],
                            "val_loss": [1.2, 0.7, 1.3, 0.8], "val_l1_er": [0.5, 0.4, 0.6, 0.65], "best_epoch": [1, 2, 1, 1]})
    assert training_curves(history, output_file=tmp_path / "curves.png", title="SPES proposed") is None
    assert (tmp_path / "curves.png").is_file()
    fig = training_curves(history, title="SPES proposed")
    stars = [line for line in fig.axes[1].lines if line.get_marker() == "*"]
    assert [float(s.get_xdata()[0]) for s in stars] == [2.0, 1.0]


def test_fold_roles_are_the_splits_cross_validate_uses():
    ids = [str(i) for i in range(1, 13)]
    roles = training.fold_roles(ids, 4, False, 3, "inner", 0.25)
    splits = training.fold_splits(ids, 4, False, 3)
    assert list(roles.columns) == ids and len(roles) == 4
    for k, (train_ids, held) in enumerate(splits):
        fit, val = training.fit_and_validation(k, (train_ids, held), "inner", 0.25, 3)
        assert sorted(roles.columns[roles.loc[k] == "held out"]) == sorted(held)
        assert sorted(roles.columns[roles.loc[k] == "validation"]) == sorted(val) and set(val).isdisjoint(held)
        assert sorted(roles.columns[roles.loc[k] == "fit"]) == sorted(fit)
    assert (roles == "held out").sum().tolist() == [1] * 12  # each case is scored once
    released = training.fold_roles(ids, 4, early_stopping="held_out")
    assert set(released.to_numpy().ravel()) == {"fit", "held out + validation"}


def test_checkpoint_of_another_format_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "fold0.pt"
    torch.save({"format": 1, "epoch": 0}, path)
    with pytest.raises(TrainingError, match="format 1, written by another version"):
        modelfiles.load_checkpoint(path)


@pytest.mark.skipif(not any(map(__import__("shutil").which, ("c++", "g++", "clang++"))), reason="no C++ compiler")
def test_compiled_training_on_cpu_matches_eager(data):
    """train_compile on a CPU really compiles (inductor graphs are captured) and trains the same network: fused
    kernels change the rounding, not the result."""
    from torch._dynamo.utils import counters

    cfg = dataclasses.replace(TINY, max_epochs=2)
    eager, fast = _model(), _model()
    history = train(eager, *data, cfg, device="cpu", seed=3, progress=False)
    graphs = counters["stats"]["unique_graphs"]
    history_fast = train(fast, *data, cfg, device="cpu", seed=3, progress=False, compile_model=True)
    assert counters["stats"]["unique_graphs"] > graphs  # the training and the validation graph
    np.testing.assert_allclose(history_fast["val_l1_er"], history["val_l1_er"], atol=1e-3)
    for name, value in fast.state_dict().items():
        torch.testing.assert_close(value, eager.state_dict()[name], atol=1e-3, rtol=1e-3)


def test_compile_without_a_cxx_compiler_trains_uncompiled(monkeypatch, caplog):
    monkeypatch.setattr(trainer.shutil, "which", lambda name: None)
    model = _model()
    with caplog.at_level("WARNING"):
        assert trainer.compiled(model, torch.device("cpu")) is model
    assert "no C++ compiler" in caplog.text
