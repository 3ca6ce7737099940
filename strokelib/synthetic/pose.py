"""Synthetic data, part 3: head pose, resampling onto the output grid, and acquisition artefacts (paper §3.1, §2).

Symmetric modality augmentation (§3.1) has to *find* the mid-sagittal plane by registering a flipped image onto
itself. So that it has something to find, every synthetic head gets a random pose — rotations up to ±10° about each
axis, translations up to ±8 mm and an isotropic scale of ±7 % about the brain centre — and the plane's true position
is recorded (:func:`midsagittal_plane`, :func:`signed_midplane_distance`). Template maps are pulled onto the output
grid in one resampling each. Then what MR acquisition adds: a smooth multiplicative coil bias, Rician noise on
magnitude images (Gaussian on perfusion maps) and EPI susceptibility spots on DWI near the skull base
(orbitofrontal cortex, temporal poles), bright but not lesions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

MAX_ROTATION_DEG = 10.0
MAX_TRANSLATION_MM = 8.0
SCALE_RANGE = (0.93, 1.07)
MAGNITUDE = {"Flair", "T1", "T1c", "T2", "DWI"}  # MR magnitude images: coil bias field and Rician noise
PERFUSION_NOISE = {"CBF": 0.12, "CBV": 0.12, "Tmax": 0.7, "TTP": 0.07}  # Gaussian sigma / level (Tmax: 0.7 s)
ARTEFACT_SPOTS_MNI = ((-20.0, 35.0, -22.0), (20.0, 35.0, -22.0), (-42.0, 12.0, -35.0), (42.0, 12.0, -35.0))


def pose_matrix(rotation_deg, translation_mm, scale: float, centre) -> np.ndarray:
    """4×4 map template world → head world: rotate (extrinsic x, y, z) and scale about ``centre``, then translate."""
    linear = Rotation.from_euler("xyz", rotation_deg, degrees=True).as_matrix() * scale
    pose = np.eye(4)
    pose[:3, :3] = linear
    pose[:3, 3] = np.asarray(centre) + np.asarray(translation_mm) - linear @ np.asarray(centre)
    return pose


def output_affine(shape, spacing: float, tpl: dict) -> np.ndarray:
    """Diagonal output affine centred on the brain; when the grid is short in z the top of the brain is kept."""
    centre = tpl["centre"].copy()
    fov_z = shape[2] * spacing
    z_lo, z_hi = tpl["world_lo"][2], tpl["world_hi"][2]
    if fov_z < (z_hi - z_lo) + 20:  # cut the brainstem/cerebellum rather than the vertex
        centre[2] = z_hi + 10 - fov_z / 2
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = centre - spacing * (np.asarray(shape) - 1) / 2
    return affine


def output_box(vox_to_tpl: np.ndarray, tpl_lo, tpl_hi, shape) -> tuple[np.ndarray, np.ndarray]:
    """Output-voxel bounding box (lo, hi) of a template-voxel box, clipped to the grid."""
    corners = np.array(np.meshgrid(*zip(tpl_lo, tpl_hi, strict=True), indexing="ij")).reshape(3, -1).T.astype(float)
    tpl_to_vox = np.linalg.inv(vox_to_tpl)
    out = corners @ tpl_to_vox[:3, :3].T + tpl_to_vox[:3, 3]
    lo = np.clip(np.floor(out.min(axis=0)) - 1, 0, shape).astype(int)
    hi = np.clip(np.ceil(out.max(axis=0)) + 2, 0, shape).astype(int)
    return lo, np.maximum(hi, lo)


def resample(volume: np.ndarray, vox_to_tpl: np.ndarray, lo: np.ndarray, hi: np.ndarray, order: int = 1) -> np.ndarray:
    """Pull a template volume onto the output voxels ``lo:hi`` (trilinear, or nearest for a mask): one resampling per map."""
    matrix = vox_to_tpl[:3, :3]
    offset = vox_to_tpl[:3, 3] + matrix @ lo
    return ndimage.affine_transform(volume, matrix, offset=offset, output_shape=tuple(hi - lo), order=order,
                                    mode="constant", cval=0, output=None if order == 0 else np.float32)


def resample_into(volume: np.ndarray, vox_to_tpl, region_lo, region_hi, shape) -> np.ndarray:
    """Resample a sparse template map (a lesion) over its own bounding box only, placed in the region's frame."""
    out = np.zeros(tuple(region_hi - region_lo), np.float32)
    nz = np.argwhere(volume != 0)
    if nz.size == 0:
        return out
    lo, hi = output_box(vox_to_tpl, nz.min(axis=0) - 1, nz.max(axis=0) + 1, shape)
    lo, hi = np.maximum(lo, region_lo), np.minimum(hi, region_hi)
    if np.any(hi <= lo):
        return out
    sl = tuple(slice(a - r, b - r) for a, b, r in zip(lo, hi, region_lo, strict=True))
    out[sl] = resample(volume, vox_to_tpl, lo, hi)
    return out


