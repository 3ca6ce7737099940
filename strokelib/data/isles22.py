"""ISLES 2022 cases (the DWI/ADC successor of paper §2.2's SPES data) and the challenge's official metrics.

The method was built on ISLES 2015; ISLES 2022 (Hernandez Petzsche et al., Scientific Data 9:762, 2022) is the
real MRI the tests use (``tests/data/isles22/``, one sample case). Two layouts are read::

    Zenodo release (full dataset)                        challenge repository sample (utils/data/)
    ISLES-2022/sub-strokecaseNNNN/ses-0001/anat/..._FLAIR.nii.gz   rawdata/sub-strokecaseNNNN/ses-0001/..._flair.nii.gz
    ISLES-2022/sub-strokecaseNNNN/ses-0001/dwi/..._dwi.nii.gz      rawdata/sub-strokecaseNNNN/ses-0001/..._dwi.nii.gz
    ISLES-2022/sub-strokecaseNNNN/ses-0001/dwi/..._adc.nii.gz      rawdata/sub-strokecaseNNNN/ses-0001/..._adc.nii.gz
    ISLES-2022/derivatives/sub-strokecaseNNNN/ses-0001/..._msk.nii.gz   derivatives/sub-strokecaseNNNN/ses-0001/..._msk.nii.gz

DWI and ADC share one grid (about 2 mm); the lesion mask lies on it. FLAIR has its own grid (sub-millimetre in
plane, thick slices): the loader refuses it unless the file already lies on the DWI grid, and :func:`register_flair`
aligns it to DWI (rigid, mutual information) and resamples it there, with the registration's quality measured. A loaded case is a
:class:`strokelib.data.cases.Case` in RAS+ voxel order, like every ISLES 2015 case (task ``"ISLES22"``).

Lesions are 26-connected components (:func:`lesions`), as the challenge's ``utils/eval_utils.py``
(https://github.com/ezequieldlrosa/isles22) counts them; its four metrics are in :mod:`strokelib.evaluation.isles22`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from ..errors import DataLayoutError, ImageError, PreprocessingError
from ..files import file_lock, read_image, save_nifti, write_text
from ..provenance import file_digest
from .cases import Case, check_same_grid, load_case, read_volume
from .layout import ISLES22, LABEL_TOKEN

log = logging.getLogger(__name__)

ISLES22_MODALITIES = ("DWI", "ADC", "FLAIR")
DEFAULT_MODALITIES = ("DWI", "ADC")
GRID_MODALITY = "DWI"  # the grid of a loaded case; ADC and the mask lie on it
CONNECTIVITY = 26  # lesions are 26-connected components (eval_utils.compute_number_of_clusters)

_CASE_DIR = re.compile(r"^sub-[A-Za-z0-9]+$")
_SUFFIX = r"\.(?:nii(?:\.gz)?|mha|mhd|nrrd)$"  # NIfTI as released, or the formats files.read_image reads with SimpleITK
_IMAGE = re.compile(r"_(?P<modality>adc|dwi|flair)" + _SUFFIX, re.IGNORECASE)
_MASK = re.compile(r"_msk" + _SUFFIX, re.IGNORECASE)
_DERIVATIVES = "derivatives"


# ---------------------------------------------------------------------------------------------------------
# Finding the files
# ---------------------------------------------------------------------------------------------------------
def _case_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _CASE_DIR.match(p.name)) if folder.is_dir() else []


def _image_bases(root: Path) -> list[Path]:
    """Folders under ``root`` that hold ``sub-*`` case folders: root itself, ``rawdata/``, ``ISLES-2022/``."""
    candidates = [root, root / "rawdata", root / "ISLES-2022", root / "ISLES-2022" / "rawdata"]
    return [c for c in candidates if _case_dirs(c)]


def _niftis(folder: Path, pattern: re.Pattern) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".") and pattern.search(p.name))


def _mask_of(case_dir: Path) -> Path | None:
    """The ``_msk`` file of a case in ``derivatives/<case>/`` beside the case folder or beside its parent."""
    found: list[Path] = []
    for derivatives in (case_dir.parent / _DERIVATIVES, case_dir.parent.parent / _DERIVATIVES):
        if (derivatives / case_dir.name).is_dir():
            found = _niftis(derivatives / case_dir.name, _MASK)
            if found:
                break
    if len(found) > 1:
        raise DataLayoutError(f"case {case_dir.name}: several lesion masks {[str(p) for p in found]}; keep one")
    return found[0] if found else None


def _case_table(case_dir: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in _niftis(case_dir, _IMAGE):
        modality = _IMAGE.search(path.name).group("modality").upper()
        if modality in files:
            raise DataLayoutError(
                f"case {case_dir.name}: two {modality} images, {files[modality]} and {path}; keep one of them"
            )
        files[modality] = path
    mask = _mask_of(case_dir)
    if mask is not None:
        files[LABEL_TOKEN] = mask
    return files


def find_isles22_cases(root: str | Path, keep_empty: bool = False) -> dict[str, dict[str, Path]]:
    """{case id: {"DWI", "ADC", "FLAIR" (if present), "OT" (the mask, if present): path}} of an ISLES 2022 folder.

    ``root`` is the dataset root (holding ``sub-*`` folders, ``rawdata/`` or ``ISLES-2022/``) or one ``sub-*``
    folder; both the Zenodo and the challenge-sample layouts are read (module docstring). Case ids are the folder
    names (``sub-strokecase0009``). A ``sub-*`` folder without any image is left out, unless ``keep_empty`` (then it
    is listed with the files it has, so that a caller can name it). Raises :class:`DataLayoutError` when there is no
    such folder or no case in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"ISLES 2022 folder {root} does not exist or is not a folder")
    if _CASE_DIR.match(root.name):
        case_dirs = [root]
    else:
        case_dirs = [d for base in _image_bases(root) for d in _case_dirs(base)]
    tables = {d.name: _case_table(d) for d in case_dirs}
    if not any(files.keys() - {LABEL_TOKEN} for files in tables.values()):
        raise DataLayoutError(
            f"no ISLES 2022 case under {root}: expected sub-*/ses-*/[anat/|dwi/]sub-*_{{dwi,adc,flair}}.nii.gz (or .mha) in it "
            "or in rawdata/ or ISLES-2022/ below it"
        )
    return {cid: files for cid, files in tables.items() if keep_empty or files.keys() - {LABEL_TOKEN}}


