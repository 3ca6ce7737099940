"""Shared fixtures: Agg backend, figures closed after each test, a seeded rng, one torch thread, one tiny
synthetic SPES set with the folds trained on it, and one tiny ISLES 2022 model, made once per session (read-only)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one torch thread, and a busy 2-core machine does not stall OpenMP barriers;
    CPU results are bitwise repeatable for a fixed thread count. Module scope, so it covers module fixtures too."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------------------
# One tiny synthetic SPES set and the folds trained on it, made once per session and shared by test_cli,
# test_segmentation, test_geometry, test_bad_inputs and test_postprocess_command. They are READ-ONLY: a test that
# needs a changed copy copies the folder to its tmp_path first. At the end of the session every shared folder must
# hold the bytes it held when it was made (a test that wrote into one fails the session teardown, naming the files).
# ---------------------------------------------------------------------------------------------------------
SHARED_TRAIN_ARGS = ("--task", "SPES", "--profile", "smoke", "--device", "cpu",
                     "-p", "train_base_filters", "4", "-p", "train_patches_per_case", "8")


def _digests(folder) -> dict[str, str]:
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _unchanged(folder, before: dict[str, str]) -> None:
    after = _digests(folder)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"a test changed the shared read-only folder {folder}: {changed[:10]} (copy it to tmp_path)"


def _train_fold0(data_root, out, approach: str):
    """``strokelib train --fold 0`` of the tiny smoke model on one torch thread: the same weights whichever module
    asks first (CPU results are repeatable for a fixed thread count), and fastest on a busy machine."""
    import torch

    from strokelib.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["train", *SHARED_TRAIN_ARGS, "--approach", approach, "--fold", "0",
                     "--data-root", str(data_root), "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return out / "models" / "SPES" / approach


@pytest.fixture(scope="session")
def spes_root(tmp_path_factory):
    """``strokelib synth --task SPES --n-train 4 --n-test 3 --geometry small`` (seed 0): training cases 1-4 with
    ground truth, testing cases 1-3 without. Read-only."""
    from strokelib.cli import main

    root = tmp_path_factory.mktemp("shared_spes") / "SPES"
    assert main(["synth", str(root), "--task", "SPES", "--n-train", "4", "--n-test", "3", "--geometry", "small"]) == 0
    before = _digests(root)
    yield root
    _unchanged(root, before)


@pytest.fixture(scope="session")
def spes_train_out(spes_root, tmp_path_factory):
    """The ``--out`` folder of one tiny balanced fold 0 trained on :func:`spes_root` (``SHARED_TRAIN_ARGS``: smoke
    profile, base filters 4, 8 patches per case, 4 folds). Read-only."""
    out = tmp_path_factory.mktemp("shared_spes_balanced")
    _train_fold0(spes_root, out, "balanced")
    before = _digests(out)
    yield out
    _unchanged(out, before)


@pytest.fixture(scope="session")
def spes_balanced_models(spes_train_out):
    """Its models folder, ``<out>/models/SPES/balanced`` (fold0.pt, fold0_history.csv). Read-only."""
    return spes_train_out / "models" / "SPES" / "balanced"


@pytest.fixture(scope="session")
def spes_proposed_models(spes_root, tmp_path_factory):
    """The same fold 0 with the symmetric modalities (approach ``proposed``), trained only when a test asks for it:
    ``<out>/models/SPES/proposed``. Read-only."""
    out = tmp_path_factory.mktemp("shared_spes_proposed")
    models = _train_fold0(spes_root, out, "proposed")
    before = _digests(out)
    yield models
    _unchanged(out, before)


# ---------------------------------------------------------------------------------------------------------
# One tiny ISLES 2022 model, trained once per session with `strokelib train --task ISLES22` on the embedded synthetic
# ISLES22 set (4 small-geometry cases; case 3 has an empty mask), for test_isles22_pipeline. READ-ONLY, as above.
# ---------------------------------------------------------------------------------------------------------
ISLES22_TRAIN_ARGS = ("--task", "ISLES22", "--approach", "proposed", "--profile", "smoke", "--device", "cpu",
                      "-p", "isles22_n_train", "4", "-p", "isles22_geometry", "small", "-p", "train_n_folds", "2",
                      "-p", "train_base_filters", "4", "-p", "train_patches_per_case", "8",
                      "-p", "train_val_patches_per_case", "4")


@pytest.fixture(scope="session")
def isles22_train(tmp_path_factory):
    """(synthetic folder, outputs folder) of ``strokelib train`` + ``ISLES22_TRAIN_ARGS`` without ``--data-root``
    (``$STROKELIB_SYNTHETIC_DIR`` points at the synthetic folder): DWI,ADC models of both folds under
    ``<out>/models/ISLES22/proposed``. Read-only."""
    import torch

    from strokelib.cli import main
    from strokelib.settings import SYNTHETIC_DIR_ENV

    synthetic, out = tmp_path_factory.mktemp("shared_isles22_synthetic"), tmp_path_factory.mktemp("shared_isles22_out")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv(SYNTHETIC_DIR_ENV, str(synthetic))
            assert main(["train", *ISLES22_TRAIN_ARGS, "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    before = {folder: _digests(folder) for folder in (synthetic, out)}
    yield synthetic, out
    for folder, digests in before.items():
        _unchanged(folder, digests)


@pytest.fixture(scope="session")
def isles22_models(isles22_train):
    """The models folder of :func:`isles22_train`, ``<out>/models/ISLES22/proposed``. Read-only."""
    return isles22_train[1] / "models" / "ISLES22" / "proposed"
