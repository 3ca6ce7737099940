"""Read ISLES 2015 SISS and SPES (paper §2.1, §2.2) as distributed, or the authors' flat re-layout, into :class:`Case`.

Layout as distributed (``docs/isles2015-data.md#layout-as-distributed``)::

    <root>/<case>/VSD.Brain.XX.O.MR_Flair.<id>/VSD.Brain.XX.O.MR_Flair.<id>.nii    (or .nii.gz)
    <root>/<case>/VSD.Brain.XX.O.OT.<id>/VSD.Brain.XX.O.OT.<id>.nii                ground truth

Case folders are ``1..N`` or ``01..``; ``<root>`` may also be a parent holding ``Training/``, ``Testing/``,
``SISS2015_Training/``, ``SPES2015_Training/`` or ``SISS2015/Training/`` (any letter case). The authors' code
reads a flat re-layout instead: ``training/<case>/<Modality>.nii[.gz]`` and ``OT.nii`` (``testing/Nr<case>`` for
SPES), with optional precomputed ``sym_<Modality>.nii[.gz]`` that ``modalities=`` can ask for.

Orientation convention: every :class:`Case` array (images, label, brain mask, and every map computed from them) is
in the RAS+ voxel order closest to the files' affine (``nib.io_orientation``): index 0 increases towards the
subject's Right, index 1 towards Anterior, index 2 towards Superior. So axis 0 (``preprocessing.LR_AXIS``) is
left–right, flipping it is a sagittal reflection and the (0, 1) plane is axial whatever voxel order the files use. ``Case.affine`` and ``Case.spacing`` describe that RAS+ grid. The file's
own voxel order and affine are kept (``Case.source_ornt``, ``Case.source_affine``, ``Case.header``), and
:func:`save_nifti` writes every output back in them, so a written map overlays its input exactly. Only axes are
permuted and reversed (no interpolation); an oblique affine stays oblique, reordered to its closest RAS+ axes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import orientations
from scipy import ndimage
from tqdm.auto import tqdm

from .errors import ConfigError, DataLayoutError, ImageError, PreprocessingError
from .files import atomic_path

log = logging.getLogger(__name__)

SISS_MODALITIES = ("Flair", "T1", "T2", "DWI")
SPES_MODALITIES = ("DWI", "CBF", "CBV", "T1c", "T2", "Tmax", "TTP")
TASK_MODALITIES = {"SISS": SISS_MODALITIES, "SPES": SPES_MODALITIES}
LABEL_TOKEN = "OT"
SPLITS = ("training", "testing")

# ".MR_<token>.<id>" or ".OT.<id>", optionally followed by the NIfTI suffix; matched on whole segments so that
# MR_T1 never matches MR_T1c.
_VSD_NAME = re.compile(r"\.(?:MR_(?P<token>[A-Za-z0-9]+)|(?P<ot>OT))\.(?P<id>\d+)(?:\.nii(?:\.gz)?)?$")
_CASE_DIR = re.compile(r"^(?P<prefix>Nr)?(?P<number>\d+)$", re.IGNORECASE)
_NIFTI = re.compile(r"\.nii(\.gz)?$")
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


def task_modalities(task: str) -> tuple[str, ...]:
    """Channel order for ``task`` ('SISS' or 'SPES', any letter case)."""
    key = str(task).upper()
    if key not in TASK_MODALITIES:
        raise ConfigError(f"unknown task {task!r}: use 'SISS' (sub-acute lesion) or 'SPES' (penumbra)")
    return TASK_MODALITIES[key]


def _visible(path: Path) -> bool:
    return not (path.name.startswith(".") or path.name == "__MACOSX")


def _case_number(name: str) -> int | None:
    m = _CASE_DIR.match(name)
    return int(m["number"]) if m else None


def _case_id(name: str) -> str:
    m = _CASE_DIR.match(name)
    return f"{'Nr' if m['prefix'] else ''}{int(m['number'])}"


def _has_case_dirs(folder: Path) -> bool:
    return any(p.is_dir() and _visible(p) and _case_number(p.name) is not None for p in folder.iterdir())


def case_folders(folder: str | Path) -> list[tuple[str, Path]]:
    """``(case id, folder)`` of every numbered case folder directly in ``folder``, in numeric order.

    Folder ``03`` has id ``"3"``, ``Nr3`` has ``"Nr3"``; hidden folders and ``__MACOSX`` are skipped.
    """
    dirs = sorted((p for p in Path(folder).iterdir() if p.is_dir() and _visible(p) and _case_number(p.name) is not None),
                  key=lambda p: (_case_number(p.name), p.name))
    return [(_case_id(p.name), p) for p in dirs]


def resolve_split_folder(root: str | Path, task: str, split: str = "training") -> Path:
    """Find the folder that directly holds the case folders of ``split`` under ``root``.

    ``root`` may be that folder itself or any parent in the layouts listed in the module docstring.
    """
    task = task_modalities(task) and str(task).upper()
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: use 'training' or 'testing'")
    root = Path(root).expanduser()
    if not root.exists():
        raise DataLayoutError(
            f"data root {root} does not exist: unpack ISLES 2015 there (see data/README.md) "
            "or leave data_root empty to use the embedded synthetic dataset"
        )
    if not root.is_dir():
        raise DataLayoutError(f"data root {root} is a file, not a folder: point data_root at the unpacked folder")
    word = split.capitalize()
    candidates = [word, f"{task}2015_{word}", f"{task}2015/{word}", f"ISLES2015/{task}2015_{word}"]
    wanted = [c.lower() for c in candidates]
    other_task = next(t for t in TASK_MODALITIES if t != task)
    # Walk at most three levels; match relative paths case-insensitively. A plain "Training" under a folder
    # named for the other task (SPES2015/Training when task is SISS) belongs to that task.
    found: list[Path] = []
    for depth_glob in ("*", "*/*", "*/*/*"):
        for p in sorted(root.glob(depth_glob)):
            if p.is_dir() and all(_visible(q) for q in p.relative_to(root).parents if q != Path(".")) and _visible(p):
                rel = p.relative_to(root).as_posix().lower()
                if f"{other_task.lower()}2015" in rel:
                    continue
                if any(rel == w or rel.endswith("/" + w) for w in wanted) and _has_case_dirs(p):
                    found.append(p)
        if found:
            break
    if found:
        if len(found) > 1:
            log.info("several %s folders under %s; using %s", split, root, found[0])
        return found[0]
    if _has_case_dirs(root):
        other_split = next(s for s in SPLITS if s != split)
        if re.fullmatch(rf"((siss|spes)2015_)?{other_split}", root.name.lower()):
            raise DataLayoutError(
                f"{root} holds the {other_split} cases but split={split!r} was asked for: pass split={other_split!r}, "
                f"or point data_root at the parent folder that holds both splits"
            )
        return root
    seen = sorted(p.name for p in root.iterdir() if _visible(p))
    hint = "point data_root at the unpacked ISLES 2015 folder"
    if any(f"{other_task.lower()}2015" in name.lower() for name in seen):
        hint = f"this looks like {other_task} data: pass task={other_task!r}, or {hint}"
    raise DataLayoutError(
        f"no {task} {split} cases under {root} (found: {', '.join(seen[:10]) or 'nothing'}). Expected numbered case "
        f"folders (1, 2, ... or 01, ...) directly in it or in one of {', '.join(candidates)}; {hint}"
    )


def _nifti_in(entry: Path, case_id: str) -> Path | None:
    """The image for one VSD entry: the entry itself when it is a file, else the file of the same name inside."""
    if entry.is_file():
        return entry if _NIFTI.search(entry.name) else None
    same_name = [entry / (entry.name + s) for s in (".nii", ".nii.gz") if (entry / (entry.name + s)).is_file()]
    if len(same_name) > 1:
        raise DataLayoutError(
            f"case {case_id}: {entry} holds both {same_name[0].name} and {same_name[1].name}; keep one of them"
        )
    if same_name:
        return same_name[0]
    files = [f for f in entry.iterdir() if f.is_file() and _visible(f) and _NIFTI.search(f.name)]
    return files[0] if len(files) == 1 else None


def scan_case(folder: Path, task: str, case_id: str) -> tuple[dict[str, list[Path]], list[Path]]:
    """Map each modality token (and 'OT') in one case folder to the files that carry it; also list the rest.

    Raises :class:`DataLayoutError` for an image of the other task or a VSD folder without its image.
    """
    names = {m.lower(): m for m in task_modalities(task)}
    other_task = {m.lower() for t, mods in TASK_MODALITIES.items() if t != task for m in mods} - set(names)
    found: dict[str, list[Path]] = {}
    unknown: list[Path] = []
    for entry in sorted(p for p in folder.iterdir() if _visible(p)):
        m = _VSD_NAME.search(entry.name)
        if m:
            key = LABEL_TOKEN if m["ot"] else names.get(m["token"].lower())
            if key is None:
                if m["token"].lower() in other_task:
                    raise DataLayoutError(
                        f"case {case_id}: {entry} is a {m['token']} image, which belongs to the other ISLES 2015 task; "
                        f"check task={task!r} (SISS has {', '.join(SISS_MODALITIES)}; SPES has {', '.join(SPES_MODALITIES)})"
                    )
                unknown.append(entry)
                continue
            image = _nifti_in(entry, case_id)
            if image is None:
                raise DataLayoutError(
                    f"case {case_id}: folder {entry} holds no {entry.name}.nii or .nii.gz; re-extract that image from the archive"
                )
            found.setdefault(key, []).append(image)
            continue
        if entry.is_file() and _NIFTI.search(entry.name):  # the authors' flat layout: <Modality>.nii[.gz], OT.nii
            stem = _NIFTI.sub("", entry.name)
            key = LABEL_TOKEN if stem.upper() == LABEL_TOKEN else names.get(stem.lower())
            if key is None and stem.lower().startswith("sym_") and stem.lower()[4:] in names:
                key = "sym_" + names[stem.lower()[4:]]  # the authors' precomputed symmetric modalities
            if key is not None:
                found.setdefault(key, []).append(entry)
                continue
            if stem.lower() in other_task:
                raise DataLayoutError(
                    f"case {case_id}: {entry} is a {stem} image, which belongs to the other ISLES 2015 task; check task={task!r}"
                )
        unknown.append(entry)
    return found, unknown


def case_files(case_dir: str | Path, task: str, case_id: str | None = None, require_label: bool = False) -> dict[str, Path]:
    """{modality/'OT' → file} of ONE case folder in the ISLES 2015 (or flat) layout, in channel order.

    Raises :class:`DataLayoutError` for a missing or duplicated modality, or a missing ground truth when
    ``require_label``.
    """
    task = str(task).upper()
    modalities = task_modalities(task)
    case_dir = Path(case_dir)
    if not case_dir.is_dir():
        raise DataLayoutError(f"case folder {case_dir} does not exist or is not a folder")
    case_id = case_id or case_dir.name
    found, _ = scan_case(case_dir, task, case_id)
    for key, files in found.items():
        if len(files) > 1:
            raise DataLayoutError(
                f"case {case_id}: {key} is given {len(files)} times ({', '.join(str(f) for f in files)}); keep one of them"
            )
    missing = [m for m in modalities if m not in found]
    if missing:
        raise DataLayoutError(
            f"case {case_id} in {case_dir}: missing {', '.join(missing)} (found {', '.join(sorted(found)) or 'no images'}); "
            f"every {task} case needs {', '.join(modalities)} as VSD.Brain.XX.O.MR_<modality>.<id>/<same name>.nii"
        )
    if require_label and LABEL_TOKEN not in found:
        raise DataLayoutError(
            f"case {case_id} in {case_dir}: no ground truth (VSD.Brain.XX.O.OT.<id>/...nii or OT.nii); "
            "training cases need one, or load this folder with split='testing'"
        )
    order = [*modalities, LABEL_TOKEN, *(f"sym_{m}" for m in modalities)]
    return {key: found[key][0] for key in order if key in found}


def find_isles2015(root: str | Path, task: str, split: str = "training") -> dict[str, dict[str, Path]]:
    """Map case id → {modality or 'OT' → file} for one split, in numeric case order.

    Raises :class:`DataLayoutError` naming the case and the file for a missing or duplicated modality,
    a missing ground truth in the training split, or an empty root.
    """
    task = str(task).upper()
    folder = resolve_split_folder(root, task, split)
    case_dirs = case_folders(folder)
    result: dict[str, dict[str, Path]] = {}
    for i, (case_id, case_dir) in enumerate(case_dirs):
        if case_id in result:
            raise DataLayoutError(
                f"case {case_id} appears twice in {folder} (folders {case_dirs[i - 1][1].name} and {case_dir.name}); keep one"
            )
        result[case_id] = case_files(case_dir, task, case_id, require_label=split == "training")
    if not result:
        raise DataLayoutError(f"{folder} holds no case folders; expected numbered folders 1, 2, ... (or 01, 02, ...)")
    return result


def list_unknown_files(root: str | Path, task: str, split: str = "training") -> list[Path]:
    """Files and folders in the case folders that are neither a modality of ``task`` nor the ground truth."""
    folder = resolve_split_folder(root, task, split)
    unknown: list[Path] = []
    for case_id, case_dir in case_folders(folder):
        unknown += scan_case(case_dir, str(task).upper(), case_id)[1]
    return unknown


def read_image(path: Path, case_id: str) -> nib.Nifti1Image:
    """Load a NIfTI file, turning any reader failure into an :class:`ImageError` that names the file."""
    try:
        img = nib.load(str(path))
        img.get_fdata(dtype=np.float32)  # force a full read so truncated files fail here
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise ImageError(
            f"case {case_id}: cannot read {path} ({type(exc).__name__}: {exc}); re-extract it from the archive "
            "or check it opens in a NIfTI viewer"
        ) from exc
    return img


def read_volume(path: str | Path, case_id: str) -> tuple[nib.Nifti1Image, np.ndarray]:
    """Read one image of a case as a float32 (X, Y, Z) volume, with the loader's checks.

    Raises :class:`ImageError` naming the case and file when it cannot be read, is not 3D (a trailing axis of
    length 1 is dropped) or holds NaN/Inf voxels.
    """
    path = Path(path)
    img = read_image(path, case_id)
    data = img.get_fdata(dtype=np.float32)  # cached by read_image's full read
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ImageError(f"case {case_id}: {path} has shape {data.shape}; expected a 3D volume")
    if not np.isfinite(data).all():
        n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise ImageError(
            f"case {case_id}: {path} has {n_bad} NaN/Inf voxels; replace them (e.g. numpy.nan_to_num) and save the file again"
        )
    return img, data


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
        for case_id, files in tqdm(table.items(), desc=f"loading {task} {split}", disable=not progress, leave=False)
    ]
    values = sorted({v for case in loaded for v in case.label_values})
    if values:
        log.info("%s %s: %d cases, ground-truth values found: %s", task, split, len(loaded), values)
    return loaded


def save_nifti(array: np.ndarray, reference: Case, path: str | Path, dtype: np.dtype | str | None = None) -> Path:
    """Write ``array`` (X, Y, Z, on the case's RAS+ grid) atomically on the grid of ``reference``'s first modality file.

    The array is put back into that file's voxel order (``Case.to_source``) and written with its affine and header,
    so the output has the input's shape, affine and orientation (module docstring).
    """
    array = np.asarray(array)
    if array.shape != reference.shape:
        raise ImageError(f"cannot save {path}: array shape {array.shape} differs from case {reference.case_id} shape {reference.shape}")
    dtype = np.dtype(dtype or array.dtype)
    if dtype == np.bool_:
        dtype = np.dtype(np.uint8)  # NIfTI has no boolean type
    header = reference.header.copy() if reference.header is not None else nib.Nifti1Header()
    header.set_data_dtype(dtype)
    affine = reference.source_affine if reference.source_affine is not None else reference.affine
    data = np.ascontiguousarray(reference.to_source(array.astype(dtype, copy=False)))
    img = nib.Nifti1Image(data, affine, header)
    img.header.set_slope_inter(1.0, 0.0)
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


def read_on_case_grid(path: str | Path, case: Case, what: str = "map") -> np.ndarray:
    """A NIfTI written on ``case``'s input grid (e.g. by :func:`save_nifti`) as a float32 array on the case's RAS+ grid.

    Raises :class:`ImageError` naming the file when it cannot be read or its shape is not the input files' shape.
    """
    path = Path(path)
    try:
        data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise ImageError(f"case {case.case_id}: cannot read {what} {path} ({type(exc).__name__}: {exc}); write it again") from exc
    if data.shape != case.source_shape:
        raise ImageError(f"case {case.case_id}: {what} {path} has shape {data.shape}, the case's files {case.source_shape}; "
                         "it must be on the case's own grid")
    return case.from_source(data)


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


def has_split(root: str | Path, task: str, split: str) -> bool:
    """Whether ``root`` holds cases of ``split`` for ``task`` (e.g. a download without the testing archive)."""
    try:
        resolve_split_folder(root, task, split)
    except DataLayoutError:
        return False
    return True
