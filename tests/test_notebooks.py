"""Every numbered notebook runs headless under the smoke profile and writes what its summary cell lists.

Each notebook runs in its own temporary outputs and figures folders (absolute paths; the notebooks join them onto
the repository root), so a check can only pass on files that notebook wrote in this run. Notebook 05 needs the
models notebook 04 trains: the module-scoped ``trained`` fixture runs 04 once into its own folder and 05 reads it,
whatever order the tests run in. The symmetric-modality cache is shared (it only saves time; every notebook fills
what it is missing)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from strokelib.notebooks import load_profile, notebook_paths, run_notebooks

SMOKE = load_profile("smoke")
TASK = SMOKE["task"]
APPROACHES = list(SMOKE["train_approaches"])
N_FOLDS = int(SMOKE["train_n_folds"])

# What each notebook's summary cell lists, relative to figures_dir ("figures") or outputs_dir ("outputs").
EXPECTED = {
    "01": {"figures": [f"data_{kind}_{TASK}.png" for kind in ("modalities", "histograms", "lesion_volumes", "montage")],
           "outputs": []},
    "02": {"figures": [f"sym_naive_difference_{TASK}.png", f"sym_registration_check_{TASK}.png",
                       f"fig1_symmetric_modalities_{TASK}.png", f"sym_difference_{TASK}.png"],
           "outputs": [f"symmetry_ncc_{TASK}.csv"]},
    "03": {"figures": ["fig3_patch_sampling.png", "fig3_patch_examples.png", "fig3_augmentations.png",
                       "fig3_class_balance.png", "fig3_patch_overlap.png"],
           "outputs": [f"tables/sampling_counts_{TASK}.csv", f"tables/sampling_class_balance_{TASK}.csv"]},
    "04": {"figures": ["fig2_architecture.png", "focal_vs_cross_entropy.png", f"fold_split_{TASK}.png",
                       *[f"training_curves_{TASK}_{a}.png" for a in APPROACHES]],
           "outputs": [f"models/{TASK}/{a}/fold{k}.pt" for a in APPROACHES for k in range(N_FOLDS)]},
    "05": {"figures": [f"score_grid_{TASK}_{APPROACHES[-1]}.png",
                       "fig4_siss_overlays.png" if TASK == "SISS" else "fig5_spes_overlays.png",
                       f"inference_steps_{TASK}.png",
                       *[f"table1_{TASK.lower()}{kind}.{ext}" for kind in ("", "_paper") for ext in ("csv", "md")],
                       *[f"table{2 if TASK == 'SISS' else 3}_{TASK.lower()}_{kind}.{ext}" for kind in ("leaderboard", "ours")
                         for ext in ("csv", "md")]],
           "outputs": []},
    "06": {"figures": [f"isles22_{kind}.png" for kind in ("flair_registration", "symmetry_check", "training_curves",
                                                          "detection_by_size", "cv_overlays", "real_case")],
           "outputs": ["isles22_cv_scores.csv", "segment_isles22/sub-strokecase0009/mask.nii.gz"]},
}


def test_every_notebook_has_expectations():
    assert sorted(EXPECTED) == sorted(p.name[:2] for p in notebook_paths())


def _run(number: str, base: Path, **parameters) -> tuple[Path, dict[str, Path], float]:
    """Run one notebook under smoke into ``base``; return the executed copy, its folders and the start time."""
    dirs = {"outputs": Path(parameters.pop("outputs_dir", base / "outputs")), "figures": base / "figures"}
    start = time.time()
    executed = run_notebooks("smoke", only=[number], output_dir=base / "executed",
                             parameters={"outputs_dir": str(dirs["outputs"]), "figures_dir": str(dirs["figures"]),
                                         **parameters})
    assert len(executed) == 1 and executed[0].name.startswith(number)
    return executed[0], dirs, start


def _check_written(number: str, executed: Path, dirs: dict[str, Path], start: float) -> None:
    """Every listed file exists in this run's folders, is non-empty and new, and the summary cell names it."""
    cells = json.loads(executed.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell did not run"
    summary = "".join(
        "".join(o.get("data", {}).get("text/plain", "")) + "".join(o.get("text", "")) for o in code[-1].get("outputs", [])
    )
    missing, stale, empty, unlisted = [], [], [], []
    for where, names in EXPECTED[number].items():
        for name in names:
            path = dirs[where] / name
            if not path.is_file():
                missing.append(name)
                continue
            if path.stat().st_size == 0:
                empty.append(name)
            if path.stat().st_mtime < start - 1:
                stale.append(name)
            if name not in summary:
                unlisted.append(name)
    assert not missing, f"{executed.name} did not write {missing}"
    assert not empty, f"{executed.name} wrote empty files {empty}"
    assert not stale, f"{executed.name}: {stale} predate this run"
    assert not unlisted, f"{executed.name}'s summary cell does not list {unlisted}"


@pytest.fixture(scope="module")
def sym_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("symmetric_cache"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sym_cache):
    """Notebook 04 run once in its own folders; notebook 05 evaluates the models it trained."""
    base = tmp_path_factory.mktemp("nb04")
    return _run("04", base, sym_cache_dir=sym_cache)


@pytest.mark.notebook
@pytest.mark.parametrize("number", ["01", "02", "03", "06"])
def test_notebook_writes_what_it_lists(number, tmp_path, sym_cache):
    extra = {"sym_cache_dir": sym_cache} if number in ("02", "06") else {}
    _check_written(number, *_run(number, tmp_path, **extra))


@pytest.mark.notebook
def test_04_trains_every_approach_and_fold(trained):
    _check_written("04", *trained)


@pytest.mark.notebook
def test_05_evaluates_what_04_trained(trained, tmp_path, sym_cache):
    _, models, _ = trained
    executed, dirs, start = _run("05", tmp_path, outputs_dir=models["outputs"], sym_cache_dir=sym_cache)
    _check_written("05", executed, dirs, start)

    table1 = pd.read_csv(dirs["figures"] / f"table1_{TASK.lower()}.csv")
    protocols = table1.groupby("Th, S_min chosen")["approach"].apply(sorted)  # the paper's choice and the nested one
    assert len(protocols) == 2 and all(p == sorted(APPROACHES) for p in protocols), \
        "Table 1 needs one row per trained approach under each post-processing protocol"
    assert "HD (voxels)" in table1.columns and "HD" not in table1.columns  # Table 1: HD as released, in voxels
    board = f"table{2 if TASK == 'SISS' else 3}_{TASK.lower()}_leaderboard.csv"
    leaderboard = pd.read_csv(dirs["figures"] / board)
    assert "HD (mm)" in leaderboard.columns and "HD" not in leaderboard.columns  # the online platform's unit

    submission = sorted((models["outputs"] / "submission" / TASK).glob(f"SMIR.{SMOKE['smir_name']}.*.nii"))
    assert len(submission) == int(SMOKE["n_test"]), "one submission file per test case"
    assert all(p.stat().st_mtime >= start - 1 and p.stat().st_size > 0 for p in submission)
