"""Measuring the symmetric modalities (paper §3.1, Figure 1): the mid-sagittal plane a registration found, and NCC.

The mirror map flip ∘ transform of a rigid registration (:mod:`strokelib.preprocessing.symmetric`) is a reflection about the
mid-sagittal plane; :func:`mid_sagittal_plane` recovers that plane in world millimetres or voxel indices and
:func:`plane_error` compares it with a known one (the synthetic dataset's ground truth, :func:`planes_from_truth`).
:func:`symmetry_ncc` and :func:`symmetry_table` score how well each registered mirror lines up with the original,
against the naive array flip (notebook 02, ``benchmarks/symmetric_registration.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..errors import ConfigError, ImageError, PreprocessingError
from ..progress import progress_bar
from .symmetric import (
    LR_AXIS,
    SYM_PREFIX,
    RegistrationSettings,
    SymmetryRegistration,
    flip_left_right,
    symmetric_modalities,
)


def _linear_part(transform: sitk.Transform) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with transform(q) = A q + b, read off by mapping the origin and the unit vectors."""
    b = np.array(transform.TransformPoint((0.0, 0.0, 0.0)))
    A = np.stack([np.array(transform.TransformPoint(tuple(float(v) for v in e))) - b for e in np.eye(3)], axis=1)
    return A, b


def mirror_map(transform, case) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) of the map q ↦ flip(transform(q)) in scaled voxel space: where the sym channel at q reads from.

    For a rigid registration of a symmetric head it is the reflection about the mid-sagittal plane.
    """
    if isinstance(transform, SymmetryRegistration):
        transform = transform.transform
    A, b = _linear_part(transform)
    flip = np.diag([-1.0, 1.0, 1.0])
    extent = (case.shape[LR_AXIS] - 1) * case.spacing[LR_AXIS]
    return flip @ A, flip @ b + np.array([extent, 0.0, 0.0])


def mid_sagittal_plane(transform, case, space: str = "world") -> tuple[np.ndarray, np.ndarray]:
    """Point and unit normal of the mid-sagittal plane that the registration found (§3.1).

    The mirror map flip ∘ transform (see :func:`mirror_map`) has one eigenvalue near -1; its eigenvector is the
    plane's normal, and the midpoint of the brain's centre and its mirror image is the point (the projection of the
    brain centre onto the plane). ``space`` is ``world`` (NIfTI mm, via the affine) or ``voxel`` (array indices).
    The normal points towards +X of the array.
    """
    A, b = mirror_map(transform, case)
    values, vectors = np.linalg.eig(A)
    normal = np.real(vectors[:, np.argmin(np.real(values))])
    spacing = np.asarray(case.spacing, dtype=np.float64)
    mask = np.asarray(case.brain_mask)
    centre = (np.argwhere(mask).mean(axis=0) if mask.any() else (np.asarray(case.shape) - 1) / 2.0) * spacing
    point = (centre + A @ centre + b) / 2.0
    point_vox, normal_vox = point / spacing, normal * spacing  # plane n·(s⊙i - p) = 0 in indices i
    if space == "voxel":
        point_out, normal_out = point_vox, normal_vox
    elif space == "world":
        linear = np.asarray(case.affine, dtype=np.float64)[:3, :3]
        point_out = linear @ point_vox + np.asarray(case.affine, dtype=np.float64)[:3, 3]
        normal_out = np.linalg.inv(linear).T @ normal_vox
        normal_out *= np.sign(normal_out @ linear[:, LR_AXIS]) or 1.0
    else:
        raise ConfigError(f"unknown space {space!r}; use 'world' or 'voxel'")
    normal_out = normal_out / np.linalg.norm(normal_out)
    if space == "voxel":
        normal_out *= np.sign(normal_out[LR_AXIS]) or 1.0
    return point_out, normal_out


def plane_error(point, normal, true_point, true_normal) -> tuple[float, float]:
    """(angle in degrees between the planes, distance in mm from ``point`` to the true plane)."""
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    true_normal = np.asarray(true_normal, float) / np.linalg.norm(true_normal)
    angle = float(np.degrees(np.arccos(np.clip(abs(normal @ true_normal), 0.0, 1.0))))
    distance = float(abs((np.asarray(point, float) - np.asarray(true_point, float)) @ true_normal))
    return angle, distance


def plane_summary(transform, case) -> dict:
    """Where the registration put the mid-sagittal plane of a case without a known plane (real MRI): its tilt from the
    grid's own sagittal plane (the plane the array flip mirrors about; degrees between the plane's normal and the
    grid's x axis, in mm), the same from the scanner's sagittal plane (world x axis: it includes an oblique
    acquisition), and its offset from the grid's centre along x at the brain centre, in voxels and mm."""
    _, normal_world = mid_sagittal_plane(transform, case)
    point_voxel, normal_voxel = mid_sagittal_plane(transform, case, space="voxel")
    normal_grid_mm = normal_voxel / np.asarray(case.spacing, dtype=np.float64)  # voxel-index normal → grid mm
    normal_grid_mm /= np.linalg.norm(normal_grid_mm)
    offset = float(point_voxel[LR_AXIS] - (case.shape[LR_AXIS] - 1) / 2.0)
    return {"tilt_from_grid_deg": float(np.degrees(np.arccos(np.clip(abs(normal_grid_mm[LR_AXIS]), 0.0, 1.0)))),
            "tilt_from_scanner_deg": float(np.degrees(np.arccos(np.clip(abs(normal_world[0]), 0.0, 1.0)))),
            "offset_from_grid_centre_voxels": offset, "offset_mm": offset * float(case.spacing[LR_AXIS])}


def ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Normalised cross-correlation (Pearson's r) of two volumes, inside ``mask`` when given."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if mask is not None:
        a, b = a[mask], b[mask]
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def symmetry_ncc(case, sym_case) -> pd.DataFrame:
    """NCC inside the brain between each modality and its mirror: registered ``sym_`` channel vs naive array flip.

    ``case`` gives the original modalities and brain mask; ``sym_case`` is the output of
    :func:`add_symmetric_modalities` (it may be the same object). A higher NCC means the mirror lines up better
    with the original; a lesion lowers both figures alike.
    """
    mask = np.asarray(case.brain_mask, dtype=bool)
    if not mask.any():
        raise PreprocessingError(f"case {case.case_id}: the brain mask is empty; NCC inside the brain is undefined")
    rows = []
    for m in (m for m in case.modalities if not m.startswith(SYM_PREFIX)):
        if SYM_PREFIX + m not in sym_case.modalities:
            raise ImageError(f"case {sym_case.case_id} has no {SYM_PREFIX}{m} channel; run add_symmetric_modalities first")
        original = case.channel(m)
        rows.append({"modality": m,
                     "registered": ncc(original, sym_case.channel(SYM_PREFIX + m), mask),
                     "naive_flip": ncc(original, flip_left_right(original), mask)})
    table = pd.DataFrame(rows).set_index("modality")
    table["gain"] = table["registered"] - table["naive_flip"]
    return table


def symmetry_table(
    cases,
    reference: str | None = None,
    transform: str = "rigid",
    cache_dir: str | Path | None = None,
    settings: RegistrationSettings | None = None,
    truths: dict | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Add the symmetric modalities to each case (cached when ``cache_dir`` is given) and measure them.

    One row per case and modality: NCC of the registered mirror and of the naive flip (:func:`symmetry_ncc`), the
    time spent now (``seconds``: registration + resampling, 0 when read from the cache) and the registration time
    logged when it was computed (``registration_seconds``). With ``truths``
    ({case_id: (point_mm, normal)} of the true mid-sagittal plane in world mm) it adds the plane errors
    (:func:`plane_error`). Symmetric images are not kept, so any number of cases fits in memory.
    """
    frames = []
    for case in progress_bar(cases, desc="symmetric modalities", disable=not progress, leave=False):
        start = time.perf_counter()
        sym_case, registration = symmetric_modalities(case, reference, transform, cache_dir, settings)
        seconds = 0.0 if registration.from_cache else time.perf_counter() - start
        frame = symmetry_ncc(case, sym_case).reset_index()
        frame.insert(0, "case", str(case.case_id))
        frame["seconds"] = seconds
        frame["registration_seconds"] = registration.seconds  # as logged when computed, also for cache hits
        frame["from_cache"] = registration.from_cache
        if truths is not None and str(case.case_id) in truths:
            true_point, true_normal = truths[str(case.case_id)]
            angle, distance = plane_error(*mid_sagittal_plane(registration, case), true_point, true_normal)
            frame["plane_angle_deg"], frame["plane_distance_mm"] = angle, distance
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).set_index(["case", "modality"])


def planes_from_truth(truth: dict, split: str = "training", space: str = "world") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{case id: (point, normal)} of the true mid-sagittal planes in a synthetic dataset's ground truth
    (:func:`strokelib.synthetic.dataset.read_truth`), in world mm (``space="world"``) or voxel indices (``"voxel"``)."""
    if space not in ("world", "voxel"):
        raise ConfigError(f"unknown space {space!r}; use 'world' or 'voxel'")
    try:
        cases = truth["cases"][split]
        return {str(case_id): (np.asarray(c["midsagittal_plane"][f"point_{space}"], float),
                               np.asarray(c["midsagittal_plane"][f"normal_{space}"], float))
                for case_id, c in cases.items()}
    except (KeyError, TypeError) as exc:
        raise ConfigError(
            f"the ground truth has no mid-sagittal planes for split {split!r} ({type(exc).__name__}: {exc}); "
            "pass the dict returned by strokelib.synthetic.dataset.read_truth"
        ) from exc
