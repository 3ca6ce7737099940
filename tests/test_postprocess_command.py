"""``strokelib postprocess`` (§4.1, Eq. 2): Th and S_min of a models folder chosen by the grid search over its
cross-validated maps, as notebook 05 chooses them, and written to ``postprocessing.json`` for ``strokelib segment``.
Two tiny folds on the four training cases of the session's shared read-only synthetic set (``conftest.py``),
trained once for the module: a 2-fold run of their own, as postprocess writes into its models folder."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pandas as pd
import pytest

from strokelib.cli import main
from strokelib.config import PAPER
from strokelib.data import cases as datasets
from strokelib.evaluation import metrics
from strokelib.evaluation.tuning import choose_postprocessing, found_steps
from strokelib.inference import maps as inference
from strokelib.model import checkpoints as modelfiles

pytestmark = pytest.mark.usefixtures("one_torch_thread")
STEP = (8, 8, 4)


@pytest.fixture(scope="module")
def synth_root(spes_root):
    return spes_root


@pytest.fixture(scope="module")
def models_dir(synth_root, tmp_path_factory):
    """Both folds of a 2-fold smoke run: ``<out>/models/SPES/balanced``."""
    out = tmp_path_factory.mktemp("pp_train")
    for fold in ("0", "1"):
        assert main(["train", "--task", "SPES", "--approach", "balanced", "--fold", fold, "--profile", "smoke",
                     "--data-root", str(synth_root), "--out", str(out), "--device", "cpu", "-p", "train_n_folds", "2",
                     "-p", "train_base_filters", "4", "-p", "train_patches_per_case", "8"]) == 0
    return out / "models" / "SPES" / "balanced"


@pytest.fixture(scope="module")
def command(models_dir):
    """``strokelib postprocess`` run once on the folds (no maps yet: it predicts them at STEP): (code, stdout)."""
    assert not (models_dir / modelfiles.POSTPROCESSING_FILE).exists()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["postprocess", "--models", str(models_dir), "--step", *map(str, STEP), "--device", "cpu"])
    return code, out.getvalue()


def test_the_command_writes_the_choice_the_library_makes(command, models_dir):
    code, out = command
    assert code == 0
    stored = json.loads((models_dir / modelfiles.POSTPROCESSING_FILE).read_text())
    # the library again, without a step: it finds the maps the command saved and changes nothing on disk
    choice = choose_postprocessing(models_dir, device="cpu", save=False, progress=False)
    assert "8×8×4" in choice.source and choice.path is None
    with pytest.MonkeyPatch.context() as patch:  # the folder given as "." from inside it
        patch.chdir(models_dir)
        assert choose_postprocessing(".", device="cpu", save=False, progress=False).threshold == choice.threshold
    assert (stored["threshold"], stored["min_size"]) == (choice.threshold, choice.min_size)
    assert any(abs(choice.threshold - t) < 1e-9 for t in PAPER.thresholds) and choice.min_size in PAPER.min_sizes
    assert choice.best["score"] == pytest.approx(choice.grid["score"].max())
    assert f"Th {choice.threshold:g}, S_min {choice.min_size} " in out and "on the other folds (nested)" in out
    table = pd.read_csv(models_dir / "table1_rows.csv")
    assert list(table["Th, S_min chosen"]) == [metrics.PAPER_PROTOCOL, metrics.NESTED_PROTOCOL]
    assert table["Th"].iloc[0] == pytest.approx(choice.threshold) and int(table["S_min"].iloc[0]) == choice.min_size


def test_the_choice_is_notebook_05s(command, models_dir, synth_root):
    """The cells of notebook 05's sections 3 and 4 on the same maps give the same cell and the same Table 1 rows."""
    out_dir = models_dir.parent.parent.parent
    assert found_steps(out_dir, "SPES", "balanced") == [STEP]
    cases = datasets.load_isles2015(synth_root, "SPES", progress=False)
    probabilities = inference.predict_cross_validation(cases, "SPES", "balanced", out_dir, step=STEP, progress=False)
    truths = {c.case_id: c.label for c in cases}
    per_case_grid = metrics.grid_metrics({c: probabilities[c] for c in probabilities}, truths, progress=False)
    best = metrics.best_cell(metrics.aggregate_grid(per_case_grid))
    rows = metrics.protocol_rows(per_case_grid, modelfiles.cv_folds(out_dir, "SPES", "balanced"))
    choice = choose_postprocessing(models_dir, cases=cases, step=STEP, save=False, progress=False)
    assert (choice.threshold, choice.min_size) == (best["threshold"], int(best["min_size"]))
    pd.testing.assert_frame_equal(choice.rows.drop(columns="approach"), rows)


def test_segment_without_the_file_names_the_command(command, models_dir, synth_root, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in modelfiles.fold_files(models_dir):
        shutil.copy(path, bare / path.name)
    case_dir = next((synth_root / "SPES2015_Testing").iterdir())
    assert main(["segment", str(case_dir), str(tmp_path / "seg"), "--models", str(bare), "--task", "SPES"]) == 2
    err = capsys.readouterr().err
    assert f"no postprocessing.json in {bare}" in err and f"strokelib postprocess --models {bare}" in err
    assert "--threshold and --min-size" in err


def test_missing_or_incomplete_folds_are_named(models_dir, tmp_path, capsys):
    empty = tmp_path / "models" / "SPES" / "balanced"
    empty.mkdir(parents=True)
    assert main(["postprocess", "--models", str(empty)]) == 2
    assert f"no fold<k>.pt checkpoints in {empty}" in capsys.readouterr().err
    shutil.copy(models_dir / "fold0.pt", empty / "fold0.pt")
    assert main(["postprocess", "--models", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"the folds in {empty} are incomplete" in err and "fold1.pt missing" in err and "--fold K" in err
    elsewhere = tmp_path / "copy"
    shutil.copytree(models_dir, elsewhere)
    assert main(["postprocess", "--models", str(elsewhere)]) == 2
    assert "keep the folder where training wrote it" in capsys.readouterr().err
    assert not (empty / modelfiles.POSTPROCESSING_FILE).exists()
