"""Data integrity check of the ISLES 2015 data (paper §2; ``strokelib check-data``): list every problem of a dataset
at once, one line each with the path and the fix, instead of stopping at the first one as the loader does.

The image and ground-truth checks are the loader's own (:func:`strokelib.data.cases.read_volume`,
:func:`~strokelib.data.cases.check_same_grid`, :func:`~strokelib.data.cases.binary_label`): a file reported here is
reported with the message the loader would raise, and a file the loader accepts is only reported for the two
dataset-level warnings below (empty ground truth, a single lesion value other than 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError, StrokelibError
from . import cases as datasets
from . import isles22, layout


@dataclass(frozen=True)
class Problem:
    """One problem found in a dataset; ``fix`` is empty when ``problem`` (a loader message) already says it."""

    path: Path
    problem: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" + (f" -> {self.fix}" if self.fix else "")


def check_dataset(root: str | Path, task: str, split: str = "training",
                  penumbra_label: int | None = None) -> list[Problem]:
    """Every problem of ``root`` for ``task``: layout, missing/duplicated/unknown files, unreadable images, NaN/Inf,
    shape/affine mismatches inside a case, bad or empty ground truth. Empty list = clean.

    ``penumbra_label`` is the loader's (:func:`strokelib.data.cases.load_isles2015`): SPES ground truth with two
    lesion values is clean when it holds that value, and without it is reported with the loader's message.
    """
    task = str(task).upper()
    modalities = datasets.task_modalities(task)
    try:
        folder = layout.resolve_split_folder(root, task, split)
    except StrokelibError as exc:
        return [Problem(Path(root), str(exc), "point ROOT at the unpacked ISLES 2015 folder")]
    problems: list[Problem] = []
    case_dirs = layout.case_folders(folder)
    if not case_dirs:
        problems.append(Problem(folder, "no case folders", "expected numbered folders 1, 2, ... (or 01, 02, ...)"))
    for case_id, case_dir in case_dirs:
        try:
            found, unknown = layout.scan_case(case_dir, task, case_id)
        except StrokelibError as exc:
            problems.append(Problem(case_dir, str(exc), "remove or move the file, or check --task"))
            continue
        problems += [Problem(u, "unknown file or folder", f"not a {task} modality or OT; move it out of the case folder")
                     for u in unknown]
        for key, files in found.items():
            if len(files) > 1:
                problems += [Problem(f, f"{key} given {len(files)} times in case {case_id}", "keep exactly one") for f in files]
        for m in modalities:
            if m not in found:
                problems.append(Problem(case_dir, f"case {case_id}: missing {m}",
                                        f"add VSD.Brain.XX.O.MR_{m}.<id>/VSD.Brain.XX.O.MR_{m}.<id>.nii"))
        if split == "training" and datasets.LABEL_TOKEN not in found:
            problems.append(Problem(case_dir, f"case {case_id}: no ground truth", "add VSD.Brain.XX.O.OT.<id>/...nii"))
        problems += _check_images(case_id, {k: v[0] for k, v in found.items()}, task, penumbra_label)
    return problems


def _check_images(case_id: str, files: dict[str, Path], task: str, penumbra_label: int | None) -> list[Problem]:
    """The loader's checks on every file of one case, each failure one problem. Files go in the loader's order
    (the task's modalities, then other images such as ``sym_*``, the ground truth last), so the grid is the same
    first image the loader compares against."""
    problems: list[Problem] = []
    ref = None
    rank = {m: i for i, m in enumerate(datasets.task_modalities(task))}
    for key, path in sorted(files.items(), key=lambda kv: (kv[0] == datasets.LABEL_TOKEN, rank.get(kv[0], len(rank)))):
        try:
            img, data = datasets.read_volume(path, case_id)
            if ref is None:
                ref = (img, path, data.shape)
            else:
                datasets.check_same_grid(img, data.shape, path, ref, case_id)
            if key == datasets.LABEL_TOKEN:
                _, values = datasets.binary_label(data, path, case_id, task, penumbra_label)
                problems += _label_warnings(path, values, penumbra_label)
        except ImageError as exc:
            problems.append(Problem(path, str(exc)))
    return problems


def _label_warnings(path: Path, values: tuple[int, ...], penumbra_label: int | None) -> list[Problem]:
    """What the loader accepts but a training set should not have: no lesion voxel, or one lesion value not 1."""
    positive = [v for v in values if v != 0]
    if not positive:
        return [Problem(path, "ground truth is empty (no lesion voxel)", "check the file; training cases need a lesion")]
    if len(positive) == 1 and positive[0] != 1 and positive[0] != penumbra_label:
        return [Problem(path, f"ground truth label value is {positive[0]}, not 1", "it is read as lesion; save it as 0/1")]
    return []


def _isles22_case_dir(case_id: str, files: dict[str, Path]) -> Path:
    """The ``sub-*`` folder of a case (the first file's ancestor of that name)."""
    first = Path(next(iter(files.values())))
    return next((p for p in first.parents if p.name == case_id), first.parent)


def check_isles22(root: str | Path, modalities: tuple[str, ...] = isles22.DEFAULT_MODALITIES,
                  split: str = "training") -> list[Problem]:
    """Every problem of an ISLES 2022 folder (a BIDS root in either layout, or one ``sub-*`` folder) for a model
    that reads ``modalities``, one per case: a missing image those need, an unreadable or 4-D image, DWI and ADC
    (or the mask) on different grids, a non-binary mask; with ``split='training'`` also a case without a mask.
    FLAIR only has to be present and readable: it lies on its own grid and is registered onto DWI before use."""
    try:
        table = isles22.find_isles22_cases(root)
    except StrokelibError as exc:
        return [Problem(Path(root), str(exc), "point ROOT at the ISLES 2022 folder or one sub-* folder")]
    on_dwi = tuple(m for m in modalities if m != "FLAIR") or (isles22.GRID_MODALITY,)
    problems: list[Problem] = []
    for case_id, files in sorted(table.items()):
        case_dir = _isles22_case_dir(case_id, files)
        try:
            isles22.load_isles22_case(files, case_id, on_dwi)
            if "FLAIR" in modalities:
                if "FLAIR" not in files:
                    raise StrokelibError(f"case {case_id}: no FLAIR image, which a model with modalities "
                                         f"{', '.join(modalities)} needs; the case has {', '.join(sorted(files))}")
                datasets.read_volume(files["FLAIR"], case_id)
        except StrokelibError as exc:
            problems.append(Problem(case_dir, str(exc)))
        if split == "training" and datasets.LABEL_TOKEN not in files:
            problems.append(Problem(case_dir, f"case {case_id}: no lesion mask",
                                    f"add derivatives/{case_id}/ses-*/{case_id}_ses-*_msk.nii.gz"))
    return problems

