"""Synthetic data, part 1: the anatomy every synthetic case is made of (paper §2, the data it stands in for).

Nothing is downloaded: the healthy brain comes from the MNI152 (2009a, symmetric) templates that ship inside nilearn —
brain mask, grey- and white-matter probability maps and the T1 template — block-averaged to the voxel size of the
output grid. Tissue contrasts per modality (relative to white matter) turn the tissue fractions into images; smooth
random fields (random Fourier features) give lesion shapes, coil bias and slow perfusion variations. The output grids
(:data:`GEOMETRIES`) are the ISLES 2015 ones (§2.1 SISS 230×230×153/154 at 1 mm; SPES 96×110×72 at 2 mm, where §2.2
says 96×110×71 and a public loader of the released data 72) and half-resolution "small" ones for quick runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Geometry:
    """Output grid of one task/geometry: shape (X, Y, Z), isotropic spacing in mm, template voxel size in mm."""

    shape: tuple[int, int, int]
    spacing: float
    template_mm: int
    z_choices: tuple[int, ...] = ()  # per-case choice of slice count (SISS has 153 or 154 slices)


GEOMETRIES: dict[tuple[str, str], Geometry] = {
    ("SISS", "paper"): Geometry((230, 230, 153), 1.0, 1, z_choices=(153, 154)),
    ("SPES", "paper"): Geometry((96, 110, 72), 2.0, 2),
    ("SISS", "small"): Geometry((116, 116, 78), 2.0, 2),
    ("SPES", "small"): Geometry((48, 56, 36), 4.0, 4),
}

# Tissue contrasts relative to white matter (GM, WM, CSF) and a reference level in arbitrary units. "T1" uses the
# MNI T1 template itself (WM > GM > CSF). Perfusion maps: CBF/CBV in arbitrary units, Tmax/TTP in 0.01 s.
CONTRASTS: dict[str, tuple[float, float, float]] = {
    "Flair": (1.15, 1.0, 0.25),  # CSF suppressed
    "T2": (1.2, 1.0, 2.6),  # CSF brightest
    "DWI": (1.1, 1.0, 0.35),
    "ADC": (1.15, 1.0, 4.2),  # apparent diffusion coefficient: CSF about 3, tissue 0.7-0.9 (10^-3 mm^2/s)
    "CBF": (2.4, 1.0, 0.25),
    "CBV": (2.0, 1.0, 0.5),
    "Tmax": (0.9, 1.0, 2.5),  # CSF: long, noisy delays
    "TTP": (0.95, 1.0, 1.15),
}
LEVELS = {
    "Flair": 400.0,
    "T1": 800.0,
    "T1c": 800.0,
    "T2": 300.0,
    "DWI": 250.0,
    "CBF": 250.0,
    "CBV": 200.0,
    "Tmax": 100.0,
    "TTP": 1000.0,
}


def _block_mean(volume: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor``³ blocks (zero-padded at the far end): a box anti-alias filter and a downsampling in one."""
    if factor == 1:
        return volume
    volume = np.pad(volume, [(0, -n % factor) for n in volume.shape])
    x, y, z = (n // factor for n in volume.shape)
    return volume.reshape(x, factor, y, factor, z, factor).mean(axis=(1, 3, 5), dtype=np.float32)


@functools.lru_cache(maxsize=1)
def mni152() -> tuple[dict, np.ndarray]:
    """The 1 mm MNI152 (2009a symmetric) maps shipped with nilearn: brain mask, GM, WM and T1, masked, and the affine."""
    from nilearn import datasets as nd  # nilearn is slow to import; only needed here

    mask_img = nd.load_mni152_brain_mask(resolution=1)
    mask = (mask_img.get_fdata(dtype=np.float32) > 0).astype(np.float32)
    maps = {"mask": mask}
    for name, loader in (
        ("gm", nd.load_mni152_gm_template),
        ("wm", nd.load_mni152_wm_template),
        ("t1", nd.load_mni152_template),
    ):
        maps[name] = np.clip(loader(resolution=1).get_fdata(dtype=np.float32), 0, 1) * mask
    return maps, mask_img.affine.astype(np.float64)


@functools.lru_cache(maxsize=3)
def template(voxel_mm: int) -> dict:
    """The MNI152 maps block-averaged to ``voxel_mm``, the world coordinates of the lesion candidates (supratentorial
    GM/WM voxels) and the brain's bounding box."""
    mni, mni_affine = mni152()
    # C order: nibabel returns Fortran-ordered arrays, on which affine_transform runs about 3× slower.
    maps = {k: np.ascontiguousarray(_block_mean(v, voxel_mm)) for k, v in mni.items()}
    block = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    block[:3, 3] = (voxel_mm - 1) / 2  # a block's centre, in 1 mm voxels
    affine = mni_affine @ block
    # Lesion candidates: tissue (not CSF) above the tentorium (no cerebellum or brainstem).
    ijk = np.argwhere((maps["gm"] + maps["wm"]) > 0.5)
    xyz = (ijk @ affine[:3, :3].T + affine[:3, 3]).astype(np.float32)
    supra = (xyz[:, 2] > -40) & ~((xyz[:, 1] < -40) & (xyz[:, 2] < -12))
    ijk, xyz = ijk[supra], xyz[supra]
    inside = np.argwhere(maps["mask"] > 0)
    lo, hi = inside.min(axis=0), inside.max(axis=0)
    world_lo, world_hi = affine[:3, :3] @ lo + affine[:3, 3], affine[:3, :3] @ hi + affine[:3, 3]
    maps["brain"] = ndimage.binary_fill_holes(maps["mask"] > 0.5).astype(np.uint8)  # no zero voxels inside
    for v in (*maps.values(), ijk, xyz):
        v.setflags(write=False)
    return {
        **maps,
        "affine": affine,
        "ijk": ijk,
        "xyz": xyz,
        "bbox": (lo, hi + 1),
        "world_lo": world_lo,
        "world_hi": world_hi,
        "centre": (world_lo + world_hi) / 2,
    }


def draw_waves(rng: np.random.Generator, n_waves: int, wavelength: float) -> dict:
    """Random Fourier features of a smooth Gaussian random field with the given typical wavelength (same units as points)."""
    return {
        "omega": rng.normal(0.0, 2 * np.pi / wavelength, size=(n_waves, 3)).astype(np.float32),
        "phase": rng.uniform(0, 2 * np.pi, size=n_waves).astype(np.float32),
        "weight": (rng.normal(size=n_waves) * np.sqrt(2.0 / n_waves)).astype(np.float32),
    }


def field(waves: dict, points: np.ndarray) -> np.ndarray:
    """Evaluate a random-Fourier-feature field (unit variance on average) at (N, 3) points."""
    return np.cos(points.astype(np.float32) @ waves["omega"].T + waves["phase"]) @ waves["weight"]


def grid_field(waves: dict, axes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """The same field on the grid ``axes[0] × axes[1] × axes[2]`` (coordinates per axis), evaluated separably.

    cos(ω·x + φ) = Re(e^{iφ} e^{iω_x x} e^{iω_y y} e^{iω_z z}): a low-resolution field (a few waves) upsampled to the
    full grid by one small complex matrix product instead of one cosine per voxel and wave.
    """
    ex, ey, ez = (np.exp(1j * np.outer(waves["omega"][:, d], a)).astype(np.complex64) for d, a in enumerate(axes))
    amplitude = (waves["weight"] * np.exp(1j * waves["phase"])).astype(np.complex64)
    xy = amplitude[:, None, None] * ex[:, :, None] * ey[:, None, :]
    return np.tensordot(xy, ez, axes=(0, 0)).real.astype(np.float32)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One draw, uniform in log between ``lo`` and ``hi``: as many small values as large ones per decade."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def healthy_image(name: str, gm: np.ndarray, wm: np.ndarray, csf: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """The noise-free healthy image of modality ``name`` (relative units) from the tissue fractions and the T1."""
    if name in ("T1", "T1c"):
        return t1
    c_gm, c_wm, c_csf = CONTRASTS[name]
    return c_gm * gm + c_wm * wm + c_csf * csf
