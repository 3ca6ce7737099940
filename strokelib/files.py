"""Every file strokelib reads or writes (paper §2 data in, §3.5 maps and submissions out): atomic writes, NIfTI.

Atomic writes: a file is written to a temporary name in the same folder, then renamed, so an interrupted run never
leaves a half-written NIfTI, checkpoint, CSV or figure behind. NIfTI images are read with the loader's checks
(unreadable, not 3-D, NaN/Inf: an :class:`ImageError` naming the case and the file) and written back on a case's
own grid: the input file's voxel order, affine and header (``datasets.Case.to_source``), so a written map overlays
its input exactly. Check-then-write steps that parallel runs share (the synthetic dataset, the symmetric-modality
cache) run under an inter-process lock (:func:`file_lock`). The ISLES 2015 submission name ``SMIR.<name>.<id>.nii``
(:func:`smir_id`) is defined here, where both the exporter and the readers of predictions
(:mod:`strokelib.inference.postprocessing`) find it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
from filelock import FileLock, Timeout

from .errors import ConfigError, ImageError, InferenceError, OutputError

log = logging.getLogger(__name__)

_VSD_ID = re.compile(r"\.(\d+)(?:\.nii(?:\.gz)?)?$")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` defaults to the full suffix of ``path`` (``.nii.gz`` stays ``.nii.gz``) so that writers which
    choose a format from the file name keep working. A failed write (a file where a folder should be, no
    permission, disk full) raises :class:`~strokelib.errors.OutputError` naming ``path``, and leaves no temporary.
    """
    path = Path(path)
    if suffix is None:
        suffix = "".join(path.suffixes) or ".tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name.split('.')[0]}-", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)  # mkstemp creates 0600; give the final file the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OutputError:
        raise
    except OSError as exc:  # disk full, quota, a folder where the file should go: say which file and what to do
        raise _output_error(path, exc) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold an exclusive inter-process lock on the file ``path`` for the block, waiting as long as another process
    holds it (a log line says so). The lock file is created if missing and left in place; the OS releases the lock
    when its holder exits, even on a crash."""
    path = Path(path)
    lock = FileLock(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("waiting for %s: another process holds the lock %s", what, path)
            lock.acquire()
    except OSError as exc:  # e.g. a read-only folder: say which file and what to do
        raise _output_error(path, exc) from exc
    try:
        yield path
    finally:
        lock.release()


def _output_error(path: Path, exc: OSError) -> OutputError:
    blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
    hint = (f"{blocker} is a file, not a folder: choose another output path or move that file" if blocker is not None
            else "check that the folder is writable and the disk has free space, or choose another output path")
    return OutputError(f"cannot write {path} ({type(exc).__name__}: {exc}); {hint}")


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(frame, path: str | os.PathLike, **kwargs) -> Path:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path


# ---------------------------------------------------------------------------------------------------------
# NIfTI images
# ---------------------------------------------------------------------------------------------------------


ITK_SUFFIXES = (".mha", ".mhd", ".nrrd")
"""Images read with SimpleITK instead of nibabel: MetaImage (what the ISLES 2022 grand-challenge containers receive)
and NRRD."""


def _itk_as_nifti(path: Path) -> nib.Nifti1Image:
    """A MetaImage or NRRD file as an in-memory NIfTI image. SimpleITK gives voxels in (z, y, x) order and positions
    in LPS; the affine maps the (x, y, z) voxel index to nibabel's RAS world, so the file is placed exactly as its
    NIfTI conversion would be."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{img.GetDimension()}-D image with {img.GetNumberOfComponentsPerPixel()} component(s) per "
                         "voxel; expected one 3-D volume")
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    affine = np.eye(4)
    affine[:3, :3] = lps_to_ras @ np.reshape(img.GetDirection(), (3, 3)) @ np.diag(img.GetSpacing())
    affine[:3, 3] = lps_to_ras @ np.asarray(img.GetOrigin())
    return nib.Nifti1Image(np.ascontiguousarray(sitk.GetArrayFromImage(img).T, dtype=np.float32), affine)


