"""Symmetric modality augmentation (paper §3.1, Figure 1): flip, register, resample, cache.

One reference modality (FLAIR for SISS, T1c for SPES) is flipped across the left–right axis and linearly
registered to the original (the paper uses FSL FLIRT; here SimpleITK, rigid by default or a 12-parameter affine
like FLIRT's). The *same* transform then maps every flipped modality, and the results are appended as
``sym_<modality>`` channels, so that a 24×24×16 patch also carries the intensities of the mirror location in the
other hemisphere. Results are cached as NIfTI (``<cache_dir>/<case>/<key>/``), keyed by the input arrays and every
setting. It works on raw intensities; :mod:`strokelib.preprocessing.normalisation` normalises afterwards, and
:mod:`strokelib.preprocessing.midsagittal` measures how well the mirror lines up.

Geometry: registration runs in a scaled voxel space, ``q = spacing * index`` (SimpleITK images with the case's
spacing, zero origin and identity direction). It differs from the NIfTI world (RAS mm) by the rotation and offset of
the affine only, so a rigid transform there is rigid in the world too; :func:`strokelib.preprocessing.midsagittal.mid_sagittal_plane`
converts the recovered plane to world millimetres.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from ..data.layout import ISLES22
from ..errors import ConfigError, PreprocessingError
from ..files import atomic_path, file_lock, save_nifti, write_text
from ..progress import progress_bar
from ..settings import TRANSFORMS  # "none" transform: the naive array flip, for comparison

log = logging.getLogger(__name__)

METRICS = ("correlation", "mean_squares")
SYM_PREFIX = "sym_"
DEFAULT_REFERENCE = {"SISS": "Flair", "SPES": "T1c", ISLES22: "DWI"}  # the image the others were co-registered to
LR_AXIS = 0  # left–right axis of an (X, Y, Z) volume; axis 1 of (C, X, Y, Z) images
SYM_ZERO_LIMIT = 0.5
"""A symmetric reference channel that is exactly 0 on more than this share of the voxels where the reference is
non-zero inside the brain mask comes from a failed registration (the mirror was mapped off the head)."""
_CACHE_VERSION = 1


@dataclass(frozen=True)
class RegistrationSettings:
    """How the flipped reference is registered to the original (§3.1; FLIRT's role in the paper).

    The images are first averaged down to about ``working_spacing_mm`` (1 mm SISS → 2 mm; SPES is already 2 mm),
    then registered coarse-to-fine with ``shrink_factors``/``smoothing_sigmas`` (voxels of that working grid).
    ``correlation`` suits the same-modality problem (an image against its own mirror); ``sampling_percentage`` of
    the voxels, drawn with ``seed``, evaluate the metric at each iteration; the same seed gives the same transform.
    """

    working_spacing_mm: float = 2.0
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas: tuple[float, ...] = (2.0, 1.0, 0.0)
    metric: str = "correlation"
    sampling_percentage: float = 0.02
    learning_rate: float = 2.0
    min_step: float = 0.01
    iterations: int = 100
    seed: int = 0


@dataclass
class SymmetryRegistration:
    """Result of registering the flipped reference to the original: the one transform applied to every modality.

    ``transform`` maps a point of the original image (scaled voxel space, see the module docstring) to the point of
    the *flipped* image that matches it; ``sym(q) = flipped(transform(q))``.
    """

    transform: sitk.Transform
    reference: str
    kind: str
    settings: RegistrationSettings
    metric_value: float = float("nan")
    iterations: int = 0
    stop_condition: str = ""
    seconds: float = 0.0
    from_cache: bool = False
    cache_folder: Path | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """Parameters, final metric and timing as a flat dict (for a table or a log line)."""
        out = {
            "reference": self.reference,
            "transform": self.kind,
            "metric": self.settings.metric,
            "final metric value": round(self.metric_value, 5),
            "iterations (last level)": self.iterations,
            "stop condition": self.stop_condition,
            "seconds": round(self.seconds, 2),
            "from cache": self.from_cache,
            "shrink factors": self.settings.shrink_factors,
            "smoothing sigmas (voxels)": self.settings.smoothing_sigmas,
            "working spacing (mm)": self.settings.working_spacing_mm,
            "sampling percentage": self.settings.sampling_percentage,
        }
        out["transform parameters"] = tuple(round(p, 4) for p in self.transform.GetParameters())
        return out


def default_reference(case) -> str:
    """The modality to flip and register: FLAIR for SISS, T1c for SPES (the images they were co-registered to), DWI
    for ISLES 2022 (the grid its ADC and mask lie on)."""
    task = str(getattr(case, "task", "") or "").upper()
    if task in DEFAULT_REFERENCE:
        return DEFAULT_REFERENCE[task]
    for candidate in DEFAULT_REFERENCE.values():
        if candidate in case.modalities:
            return candidate
    raise PreprocessingError(
        f"case {case.case_id}: no task set and neither Flair nor T1c among {', '.join(case.modalities)}; "
        "pass reference=<modality> to choose the image to flip and register"
    )


def flip_left_right(images: np.ndarray) -> np.ndarray:
    """Mirror (C, X, Y, Z) images or an (X, Y, Z) volume across the left–right axis X (a naive array flip)."""
    images = np.asarray(images)
    return np.flip(images, axis=LR_AXIS + (images.ndim == 4))


def _to_sitk(volume: np.ndarray, spacing) -> sitk.Image:
    """An (X, Y, Z) array as a SimpleITK image in scaled voxel space (spacing set, zero origin, identity direction)."""
    # SimpleITK wants (Z, Y, X) C-order arrays.
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(volume, dtype=np.float32).transpose(2, 1, 0)))
    image.SetSpacing(tuple(float(s) for s in spacing))
    return image


def _from_sitk(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)


def _symmetric_checks(case, reference: str | None, transform: str) -> str:
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r} for case {case.case_id}; use one of {TRANSFORMS}")
    if any(m.startswith(SYM_PREFIX) for m in case.modalities):
        raise PreprocessingError(
            f"case {case.case_id} already has symmetric modalities ({', '.join(case.modalities)}); "
            "add them once, to the case as loaded"
        )
    reference = reference or default_reference(case)
    if reference not in case.modalities:
        raise PreprocessingError(
            f"case {case.case_id}: reference modality {reference!r} is missing (it has {', '.join(case.modalities)}); "
            "load it too or pass reference=<one of these>"
        )
    if not np.asarray(case.brain_mask).any() or not case.channel(reference).any():
        raise PreprocessingError(
            f"case {case.case_id}: the brain mask or the {reference} image is empty (all zero), so there is nothing to "
            f"register; check the file {case.files.get(reference, 'of that modality')}"
        )
    codes = nib.aff2axcodes(case.affine)
    if codes[LR_AXIS] not in ("L", "R"):
        log.warning("case %s: the affine says array axis X is %s, not left–right (axes %s); flipping X anyway",
                    case.case_id, codes[LR_AXIS], "".join(codes))
    return reference


def _registration_method(settings: RegistrationSettings) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    if settings.metric == "correlation":
        reg.SetMetricAsCorrelation()
    elif settings.metric == "mean_squares":
        reg.SetMetricAsMeanSquares()
    else:
        raise ConfigError(f"unknown registration metric {settings.metric!r}; use one of {METRICS}")
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    # SimpleITK reads seed 0 as sitkWallClock (a new draw every call): shift so that every seed, 0 included, is fixed
    reg.SetMetricSamplingPercentage(settings.sampling_percentage, int(settings.seed) % (2**32 - 1) + 1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.learning_rate, minStep=settings.min_step, numberOfIterations=settings.iterations,
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(settings.shrink_factors))
    reg.SetSmoothingSigmasPerLevel(list(settings.smoothing_sigmas))
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return reg


def _likely_cause(case, reference: str) -> str:
    """Why a registration of the flipped ``reference`` fails, as far as the image tells."""
    volume = np.asarray(case.channel(reference))
    if (volume < 0).any():
        return (f"the {reference} image has negative values (min {float(volume.min()):.3g}), so the images look "
                "already normalised: pass raw intensities and normalise afterwards (prepare_case does both in that "
                "order)")
    return (f"check that the {reference} image holds the skull-stripped head with a zero background, on the case's "
            "grid and spacing")


def _execute(reg: sitk.ImageRegistrationMethod, fixed: sitk.Image, moving: sitk.Image, case, reference: str,
             transform: str) -> None:
    """Run one registration; an ITK exception or a final metric with no valid points is a PreprocessingError."""
    try:
        reg.Execute(fixed, moving)
    except RuntimeError as exc:
        raise PreprocessingError(
            f"case {case.case_id}: the {transform} registration of the flipped {reference} failed "
            f"({str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}); "
            f"{_likely_cause(case, reference)}"
        ) from exc
    metric = float(reg.GetMetricValue())
    if not np.isfinite(metric) or abs(metric) >= np.finfo(np.float64).max:  # ITK reports "no valid points" as DBL_MAX
        raise PreprocessingError(
            f"case {case.case_id}: the {transform} registration of the flipped {reference} ended with metric value "
            f"{metric:.4g}, i.e. no valid points (the flipped image never overlapped the original); "
            f"{_likely_cause(case, reference)}"
        )


def register_flipped(
    case, reference: str | None = None, transform: str = "rigid", settings: RegistrationSettings | None = None
) -> SymmetryRegistration:
    """Flip ``reference`` across X and register the flipped image to the original (§3.1; FLIRT in the paper).

    ``rigid`` (6 parameters, default) keeps the head's shape: the composition flip ∘ transform is then a mirror
    about the mid-sagittal plane (see :func:`mid_sagittal_plane`). ``affine`` (12 parameters, like FLIRT's default)
    starts from the rigid result and may also absorb scaling and shear between the hemispheres. ``none`` returns
    the identity: the symmetric images are then the naive array flip about the grid's centre plane.

    A failed registration is never silent: an ITK exception, or a final metric that is non-finite or ITK's
    "no valid points" value, raises :class:`PreprocessingError` naming the case and the likely cause (most
    often images that were normalised before, see :func:`strokelib.preprocessing.normalisation.prepare_case`).
    """
    settings = settings or RegistrationSettings()
    if len(settings.shrink_factors) != len(settings.smoothing_sigmas):
        raise ConfigError("RegistrationSettings: shrink_factors and smoothing_sigmas need one value per level")
    reference = _symmetric_checks(case, reference, transform)
    if transform == "none":
        return SymmetryRegistration(transform=sitk.Euler3DTransform(), reference=reference, kind=transform,
                                    settings=settings, stop_condition="no registration (naive flip)")
    start = time.perf_counter()
    volume = case.channel(reference)
    fixed = _to_sitk(volume, case.spacing)
    moving = _to_sitk(flip_left_right(volume), case.spacing)
    # Block-average down to the working spacing: the pyramid then runs on a grid ~8× smaller for SISS.
    bins = [max(1, int(round(settings.working_spacing_mm / s))) for s in case.spacing]
    if max(bins) > 1:
        fixed, moving = sitk.BinShrink(fixed, bins), sitk.BinShrink(moving, bins)
    rigid = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    reg = _registration_method(settings)
    reg.SetInitialTransform(rigid, inPlace=True)
    _execute(reg, fixed, moving, case, reference, "rigid")
    result: sitk.Transform = rigid
    if transform == "affine":
        affine = sitk.AffineTransform(3)
        affine.SetCenter(rigid.GetCenter())
        affine.SetMatrix(rigid.GetMatrix())
        affine.SetTranslation(rigid.GetTranslation())
        reg = _registration_method(settings)
        reg.SetInitialTransform(affine, inPlace=True)
        _execute(reg, fixed, moving, case, reference, "affine")
        result = affine
    seconds = time.perf_counter() - start
    log.debug("case %s: %s registration of flipped %s in %.1f s (%s)", case.case_id, transform, reference, seconds,
             reg.GetOptimizerStopConditionDescription())
    return SymmetryRegistration(
        transform=result, reference=reference, kind=transform, settings=settings,
        metric_value=float(reg.GetMetricValue()), iterations=int(reg.GetOptimizerIteration()),
        stop_condition=reg.GetOptimizerStopConditionDescription(), seconds=seconds,
    )


def resample_flipped(case, transform: sitk.Transform, progress: bool = False) -> np.ndarray:
    """Flip every channel of ``case`` across X and map it with the one ``transform`` (linear interpolation, §3.1).

    Returns float32 (C, X, Y, Z) symmetric images on the case's grid; voxels mapped from outside the image are 0.
    """
    reference = _to_sitk(np.zeros(case.shape, dtype=np.float32), case.spacing)
    out = np.empty(case.images.shape, dtype=np.float32)
    for c in progress_bar(range(len(case.modalities)), desc=f"case {case.case_id}: resampling", disable=not progress,
                  leave=False):
        moving = _to_sitk(flip_left_right(case.images[c]), case.spacing)
        out[c] = _from_sitk(sitk.Resample(moving, reference, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32))
    return out


def check_symmetric(case, sym_images: np.ndarray, reference: str) -> None:
    """Refuse symmetric images that are mostly empty: the reference's ``sym`` channel must not be exactly 0 on more
    than :data:`SYM_ZERO_LIMIT` of the brain-mask voxels where the reference itself is non-zero (a correct mirror of
    a head onto itself overlaps it almost everywhere). Raises :class:`PreprocessingError` naming the case."""
    original = np.asarray(case.channel(reference))
    inside = np.asarray(case.brain_mask, bool) & (original != 0)
    if not inside.any():
        inside = np.asarray(case.brain_mask, bool)
    zero = float(np.mean(sym_images[case.modalities.index(reference)][inside] == 0))
    if zero > SYM_ZERO_LIMIT:
        raise PreprocessingError(
            f"case {case.case_id}: sym_{reference} is 0 on {100 * zero:.0f}% of the brain (limit "
            f"{100 * SYM_ZERO_LIMIT:.0f}%), so the registration mapped the mirrored head off the original; "
            f"{_likely_cause(case, reference)}"
        )


def _with_symmetric(case, sym_images: np.ndarray):
    """``case`` with ``sym_<modality>`` channels appended in the same order; label and brain mask untouched."""
    modalities = tuple(case.modalities) + tuple(SYM_PREFIX + m for m in case.modalities)
    images = np.concatenate([np.asarray(case.images, dtype=np.float32), sym_images.astype(np.float32)], axis=0)
    return dataclasses.replace(case, images=images, modalities=modalities)


def cache_key(case, reference: str, transform: str, settings: RegistrationSettings) -> str:
    """Hash of the input arrays, geometry and every registration setting: any change gives a new key."""
    h = hashlib.blake2b(digest_size=10)
    h.update(np.ascontiguousarray(case.images, dtype=np.float32).data)
    h.update(np.asarray(case.affine, dtype=np.float64).tobytes())
    meta = {"modalities": list(case.modalities), "spacing": list(case.spacing), "reference": reference,
            "transform": transform, "settings": dataclasses.asdict(settings), "version": _CACHE_VERSION}
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()


def _cache_folder(cache_dir, case, key: str) -> Path:
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", str(case.case_id))
    return Path(cache_dir) / safe_id / key


def _read_cache(folder: Path, case, settings: RegistrationSettings) -> tuple[np.ndarray, SymmetryRegistration] | None:
    info_file = folder / "registration.json"  # written last: its presence marks a complete entry
    if not info_file.is_file():
        return None
    try:
        info = json.loads(info_file.read_text())
        sym = np.stack([case.from_source(nib.load(str(folder / f"{SYM_PREFIX}{m}.nii.gz")).get_fdata(dtype=np.float32))
                        for m in case.modalities])  # save_nifti wrote them in the input files' voxel order
        transform = sitk.ReadTransform(str(folder / "transform.tfm"))
    except Exception as exc:  # noqa: BLE001 - a damaged entry is recomputed, not fatal
        log.warning("case %s: ignoring damaged cache entry %s (%s)", case.case_id, folder, exc)
        return None
    if sym.shape != case.images.shape:
        log.warning("case %s: cache entry %s has shape %s, expected %s; recomputing", case.case_id, folder,
                    sym.shape, case.images.shape)
        return None
    registration = SymmetryRegistration(
        transform=transform, reference=info["reference"], kind=info["transform"], settings=settings,
        metric_value=info["metric_value"], iterations=info["iterations"], stop_condition=info["stop_condition"],
        seconds=info["seconds"], from_cache=True, cache_folder=folder,
    )
    return sym, registration


def _write_cache(folder: Path, case, sym: np.ndarray, registration: SymmetryRegistration) -> None:
    for m, volume in zip(case.modalities, sym, strict=True):
        save_nifti(volume, case, folder / f"{SYM_PREFIX}{m}.nii.gz", dtype=np.float32)
    with atomic_path(folder / "transform.tfm") as tmp:
        sitk.WriteTransform(registration.transform, str(tmp))
    info = {"case_id": str(case.case_id), "reference": registration.reference, "transform": registration.kind,
            "settings": dataclasses.asdict(registration.settings), "metric_value": registration.metric_value,
            "iterations": registration.iterations, "stop_condition": registration.stop_condition,
            "seconds": registration.seconds}
    write_text(folder / "registration.json", json.dumps(info, indent=2))
    registration.cache_folder = folder


def symmetric_modalities(
    case,
    reference: str | None = None,
    transform: str = "rigid",
    cache_dir: str | Path | None = None,
    settings: RegistrationSettings | None = None,
):
    """:func:`add_symmetric_modalities` that also returns the :class:`SymmetryRegistration` (transform, timing).

    With ``cache_dir``, results live in ``<cache_dir>/<case_id>/<key>/`` (``sym_<modality>.nii.gz``,
    ``transform.tfm``, ``registration.json``); ``key`` hashes the input arrays and every setting, so a second run
    reads the files and registers nothing, and any change of input or setting misses the old entry. A missing entry
    is computed under the lock ``<key>.lock`` next to it, so processes that need it at once compute it once: the
    others wait, then read it.

    Raises :class:`PreprocessingError` when the registration fails (see :func:`register_flipped`) or the result
    is mostly empty (see :func:`check_symmetric`); nothing is cached then.
    """
    settings = settings or RegistrationSettings()
    reference = _symmetric_checks(case, reference, transform)
    if cache_dir is None:
        sym, registration = _compute(case, reference, transform, settings)
        return _with_symmetric(case, sym), registration
    folder = _cache_folder(cache_dir, case, cache_key(case, reference, transform, settings))
    cached = _read_cache(folder, case, settings)  # a complete entry is read without the lock (read-only caches work)
    if cached is None:
        with file_lock(folder.with_name(f"{folder.name}.lock"), f"symmetric-modality cache entry {folder}"):
            cached = _read_cache(folder, case, settings)  # a parallel run may have written it while this one waited
            if cached is None:
                sym, registration = _compute(case, reference, transform, settings)
                _write_cache(folder, case, sym, registration)
                return _with_symmetric(case, sym), registration
    log.debug("case %s: symmetric modalities read from cache %s", case.case_id, folder)
    sym, registration = cached
    check_symmetric(case, sym, reference)
    return _with_symmetric(case, sym), registration


def _compute(case, reference: str, transform: str,
             settings: RegistrationSettings) -> tuple[np.ndarray, SymmetryRegistration]:
    """Register, resample and check the symmetric images (no cache)."""
    registration = register_flipped(case, reference, transform, settings)
    sym = resample_flipped(case, registration.transform)
    check_symmetric(case, sym, reference)
    return sym, registration


def add_symmetric_modalities(
    case,
    reference: str | None = None,
    transform: str = "rigid",
    cache_dir: str | Path | None = None,
    settings: RegistrationSettings | None = None,
):
    """Append ``sym_<modality>`` channels: every modality mirrored across the mid-sagittal plane (§3.1, Figure 1).

    ``reference`` (default FLAIR for SISS, T1c for SPES) is flipped across X and registered to the original;
    that one transform maps every flipped modality. SISS goes from 4 to 8 channels, SPES from 7 to 14; the label
    and brain mask are untouched. Works on raw intensities; normalise afterwards (see :func:`strokelib.preprocessing.normalisation.prepare_case`):
    already normalised images make the registration fail, which raises :class:`PreprocessingError`.
    """
    return symmetric_modalities(case, reference, transform, cache_dir, settings)[0]
