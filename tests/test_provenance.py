"""Provenance of reused results: a checkpoint, a cross-validated map or a test map made from one dataset is never
reused for another dataset with the same case ids; the run stops with one message saying what differs, and
``fresh`` recomputes. Also the record helpers themselves."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from strokelib import provenance
from strokelib.config import PAPER
from strokelib.data import cases as datasets
from strokelib.errors import ProvenanceError
from strokelib.inference import maps as inference
from strokelib.model import checkpoints as modelfiles
from strokelib.synthetic import dataset as synthetic
from strokelib.training import cross_validation as training

CFG = dataclasses.replace(PAPER, base_filters=4, patches_per_case=16, batch_size=8, max_epochs=1, n_folds=2)
RUN = dict(folds=[0], device="cpu", progress=False, early_stopping="held_out", seed=0)
STEP = (8, 8, 4)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    """Two synthetic SPES sets with the same case ids (1..4 training, 1 testing) but other images (seeds 0 and 1)."""
    base = tmp_path_factory.mktemp("two_sets")
    roots = [synthetic.make_synthetic_isles(base / name, "SPES", 4, 1, seed=seed, geometry="small", progress=False)
             for name, seed in (("first", 0), ("second", 1))]
    return [(datasets.load_isles2015(r, "SPES", progress=False), datasets.load_isles2015(r, "SPES", "testing",
                                                                                         progress=False)) for r in roots]


@pytest.fixture(scope="module")
def trained(two_sets, tmp_path_factory):
    """Fold 0 of Baseline (no registration: fast) trained on the first set."""
    out = tmp_path_factory.mktemp("outputs")
    training.cross_validate(two_sets[0][0], "SPES", "baseline", CFG, training.TrainRun(out, **RUN))
    return out


def test_checkpoint_of_other_data_is_refused_with_what_differs(two_sets, trained):
    first, second = two_sets[0][0], two_sets[1][0]
    path = training.checkpoint_path(trained, "SPES", "baseline", 0)
    stamp = path.stat().st_mtime_ns
    with pytest.raises(ProvenanceError) as info:
        training.cross_validate(second, "SPES", "baseline", CFG, training.TrainRun(trained, **RUN))
    message = str(info.value)
    assert "fold 0 in" in message and "fold0.pt" in message
    assert provenance.data_root(first) in message and provenance.data_root(second) in message
    assert "(4 cases)" in message and "pass fresh" in message and "another outputs_dir" in message
    assert path.stat().st_mtime_ns == stamp  # neither reused nor overwritten
    # the same data again: reused without training
    again = training.cross_validate(first, "SPES", "baseline", CFG, training.TrainRun(trained, **RUN))
    assert path.stat().st_mtime_ns == stamp and len(again)


def test_a_changed_case_is_named(two_sets, trained):
    first = two_sets[0][0]
    changed = [dataclasses.replace(c, files={}, images=c.images + 1) if c.case_id == "2" else c for c in first]
    with pytest.raises(ProvenanceError, match="other data in") as info:
        training.cross_validate(changed, "SPES", "baseline", CFG, training.TrainRun(trained, **RUN))
    assert "cases 2 have other files" in str(info.value)


def test_cross_validated_and_test_maps_of_other_data_are_refused(two_sets, trained):
    (first, first_test), (second, second_test) = two_sets
    maps = inference.predict_cross_validation(first, "SPES", "baseline", trained, step=STEP, device="cpu",
                                              progress=False)
    folder = inference.cv_map_folder(trained, "SPES", "baseline", STEP)
    held_out = sorted(maps)
    assert held_out and all((folder / f"{c}.nii.gz").is_file() and (folder / f"{c}.json").is_file() for c in held_out)
    with pytest.raises(ProvenanceError, match="probability map") as info:
        inference.predict_cross_validation(second, "SPES", "baseline", trained, step=STEP, device="cpu",
                                           progress=False)
    assert provenance.data_root([second[0]]) in str(info.value)

    models, meta = modelfiles.load_ensemble(trained, "SPES", "baseline", device="cpu")
    test_maps = inference.predict_ensemble(first_test, models, meta, trained, step=STEP, device="cpu", progress=False)
    with pytest.raises(ProvenanceError, match="probability map"):
        inference.predict_ensemble(second_test, models, meta, trained, step=STEP, device="cpu", progress=False)
    # fresh: predicted again from the second set's images, and the record now says so
    fresh = inference.predict_ensemble(second_test, models, meta, trained, step=STEP, device="cpu", progress=False,
                                       fresh=True)
    assert not np.array_equal(fresh["1"], test_maps["1"])
    record = next(trained.rglob("test-*/1.json"))
    assert provenance.read_record(record)["data_root"] == provenance.data_root([second_test[0]])


def test_maps_are_kept_per_approach_and_model_set(trained, tmp_path):
    key_a = inference.cv_map_folder(trained, "SPES", "baseline", STEP)
    key_b = inference.cv_map_folder(trained, "SPES", "baseline", (4, 4, 4))
    assert key_a != key_b and key_a.parent == key_b.parent == trained / "probabilities" / "SPES" / "baseline"
    assert key_a.name.startswith("cv-")
    # the very same model files under another approach: their maps still go to that approach's folder
    out = tmp_path / "outputs"
    for approach in ("baseline", "balanced"):
        target = training.checkpoint_path(out, "SPES", approach, 0)
        target.parent.mkdir(parents=True)
        shutil.copy2(training.checkpoint_path(trained, "SPES", "baseline", 0), target)
    folders = {a: inference.cv_map_folder(out, "SPES", a, STEP) for a in ("baseline", "balanced")}
    assert folders["baseline"].name == folders["balanced"].name == key_a.name
    assert folders["baseline"].parent.name == "baseline" and folders["balanced"].parent.name == "balanced"


def test_fresh_retrains_a_fold_of_other_data(two_sets, tmp_path):
    first, second = two_sets[0][0], two_sets[1][0]
    training.cross_validate(first, "SPES", "baseline", CFG, training.TrainRun(tmp_path, **RUN))
    training.cross_validate(second, "SPES", "baseline", CFG, training.TrainRun(tmp_path, fresh=True, **RUN))
    meta = training.load_checkpoint(training.checkpoint_path(tmp_path, "SPES", "baseline", 0))["meta"]
    assert meta["data_root"] == provenance.data_root(second)
    assert meta["data"] == provenance.normalised(provenance.data_fingerprint(second[c] for c in range(4)))


CHANGES = {
    "val_patches_per_case": ({"val_patches_per_case": 9}, None),
    "precision": ({"precision": "bf16"}, None),
    "resample_each_epoch": ({"resample_each_epoch": True}, None),
    "normalisation": ({"normalisation": "whole_volume"}, None),
    "transform": ({"transform": "affine"}, None),
    "early_stopping": ({"early_stopping": "inner"}, None),
    "seed": ({"seed": 1}, None),
    "patches_per_case": ({}, {"patches_per_case": 17}),
    "dropout": ({}, {"dropout": 0.1}),
}


@pytest.mark.parametrize("name", CHANGES)
def test_no_recorded_setting_of_a_finished_fold_is_reused_when_it_changes(two_sets, trained, name, caplog):
    changed, cfg_changes = CHANGES[name][0], CHANGES[name][1] or {}
    path = training.checkpoint_path(trained, "SPES", "baseline", 0)
    stamp = path.stat().st_mtime_ns
    with pytest.raises(ProvenanceError, match="other settings"):
        training.cross_validate(two_sets[0][0], "SPES", "baseline", dataclasses.replace(CFG, **cfg_changes), training.TrainRun(trained, **RUN | changed))
    assert path.stat().st_mtime_ns == stamp and "already trained" not in caplog.text


def test_labels_read_otherwise_are_not_reused(two_sets, trained):
    """The files are the same, the labels are not (what ``penumbra_label`` changes): the record says so."""
    relabelled = [dataclasses.replace(c, label=np.zeros_like(c.label)) if c.case_id == "3" else c
                  for c in two_sets[0][0]]
    with pytest.raises(ProvenanceError, match="labels"):
        training.cross_validate(relabelled, "SPES", "baseline", CFG, training.TrainRun(trained, **RUN))


def test_the_symmetric_reference_is_recorded_and_used_by_inference(two_sets, tmp_path):
    cases = two_sets[0][0]
    training.cross_validate(cases, "SPES", "proposed", CFG, training.TrainRun(tmp_path, cache_dir=tmp_path / "cache", **RUN))
    meta = training.load_checkpoint(training.checkpoint_path(tmp_path, "SPES", "proposed", 0))["meta"]
    assert meta["reference"] == "T1c"  # the SPES default, resolved and recorded
    with pytest.raises(ProvenanceError, match="reference"):
        training.cross_validate(cases, "SPES", "proposed", CFG, training.TrainRun(tmp_path, reference="T2", cache_dir=tmp_path / "cache", **RUN))
    prepared = inference.prepare_for_model(cases[0], {**meta, "reference": "T2"}, cache_dir=tmp_path / "cache")
    default = inference.prepare_for_model(cases[0], meta, cache_dir=tmp_path / "cache")
    assert not np.array_equal(prepared.images, default.images)  # the recorded reference decides the inputs


def test_a_code_change_has_its_own_message_and_an_explicit_opt_in(two_sets, trained, monkeypatch):
    path = training.checkpoint_path(trained, "SPES", "baseline", 0)
    stamp = path.stat().st_mtime_ns
    # maps made by this version first (the test must not rely on an earlier test having made them)
    inference.predict_cross_validation(two_sets[0][0], "SPES", "baseline", trained, step=STEP, device="cpu",
                                       progress=False)
    monkeypatch.setattr(provenance, "code_version", lambda: "9.9.9+000000000000")
    with pytest.raises(ProvenanceError, match="another version of strokelib") as info:
        training.cross_validate(two_sets[0][0], "SPES", "baseline", CFG, training.TrainRun(trained, **RUN))
    assert "this is 9.9.9+000000000000" in str(info.value) and "--accept-code-change" in str(info.value)
    with pytest.raises(ProvenanceError, match="another version of strokelib"):
        inference.predict_cross_validation(two_sets[0][0], "SPES", "baseline", trained, step=STEP, device="cpu",
                                           progress=False)
    monkeypatch.setenv(provenance.ACCEPT_CODE_CHANGE_ENV, "1")
    training.cross_validate(two_sets[0][0], "SPES", "baseline", CFG, training.TrainRun(trained, **RUN))
    assert path.stat().st_mtime_ns == stamp  # reused as it is, on request


def test_the_code_version_hashes_the_modules_that_decide_results():
    package = __import__("pathlib").Path(provenance.__file__).parent
    assert all((package / f"{name.replace('.', '/')}.py").is_file() for name in provenance.RESULT_MODULES)  # no typo
    assert {"training.loop", "model.sunet", "model.losses", "inference.patches", "inference.postprocessing"} <= set(
        provenance.RESULT_MODULES)
    assert not {"cli", "plotting", "evaluation.tables", "evaluation.findings", "notebooks"} & set(provenance.RESULT_MODULES)


def test_fresh_keeps_a_finished_fold_whose_record_matches(two_sets, tmp_path):
    first = two_sets[0][0]
    training.cross_validate(first, "SPES", "baseline", CFG, training.TrainRun(tmp_path, **RUN))
    path = training.checkpoint_path(tmp_path, "SPES", "baseline", 0)
    stamp = path.stat().st_mtime_ns
    training.cross_validate(first, "SPES", "baseline", CFG, training.TrainRun(tmp_path, fresh=True, **RUN))
    assert path.stat().st_mtime_ns == stamp


def test_file_digest_and_fingerprint(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"x" * 99 + b"y")
    assert provenance.file_digest(a).startswith("100:") and provenance.file_digest(a) != provenance.file_digest(b)
    record = {"data": {"1": {"DWI": provenance.file_digest(a)}}, "step": [4, 4, 1], "data_root": "here"}
    provenance.check("x", record, {**record, "data_root": "moved"}, "fix")  # a moved copy is the same data
    with pytest.raises(ProvenanceError, match="step: \\[4, 4, 1\\] ≠ \\[8, 8, 4\\]"):
        provenance.check("x", record, {**record, "step": [8, 8, 4]}, "fix")
    with pytest.raises(ProvenanceError, match="no record"):
        provenance.check("x", None, record, "fix")


# --- the git commit: recorded beside the code version, never compared ------------------------------------------

def test_the_git_commit_is_recorded_beside_the_code_version_and_never_compared(two_sets, trained, tmp_path,
                                                                                monkeypatch):
    first = two_sets[0][0]
    out = tmp_path / "outputs"
    shutil.copytree(trained, out)
    shutil.rmtree(out / "probabilities", ignore_errors=True)
    path = training.checkpoint_path(out, "SPES", "baseline", 0)
    meta = training.load_checkpoint(path)["meta"]
    assert meta.get(provenance.COMMIT_KEY) == provenance.code_commit() and meta[provenance.CODE_KEY]
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(provenance, "code_commit", lambda: "1234567-dirty")
    training.cross_validate(first, "SPES", "baseline", CFG, training.TrainRun(out, **RUN))
    assert path.stat().st_mtime_ns == stamp  # made at another commit, same code version: reused as it is
    inference.predict_cross_validation(first, "SPES", "baseline", out, step=STEP, device="cpu", progress=False)
    records = sorted(inference.cv_map_folder(out, "SPES", "baseline", STEP).glob("*.json"))
    assert records and all(provenance.read_record(r)[provenance.COMMIT_KEY] == "1234567-dirty" for r in records)
    stamps = [r.stat().st_mtime_ns for r in records]
    monkeypatch.setattr(provenance, "code_commit", lambda: "89abcde")
    inference.predict_cross_validation(first, "SPES", "baseline", out, step=STEP, device="cpu", progress=False)
    assert [r.stat().st_mtime_ns for r in records] == stamps  # reused at another commit


def test_with_commit_stamps_every_record_naming_the_code_version(tmp_path, monkeypatch):
    code = {provenance.CODE_KEY: "0.1.0+abc"}
    monkeypatch.setattr(provenance, "code_commit", lambda: None)  # an installed strokelib: nothing added
    assert provenance.with_commit({"step": [4, 4, 1], **code}) == {"step": [4, 4, 1], **code}
    monkeypatch.setattr(provenance, "code_commit", lambda: "1234567")
    assert provenance.with_commit({"step": 1}) == {"step": 1}  # no code version named: no commit either
    segmentation = {"provenance": {"threshold": 0.5, **code}, "result": {"voxels": 3}}
    provenance.write_record(tmp_path / "segmentation.json", segmentation)
    stored = provenance.read_record(tmp_path / "segmentation.json")
    assert stored["provenance"][provenance.COMMIT_KEY] == "1234567" and provenance.COMMIT_KEY not in stored["result"]
    wanted = segmentation["provenance"]
    assert provenance.matches(stored["provenance"], wanted) and provenance.matches(wanted, stored["provenance"])
    assert provenance.matches({**stored["provenance"], provenance.COMMIT_KEY: "7654321-dirty"}, wanted)
    provenance.check("x", {**wanted, provenance.COMMIT_KEY: "7654321"}, {**wanted, provenance.COMMIT_KEY: "1"}, "fix")
    assert provenance.differences({**wanted, provenance.COMMIT_KEY: "7"}, {**wanted, provenance.COMMIT_KEY: "1"}) == []
    with pytest.raises(ProvenanceError, match=r"strokelib \(0.1.0\+old, git commit 7654321; this is 0.1.0\+abc\)"):
        provenance.check("x", {**wanted, provenance.CODE_KEY: "0.1.0+old", provenance.COMMIT_KEY: "7654321"}, wanted,
                         "fix")


def test_git_commit_reads_the_checkout_and_says_dirty(tmp_path):
    import subprocess

    assert provenance.git_commit(tmp_path) is None  # no checkout
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    try:
        subprocess.run([*git, "init", "-q"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "new.txt").write_text("untracked\n")
    assert provenance.git_commit(tmp_path) == head  # untracked files do not count
    (tmp_path / "a.py").write_text("x = 2\n")
    assert provenance.git_commit(tmp_path) == f"{head}-dirty"
    assert provenance.git_commit(tmp_path / "sub") is None  # below the top of the work tree: not the checkout
