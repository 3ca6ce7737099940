"""Determinism on a CPU: the same seed gives the same bytes and the same numbers, stage by stage.

synthetic files → symmetric modalities → PatchDataset centres/ops → cross_validate weights → probability maps.

Synthetic data have their own, finer tests (``test_synthetic.py``: ``test_deterministic_by_seed`` — one case is
byte-identical whatever ``n_train``, another seed differs; ``test_parallel_generation_gives_the_same_bytes``); here
one end-to-end check. Every stage is run twice from scratch (separate folders, no cache) and compared bit for bit;
each test also checks that another seed changes the result, so equality is not vacuous.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from strokelib.config import PAPER
from strokelib.data import cases as datasets
from strokelib.inference import maps as inference
from strokelib.model import checkpoints as modelfiles
from strokelib.preprocessing import normalisation as preprocessing
from strokelib.preprocessing import symmetric as symmetry
from strokelib.sampling import patches as sampling
from strokelib.synthetic import dataset as synthetic
from strokelib.training import cross_validation as training

SEED = 11
CFG = dataclasses.replace(PAPER, base_filters=4, patches_per_case=16, batch_size=8, max_epochs=1)
TIMING = ["patches_per_s", "data_wait", "train_seconds"]


def digest(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["best_model"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("determinism")
    return [synthetic.make_synthetic_isles(base / name, "SPES", 4, seed=SEED, geometry="small", progress=False)
            for name in ("a", "b")]


@pytest.fixture(scope="module")
def cases(roots):
    return datasets.load_isles2015(roots[0], "SPES", progress=False)


@pytest.fixture(scope="module")
def runs(cases, tmp_path_factory):
    """The full method (symmetric modalities, balanced sampling, focal loss) trained on fold 0 three times: twice
    with seed 0 and once with seed 1, each in its own folder."""
    base = tmp_path_factory.mktemp("cv")
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("other", 1)):
        history = training.cross_validate(cases, "SPES", "proposed", CFG, training.TrainRun(base / name, folds=[0], seed=seed, device="cpu", progress=False))
        out[name] = (base / name, history)
    return out


def test_same_seed_same_synthetic_bytes(roots):
    a, b = (digest(r) for r in roots)
    # per case 7 modalities + OT + 2 phenomenon masks; synthetic.json, synthetic_files.json, synthetic_params.json
    assert len(a) == 4 * (8 + 2) + 3
    assert a == b


def test_symmetric_modalities_are_the_same_twice(cases):
    case = cases[0]
    first, reg_first = symmetry.symmetric_modalities(case)
    second, reg_second = symmetry.symmetric_modalities(case)
    assert reg_first.transform.GetParameters() == reg_second.transform.GetParameters()
    assert np.array_equal(first.images, second.images)
    other_settings = dataclasses.replace(symmetry.RegistrationSettings(), seed=1)
    other = symmetry.register_flipped(case, settings=other_settings)
    assert other.transform.GetParameters() != reg_first.transform.GetParameters()


@pytest.mark.parametrize("sampler", sorted(sampling.SAMPLERS))
def test_patch_dataset_same_seed_same_centres_and_ops(cases, sampler):
    prepared = [preprocessing.normalise(c) for c in cases[:2]]

    def dataset(seed):
        return sampling.PatchDataset(prepared, sampler=sampler, n_patches=200, seed=seed, resample_each_epoch=True,
                                     progress=False)

    a, b = dataset(3), dataset(3)
    for epoch in (0, 1):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        for name in ("centres", "ops", "origin", "case_index"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), (epoch, name)
        xa, ya = a.get_batch(np.arange(len(a)))
        xb, yb = b.get_batch(np.arange(len(b)))
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not np.array_equal(dataset(4).centres, dataset(3).centres)


def test_cross_validate_same_seed_same_weights(runs):
    (a, history_a), (b, history_b), (other, _) = runs["a"], runs["b"], runs["other"]
    path = training.checkpoint_path(a, "SPES", "proposed", 0)
    weights_a, weights_b = state(path), state(training.checkpoint_path(b, "SPES", "proposed", 0))
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    pd.testing.assert_frame_equal(history_a.drop(columns=TIMING), history_b.drop(columns=TIMING))
    weights_other = state(training.checkpoint_path(other, "SPES", "proposed", 0))
    assert not all(torch.equal(weights_a[k], weights_other[k]) for k in weights_a)


def test_predict_case_twice_gives_the_same_map(runs, cases):
    model, meta = modelfiles.load_model(training.checkpoint_path(runs["a"][0], "SPES", "proposed", 0), "cpu")
    case = inference.prepare_for_model(cases[0], meta)
    kwargs = dict(patch_shape=meta["patch_shape"], step=(8, 8, 4), device="cpu", progress=False)
    first = inference.predict_case(model, case, **kwargs)
    second = inference.predict_case(model, case, **kwargs)
    assert first.any() and np.array_equal(first, second)
    # on a CPU the two ways of moving patches agree too, to float rounding
    np.testing.assert_allclose(inference.predict_case(model, case, gather="index", **kwargs), first, atol=1e-6)


def test_predict_cross_validation_twice_gives_the_same_maps_and_files(runs, cases):
    maps = {}
    for name in ("a", "b"):
        out = runs[name][0]
        maps[name] = inference.predict_cross_validation(cases, "SPES", "proposed", out, step=(8, 8, 4), device="cpu",
                                                        progress=False)
    assert list(maps["a"]) == ["1"]  # fold 0 holds out case 1
    assert np.array_equal(maps["a"]["1"], maps["b"]["1"]) and maps["a"]["1"].any()
    files = [inference.cv_map_folder(runs[name][0], "SPES", "proposed", (8, 8, 4)) / "1.nii.gz" for name in ("a", "b")]
    assert files[0].read_bytes() == files[1].read_bytes()
