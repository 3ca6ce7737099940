"""Load ISLES 2015 SISS and SPES cases (paper §2.1, §2.2) into :class:`Case`: images, label, brain mask, geometry.

:mod:`strokelib.data.layout` finds each case's files in every accepted layout; this module reads them with the checks of
:func:`strokelib.files.read_volume` (plus one grid per case and a valid ground truth) into one :class:`Case` per
subject, with channels in ``SISS_MODALITIES``/``SPES_MODALITIES`` order.

Orientation convention: every :class:`Case` array (images, label, brain mask, and every map computed from them) is
in the RAS+ voxel order closest to the files' affine (``nib.io_orientation``): index 0 increases towards the
subject's Right, index 1 towards Anterior, index 2 towards Superior. So axis 0 (``symmetry.LR_AXIS``) is
left–right, flipping it is a sagittal reflection and the (0, 1) plane is axial whatever voxel order the files use. ``Case.affine`` and ``Case.spacing`` describe that RAS+ grid. The file's
own voxel order and affine are kept (``Case.source_ornt``, ``Case.source_affine``, ``Case.header``), and
:func:`strokelib.files.save_nifti` writes every output back in them, so a written map overlays its input exactly. Only axes are
permuted and reversed (no interpolation); an oblique affine stays oblique, reordered to its closest RAS+ axes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import orientations
from scipy import ndimage

from ..errors import ConfigError, DataLayoutError, ImageError, PreprocessingError
from ..files import read_volume
from ..progress import progress_bar
from .layout import (
    LABEL_TOKEN,
    _case_id,
    _case_number,
    find_isles2015,
    task_modalities,
)

log = logging.getLogger(__name__)

CANONICAL = "RAS"  # the voxel orientation of every Case array (module docstring)
_RAS_ORNT = orientations.axcodes2ornt(tuple(CANONICAL))


@dataclass
class Case:
    """One subject: co-registered images in channel order ``modalities``, optional label, geometry."""

    case_id: str
    images: np.ndarray
    modalities: tuple[str, ...]
    label: np.ndarray | None
    affine: np.ndarray
    spacing: tuple[float, float, float]
    brain_mask: np.ndarray
    task: str = ""
    label_values: tuple[int, ...] = ()
    header: nib.Nifti1Header | None = field(default=None, repr=False)
    files: dict[str, Path] = field(default_factory=dict, repr=False)
    source_affine: np.ndarray | None = field(default=None, repr=False)
    source_ornt: np.ndarray | None = field(default=None, repr=False)

    # ``affine``/``spacing`` describe the RAS+ arrays; ``header`` is the first modality's header as in its file,
    # ``source_affine`` that file's affine and ``source_ornt`` (``nib.io_orientation`` of it) maps the file's voxel
    # axes onto the RAS+ arrays. None for both means the file already is RAS+ (or the case was built in memory).

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def orientation(self) -> str:
        """Axis codes of the case arrays (``"RAS"`` for loaded cases; from ``affine`` otherwise)."""
        return "".join(nib.aff2axcodes(self.affine))

    def to_source(self, array: np.ndarray) -> np.ndarray:
        """An (X, Y, Z[, ...]) array on the case grid, in the voxel order of the input files (a view, no copy)."""
        if self.source_ornt is None:
            return np.asarray(array)
        back = orientations.ornt_transform(_RAS_ORNT, self.source_ornt)
        return orientations.apply_orientation(np.asarray(array), back)

    def from_source(self, array: np.ndarray) -> np.ndarray:
        """An array in the input files' voxel order (e.g. a NIfTI written on their grid) in the case's RAS+ order."""
        array = np.asarray(array)
        if self.source_ornt is None:
            return array
        return np.ascontiguousarray(orientations.apply_orientation(array, self.source_ornt))

    @property
    def source_shape(self) -> tuple[int, int, int]:
        """Shape of the input files' arrays (the case shape in their voxel order)."""
        if self.source_ornt is None:
            return self.shape
        return tuple(self.shape[int(axis)] for axis in self.source_ornt[:, 0])

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def lesion_volume_ml(self) -> float:
        """Lesion volume in millilitres (0 for a case without label)."""
        if self.label is None:
            return 0.0
        return float(np.count_nonzero(self.label)) * self.voxel_volume_ml

    def channel(self, modality: str) -> np.ndarray:
        """The image of one modality by name."""
        if modality not in self.modalities:
            raise ConfigError(f"case {self.case_id}: no modality {modality!r}; it has {', '.join(self.modalities)}")
        return self.images[self.modalities.index(modality)]


