"""Builders of tiny ISLES 2015 trees on disk, with the real file names, for loader tests.

Every modality is filled with its own known pattern (:func:`expected_volume`) so that a test can check channel
order and voxel values exactly. Layouts written here (``docs/isles2015-data.md#variants-the-loader-accepts``):

* as distributed: ``<top>/<case>/VSD.Brain.XX.O.MR_<token>.<id>/VSD.Brain.XX.O.MR_<token>.<id>.nii[.gz]``,
  ground truth ``VSD.Brain.XX.O.OT.<id>/...``;
* the authors' flat re-layout: ``training/<case>/<Modality>.nii[.gz]`` and ``OT.nii`` (SPES tests: ``testing/Nr<i>``);
* macOS junk: ``__MACOSX/`` trees with AppleDouble ``._*`` files and ``.DS_Store`` files.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from strokelib.data.layout import SISS_MODALITIES, SPES_MODALITIES

SHAPE = (10, 12, 8)
MODALITIES = {"SISS": SISS_MODALITIES, "SPES": SPES_MODALITIES}
SPACING = {"SISS": 1.0, "SPES": 2.0}
# Distinct value per modality; T1/T1c and T2 differ so a token mix-up shows in the values.
CODES = {"Flair": 1, "T1": 2, "T2": 3, "DWI": 4, "CBF": 5, "CBV": 6, "T1c": 7, "Tmax": 8, "TTP": 9}
FIRST_ID = 70613


def brain(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """The skull-stripped 'brain': an ellipsoid filling most of the volume; zero background outside."""
    grid = np.indices(shape, dtype=np.float64)
    centre = (np.array(shape, dtype=np.float64) - 1) / 2
    radii = np.array(shape, dtype=np.float64) / 2 - 0.5
    return (((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(axis=0) <= 1.0


def expected_volume(modality: str, case: int, shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """Integer-valued float32 image: 1000·code + 10·case + x index inside the brain, 0 outside."""
    x = np.arange(shape[0], dtype=np.float32)[:, None, None]
    return (brain(shape) * (1000 * CODES[modality] + 10 * case + x)).astype(np.float32)


def expected_label(shape: tuple[int, int, int] = SHAPE, two_labels: bool = False) -> np.ndarray:
    """A box lesion of value 1; with ``two_labels`` its centre voxels carry 2 (a core inside the penumbra)."""
    label = np.zeros(shape, dtype=np.uint8)
    label[3:7, 4:8, 2:6] = 1
    if two_labels:
        label[4:6, 5:7, 3:5] = 2
    return label


def case_affine(task: str, case: int) -> np.ndarray:
    """Isotropic spacing of the task, an origin that differs per case."""
    affine = np.diag([SPACING[task]] * 3 + [1.0])
    affine[:3, 3] = (-10.0 - case, 20.0, -5.0 + case)
    return affine


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, dtype=None) -> Path:
    """Write one NIfTI file (compression from the suffix), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(data, dtype=dtype or data.dtype)
    img = nib.Nifti1Image(data, affine)
    img.set_data_dtype(data.dtype)
    img.set_qform(affine, code=1)  # scanner coordinates, as in the ISLES files, and a marker header field
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"strokelib test layout"
    nib.save(img, str(path))
    return path


def vsd_name(token: str, image_id: int) -> str:
    """``VSD.Brain.XX.O.MR_<token>.<id>``, or ``VSD.Brain.XX.O.OT.<id>`` for the ground truth."""
    return f"VSD.Brain.XX.O.{'OT' if token == 'OT' else 'MR_' + token}.{image_id}"


def write_vsd_image(
    case_dir: Path,
    token: str,
    image_id: int,
    data: np.ndarray,
    affine: np.ndarray,
    gz: bool = False,
    dtype=None,
) -> Path:
    """One image as distributed: a folder named like the image holding ``<same name>.nii[.gz]``."""
    name = vsd_name(token, image_id)
    return write_nifti(case_dir / name / f"{name}.nii{'.gz' if gz else ''}", data, affine, dtype)