# ---------------------------------------------------------------------------------------------------------
# Loading a case
# ---------------------------------------------------------------------------------------------------------
def _grid_text(img: nib.Nifti1Image) -> str:
    zooms = "×".join(f"{z:g}" for z in img.header.get_zooms()[:3])
    return f"shape {'×'.join(map(str, img.shape[:3]))}, spacing {zooms} mm"


def require_isles22_images(files: dict[str, Path], case_id: str, modalities: tuple[str, ...]) -> None:
    """Refuse an unknown modality, or a case that lacks an image ``modalities`` need (DWI always: it gives the grid),
    with one :class:`DataLayoutError` naming the case, every missing image, what it has and its folder."""
    unknown = [m for m in modalities if m not in ISLES22_MODALITIES]
    if unknown or not modalities:
        raise DataLayoutError(f"case {case_id}: unknown modalities {unknown}; choose from {ISLES22_MODALITIES}")
    needed = (*modalities, *([GRID_MODALITY] if GRID_MODALITY not in modalities else []))
    missing = [m for m in needed if m not in files]
    if missing:
        folders = sorted({str(Path(p).parent) for k, p in files.items() if k != LABEL_TOKEN})
        raise DataLayoutError(
            f"case {case_id}: no {', '.join(missing)} image; modalities {', '.join(modalities)} need "
            f"{', '.join(needed)} (the {GRID_MODALITY} image gives the grid), and the case has "
            f"{', '.join(sorted(files)) or 'no files'}" + (f" (in {', '.join(folders)})" if folders else "")
        )