def brain_mask(images: np.ndarray) -> np.ndarray:
    """Brain mask of skull-stripped images: voxels where any channel is non-zero, holes filled.

    ISLES 2015 images are skull-stripped with a zero background. The released code used only the first
    modality (``images[0] > 0``); any channel is more robust when one modality has signal drop-outs.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise PreprocessingError(f"brain_mask expects (C, X, Y, Z) images, got shape {images.shape}")
    mask = np.any(images != 0, axis=0)
    return ndimage.binary_fill_holes(mask)


def binary_label(raw: np.ndarray, path: Path, case_id: str, task: str,
                 penumbra_label: int | None = None) -> tuple[np.ndarray, tuple[int, ...]]:
    """The loader's ground-truth check: a uint8 0/1 lesion mask from a label map, and the values found in it.

    One lesion value (or none) is used as is; SPES with several lesion values needs ``penumbra_label`` and keeps
    ``raw == penumbra_label``. Raises :class:`ImageError` naming the case and file for non-integer or negative
    values, several lesion values without ``penumbra_label`` (or for SISS), or a ``penumbra_label`` not in the file.
    """
    task = str(task).upper()
    values = np.unique(raw)
    if not np.all(values == np.round(values)) or values.min() < 0:
        raise ImageError(f"case {case_id}: ground truth {path} has non-integer or negative values {values[:8]}; it must be a label map")
    found = tuple(int(v) for v in values)
    positive = [v for v in found if v != 0]
    if len(positive) <= 1:
        if task == "SPES" and penumbra_label is not None and positive and positive[0] != penumbra_label:
            log.warning("case %s: %s has the single lesion label %d, not penumbra_label=%d; using it as the lesion",
                        case_id, path, positive[0], penumbra_label)
        return (raw > 0).astype(np.uint8), found
    if task == "SPES" and penumbra_label is not None:
        if penumbra_label not in positive:
            raise ImageError(
                f"case {case_id}: penumbra_label={penumbra_label} is not in {path} (values {found}); "
                f"pass one of {positive}"
            )
        return (raw == penumbra_label).astype(np.uint8), found
    hint = "pass penumbra_label=<value> (the ISLES 2015 SPES score uses the penumbra label only)" if task == "SPES" else (
        "SISS ground truth must be binary (0 = healthy, 1 = lesion)"
    )
    raise ImageError(f"case {case_id}: ground truth {path} has several lesion labels {positive}; {hint}")


def canonical_orientation(affine: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(ornt, ras_affine)``: how to reorder voxel axes of an image of ``shape`` with ``affine`` into RAS+, and the
    affine of the reordered array (``nib.io_orientation``, ``inv_ornt_aff``; module docstring)."""
    ornt = nib.io_orientation(affine)
    return ornt, np.asarray(affine, dtype=np.float64) @ orientations.inv_ornt_aff(ornt, shape[:3])


def _is_identity(ornt: np.ndarray) -> bool:
    return bool(np.array_equal(ornt, _RAS_ORNT))


def load_case(
    files: dict[str, Path],
    task: str,
    case_id: str,
    modalities: tuple[str, ...] | None = None,
    penumbra_label: int | None = None,
) -> Case:
    """Load one case from its {modality/'OT' → file} map (see :func:`find_isles2015`)."""
    task = str(task).upper()
    modalities = tuple(modalities or task_modalities(task))
    volumes, ref = [], None
    for modality in modalities:
        if modality not in files:
            raise DataLayoutError(f"case {case_id}: no {modality} image; it has {', '.join(sorted(files))}")
        path = Path(files[modality])
        img, data = read_volume(path, case_id)
        if ref is None:
            ref = (img, path, data.shape)
        else:
            check_same_grid(img, data.shape, path, ref, case_id)
        volumes.append(data)
    assert ref is not None
    label, label_values = None, ()
    if LABEL_TOKEN in files:
        path = Path(files[LABEL_TOKEN])
        img, raw = read_volume(path, case_id)
        check_same_grid(img, raw.shape, path, ref, case_id)
        label, label_values = binary_label(raw, path, case_id, task, penumbra_label)
    ref_img = ref[0]
    ornt, affine = canonical_orientation(ref_img.affine, ref[2])
    identity = _is_identity(ornt)
    if not identity:  # reorder into RAS+ (module docstring); a permutation and reversal of axes, no interpolation
        volumes = [orientations.apply_orientation(v, ornt) for v in volumes]
        label = None if label is None else np.ascontiguousarray(orientations.apply_orientation(label, ornt))
        log.debug("case %s: %s voxel order %s reordered to RAS", case_id, ref[1].name, "".join(nib.aff2axcodes(ref_img.affine)))
    images = np.stack(volumes)
    zooms = np.asarray(ref_img.header.get_zooms()[:3], dtype=float)
    spacing = np.empty(3)
    spacing[ornt[:, 0].astype(int)] = zooms  # input axis i becomes case axis ornt[i, 0]
    return Case(
        case_id=case_id,
        images=images,
        modalities=modalities,
        label=label,
        affine=ref_img.affine.copy() if identity else affine,
        spacing=tuple(float(z) for z in spacing),
        brain_mask=brain_mask(images),
        task=task,
        label_values=label_values,
        header=ref_img.header.copy(),
        files={k: Path(v) for k, v in files.items()},
        source_affine=ref_img.affine.copy(),
        source_ornt=None if identity else ornt,
    )