def read_image(path: Path, case_id: str) -> nib.Nifti1Image:
    """Load a NIfTI file (or a MetaImage/NRRD file, :data:`ITK_SUFFIXES`), turning any reader failure into an
    :class:`ImageError` that names the file."""
    try:
        img = _itk_as_nifti(Path(path)) if str(path).lower().endswith(ITK_SUFFIXES) else nib.load(str(path))
        img.get_fdata(dtype=np.float32)  # force a full read so truncated files fail here
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise ImageError(
            f"case {case_id}: cannot read {path} ({type(exc).__name__}: {' '.join(str(exc).split())[-300:]}); "
            "re-extract it from the archive "
            "or check it opens in an image viewer (NIfTI .nii/.nii.gz, or MetaImage .mha/.mhd, NRRD .nrrd)"
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


def save_nifti(array: np.ndarray, reference, path: str | Path, dtype: np.dtype | str | None = None) -> Path:
    """Write ``array`` (X, Y, Z, on the case's RAS+ grid) atomically on the grid of ``reference``'s first modality file.

    The array is put back into that file's voxel order (``Case.to_source``) and written with its affine and header,
    so the output has the input's shape, affine and orientation (:mod:`strokelib.data.cases`, orientation convention).
    ``reference`` is a :class:`strokelib.data.cases.Case`.
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


def read_on_case_grid(path: str | Path, case, what: str = "map") -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------------------
# ISLES 2015 submission files (docs/isles2015-data.md#submission-format)
# ---------------------------------------------------------------------------------------------------------


def smir_id(case) -> str:
    """The ``<id>`` of a SMIR submission name: the numeric VSD id of the case's first modality file.

    That is FLAIR for SISS (as public SISS code does) and DWI for SPES, in ``SISS_MODALITIES``/``SPES_MODALITIES``
    order (``docs/isles2015-data.md#submission-format``: which image's id the platform wants is not documented). Falls back to the case
    id when the file name carries no VSD id (e.g. the authors' flat ``Flair.nii`` layout).
    """
    path = case.files.get(case.modalities[0]) if case.modalities else None
    match = _VSD_ID.search(Path(path).name) if path is not None else None
    if match is None:
        log.warning("case %s: no VSD id in %s; naming the SMIR file with the case id", case.case_id, path)
        return str(case.case_id)
    return match.group(1)


def export_smir(mask: np.ndarray, case, out_dir: str | Path, name: str) -> Path:
    """Write a binary mask as an ISLES 2015 submission file ``SMIR.<name>.<id>.nii`` (``docs/isles2015-data.md#submission-format``).

    Uncompressed NIfTI, uint16 (the official evaluator reads ``unsigned short``), with the case's own header and
    affine (the evaluator rejects any other geometry); ``<id>`` from :func:`smir_id`. Written atomically.
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", str(name)):
        raise ConfigError(f"SMIR result name {name!r} may hold only letters, digits, '_' and '-' (e.g. 'my_result_01')")
    mask = np.asarray(mask)
    if mask.shape != case.shape:
        raise InferenceError(
            f"case {case.case_id}: mask shape {mask.shape} differs from the case's {case.shape}; export the mask "
            "binarised from this case's own probability map"
        )
    path = Path(out_dir) / f"SMIR.{name}.{smir_id(case)}.nii"
    return save_nifti((mask > 0).astype(np.uint16), case, path, dtype=np.uint16)


def replace_folder(stage: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Rename a finished folder ``stage`` onto ``target``. An existing ``target`` is first renamed aside and deleted
    only once the new folder is in place; if that second rename fails, the old folder is put back. Between the two
    renames ``target`` is briefly absent, never half-written."""
    stage, target = Path(stage), Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(stage, target)
    except OSError as exc:
        if old is not None:
            os.replace(old, target)
        raise _output_error(target, exc) from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target
