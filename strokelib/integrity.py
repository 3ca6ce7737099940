"""Data integrity check (``strokelib check-data``): list every problem of a dataset at once, one line each with the
path and the fix, instead of stopping at the first one as the loader does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from . import datasets
from .errors import StrokelibError


@dataclass(frozen=True)
class Problem:
    """One problem found in a dataset."""

    path: Path
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem} -> {self.fix}"


def check_dataset(root: str | Path, task: str, split: str = "training") -> list[Problem]:
    """Every problem of ``root`` for ``task``: layout, missing/duplicated/unknown files, unreadable images, NaN/Inf,
    shape/affine/spacing mismatches inside a case, empty or non-binary ground truth. Empty list = clean."""
    task = str(task).upper()
    modalities = datasets.task_modalities(task)
    try:
        folder = datasets.resolve_split_folder(root, task, split)
    except StrokelibError as exc:
        return [Problem(Path(root), str(exc), "point ROOT at the unpacked ISLES 2015 folder")]
    problems: list[Problem] = []
    case_dirs = sorted(
        (p for p in folder.iterdir() if p.is_dir() and datasets._visible(p) and datasets._case_number(p.name) is not None),
        key=lambda p: (datasets._case_number(p.name), p.name),
    )
    if not case_dirs:
        problems.append(Problem(folder, "no case folders", "expected numbered folders 1, 2, ... (or 01, 02, ...)"))
    for case_dir in case_dirs:
        case_id = datasets._case_id(case_dir.name)
        try:
            found, unknown = datasets._scan_case(case_dir, task, case_id)
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
        problems += _check_images(case_id, {k: v[0] for k, v in found.items()}, task)
    return problems


def _check_images(case_id: str, files: dict[str, Path], task: str) -> list[Problem]:
    problems: list[Problem] = []
    ref = None
    for key, path in sorted(files.items(), key=lambda kv: kv[0] == datasets.LABEL_TOKEN):
        try:
            img = nib.load(str(path))
            data = np.asarray(img.dataobj, dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - any reader failure is one problem line
            problems.append(Problem(path, f"unreadable ({type(exc).__name__}: {exc})", "re-extract it from the archive"))
            continue
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            problems.append(Problem(path, f"shape {data.shape} is not 3D", "save a single 3D volume"))
            continue
        n_bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        if n_bad:
            problems.append(Problem(path, f"{n_bad} NaN/Inf voxels", "replace them (numpy.nan_to_num) and save again"))
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        if ref is None:
            ref = (path, data.shape, img.affine, zooms)
        else:
            if data.shape != ref[1]:
                problems.append(Problem(path, f"shape {data.shape} differs from {ref[0].name} {ref[1]}",
                                        "resample onto the first modality's grid"))
            elif not np.allclose(zooms, ref[3], atol=1e-3):
                problems.append(Problem(path, f"spacing {zooms} differs from {ref[0].name} {ref[3]}",
                                        "resample onto the first modality's grid"))
            elif not np.allclose(img.affine, ref[2], atol=1e-3):
                problems.append(Problem(path, f"affine differs from {ref[0].name}", "fix the header or resample"))
        if key == datasets.LABEL_TOKEN:
            problems += _check_label(path, data[np.isfinite(data)], task)
    return problems


def _check_label(path: Path, data: np.ndarray, task: str) -> list[Problem]:
    values = np.unique(data)
    if values.size and (not np.all(values == np.round(values)) or values.min() < 0):
        return [Problem(path, f"ground truth has non-integer or negative values {values[:6].tolist()}", "save a label map")]
    positive = [int(v) for v in values if v != 0]
    if not positive:
        return [Problem(path, "ground truth is empty (no lesion voxel)", "check the file; training cases need a lesion")]
    if len(positive) > 1:
        fix = ("pass penumbra_label=<value> to choose the scored label" if task == "SPES"
               else "SISS ground truth must be binary 0/1")
        return [Problem(path, f"ground truth has several labels {positive}", fix)]
    if positive != [1]:
        return [Problem(path, f"ground truth label value is {positive[0]}, not 1", "it is read as lesion; save it as 0/1")]
    return []