def _check_on_dwi_grid(files: dict[str, Path], case_id: str, modalities: tuple[str, ...]) -> None:
    """Every requested image lies on the DWI grid; FLAIR gets its own message (it needs registration)."""
    dwi_path = Path(files[GRID_MODALITY])
    dwi = read_image(dwi_path, case_id)
    if len(dwi.shape) == 4 and dwi.shape[3] > 1:
        raise ImageError(f"case {case_id}: {dwi_path} is 4-D ({'×'.join(map(str, dwi.shape))}): it holds several "
                         "diffusion volumes (b-values or directions); give the 3-D b=1000 trace image, as ISLES 2022 "
                         "distributes it")
    for modality in (m for m in modalities if m != GRID_MODALITY):
        path = Path(files[modality])
        img = read_image(path, case_id)
        same = img.shape[:3] == dwi.shape[:3] and np.allclose(img.affine, dwi.affine, atol=1e-3)
        if modality == "FLAIR" and not same:
            raise PreprocessingError(
                f"case {case_id}: FLAIR is on its own grid ({_grid_text(img)}; DWI: {_grid_text(dwi)}); register it "
                f"onto DWI first ({path}); loading FLAIR is possible once a registered copy on the DWI grid replaces it"
            )
        check_same_grid(img, tuple(img.shape[:3]), path, (dwi, dwi_path, tuple(dwi.shape[:3])), case_id)


def _read_mask(path: Path, case: Case) -> tuple[np.ndarray, tuple[int, ...]]:
    """The lesion mask as uint8 0/1 on the case's RAS+ grid (it must lie on the DWI grid and be binary)."""
    img, raw = read_volume(path, case.case_id)
    dwi_path = Path(case.files.get(GRID_MODALITY, next(iter(case.files.values()))))
    check_same_grid(img, raw.shape, path, (read_image(dwi_path, case.case_id), dwi_path, case.source_shape), case.case_id)
    values = tuple(int(v) for v in np.unique(raw)) if np.all(raw == np.round(raw)) else ()
    if not values or not set(values) <= {0, 1}:
        raise ImageError(
            f"case {case.case_id}: lesion mask {path} has values {', '.join(f'{v:g}' for v in np.unique(raw)[:8])}; "
            "an ISLES 2022 mask is binary "
            "(0 = healthy, 1 = lesion)"
        )
    return np.ascontiguousarray(case.from_source(raw)).astype(np.uint8), values


def load_isles22_case(files: dict[str, Path], case_id: str, modalities: tuple[str, ...] = DEFAULT_MODALITIES) -> Case:
    """One ISLES 2022 case as a :class:`Case` on the DWI grid (RAS+), channels in ``modalities`` order.

    ``files`` is one entry of :func:`find_isles22_cases`. The DWI image is always needed (it gives the grid); every
    requested image and the mask (``"OT"``, optional) must lie on it. FLAIR on its own grid raises
    :class:`PreprocessingError` (register it onto DWI first); a grid mismatch raises :class:`ImageError` naming
    both files, a missing image :class:`DataLayoutError` naming what ``modalities`` need.
    """
    modalities = tuple(modalities)
    require_isles22_images(files, case_id, modalities)
    _check_on_dwi_grid(files, case_id, modalities)
    images = {k: Path(v) for k, v in files.items() if k != LABEL_TOKEN}
    case = load_case(images, ISLES22, case_id, modalities)
    case.files = {k: Path(v) for k, v in files.items()}
    if LABEL_TOKEN in files:
        case.label, case.label_values = _read_mask(Path(files[LABEL_TOKEN]), case)
    return case


def load_isles22(root: str | Path, modalities: tuple[str, ...] = DEFAULT_MODALITIES) -> list[Case]:
    """Every case of an ISLES 2022 folder (:func:`find_isles22_cases`) loaded with :func:`load_isles22_case`."""
    return [load_isles22_case(files, case_id, modalities) for case_id, files in sorted(find_isles22_cases(root).items())]