def spots(centres, gains, widths, vox_to_world: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum of Gaussian spots (world mm centres and widths) on the output voxels ``lo:hi``, each evaluated in its own
    3-sigma box only; the voxel → world map is affine, so a box's coordinates come from three broadcast axes."""
    out = np.zeros(tuple(hi - lo), np.float32)
    world_to_vox = np.linalg.inv(vox_to_world)
    step = np.abs(np.linalg.det(vox_to_world[:3, :3])) ** (1 / 3)  # mm per voxel
    for centre, gain, width in zip(centres, gains, widths, strict=True):  # a few spots, not a voxel loop
        if gain <= 0:
            continue
        c = world_to_vox[:3, :3] @ centre + world_to_vox[:3, 3]
        a = np.clip(np.floor(c - 3 * width / step).astype(int), lo, hi)
        b = np.clip(np.ceil(c + 3 * width / step).astype(int) + 1, lo, hi)
        if np.any(b <= a):
            continue
        i, j, k = (np.arange(a[d], b[d], dtype=np.float64) for d in range(3))
        m = vox_to_world[:3, :3]
        world = ((m[:, 0, None] * i)[:, :, None, None] + (m[:, 1, None] * j)[:, None, :, None]
                 + (m[:, 2, None] * k)[:, None, None, :] + (vox_to_world[:3, 3] - centre)[:, None, None, None])
        box = tuple(slice(x - y, z - y) for x, z, y in zip(a, b, lo, strict=True))
        out[box] += (gain * np.exp(-(world**2).sum(axis=0) / (2 * width**2))).astype(np.float32)
    return out


def artefact_spots(rng: np.random.Generator, vox_to_world: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """DWI susceptibility spots near the skull base: each of :data:`ARTEFACT_SPOTS_MNI` present with p = 0.6, its own
    gain (up to +90 %) and width (6–12 mm), jittered by 4 mm; returned as a relative gain on ``lo:hi``."""
    centres = np.array(ARTEFACT_SPOTS_MNI) + rng.normal(0, 4, size=(len(ARTEFACT_SPOTS_MNI), 3))
    gains = rng.uniform(0.0, 0.9, size=len(centres)) * (rng.uniform(size=len(centres)) < 0.6)
    widths = rng.uniform(6.0, 12.0, size=len(centres))
    return spots(centres, gains, widths, vox_to_world, lo, hi)


def rician(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels (MR magnitude images)."""
    real = clean + rng.standard_normal(clean.size, dtype=np.float32) * sigma
    imag = rng.standard_normal(clean.size, dtype=np.float32) * sigma
    return np.sqrt(real * real + imag * imag)


def midsagittal_plane(pose: np.ndarray, affine: np.ndarray, tpl: dict) -> dict:
    """The posed mid-sagittal plane (MNI x = 0) as a point and unit normal, in world mm and in output voxels."""
    point_tpl = np.array([0.0, tpl["centre"][1], tpl["centre"][2]])
    point = pose[:3, :3] @ point_tpl + pose[:3, 3]
    normal = np.linalg.inv(pose[:3, :3]).T @ np.array([1.0, 0.0, 0.0])  # normals move with the inverse transpose
    normal /= np.linalg.norm(normal)
    inv = np.linalg.inv(affine)
    point_vox = inv[:3, :3] @ point + inv[:3, 3]
    normal_vox = affine[:3, :3].T @ normal  # plane n·(A v + b − p) = 0 in voxel coordinates
    normal_vox /= np.linalg.norm(normal_vox)
    r = lambda a: [round(float(x), 4) for x in a]  # noqa: E731
    return {"point_world": r(point), "normal_world": r(normal), "point_voxel": r(point_vox),
            "normal_voxel": r(normal_vox)}


def signed_midplane_distance(case_truth: dict, voxels: np.ndarray) -> np.ndarray:
    """Signed distance in mm from (N, 3) voxel coordinates to the case's posed mid-sagittal plane (> 0: right)."""
    plane = case_truth["midsagittal_plane"]
    affine = np.asarray(case_truth["affine"], float)
    world = np.asarray(voxels, float) @ affine[:3, :3].T + affine[:3, 3]
    return (world - np.asarray(plane["point_world"])) @ np.asarray(plane["normal_world"])
