"""New cases to segment (ISLES 2015-like data of paper §2, as it arrives): find them, and check what the loader does not.

:func:`find_cases` turns an input of ``strokelib segment`` (one case folder, a folder of case folders, an ISLES 2015
root or split folder) into ``{case id: folder}``, :func:`find_isles22_inputs` an ISLES 2022 input (a BIDS root or one
``sub-*`` folder) into ``{case id: {modality: file}}``; :func:`check_headers`, :func:`check_channels` and
:func:`whole_head_warning` catch 4-D images, singular affines, empty modalities and images that were not
skull-stripped, before minutes of inference. :mod:`strokelib.inference.segment` runs the pipeline on them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np

from ..errors import ConfigError, DataLayoutError, ImageError
from .isles22 import find_isles22_cases
from .layout import SPLITS, _case_id, _case_number, has_split, resolve_split_folder

log = logging.getLogger(__name__)

SKULL_TOOLS = "FSL BET, SynthStrip or HD-BET"
WHOLE_HEAD_FRACTION = 0.6  # a brain mask filling more of the field of view than this looks like a whole head
WHOLE_HEAD_FACES = 4       # ... as does one reaching the volume border on this many of the 6 faces
_NIFTI = re.compile(r"\.nii(\.gz)?$")
_VSD = re.compile(r"\.(MR_[A-Za-z0-9]+|OT)\.\d+")


def whole_head_warning(case) -> str:
    """A warning when ``case``'s brain mask looks like a whole head instead of a skull-stripped brain, else ``""``.

    ISLES 2015 images are skull-stripped (zero outside the brain). A mask filling more than
    ``WHOLE_HEAD_FRACTION`` of the volume, or touching the border on ``WHOLE_HEAD_FACES`` or more of its 6 faces,
    suggests the skull and scalp are still there.
    """
    mask = np.asarray(case.brain_mask, dtype=bool)
    fraction = float(mask.mean()) if mask.size else 0.0
    faces = sum(bool(np.take(mask, i, axis=a).any()) for a in range(3) for i in (0, -1))
    if fraction <= WHOLE_HEAD_FRACTION and faces < WHOLE_HEAD_FACES:
        return ""
    return (f"the non-zero region fills {fraction:.0%} of the volume and touches {faces} of its 6 faces: this looks "
            f"like a whole head, but the models expect skull-stripped images (zero outside the brain) as in ISLES 2015; "
            f"skull-strip the images first (e.g. {SKULL_TOOLS})")


def _holds_images(folder: Path) -> bool:
    return any(_NIFTI.search(p.name) or _VSD.search(p.name) for p in folder.iterdir() if not p.name.startswith("."))


def _case_sort_key(case_id: str):
    return (0, int(case_id), case_id) if case_id.isdigit() else (1, 0, case_id)


def find_cases(inputs: str | os.PathLike, task: str, split: str | None = None) -> tuple[dict[str, Path], bool]:
    """The case folders under ``inputs`` as ({case id: folder}, is_single_case), sorted by case id.

    ``inputs`` is one case folder (images directly in it), an ISLES 2015 root or split folder, or any folder of
    case folders (each subfolder holding images is a case, named by its folder). A root holding both a training and
    a testing split needs ``split``.
    """
    root = Path(inputs)
    if not root.is_dir():
        raise DataLayoutError(f"input {root} does not exist or is not a folder: give a case folder, a folder of case "
                              "folders or an ISLES 2015 folder")
    if _holds_images(root):
        return {root.name: root}, True
    if split is not None and split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: use 'training' or 'testing'")
    found = {s: resolve_split_folder(root, task, s) for s in SPLITS if (split in (None, s)) and has_split(root, task, s)}
    if split is None and len(set(found.values())) > 1:
        raise ConfigError(f"{root} holds both a training and a testing split ({', '.join(str(p) for p in found.values())}): "
                          "pass --split training or --split testing")
    if split is not None and split not in found:
        raise DataLayoutError(f"no {task} {split} cases under {root}: pass the other --split, or point INPUT at the cases")
    folder = next(iter(found.values()), root)
    cases = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "__MACOSX"):
        if found:  # an ISLES split folder: its numbered case folders
            if _case_number(sub.name) is not None:
                cases[_case_id(sub.name)] = sub
        elif _holds_images(sub):
            cases[sub.name] = sub
        else:
            log.info("%s holds no images; not a case, ignored", sub)
    if not cases:
        raise DataLayoutError(f"no {task} cases in {folder}: expected a case folder (VSD.Brain.XX.O.MR_<modality>.<id> "
                              "or <Modality>.nii inside), or a folder of such case folders")
    return dict(sorted(cases.items(), key=lambda item: _case_sort_key(item[0]))), False


def find_isles22_inputs(inputs: str | os.PathLike) -> tuple[dict[str, dict[str, Path]], bool]:
    """The ISLES 2022 cases of a ``strokelib segment`` input as ({case id: {modality or "OT": file}}, is_single_case).

    ``inputs`` is a BIDS root in either layout or one ``sub-*`` folder (:func:`strokelib.data.isles22.find_isles22_cases`).
    A ``sub-*`` folder without any image is listed too (with no files), so that it fails with its own message instead
    of being skipped unseen.
    """
    root = Path(inputs)
    table = find_isles22_cases(root, keep_empty=True)
    return dict(sorted(table.items())), root.name in table


def check_headers(files: Mapping[str, Path], case_id: str) -> None:
    """Refuse a 4-D image or a singular affine from the headers alone, before any voxel is read."""
    for modality, path in files.items():
        try:
            img = nib.load(str(path))
        except Exception:  # noqa: BLE001 - the loader reports unreadable files with its own message
            continue
        shape = tuple(int(s) for s in img.shape)
        if len(shape) == 4 and shape[3] > 1:
            raise ImageError(f"case {case_id}: {path} ({modality}) is 4-D with {shape[3]} volumes (shape {shape}); give one "
                             "3-D volume per modality (e.g. nibabel img.slicer[..., 0], or fslroi) and save it again")
        if abs(float(np.linalg.det(np.asarray(img.affine, dtype=float)[:3, :3]))) < 1e-9:
            raise ImageError(f"case {case_id}: {path} ({modality}) has a singular affine (a zero voxel size or collapsed "
                             "axes), so its voxels have no position or volume; fix its header (pixdim, qform/sform), "
                             "e.g. copy the affine of another modality of the case")


def check_channels(case) -> None:
    """Refuse a modality that is zero everywhere (an export or conversion that went wrong)."""
    for i, modality in enumerate(case.modalities):
        if not np.any(case.images[i]):
            path = case.files.get(modality, modality)
            raise ImageError(f"case {case.case_id}: {path} ({modality}) is zero everywhere; re-export or re-extract "
                             "that image (every modality must hold the skull-stripped image)")