def check_same_grid(img: nib.Nifti1Image, shape: tuple[int, ...], path: Path,
                    ref: tuple[nib.Nifti1Image, Path, tuple[int, ...]], case_id: str) -> None:
    """The loader's grid check: image ``img`` (array shape ``shape``, file ``path``) lies on the grid of
    ``ref = (image, file, shape)``, the case's first image: same shape and affine (to 1e-3).

    Raises :class:`ImageError` naming the case and both files otherwise.
    """
    ref_img, ref_path, ref_shape = ref
    if shape != ref_shape:
        raise ImageError(
            f"case {case_id}: {path} has shape {shape} but {ref_path.name} has {ref_shape}; all images of a case must be "
            "co-registered on one grid (resample it onto the first modality)"
        )
    if not np.allclose(img.affine, ref_img.affine, atol=1e-3):
        raise ImageError(
            f"case {case_id}: the affine of {path} differs from {ref_path.name}; images of a case must share one grid "
            "(resample it onto the first modality, or fix its header)"
        )


def load_isles2015(
    root: str | Path,
    task: str,
    split: str = "training",
    modalities: tuple[str, ...] | None = None,
    cases: list[str | int] | None = None,
    penumbra_label: int | None = None,
    progress: bool = True,
) -> list[Case]:
    """Load every case (or the ids in ``cases``) of one split, channels in ``SISS_MODALITIES``/``SPES_MODALITIES`` order.

    For SPES ground truth with two lesion labels (core and penumbra), ``penumbra_label`` says which value is the
    penumbra and the label becomes ``OT == penumbra_label``; it is never guessed (an error names the values found).
    A file with a single lesion value is used as is (a warning says so when that value is not ``penumbra_label``).
    ``Case.label_values`` reports the values found in each file. ``cases`` accepts ids as ints or strings
    (``3``, ``"03"``, ``"Nr3"``).
    """
    table = find_isles2015(root, task, split)
    if cases is not None:
        wanted = [_case_id(str(c)) if _case_number(str(c)) is not None else str(c) for c in cases]
        unknown = [c for c in wanted if c not in table]
        if unknown:
            raise DataLayoutError(f"cases {', '.join(unknown)} not found under {root}; available: {', '.join(table)}")
        table = {c: table[c] for c in wanted}
    loaded = [
        load_case(files, task, case_id, modalities, penumbra_label)
        for case_id, files in progress_bar(table.items(), desc=f"loading {task} {split}", disable=not progress, leave=False)
    ]
    values = sorted({v for case in loaded for v in case.label_values})
    if values:
        log.info("%s %s: %d cases, ground-truth values found: %s", task, split, len(loaded), values)
    return loaded


def case_table(cases: list[Case]):
    """One row per case: shape, spacing, lesion volume (mL) and the label values found in the ground truth."""
    import pandas as pd

    return pd.DataFrame(
        {
            "case": [c.case_id for c in cases],
            "shape": ["×".join(map(str, c.shape)) for c in cases],
            "spacing_mm": ["×".join(f"{s:g}" for s in c.spacing) for c in cases],
            "brain_ml": [float(c.brain_mask.sum()) * c.voxel_volume_ml for c in cases],
            "lesion_ml": [c.lesion_volume_ml() for c in cases],
            "label_values": [",".join(map(str, c.label_values)) or "-" for c in cases],
        }
    ).set_index("case")