def write_vsd_case(
    case_dir: Path,
    task: str,
    case: int,
    *,
    shape: tuple[int, int, int] = SHAPE,
    gz: bool = False,
    label: str | None = "binary",
    modalities: tuple[str, ...] | None = None,
) -> dict[str, Path]:
    """Write one case folder in the distributed layout; return {modality/'OT': file}.

    ``label``: 'binary', 'two' (values 0/1/2) or None (test case). IDs are consecutive per case, as on VSD.
    """
    affine = case_affine(task, case)
    files: dict[str, Path] = {}
    image_id = FIRST_ID + 10 * case
    for i, modality in enumerate(modalities or MODALITIES[task]):
        files[modality] = write_vsd_image(
            case_dir, modality, image_id + i, expected_volume(modality, case, shape), affine, gz
        )
    if label is not None:
        files["OT"] = write_vsd_image(
            case_dir, "OT", image_id + 9, expected_label(shape, label == "two"), affine, gz, dtype=np.uint8
        )
    return files


def make_vsd_layout(
    root: Path,
    task: str,
    n_cases: int = 3,
    *,
    top: str | None = None,
    padded: bool = False,
    gz: bool = False,
    label: str | None = "binary",
    slices: dict[int, int] | None = None,
    split: str = "training",
) -> Path:
    """Write ``n_cases`` cases under ``root/top`` (default ``<task>2015_Training``/``_Testing``); return ``root/top``.

    ``padded`` names case folders 01, 02, ...; ``slices`` maps case number → slice count (others: SHAPE[2]).
    """
    top = top if top is not None else f"{task}2015_{split.capitalize()}"
    folder = root / top if top else root
    for case in range(1, n_cases + 1):
        shape = SHAPE[:2] + ((slices or {}).get(case, SHAPE[2]),)
        write_vsd_case(
            folder / (f"{case:02d}" if padded else str(case)), task, case, shape=shape, gz=gz, label=label
        )
    return folder


def make_flat_layout(
    root: Path,
    task: str,
    n_cases: int = 2,
    *,
    split: str = "training",
    nr_prefix: bool = False,
    gz: bool = True,
    symmetric: bool = False,
) -> Path:
    """The authors' re-layout: ``<split>/<i>/<Modality>.nii[.gz]`` (+ ``sym_<Modality>``), label ``OT.nii``."""
    folder = root / split
    for case in range(1, n_cases + 1):
        case_dir = folder / (f"Nr{case}" if nr_prefix else str(case))
        affine = case_affine(task, case)
        suffix = ".nii.gz" if gz else ".nii"
        for modality in MODALITIES[task]:
            write_nifti(case_dir / f"{modality}{suffix}", expected_volume(modality, case), affine)
            if symmetric:
                write_nifti(
                    case_dir / f"sym_{modality}{suffix}", expected_volume(modality, case)[::-1], affine
                )
        if split == "training":
            write_nifti(case_dir / "OT.nii", expected_label(), affine, np.uint8)
    return folder


def add_macos_junk(root: Path, top: str) -> None:
    """What a zip made on macOS adds: ``.DS_Store`` in every folder, an AppleDouble ``._<name>`` next to every
    file, and the same ``._`` files mirrored under ``__MACOSX/``."""
    junk = b"\x00\x05\x16\x07 AppleDouble, not NIfTI"
    folder = root / top
    files = [p for p in folder.rglob("*") if p.is_file()]
    for directory in [root, *(p for p in folder.rglob("*") if p.is_dir())]:
        (directory / ".DS_Store").write_bytes(junk)
    for f in files:
        (f.parent / f"._{f.name}").write_bytes(junk)
        mirror = root / "__MACOSX" / f.parent.relative_to(root) / f"._{f.name}"
        mirror.parent.mkdir(parents=True, exist_ok=True)
        mirror.write_bytes(junk)
    # A case-like tree inside __MACOSX whose "image" is not NIfTI: it must not be picked up either.
    (root / "__MACOSX" / top / "99" / vsd_name("Flair", 1)).mkdir(parents=True, exist_ok=True)