# ---------------------------------------------------------------------------------------------------------
# FLAIR onto the DWI grid (rigid, mutual information)
# ---------------------------------------------------------------------------------------------------------
MAX_FLAIR_ROTATION_DEG = 15.0
MAX_FLAIR_SHIFT_MM = 30.0
"""A FLAIR-to-DWI registration of one session that moves more than this is taken as failed, not trusted."""


@dataclass(frozen=True)
class FlairRegistration:
    """How FLAIR was aligned to DWI: Mattes mutual information (negative; lower is better) at the scanner's header
    alignment and after registration, the rigid motion found, and the time it took."""

    mi_header: float
    mi_registered: float
    rotation_deg: float
    shift_mm: float
    seconds: float


def _mutual_information(seed: int):
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    # SimpleITK reads seed 0 as "wall clock" (a new draw every call): shift so that every seed is a fixed one
    reg.SetMetricSamplingPercentage(0.25, int(seed) % (2**32 - 1) + 1)
    reg.SetInterpolator(sitk.sitkLinear)
    return reg


def register_flair(files: dict[str, Path], case: Case, seed: int = 0) -> tuple[np.ndarray, FlairRegistration]:
    """FLAIR resampled onto ``case``'s DWI grid (RAS+ voxel order) after a rigid registration by mutual information.

    Starts from the header alignment (both images come from one session), refines a rigid transform (Mattes mutual
    information, seeded random sampling, three resolution levels) and resamples FLAIR linearly. Raises
    :class:`PreprocessingError` naming the files when the registration lowers the agreement or moves FLAIR by
    more than :data:`MAX_FLAIR_ROTATION_DEG` / :data:`MAX_FLAIR_SHIFT_MM`: a failure is never silent.
    """
    import time

    import SimpleITK as sitk

    start = time.perf_counter()
    fixed = sitk.ReadImage(str(files[GRID_MODALITY]), sitk.sitkFloat32)
    moving = sitk.ReadImage(str(files["FLAIR"]), sitk.sitkFloat32)
    transform = sitk.Euler3DTransform()
    transform.SetCenter(fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed.GetSize()]))
    reg = _mutual_information(seed)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=200,
                                                 relaxationFactor=0.5)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(transform, inPlace=False)
    mi_header = reg.MetricEvaluate(fixed, moving)
    try:
        final = reg.Execute(fixed, moving)
    except RuntimeError as exc:
        raise PreprocessingError(f"case {case.case_id}: registering FLAIR {files['FLAIR']} onto DWI "
                                 f"{files[GRID_MODALITY]} failed ({exc})") from exc
    params = np.asarray(sitk.CompositeTransform(final).GetNthTransform(0).GetParameters())  # 3 angles, 3 shifts
    info = FlairRegistration(
        mi_header=float(mi_header), mi_registered=float(reg.GetMetricValue()),
        rotation_deg=float(np.degrees(np.linalg.norm(params[:3]))),
        shift_mm=float(np.linalg.norm(params[3:])), seconds=time.perf_counter() - start)
    reg_check = _mutual_information(seed)  # the final agreement on the same samples as the header's
    reg_check.SetInitialTransform(final)
    info = replace(info, mi_registered=float(reg_check.MetricEvaluate(fixed, moving)))
    if (info.mi_registered > info.mi_header or info.rotation_deg > MAX_FLAIR_ROTATION_DEG
            or info.shift_mm > MAX_FLAIR_SHIFT_MM):
        raise PreprocessingError(
            f"case {case.case_id}: registering FLAIR {files['FLAIR']} onto DWI {files[GRID_MODALITY]} did not "
            f"converge to a plausible alignment (mutual information {info.mi_header:.3f} at the header alignment, "
            f"{info.mi_registered:.3f} after; rotation {info.rotation_deg:.1f}°, shift {info.shift_mm:.1f} mm); check "
            "that both images belong to the same session and open correctly in a viewer")
    resampled = sitk.Resample(moving, fixed, final, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    on_dwi = sitk.GetArrayFromImage(resampled).transpose(2, 1, 0)  # (z, y, x) -> the file's (x, y, z)
    return case.from_source(on_dwi).astype(np.float32), info


def flair_at_header(files: dict[str, Path], case: Case) -> np.ndarray:
    """FLAIR resampled onto ``case``'s DWI grid with the scanner's header alignment only (no registration): the
    "before" of :func:`register_flair`, to judge what the registration corrected."""
    import SimpleITK as sitk

    fixed = sitk.ReadImage(str(files[GRID_MODALITY]), sitk.sitkFloat32)
    moving = sitk.ReadImage(str(files["FLAIR"]), sitk.sitkFloat32)
    resampled = sitk.Resample(moving, fixed, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return case.from_source(sitk.GetArrayFromImage(resampled).transpose(2, 1, 0)).astype(np.float32)


FLAIR_CACHE_VERSION = 1  # bump when register_flair changes its result


def flair_cache_key(files: dict[str, Path], seed: int) -> str:
    """Hash of the DWI and FLAIR files' contents, the seed and the registration's version: another file, seed or
    registration code gives another key (as the symmetric-modality cache, :mod:`strokelib.preprocessing.symmetric`)."""
    digests = {m: file_digest(files[m]) for m in (GRID_MODALITY, "FLAIR")}
    text = json.dumps({"files": digests, "seed": int(seed), "version": FLAIR_CACHE_VERSION}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _read_flair_cache(folder: Path, case: Case) -> tuple[np.ndarray, FlairRegistration] | None:
    info_file = folder / "registration.json"  # written last: its presence marks a complete entry
    if not info_file.is_file():
        return None
    try:
        img = read_image(folder / "flair_on_dwi.nii.gz", case.case_id)
        flair = case.from_source(np.asarray(img.get_fdata(dtype=np.float32)))
        return flair, FlairRegistration(**json.loads(info_file.read_text()))
    except Exception as exc:  # noqa: BLE001 - a damaged entry is registered again, not fatal (as the symmetric cache)
        log.warning("case %s: ignoring damaged FLAIR cache entry %s (%s); registering again", case.case_id, folder, exc)
        return None


def flair_on_dwi(files: dict[str, Path], case: Case, cache_dir: str | Path | None = None,
                 seed: int = 0) -> tuple[np.ndarray, FlairRegistration]:
    """:func:`register_flair`, cached: with ``cache_dir`` the FLAIR on the DWI grid and its registration figures live
    in ``<cache_dir>/<case_id>/flair_<key>/`` (:func:`flair_cache_key`), computed once under a file lock and read
    afterwards. The registration's quality (mutual information before and after, the motion) is logged either way."""
    if cache_dir is None:
        flair, info = register_flair(files, case, seed)
    else:
        folder = Path(cache_dir) / case.case_id / f"flair_{flair_cache_key(files, seed)}"
        cached = _read_flair_cache(folder, case)
        if cached is None:
            with file_lock(folder.with_name(f"{folder.name}.lock"), f"FLAIR registration cache entry {folder}"):
                cached = _read_flair_cache(folder, case)
                if cached is None:
                    flair, info = register_flair(files, case, seed)
                    save_nifti(flair, case, folder / "flair_on_dwi.nii.gz", dtype=np.float32)
                    write_text(folder / "registration.json", json.dumps(dataclasses.asdict(info), indent=2))
                    cached = flair, info
        flair, info = cached
    log.info("case %s: FLAIR on the DWI grid, mutual information %.3f -> %.3f, rotation %.1f°, shift %.1f mm",
             case.case_id, info.mi_header, info.mi_registered, info.rotation_deg, info.shift_mm)
    return flair, info


def load_isles22_with_flair(files: dict[str, Path], case_id: str,
                            modalities: tuple[str, ...] = ISLES22_MODALITIES, cache_dir: str | Path | None = None,
                            seed: int = 0) -> tuple[Case, FlairRegistration]:
    """A case whose ``modalities`` include FLAIR: the others loaded on the DWI grid (:func:`load_isles22_case`), FLAIR
    registered onto it (:func:`flair_on_dwi`, cached with ``cache_dir``) and put in its place in the channel order."""
    modalities = tuple(modalities)
    if "FLAIR" not in modalities:
        raise DataLayoutError(f"case {case_id}: load_isles22_with_flair needs FLAIR among the modalities "
                              f"({', '.join(modalities)}); use load_isles22_case")
    if "FLAIR" not in files:
        raise DataLayoutError(f"case {case_id}: no FLAIR image, which modalities {', '.join(modalities)} need; the "
                              f"case has {', '.join(sorted(files))}")
    others = tuple(m for m in modalities if m != "FLAIR") or (GRID_MODALITY,)
    case = load_isles22_case({k: v for k, v in files.items() if k != "FLAIR"}, case_id, others)
    case.files = {k: Path(v) for k, v in files.items()}
    flair, info = flair_on_dwi(files, case, cache_dir, seed)
    channels = {**dict(zip(others, case.images, strict=True)), "FLAIR": flair}
    case.images = np.stack([channels[m] for m in modalities]).astype(np.float32)
    case.modalities = modalities
    return case, info


def load_isles22_for_model(files: dict[str, Path], case_id: str, modalities: tuple[str, ...] = DEFAULT_MODALITIES,
                           cache_dir: str | Path | None = None,
                           seed: int = 0) -> tuple[Case, FlairRegistration | None]:
    """One case with the channels a model reads (training and ``strokelib segment``): :func:`load_isles22_case`, or
    :func:`load_isles22_with_flair` when ``modalities`` include FLAIR (then also its registration figures, else None).

    Every image ``modalities`` need is checked first (one :class:`DataLayoutError` naming all the missing ones and
    the case's folder). Whatever the channel order, the case's output grid is the DWI file's: outputs written with
    :func:`strokelib.files.save_nifti` carry the DWI's header and affine.
    """
    modalities = tuple(modalities)
    require_isles22_images(files, case_id, modalities)
    if "FLAIR" in modalities:
        case, info = load_isles22_with_flair(files, case_id, modalities, cache_dir, seed)
    else:
        case, info = load_isles22_case(files, case_id, modalities), None
    if case.modalities[0] != GRID_MODALITY:  # the header of the first channel loaded; ADC lies on DWI's grid
        dwi = read_image(Path(files[GRID_MODALITY]), case_id)
        case.header, case.source_affine = dwi.header.copy(), dwi.affine.copy()
    return case, info


# ---------------------------------------------------------------------------------------------------------
# Lesions as the challenge counts them (utils/eval_utils.py; the metrics: strokelib.evaluation.isles22)
# ---------------------------------------------------------------------------------------------------------
_STRUCTURE_26 = np.ones((3, 3, 3), dtype=bool)


def lesions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a mask: (label array, number of lesions)."""
    labels, n = ndimage.label(np.asarray(mask) > 0, structure=_STRUCTURE_26)
    return labels, int(n)


def single_isles22_case(folder: str | Path) -> tuple[str, dict[str, Path]]:
    """(case id, files) of the one case in ``folder`` (an ISLES 2022 root holding one case, or a ``sub-*`` folder);
    a folder with several cases is a :class:`DataLayoutError` naming them (give the ``sub-*`` folder instead)."""
    table = find_isles22_cases(folder)
    if len(table) != 1:
        raise DataLayoutError(f"{folder} holds {len(table)} ISLES 2022 cases ({', '.join(sorted(table))}); give one "
                              "case's sub-* folder")
    return next(iter(table.items()))
