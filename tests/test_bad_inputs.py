"""Bad-input suite: every malformed input ends in ONE clear error, never a deep traceback.

One table, one row per malformed input: ``(id, trigger, expected, needles)``. ``trigger(ctx)`` builds the bad input
under ``ctx.tmp`` and calls strokelib (the library, or the command line through :func:`cli`); ``expected`` is the
:class:`StrokelibError` subclass it must raise (:class:`CliFailed` for the command line: exit code != 0, no
"Traceback" on stderr); ``needles`` are substrings the message must hold — what is wrong (the case id, the file, or
the offending value) AND a hint of the fix. A trigger that writes files first calls ``ctx.watch(folder)``: after
the error that folder must hold exactly the files it held before (same names, same bytes), so nothing partial or
temporary is left behind.

Shared, read-only fixtures: the session's small synthetic SPES set (``strokelib synth --geometry small``) and tiny
trained fold (``strokelib train --profile smoke``, base filters 4, 8 patches per case), from ``conftest.py``.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import shutil
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from layouts import SHAPE, case_affine, expected_volume, make_vsd_layout, write_nifti, write_vsd_image

from strokelib.cli import main
from strokelib.data import cases as datasets
from strokelib.data import layout
from strokelib.errors import (
    ConfigError,
    DataLayoutError,
    EvaluationError,
    ImageError,
    InferenceError,
    OutputError,
    PreprocessingError,
    SamplingError,
    StrokelibError,
    TrainingError,
)
from strokelib.evaluation import metrics
from strokelib.files import export_smir, save_nifti
from strokelib.inference import maps as inference
from strokelib.model.sunet import SUNet
from strokelib.preprocessing import normalisation as preprocessing
from strokelib.sampling import centres as samplers
from strokelib.sampling import patches as sampling
from strokelib.training import cross_validation as training

TRAIN_ARGS = ["--task", "SPES", "--approach", "balanced", "--profile", "smoke", "--device", "cpu",
              "-p", "train_base_filters", "4", "-p", "train_patches_per_case", "8"]


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
class CliFailed(Exception):
    """The command line exited non-zero; the message is what it printed."""

    def __init__(self, code, out: str, err: str) -> None:
        super().__init__(f"exit {code}\n{out}\n{err}")
        self.code, self.out, self.err = code, out, err


def cli(*argv) -> None:
    """Run ``strokelib *argv`` in-process; raise :class:`CliFailed` unless it exits 0. Any other exception (a
    traceback the user would see) propagates and fails the row."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    if code != 0:
        raise CliFailed(code, out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``folder`` (hidden temporaries included); {} if it is absent."""
    if not folder.exists():
        return {}
    if folder.is_file():
        return {".": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclasses.dataclass
class Ctx:
    tmp: Path
    synth: Path            # small synthetic SPES set (read-only)
    train_out: Path        # --out of the trained fold (read-only)
    models: Path           # its models folder: fold0.pt (read-only)
    monkeypatch: pytest.MonkeyPatch
    watched: dict = dataclasses.field(default_factory=dict)

    def watch(self, folder: Path) -> Path:
        self.watched[folder] = snapshot(folder)
        return folder

    def test_case_dir(self) -> Path:
        return self.synth / "SPES2015_Testing" / "1"


def tiny(ctx: Ctx, task: str = "SPES", n: int = 1, **kwargs) -> Path:
    """A tiny ISLES 2015 layout (tests/layouts.py) under ctx.tmp/data; returns the root."""
    make_vsd_layout(ctx.tmp / "data", task, n, **kwargs)
    return ctx.tmp / "data"


def tiny_case(ctx: Ctx, task: str = "SPES", **kwargs) -> datasets.Case:
    return datasets.load_isles2015(tiny(ctx, task), task, progress=False, **kwargs)[0]


def files_of(root: Path, task: str, case: str = "1") -> dict[str, Path]:
    return datasets.find_isles2015(root, task)[case]


def replace_image(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    path.unlink()
    write_nifti(path, data, affine)


def disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# ---------------------------------------------------------------------------------------------------------
# loader
# ---------------------------------------------------------------------------------------------------------
def missing_modality(ctx):
    root = tiny(ctx, "SPES", 2)
    shutil.rmtree(files_of(root, "SPES", "2")["CBF"].parent)
    datasets.find_isles2015(root, "SPES")


def duplicated_modality(ctx):
    root = tiny(ctx, "SISS")
    write_vsd_image(root / "SISS2015_Training" / "1", "Flair", 99999, expected_volume("Flair", 1), case_affine("SISS", 1))
    datasets.find_isles2015(root, "SISS")


def nii_and_nii_gz(ctx):
    root = tiny(ctx, "SISS")
    flair = files_of(root, "SISS")["Flair"]
    shutil.copy(flair, flair.with_name(flair.name + ".gz"))  # same image also as .nii.gz (content irrelevant)
    datasets.find_isles2015(root, "SISS")


def nan_voxel(ctx):
    root = tiny(ctx, "SISS")
    t2 = files_of(root, "SISS")["T2"]
    data = expected_volume("T2", 1)
    data[5, 6, 4] = np.nan
    replace_image(t2, data, case_affine("SISS", 1))
    datasets.load_isles2015(root, "SISS", progress=False)


def shape_mismatch(ctx):
    root = tiny(ctx, "SISS")
    replace_image(files_of(root, "SISS")["T1"], expected_volume("T1", 1, SHAPE[:2] + (7,)), case_affine("SISS", 1))
    datasets.load_isles2015(root, "SISS", progress=False)


def affine_mismatch(ctx):
    root = tiny(ctx, "SISS")
    replace_image(files_of(root, "SISS")["T1"], expected_volume("T1", 1), case_affine("SISS", 2))
    datasets.load_isles2015(root, "SISS", progress=False)


def truncated_file(ctx):
    root = tiny(ctx, "SISS", gz=True)
    dwi = files_of(root, "SISS")["DWI"]
    dwi.write_bytes(dwi.read_bytes()[: dwi.stat().st_size // 2])
    datasets.load_isles2015(root, "SISS", progress=False)


def empty_root(ctx):
    (ctx.tmp / "isles").mkdir()
    datasets.load_isles2015(ctx.tmp / "isles", "SISS", progress=False)


def missing_root(ctx):
    datasets.load_isles2015(ctx.tmp / "ISLES2015", "SPES", progress=False)


def wrong_task(ctx):
    datasets.load_isles2015(tiny(ctx, "SPES"), "SISS", progress=False)


def spes_two_labels(ctx):
    datasets.load_isles2015(tiny(ctx, "SPES", label="two"), "SPES", progress=False)


def no_ground_truth(ctx):
    datasets.load_isles2015(tiny(ctx, "SISS", split="training", label=None), "SISS", progress=False)


def unknown_case_id(ctx):
    datasets.load_isles2015(tiny(ctx, "SISS", n=2), "SISS", cases=[7], progress=False)


def save_nifti_under_a_file(ctx):
    case = tiny_case(ctx, "SISS")
    (ctx.tmp / "results").write_text("a file where the output folder should be")
    ctx.watch(ctx.tmp / "results")
    save_nifti(np.zeros(case.shape, np.uint8), case, ctx.tmp / "results" / "pred.nii.gz")


def save_nifti_disk_full(ctx):
    case = tiny_case(ctx, "SISS")
    out = ctx.tmp / "out" / "pred.nii.gz"
    save_nifti(np.zeros(case.shape, np.uint8), case, out)  # a good earlier file must survive

    def half_then_full(img, filename):
        Path(filename).write_bytes(b"half a file")
        disk_full()

    ctx.watch(out.parent)
    ctx.monkeypatch.setattr(nib, "save", half_then_full)
    save_nifti(np.ones(case.shape, np.uint8), case, out)


# ---------------------------------------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------------------------------------
def reference_missing(ctx):
    case = tiny_case(ctx, "SPES", modalities=("DWI", "CBF"))
    preprocessing.add_symmetric_modalities(case)  # SPES flips and registers T1c


def empty_brain_mask(ctx):
    root = tiny(ctx, "SISS")
    for key, path in files_of(root, "SISS").items():
        if key != "OT":
            replace_image(path, np.zeros(SHAPE, np.float32), case_affine("SISS", 1))
    (case,) = datasets.load_isles2015(root, "SISS", progress=False)
    preprocessing.prepare_case(case, symmetric=False)


def unknown_normalisation(ctx):
    preprocessing.prepare_case(tiny_case(ctx, "SISS"), symmetric=False, normalisation="zscore")


def unknown_transform(ctx):
    preprocessing.add_symmetric_modalities(tiny_case(ctx, "SISS"), transform="bspline")


# ---------------------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------------------
def no_lesion(ctx):
    case = tiny_case(ctx, "SPES")
    case.label[:] = 0
    samplers.balanced_centres(case, 20, (8, 8, 8), rng=0)


def centre_outside_volume(ctx):
    def beyond(case, n, patch_shape, lesion_fraction=0.5, rng=None, allow_no_lesion=False, return_info=False):
        centres = np.tile(np.array(case.shape) - 1, (n, 1))
        centres[-1, 2] += 1  # one past the last slice
        return centres, np.zeros(n, np.int8), {"lesion": np.zeros(n, bool)}

    sampling.PatchDataset([tiny_case(ctx, "SPES")], sampler=beyond, n_patches=4, patch_shape=(8, 8, 8), progress=False)


def patch_larger_than_volume(ctx):
    sampling.PatchDataset([tiny_case(ctx, "SPES")], n_patches=4, patch_shape=(24, 24, 16), progress=False)


def patch_shape_not_3d(ctx):
    sampling.PatchDataset([tiny_case(ctx, "SPES")], n_patches=4, patch_shape=(8, 8), progress=False)


def step_larger_than_patch(ctx):
    out = ctx.watch(ctx.tmp / "seg")
    cli("segment", ctx.test_case_dir(), out, "--models", ctx.models, "--task", "SPES", "--threshold", "0.5",
        "--min-size", "1", "--device", "cpu", "--step", "32", "32", "32")


# ---------------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------------
def labelled_cases(n: int = 4) -> list[datasets.Case]:
    rng = np.random.default_rng(0)
    shape = (16, 16, 12)
    cases = []
    for i in range(1, n + 1):
        label = np.zeros(shape, np.uint8)
        label[6:10, 6:10, 4:8] = 1
        images = rng.normal(size=(2, *shape)).astype(np.float32) + label
        cases.append(datasets.Case(str(i), images, ("DWI", "T1c"), label, np.eye(4), (1.0, 1.0, 1.0),
                                   np.ones(shape, bool), task="SPES"))
    return cases


def unknown_approach(ctx):
    training.cross_validate(labelled_cases(), "SPES", "fancy", run=training.TrainRun(out_dir=ctx.watch(ctx.tmp / "o"), device="cpu"))


def case_without_label(ctx):
    cases = labelled_cases()
    cases[2].label = None
    training.cross_validate(cases, "SPES", "balanced", run=training.TrainRun(out_dir=ctx.watch(ctx.tmp / "o"), device="cpu"))


def bad_fold_index(ctx):
    cli("train", *TRAIN_ARGS, "--data-root", ctx.synth, "--out", ctx.watch(ctx.tmp / "o"), "--fold", "4")


def misspelt_train_parameter(ctx):
    cli("train", *TRAIN_ARGS, "--data-root", ctx.synth, "--out", ctx.watch(ctx.tmp / "o"), "--fold", "0",
        "-p", "train_max_epoch", "2")


def checkpoint_of_other_settings(ctx):
    ctx.watch(ctx.train_out)  # the existing fold must be neither reused nor overwritten
    cli("train", *TRAIN_ARGS, "--data-root", ctx.synth, "--out", ctx.train_out, "--fold", "0",
        "-p", "train_patches_per_case", "9")


def corrupt_checkpoint(ctx):
    models = ctx.tmp / "models"
    shutil.copytree(ctx.models, models)
    data = (models / "fold0.pt").read_bytes()
    (models / "fold0.pt").write_bytes(data[: len(data) // 3])
    cli("segment", ctx.test_case_dir(), ctx.watch(ctx.tmp / "seg"), "--models", models, "--task", "SPES",
        "--threshold", "0.5", "--min-size", "1", "--device", "cpu")


def train_interrupted_by_full_disk(ctx):
    out = ctx.watch(ctx.tmp / "o")
    ctx.monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: (Path(f).write_bytes(b"half"), disk_full()))
    cli("train", *TRAIN_ARGS, "--data-root", ctx.synth, "--out", out, "--fold", "0")


# ---------------------------------------------------------------------------------------------------------
# inference, post-processing, metrics
# ---------------------------------------------------------------------------------------------------------
def models_folder_empty(ctx):
    (ctx.tmp / "models").mkdir()
    cli("segment", ctx.test_case_dir(), ctx.watch(ctx.tmp / "seg"), "--models", ctx.tmp / "models", "--task", "SPES")


def channel_mismatch(ctx):
    case = preprocessing.prepare_case(tiny_case(ctx, "SPES"), symmetric=False)
    torch.manual_seed(0)
    inference.predict_case(SUNet(3, base_filters=4), case, patch_shape=(8, 8, 8), step=(4, 4, 4), progress=False)


def probability_map_wrong_shape(ctx):
    case = tiny_case(ctx, "SPES")
    metrics.grid_search({"1": np.zeros((9, 12, 8), np.float32)}, {"1": case.label})


def threshold_not_a_probability(ctx):
    cases = datasets.load_isles2015(ctx.synth, "SPES", progress=False)
    pred = ctx.tmp / "pred"
    for case in cases:
        save_nifti(case.label * 0.8 + 0.1, case, pred / f"{case.case_id}.nii.gz", dtype=np.float32)
    ctx.watch(pred)
    cli("evaluate", pred, ctx.synth, "--task", "SPES", "--threshold", "50")


def export_smir_under_a_file(ctx):
    case = tiny_case(ctx, "SISS")
    (ctx.tmp / "submission").write_text("not a folder")
    ctx.watch(ctx.tmp / "submission")
    export_smir(np.ones(case.shape, bool), case, ctx.tmp / "submission", "run01")


def segment_output_is_a_file(ctx):
    (ctx.tmp / "seg.nii.gz").write_bytes(b"an earlier result")
    cli("segment", ctx.test_case_dir(), ctx.watch(ctx.tmp / "seg.nii.gz"), "--models", ctx.models, "--task", "SPES",
        "--threshold", "0.5", "--min-size", "1", "--device", "cpu")


# ---------------------------------------------------------------------------------------------------------
# notebooks and the command line
# ---------------------------------------------------------------------------------------------------------
def unknown_profile(ctx):
    cli("run", "--profile", "fast", "--only", "01")


def misspelt_notebook_parameter(ctx):
    cli("run", "--profile", "smoke", "--only", "01", "-p", "trian_max_epochs", "1")


def segment_missing_modality(ctx):
    case_dir = ctx.tmp / "1"
    shutil.copytree(ctx.test_case_dir(), case_dir)
    shutil.rmtree(layout.case_files(case_dir, "SPES")["CBF"].parent)
    cli("segment", case_dir, ctx.watch(ctx.tmp / "seg"), "--models", ctx.models, "--task", "SPES")


def _segment_copy(ctx, edit: Callable[[dict[str, Path]], None]) -> None:
    """Segment a copy of the synthetic test case after ``edit(files)`` broke one of its images."""
    case_dir = ctx.tmp / "1"
    shutil.copytree(ctx.test_case_dir(), case_dir)
    edit(layout.case_files(case_dir, "SPES"))
    cli("segment", case_dir, ctx.watch(ctx.tmp / "seg"), "--models", ctx.models, "--task", "SPES", "--threshold", "0.5",
        "--min-size", "1", "--device", "cpu", "--step", "8", "8", "4")


def _rewrite(path: Path, change: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
    img = nib.load(str(path))
    data, affine = change(np.asarray(img.dataobj, dtype=np.float32), img.affine.copy())
    replace_image(path, data, affine)


def segment_modalities_on_different_grids(ctx):
    _segment_copy(ctx, lambda f: _rewrite(f["CBF"], lambda d, a: (d[:-2], a)))


def segment_4d_image(ctx):
    _segment_copy(ctx, lambda f: _rewrite(f["DWI"], lambda d, a: (np.stack([d, d], axis=-1), a)))


def segment_singular_affine(ctx):
    def singular(path: Path) -> None:  # a zero third column, in the sform only (a qform cannot hold it)
        img = nib.load(str(path))
        affine = img.affine.copy()
        affine[:, 2] = 0.0
        out = nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)
        out.set_sform(affine, code=1)
        out.set_qform(None, code=0)
        path.unlink()
        nib.save(out, str(path))

    _segment_copy(ctx, lambda f: singular(f["T2"]))


def segment_all_zero_modality(ctx):
    _segment_copy(ctx, lambda f: _rewrite(f["Tmax"], lambda d, a: (np.zeros_like(d), a)))


def segment_folder_with_a_case_missing_a_modality(ctx):
    cases = ctx.tmp / "cases"
    for name in ("1", "2"):
        shutil.copytree(ctx.test_case_dir(), cases / name)
    shutil.rmtree(layout.case_files(cases / "2", "SPES")["CBF"].parent)
    out = ctx.tmp / "seg"
    ctx.watch(out / "2")  # the failed case gets a summary row, but no folder
    try:
        cli("segment", cases, out, "--models", ctx.models, "--task", "SPES", "--threshold", "0.5", "--min-size", "1",
            "--device", "cpu", "--step", "8", "8", "4")
    finally:
        assert (out / "1" / "mask.nii.gz").is_file()  # the other case still ran
        summary = (out / "segmentation_summary.csv").read_text()
        assert "1,done," in summary and "2,failed," in summary and "missing CBF" in summary


def segment_out_inside_input(ctx):
    cases = ctx.tmp / "cases"
    shutil.copytree(ctx.test_case_dir(), cases / "1")
    ctx.watch(cases)
    cli("segment", cases, cases / "seg", "--models", ctx.models, "--task", "SPES", "--threshold", "0.5",
        "--min-size", "1", "--device", "cpu")


def evaluate_missing_prediction(ctx):
    pred = ctx.tmp / "pred"
    for case in datasets.load_isles2015(ctx.synth, "SPES", cases=[1, 2, 3], progress=False):
        save_nifti(case.label, case, pred / f"{case.case_id}.nii.gz")
    ctx.watch(pred)
    cli("evaluate", pred, ctx.synth, "--task", "SPES")


def check_data_missing_root(ctx):
    cli("check-data", ctx.tmp / "ISLES2015", "--task", "SISS")


# ---------------------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------------------
ROWS: list[tuple[str, Callable, type[Exception], tuple[str, ...]]] = [
    # loader
    ("loader: missing modality", missing_modality, DataLayoutError, ("case 2", "missing CBF", "every SPES case needs")),
    ("loader: duplicated modality", duplicated_modality, DataLayoutError,
     ("case 1", "VSD.Brain.XX.O.MR_Flair.99999", "keep one of them")),
    ("loader: .nii and .nii.gz", nii_and_nii_gz, DataLayoutError, ("case 1", "MR_Flair.70623.nii.gz", "keep one of them")),
    ("loader: NaN voxel", nan_voxel, ImageError, ("case 1", "MR_T2.70625.nii", "1 NaN/Inf", "numpy.nan_to_num")),
    ("loader: shape mismatch", shape_mismatch, ImageError, ("case 1", "MR_T1.70624.nii", "(10, 12, 7)", "resample")),
    ("loader: affine mismatch", affine_mismatch, ImageError, ("case 1", "MR_T1.70624.nii", "affine", "fix its header")),
    ("loader: truncated file", truncated_file, ImageError, ("case 1", "MR_DWI.70626.nii.gz", "re-extract it")),
    ("loader: empty root", empty_root, DataLayoutError, ("isles (found: nothing)", "point data_root at")),
    ("loader: missing root", missing_root, DataLayoutError, ("ISLES2015 does not exist", "unpack ISLES 2015 there")),
    ("loader: wrong task", wrong_task, DataLayoutError, ("SPES2015_Training", "pass task='SPES'")),
    ("loader: SPES two labels", spes_two_labels, ImageError, ("case 1", "OT.70632", "[1, 2]", "penumbra_label=<value>")),
    ("loader: no ground truth", no_ground_truth, DataLayoutError, ("case 1", "no ground truth", "split='testing'")),
    ("loader: unknown case id", unknown_case_id, DataLayoutError, ("cases 7 not found", "available: 1, 2")),
    ("loader: save_nifti under a file", save_nifti_under_a_file, OutputError,
     ("pred.nii.gz", "results is a file", "choose another output path")),
    ("loader: save_nifti disk full", save_nifti_disk_full, OutputError, ("pred.nii.gz", "No space left", "free space")),
    # preprocessing
    ("preprocessing: reference missing", reference_missing, PreprocessingError,
     ("case 1", "reference modality 'T1c' is missing", "pass reference=")),
    ("preprocessing: empty brain mask", empty_brain_mask, PreprocessingError,
     ("case 1", "brain mask is empty", "MR_Flair.70623.nii", "re-extract them")),
    ("preprocessing: unknown normalisation", unknown_normalisation, ConfigError,
     ("case 1", "'zscore'", "use one of ('brain', 'whole_volume')")),
    ("preprocessing: unknown transform", unknown_transform, ConfigError, ("case 1", "'bspline'", "use one of")),
    # sampling
    ("sampling: no lesion", no_lesion, SamplingError, ("case 1", "no lesion voxel", "allow_no_lesion=True")),
    ("sampling: centre outside volume", centre_outside_volume, SamplingError,
     ("case 1", "[9, 11, 8]", "lies outside the volume (10, 12, 8)", "voxel coordinates of the case's grid")),
    ("sampling: patch larger than volume", patch_larger_than_volume, SamplingError,
     ("case 1", "(24, 24, 16) is larger than the volume (10, 12, 8)", "use a patch_shape no larger")),
    ("sampling: patch shape not 3D", patch_shape_not_3d, SamplingError, ("(8, 8)", "three positive integers")),
    ("sampling: step larger than patch (segment)", step_larger_than_patch, CliFailed,
     ("(32, 32, 32) is larger than the patch (24, 24, 16)", "use a step no larger than the patch")),
    # training
    ("training: unknown approach", unknown_approach, ConfigError, ("'fancy'", "baseline, balanced, proposed")),
    ("training: case without label", case_without_label, TrainingError, ("cases 3", "training split only")),
    ("training: bad fold index", bad_fold_index, CliFailed, ("folds [4] out of range", "numbered 0..3")),
    ("training: misspelt -p", misspelt_train_parameter, CliFailed,
     ("train_max_epoch", "did you mean train_max_epochs?", "check the spelling")),
    ("training: checkpoint of other settings", checkpoint_of_other_settings, CliFailed,
     ("fold0.pt", "config.patches_per_case: 8 ≠ 9", "pass fresh")),
    ("training: corrupt checkpoint (segment)", corrupt_checkpoint, CliFailed,
     ("fold0.pt", "cannot read checkpoint", "delete it and train again")),
    ("training: disk full while saving", train_interrupted_by_full_disk, CliFailed,
     ("fold0.pt", "No space left", "free space")),
    # inference, post-processing, metrics
    ("inference: models folder empty", models_folder_empty, CliFailed, ("no fold<k>.pt models in", "point --models at")),
    ("inference: channel mismatch", channel_mismatch, InferenceError,
     ("case 1", "7 channels (DWI, CBF", "trained with the same modalities")),
    ("metrics: probability map wrong shape", probability_map_wrong_shape, EvaluationError,
     ("case 1", "(9, 12, 8) differs", "pass the map predict_case returned")),
    ("postprocessing: threshold 50 (evaluate)", threshold_not_a_probability, CliFailed,
     ("50.0", "probability between 0 and 1")),
    ("inference: export_smir under a file", export_smir_under_a_file, OutputError,
     ("SMIR.run01.", "submission is a file", "choose another output path")),
    ("inference: segment OUT is a file", segment_output_is_a_file, CliFailed,
     ("seg.nii.gz is a file, not a folder", "choose another OUT")),
    # notebooks and CLI
    ("cli: unknown profile", unknown_profile, CliFailed, ("profile 'fast' not found", "choose one of smoke, demo, paper")),
    ("cli: misspelt -p (run)", misspelt_notebook_parameter, CliFailed, ("trian_max_epochs", "check the spelling")),
    ("cli: segment with missing modality", segment_missing_modality, CliFailed,
     ("case 1", "missing CBF", "every SPES case needs")),
    ("cli: segment modalities on different grids", segment_modalities_on_different_grids, CliFailed,
     ("case 1", "MR_CBF", "must be co-registered on one grid", "resample")),
    ("cli: segment 4-D image", segment_4d_image, CliFailed, ("case 1", "MR_DWI", "4-D with 2 volumes", "one 3-D volume per modality")),
    ("cli: segment singular affine", segment_singular_affine, CliFailed, ("case 1", "MR_T2", "singular affine", "fix its header")),
    ("cli: segment all-zero modality", segment_all_zero_modality, CliFailed,
     ("case 1", "MR_Tmax", "zero everywhere", "re-export or re-extract")),
    ("cli: segment folder with a case missing a modality", segment_folder_with_a_case_missing_a_modality, CliFailed,
     ("case 2: failed", "missing CBF", "every SPES case needs", "1 done, 0 skipped, 1 failed")),
    ("cli: segment OUT inside INPUT", segment_out_inside_input, CliFailed,
     ("lies inside the input", "choose an OUT outside the input folder")),
    ("cli: evaluate with missing prediction", evaluate_missing_prediction, CliFailed,
     ("case 4: no prediction", "predict every case")),
    ("cli: check-data on a missing root", check_data_missing_root, CliFailed,
     ("ISLES2015 does not exist", "unpack ISLES 2015 there")),
]


@pytest.fixture(scope="module")
def spes(spes_root) -> Path:
    return spes_root


@pytest.fixture(scope="module")
def trained(spes_train_out) -> Path:
    """The --out of the shared fold, trained with the settings of TRAIN_ARGS (checkpoint_of_other_settings relies
    on it: only train_patches_per_case differs)."""
    return spes_train_out


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def ctx(spes, trained, tmp_path, monkeypatch) -> Ctx:
    return Ctx(tmp_path, spes, trained, trained / "models" / "SPES" / "balanced", monkeypatch)


def test_the_table_is_wide_enough():
    ids = [row[0] for row in ROWS]
    assert len(set(ids)) == len(ids) >= 20
    areas = {i.split(":")[0] for i in ids}
    assert {"loader", "preprocessing", "sampling", "training", "inference", "cli"} <= areas


@pytest.mark.parametrize("row_id, trigger, expected, needles", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input_gives_one_clear_error(row_id, trigger, expected, needles, ctx):
    with pytest.raises(expected) as info:
        trigger(ctx)
    exc = info.value
    if isinstance(exc, CliFailed):
        assert exc.code not in (0, None)
        assert "Traceback" not in exc.err and "Traceback" not in exc.out
        message = exc.out + exc.err
        if exc.code == 2 and "usage:" not in exc.err:  # a StrokelibError: one line, prefixed with the command
            assert "strokelib " in exc.err and ": error: " in exc.err
    else:
        assert isinstance(exc, StrokelibError)
        message = str(exc)
    missing = [n for n in needles if n not in message]
    assert not missing, f"{row_id}: {missing} not in message:\n{message}"
    for folder, before in ctx.watched.items():
        assert snapshot(folder) == before, f"{row_id}: {folder} changed (partial or temporary file left behind)"
