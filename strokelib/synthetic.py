"""The embedded default dataset: ISLES 2015-like SISS and SPES cases synthesised from nilearn's MNI152 templates.

Nothing is downloaded. Each case is written in the ISLES 2015 layout (``docs/isles2015-data.md#layout-as-distributed``), so
:func:`strokelib.datasets.load_isles2015` reads synthetic and real data alike::

    <root>/SISS2015_Training/<i>/VSD.Brain.XX.O.MR_Flair.<id>/VSD.Brain.XX.O.MR_Flair.<id>.nii.gz
    <root>/SISS2015_Training/<i>/VSD.Brain.XX.O.OT.<id>/VSD.Brain.XX.O.OT.<id>.nii.gz
    <root>/SISS2015_Testing/<i>/...                                   (no OT)
    <root>/synthetic.json                                             ground truth of the generation
    <root>/synthetic_params.json                                      task, sizes, seed, geometry, version
    <root>/synthetic_files.json                                       size and content hash of every image

How a case is made (all in template space, then one pose resampling per map):

* tissue fractions from the MNI152 grey- and white-matter maps, CSF = brain mask − GM − WM, T1 from the T1 template;
* a lesion in one hemisphere, centred in a vascular-territory-like box (MCA, ACA, PCA), grown as the top-N voxels of
  a smooth random score so its volume is exact and its outline irregular but smooth; it never enters CSF;
* SISS (§2.1 of the paper, sub-acute): lesion bright on DWI, FLAIR and T2, dark on T1;
* SPES (§2.2, acute): a DWI-bright core with low CBF/CBV inside a larger region of raised Tmax/TTP and lowered CBF,
  surrounded by a ring of benign oligemia (Tmax mildly raised, not labelled). The label (OT) plays the ISLES 2015
  penumbra label: the whole hypoperfused tissue at risk, **core included**, bounded where the Tmax excess reaches
  about 6 s. The paper calls the label the perfusion/diffusion mismatch, and whether the real label leaves the core
  out is not documented (``docs/isles2015-data.md#spes-labels``: check ``np.unique(OT)``); one filled region keeps the synthetic
  task well posed. ``truth["core_volume_ml"]`` gives the core's share;
* some cases carry a confounder: an old-lesion-like FLAIR/T2 hyperintensity without DWI signal, not in the label (the
  paper's SISS case 13 failure mode, §4.1.1);
* a random head pose (rotations up to ±10° about each axis, translations up to ±8 mm, isotropic scale ±7 %) so the
  mid-sagittal plane is not the array's centre plane, then a smooth multiplicative bias field, a per-case intensity
  scale and Rician noise (Gaussian on the perfusion maps). Images are int16 in arbitrary units (Tmax and TTP in
  0.01 s), labels uint8 0/1. Background outside the posed brain is exactly 0, every brain voxel is ≥ 1.

Randomness: case ``i`` of a split draws from ``default_rng(SeedSequence(seed, spawn_key=(task, split, i)))``, so it is
the same whatever ``n_train``/``n_test``; the gzip writer of nibabel is deterministic, so the same seed gives identical bytes.
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation
from tqdm.auto import tqdm

from . import provenance
from .datasets import LABEL_TOKEN, task_modalities
from .errors import ConfigError, DataLayoutError, ProvenanceError
from .files import atomic_path, write_text

log = logging.getLogger(__name__)

VERSION = 2  # bump when the generated data change, so ensure_synthetic regenerates old datasets
TRUTH_FILE = "synthetic.json"
PARAMS_FILE = "synthetic_params.json"
FILES_FILE = "synthetic_files.json"  # size and content hash of every image file, recorded at generation
SPLIT_KEYS = {"training": 0, "testing": 1}
TASK_KEYS = {"SISS": 0, "SPES": 1}


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

# Vascular-territory-like boxes in MNI mm: (|x| range, y range, z range). Crude, but they put lesions where
# infarcts of the middle, anterior and posterior cerebral arteries lie.
TERRITORIES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "MCA": ((18.0, 70.0), (-75.0, 45.0), (-20.0, 65.0)),
    "ACA": ((3.0, 22.0), (-45.0, 60.0), (5.0, 75.0)),
    "PCA": ((3.0, 50.0), (-105.0, -50.0), (-20.0, 25.0)),
}
TERRITORY_P = {"SISS": (0.7, 0.15, 0.15), "SPES": (0.85, 0.1, 0.05)}
VOLUME_RANGE_ML = {"SISS": (1.0, 300.0), "SPES": (20.0, 350.0)}
CONFOUNDER_P = 0.3
CONFOUNDER_RANGE_ML = (2.0, 25.0)
MIDLINE_MARGIN_MM = 4.0

# Tissue contrasts relative to white matter (GM, WM, CSF) and a reference level in arbitrary units. "T1" uses the
# MNI T1 template itself (WM > GM > CSF). Perfusion maps: CBF/CBV in arbitrary units, Tmax/TTP in 0.01 s.
CONTRASTS: dict[str, tuple[float, float, float]] = {
    "Flair": (1.15, 1.0, 0.25),  # CSF suppressed
    "T2": (1.2, 1.0, 2.6),  # CSF brightest
    "DWI": (1.1, 1.0, 0.35),
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
MAGNITUDE = {"Flair", "T1", "T1c", "T2", "DWI"}  # MR magnitude images: coil bias field and Rician noise
PERFUSION_NOISE = {"CBF": 0.12, "CBV": 0.12, "Tmax": 0.7, "TTP": 0.07}  # Gaussian sigma / level (Tmax: 0.7 s)
ARTEFACT_SPOTS_MNI = ((-20.0, 35.0, -22.0), (20.0, 35.0, -22.0), (-42.0, 12.0, -35.0), (42.0, 12.0, -35.0))


@dataclass
class SyntheticCase:
    """One generated case: int16 images per modality, uint8 label, the output affine and its ground truth.

    ``maps`` (only with ``keep_maps=True``) holds float32 (X, Y, Z) volumes in the output grid: ``gm``, ``wm``,
    ``csf`` (tissue fractions inside the brain), ``brain`` (bool), ``confounder`` (bool) and for SPES ``core`` (bool)
    and ``severity`` (the perfusion deficit: 0 outside the oligemic ring, 1 at the label border, up to 2.5).
    """

    images: dict[str, np.ndarray]
    label: np.ndarray
    affine: np.ndarray
    truth: dict
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


# ---------------------------------------------------------------------------------------------------------
# templates and random fields
# ---------------------------------------------------------------------------------------------------------


def _block_mean(volume: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor``³ blocks (zero-padded at the far end): a box anti-alias filter and a downsampling in one."""
    if factor == 1:
        return volume
    volume = np.pad(volume, [(0, -n % factor) for n in volume.shape])
    x, y, z = (n // factor for n in volume.shape)
    return volume.reshape(x, factor, y, factor, z, factor).mean(axis=(1, 3, 5), dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _mni152() -> tuple[dict, np.ndarray]:
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
def _template(voxel_mm: int) -> dict:
    """The MNI152 maps block-averaged to ``voxel_mm``, the world coordinates of the lesion candidates (supratentorial
    GM/WM voxels) and the brain's bounding box."""
    mni, mni_affine = _mni152()
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
    maps["brain"] = ndimage.binary_fill_holes(maps["mask"] > 0.5).astype(
        np.uint8
    )  # no zero voxels inside the brain
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


def _draw_waves(rng: np.random.Generator, n_waves: int, wavelength: float) -> dict:
    """Random Fourier features of a smooth Gaussian random field with the given typical wavelength (same units as points)."""
    return {
        "omega": rng.normal(0.0, 2 * np.pi / wavelength, size=(n_waves, 3)).astype(np.float32),
        "phase": rng.uniform(0, 2 * np.pi, size=n_waves).astype(np.float32),
        "weight": (rng.normal(size=n_waves) * np.sqrt(2.0 / n_waves)).astype(np.float32),
    }


def _field(waves: dict, points: np.ndarray) -> np.ndarray:
    """Evaluate a random-Fourier-feature field (unit variance on average) at (N, 3) points."""
    return np.cos(points.astype(np.float32) @ waves["omega"].T + waves["phase"]) @ waves["weight"]


def _grid_field(waves: dict, axes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """The same field on the grid ``axes[0] × axes[1] × axes[2]`` (coordinates per axis), evaluated separably.

    cos(ω·x + φ) = Re(e^{iφ} e^{iω_x x} e^{iω_y y} e^{iω_z z}): a low-resolution field (a few waves) upsampled to the
    full grid by one small complex matrix product instead of one cosine per voxel and wave.
    """
    ex, ey, ez = (
        np.exp(1j * np.outer(waves["omega"][:, d], a)).astype(np.complex64) for d, a in enumerate(axes)
    )
    amplitude = (waves["weight"] * np.exp(1j * waves["phase"])).astype(np.complex64)
    xy = amplitude[:, None, None] * ex[:, :, None] * ey[:, None, :]
    return np.tensordot(xy, ez, axes=(0, 0)).real.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# lesions in template space
# ---------------------------------------------------------------------------------------------------------


def _draw_blob(rng: np.random.Generator, centre: np.ndarray, volume_mm3: float, box=None) -> dict:
    """Parameters of an irregular, smooth lesion-like blob: centre, anisotropic radii, shape noise, territory box."""
    radius = (3 * volume_mm3 / (4 * np.pi)) ** (1 / 3)
    return {
        "centre": np.asarray(centre, np.float32),
        "radii": (radius * rng.uniform(0.75, 1.35, size=3)).astype(np.float32),
        "waves": _draw_waves(rng, 16, wavelength=rng.uniform(1.5, 3.0)),
        "noise": float(rng.uniform(0.2, 0.4)),
        "box": box,
    }


def _blob_score(blob: dict, xyz: np.ndarray, n_best: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Smooth score, highest at the blob centre: −(scaled distance) + shape noise − distance outside the territory.

    The top-N voxels of this score form the blob; its level sets are nested, so a core and an oligemic ring are the
    top-N' voxels of the same score with N' smaller or larger. Returns the indices of the points that can be among
    the ``n_best`` highest (all points when ``None``) and their scores.
    """
    u = (xyz - blob["centre"]) / blob["radii"]
    score = -np.sqrt((u * u).sum(axis=1))
    if blob["box"] is not None:
        (ax0, ax1), (y0, y1), (z0, z1) = blob["box"]
        lo = np.array([ax0, y0, z0], np.float32)
        hi = np.array([ax1, y1, z1], np.float32)
        q = np.column_stack([np.abs(xyz[:, 0]), xyz[:, 1], xyz[:, 2]])
        outside = np.linalg.norm(np.maximum(lo - q, 0) + np.maximum(q - hi, 0), axis=1)
        score -= 0.75 * outside / float(blob["radii"].min())  # soft: big lesions spill past the box
    keep = np.arange(score.size)
    if n_best is not None and n_best < score.size:
        # |noise| ≤ noise·Σ|w|: a point whose noiseless score is twice that below the n-th best noiseless score can
        # never enter the top n, so the (costly) noise is evaluated on the other points only.
        bound = blob["noise"] * float(np.abs(blob["waves"]["weight"]).sum())
        kth = np.partition(score, score.size - n_best)[score.size - n_best]
        keep = np.flatnonzero(score >= kth - 2 * bound)
    return keep, score[keep] + blob["noise"] * _field(blob["waves"], u[keep])


def _top(score: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """Indices of the ``n`` highest scores and the threshold score (the n-th highest)."""
    n = int(np.clip(n, 1, score.size))
    idx = np.argpartition(-score, n - 1)[:n]
    return idx, float(score[idx].min())


def _pick_centre(rng: np.random.Generator, xyz: np.ndarray, box, side: int) -> np.ndarray:
    """The tissue point nearest to a uniform random point of ``box`` in hemisphere ``side`` (−1 left, +1 right in MNI
    x); drawn in mm, so it hardly depends on the template resolution."""
    (ax0, ax1), (y0, y1), (z0, z1) = box
    target = rng.uniform([ax0, y0, z0], [ax1, y1, z1]) * [side, 1, 1]
    ax = np.abs(xyz[:, 0])
    ok = (np.sign(xyz[:, 0]) == side) & (ax >= ax0) & (ax <= ax1) & (xyz[:, 1] >= y0) & (xyz[:, 1] <= y1)
    ok &= (xyz[:, 2] >= z0) & (xyz[:, 2] <= z1)
    candidates = xyz[ok]
    return candidates[np.argmin(((candidates - target) ** 2).sum(axis=1))]


def _template_lesions(task: str, tpl: dict, rng: np.random.Generator, scale: float) -> tuple[dict, dict]:
    """Lesion maps in template space (float32 volumes) and their description for the ground truth.

    Maps: ``lesion`` (the label region), ``confounder``; SPES also ``core`` and ``severity`` (perfusion deficit:
    0 outside the oligemic ring, 1 at the label border, larger towards the centre).
    """
    xyz, ijk = tpl["xyz"], tpl["ijk"]
    shape = tpl["mask"].shape
    voxel_mm3 = float(abs(np.linalg.det(tpl["affine"][:3, :3]))) * scale**3  # output mm³ per template voxel
    side = int(rng.choice([-1, 1]))
    territory = str(rng.choice(list(TERRITORIES), p=TERRITORY_P[task]))
    box = TERRITORIES[territory]
    lo_ml, hi_ml = VOLUME_RANGE_ML[task]
    volume_ml = float(np.exp(rng.uniform(np.log(lo_ml), np.log(hi_ml))))
    hemi = np.flatnonzero(side * xyz[:, 0] > MIDLINE_MARGIN_MM)
    blob = _draw_blob(rng, _pick_centre(rng, xyz, box, side), volume_ml * 1000 / scale**3, box)
    n_label = round(volume_ml * 1000 / voxel_mm3)
    olig_factor = float(rng.uniform(1.3, 1.8)) if task == "SPES" else 1.0
    keep, score = _blob_score(blob, xyz[hemi], n_best=round(n_label * olig_factor))
    candidates = hemi[keep]  # indices into the template's lesion candidates
    label_idx, label_tau = _top(score, n_label)
    maps: dict[str, np.ndarray] = {}

    def volume_of(indices: np.ndarray, values: np.ndarray | float = 1.0) -> np.ndarray:
        """A template-shaped volume holding ``values`` at ``candidates[indices]``."""
        vol = np.zeros(shape, np.float32)
        sel = ijk[candidates[indices]]
        vol[sel[:, 0], sel[:, 1], sel[:, 2]] = values
        return vol

    maps["lesion"] = volume_of(label_idx)
    info = {
        "lesion_side": "right" if side > 0 else "left",
        "territory": territory,
        "target_volume_ml": round(volume_ml, 3),
        "lesion_centre_mni_mm": [round(float(c), 1) for c in blob["centre"]],
    }
    if task == "SPES":
        core_fraction = float(rng.uniform(0.1, 0.5))
        olig_idx, olig_tau = _top(score, round(n_label * olig_factor))
        # Severity rises linearly from 0 at the oligemia border to 1 at the label border, then to 2.5 at the centre.
        s_olig = score[olig_idx]
        top = float(s_olig.max())
        severity = np.where(
            s_olig < label_tau,
            (s_olig - olig_tau) / max(label_tau - olig_tau, 1e-6),
            1 + 1.5 * (s_olig - label_tau) / max(top - label_tau, 1e-6),
        ).clip(0, 2.5)
        maps["severity"] = volume_of(olig_idx, severity)
        # The core: the centre of the same score, reshaped by its own noise, kept inside the label.
        core_waves = _draw_waves(rng, 16, wavelength=rng.uniform(1.5, 3.0))
        u = (xyz[candidates[label_idx]] - blob["centre"]) / blob["radii"]
        core_score = score[label_idx] + 0.3 * _field(core_waves, u)
        core_sel, _ = _top(core_score, round(n_label * core_fraction))
        maps["core"] = volume_of(label_idx[core_sel])
        info["core_fraction_target"] = round(core_fraction, 3)
        info["oligemia_factor"] = round(olig_factor, 3)
    # Confounder: an old lesion elsewhere, kept a few mm away from the label (its score is an explicit function of
    # position, so the guard is one more evaluation of it).
    info["confounder"] = bool(rng.uniform() < CONFOUNDER_P)
    if info["confounder"]:
        c_side = int(rng.choice([-1, 1]))
        c_ml = float(np.exp(rng.uniform(*np.log(CONFOUNDER_RANGE_ML))))
        c_hemi = np.flatnonzero(c_side * xyz[:, 0] > MIDLINE_MARGIN_MM)
        c_blob = _draw_blob(
            rng,
            _pick_centre(rng, xyz, TERRITORIES[str(rng.choice(list(TERRITORIES)))], c_side),
            c_ml * 1000 / scale**3,
        )
        n_conf = round(c_ml * 1000 / voxel_mm3)
        c_keep, c_score = _blob_score(c_blob, xyz[c_hemi], n_best=n_conf)
        c_candidates = c_hemi[c_keep]
        if c_side == side:  # keep it about 6 mm away from the label
            _, near = _blob_score(blob, xyz[c_candidates])
            c_score[near > label_tau - 6.0 / float(blob["radii"].min())] = -np.inf
        c_idx, _ = _top(c_score, n_conf)
        c_idx = c_idx[np.isfinite(c_score[c_idx])]
        vol = np.zeros(shape, np.float32)
        sel = ijk[c_candidates[c_idx]]
        vol[sel[:, 0], sel[:, 1], sel[:, 2]] = 1.0
        maps["confounder"] = vol
        info["confounder_side"] = "right" if c_side > 0 else "left"
        info["confounder_target_volume_ml"] = round(c_ml, 3)
    return maps, info


# ---------------------------------------------------------------------------------------------------------
# pose and resampling
# ---------------------------------------------------------------------------------------------------------


def _pose(rotation_deg, translation_mm, scale: float, centre) -> np.ndarray:
    """4×4 map template world → head world: rotate (extrinsic x, y, z) and scale about ``centre``, then translate."""
    linear = Rotation.from_euler("xyz", rotation_deg, degrees=True).as_matrix() * scale
    pose = np.eye(4)
    pose[:3, :3] = linear
    pose[:3, 3] = np.asarray(centre) + np.asarray(translation_mm) - linear @ np.asarray(centre)
    return pose


def _output_affine(shape, spacing: float, tpl: dict) -> np.ndarray:
    """Diagonal output affine centred on the brain; when the grid is short in z the top of the brain is kept."""
    centre = tpl["centre"].copy()
    fov_z = shape[2] * spacing
    z_lo, z_hi = tpl["world_lo"][2], tpl["world_hi"][2]
    if fov_z < (z_hi - z_lo) + 20:  # cut the brainstem/cerebellum rather than the vertex
        centre[2] = z_hi + 10 - fov_z / 2
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = centre - spacing * (np.asarray(shape) - 1) / 2
    return affine


def _output_box(vox_to_tpl: np.ndarray, tpl_lo, tpl_hi, shape) -> tuple[np.ndarray, np.ndarray]:
    """Output-voxel bounding box (lo, hi) of a template-voxel box, clipped to the grid."""
    corners = (
        np.array(np.meshgrid(*zip(tpl_lo, tpl_hi, strict=True), indexing="ij")).reshape(3, -1).T.astype(float)
    )
    tpl_to_vox = np.linalg.inv(vox_to_tpl)
    out = corners @ tpl_to_vox[:3, :3].T + tpl_to_vox[:3, 3]
    lo = np.clip(np.floor(out.min(axis=0)) - 1, 0, shape).astype(int)
    hi = np.clip(np.ceil(out.max(axis=0)) + 2, 0, shape).astype(int)
    return lo, np.maximum(hi, lo)


def _resample(
    volume: np.ndarray, vox_to_tpl: np.ndarray, lo: np.ndarray, hi: np.ndarray, order: int = 1
) -> np.ndarray:
    """Pull a template volume onto the output voxels ``lo:hi`` (trilinear, or nearest for a mask): one resampling per map."""
    matrix = vox_to_tpl[:3, :3]
    offset = vox_to_tpl[:3, 3] + matrix @ lo
    return ndimage.affine_transform(
        volume,
        matrix,
        offset=offset,
        output_shape=tuple(hi - lo),
        order=order,
        mode="constant",
        cval=0,
        output=None if order == 0 else np.float32,
    )


def _resample_into(volume: np.ndarray, vox_to_tpl, region_lo, region_hi, shape) -> np.ndarray:
    """Resample a sparse template map (a lesion) over its own bounding box only, placed in the region's frame."""
    out = np.zeros(tuple(region_hi - region_lo), np.float32)
    nz = np.argwhere(volume != 0)
    if nz.size == 0:
        return out
    lo, hi = _output_box(vox_to_tpl, nz.min(axis=0) - 1, nz.max(axis=0) + 1, shape)
    lo, hi = np.maximum(lo, region_lo), np.minimum(hi, region_hi)
    if np.any(hi <= lo):
        return out
    sl = tuple(slice(a - r, b - r) for a, b, r in zip(lo, hi, region_lo, strict=True))
    out[sl] = _resample(volume, vox_to_tpl, lo, hi)
    return out


def _spots(centres, gains, widths, vox_to_world: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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
        offset = vox_to_world[:3, 3] - centre
        m = vox_to_world[:3, :3]
        world = (
            (m[:, 0, None] * i)[:, :, None, None]
            + (m[:, 1, None] * j)[:, None, :, None]
            + (m[:, 2, None] * k)[:, None, None, :]
            + offset[:, None, None, None]
        )
        box = tuple(slice(x - y, z - y) for x, z, y in zip(a, b, lo, strict=True))
        out[box] += (gain * np.exp(-(world**2).sum(axis=0) / (2 * width**2))).astype(np.float32)
    return out


def _midsagittal_plane(pose: np.ndarray, affine: np.ndarray, tpl: dict) -> dict:
    """The posed mid-sagittal plane (MNI x = 0) as a point and unit normal, in world mm and in output voxels."""
    point_tpl = np.array([0.0, tpl["centre"][1], tpl["centre"][2]])
    point = pose[:3, :3] @ point_tpl + pose[:3, 3]
    normal = np.linalg.inv(pose[:3, :3]).T @ np.array(
        [1.0, 0.0, 0.0]
    )  # normals move with the inverse transpose
    normal /= np.linalg.norm(normal)
    inv = np.linalg.inv(affine)
    point_vox = inv[:3, :3] @ point + inv[:3, 3]
    normal_vox = affine[:3, :3].T @ normal  # plane n·(A v + b − p) = 0 in voxel coordinates
    normal_vox /= np.linalg.norm(normal_vox)
    r = lambda a: [round(float(x), 4) for x in a]  # noqa: E731
    return {
        "point_world": r(point),
        "normal_world": r(normal),
        "point_voxel": r(point_vox),
        "normal_voxel": r(normal_vox),
    }


def signed_midplane_distance(case_truth: dict, voxels: np.ndarray) -> np.ndarray:
    """Signed distance in mm from (N, 3) voxel coordinates to the case's posed mid-sagittal plane (> 0: right)."""
    plane = case_truth["midsagittal_plane"]
    affine = np.asarray(case_truth["affine"], float)
    world = np.asarray(voxels, float) @ affine[:3, :3].T + affine[:3, 3]
    return (world - np.asarray(plane["point_world"])) @ np.asarray(plane["normal_world"])


# ---------------------------------------------------------------------------------------------------------
# one case
# ---------------------------------------------------------------------------------------------------------


def _check_task(task: str) -> str:
    task_modalities(task)  # raises ConfigError for an unknown task
    return str(task).upper()


def _geometry(task: str, geometry: str) -> Geometry:
    key = (task, str(geometry).lower())
    if key not in GEOMETRIES:
        names = sorted({g for _, g in GEOMETRIES})
        raise ConfigError(
            f"unknown synthetic geometry {geometry!r} for {task}: use one of {', '.join(names)}"
        )
    return GEOMETRIES[key]


def case_rng(task: str, seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of case ``index`` (1-based) of ``split``: independent of how many cases are generated."""
    if split not in SPLIT_KEYS:
        raise ConfigError(f"unknown split {split!r}: use 'training' or 'testing'")
    key = (TASK_KEYS[_check_task(task)], SPLIT_KEYS[split], int(index))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _rician(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels (MR magnitude images)."""
    real = clean + rng.standard_normal(clean.size, dtype=np.float32) * sigma
    imag = rng.standard_normal(clean.size, dtype=np.float32) * sigma
    return np.sqrt(real * real + imag * imag)


def synthesize_case(
    task: str, rng: np.random.Generator, geometry: str = "paper", keep_maps: bool = False
) -> SyntheticCase:
    """Generate one ISLES 2015-like case (see the module docstring for the model; §2.1 SISS, §2.2 SPES).

    Every random draw comes from ``rng`` in a fixed order, so one generator state gives one case.
    """
    task = _check_task(task)
    geo = _geometry(task, geometry)
    tpl = _template(geo.template_mm)

    # Pose (§3.1 needs a mid-sagittal plane to find: here it is tilted and shifted away from the array centre).
    rotation = rng.uniform(-10.0, 10.0, size=3)
    translation = rng.uniform(-8.0, 8.0, size=3)
    scale = float(rng.uniform(0.93, 1.07))
    z_pick = int(rng.integers(2))  # drawn for every geometry, so case i is the same subject in all of them
    shape = (*geo.shape[:2], geo.z_choices[z_pick % len(geo.z_choices)]) if geo.z_choices else geo.shape
    pose = _pose(rotation, translation, scale, tpl["centre"])
    affine = _output_affine(shape, geo.spacing, tpl)
    vox_to_tpl = np.linalg.inv(tpl["affine"]) @ np.linalg.inv(pose) @ affine

    lesion_maps, info = _template_lesions(task, tpl, rng, scale)

    # One resampling per map, over the posed brain's bounding box only.
    lo, hi = _output_box(vox_to_tpl, *tpl["bbox"], shape)
    region = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    # Nearest-neighbour resampling can leave single-voxel pits in the surface: fill them (the loader would).
    inside = ndimage.binary_fill_holes(_resample(tpl["brain"], vox_to_tpl, lo, hi, order=0))
    # Tissue fractions; at the brain's edge they sum to less than 1 and the rest is CSF (the subarachnoid space).
    gm = np.clip(_resample(tpl["gm"], vox_to_tpl, lo, hi)[inside], 0, 1)
    wm = np.clip(_resample(tpl["wm"], vox_to_tpl, lo, hi)[inside], 0, 1)
    wm = np.minimum(wm, 1 - gm)
    csf = 1 - gm - wm
    t1 = _resample(tpl["t1"], vox_to_tpl, lo, hi)[inside] / 0.87  # MNI T1 white matter ≈ 0.87
    lesion = {k: _resample_into(v, vox_to_tpl, lo, hi, shape)[inside] for k, v in lesion_maps.items()}
    lesion.setdefault("confounder", np.zeros_like(gm))
    axes = tuple(
        np.arange(a, b, dtype=np.float32) * geo.spacing for a, b in zip(lo, hi, strict=True)
    )  # output mm

    # Smooth fields: one coil bias shared by the MR magnitude images, one slow variation of the perfusion maps,
    # and a lesion heterogeneity (§4.1.1: case 5 fails on a heterogeneous lesion).
    coil = _grid_field(_draw_waves(rng, 8, wavelength=rng.uniform(150, 250)), axes)[inside]
    perf_waves = _draw_waves(rng, 8, wavelength=rng.uniform(80, 160))
    perf = _grid_field(perf_waves, axes)[inside] if task == "SPES" else None
    hetero = np.ones_like(gm)
    lesion_any = np.flatnonzero((lesion["lesion"] > 0) | (lesion["confounder"] > 0))
    near = np.zeros(inside.shape, bool)
    near[inside] = (lesion["lesion"] > 0) | (lesion["confounder"] > 0)
    points = ((np.argwhere(near) + lo) * geo.spacing).astype(np.float32)  # same order as lesion_any
    amplitude = rng.uniform(0.1, 0.3)
    hetero[lesion_any] = np.clip(
        1 + amplitude * _field(_draw_waves(rng, 24, wavelength=rng.uniform(10, 30)), points), 0.3, 1.7
    )
    hetero_perfusion = 1 + 0.4 * (hetero - 1)  # perfusion maps are smoother than diffusion
    # EPI susceptibility artefacts: DWI-bright spots near the skull base (orbitofrontal, temporal poles), not lesions.
    spots = np.array(ARTEFACT_SPOTS_MNI) + rng.normal(0, 4, size=(len(ARTEFACT_SPOTS_MNI), 3))
    spot_gain = rng.uniform(0.0, 0.9, size=len(spots)) * (rng.uniform(size=len(spots)) < 0.6)
    spot_width = rng.uniform(6.0, 12.0, size=len(spots))
    artefact = _spots(spots, spot_gain, spot_width, tpl["affine"] @ vox_to_tpl, lo, hi)[inside]
    noise_fraction = rng.uniform(0.02, 0.05)
    L, C = lesion["lesion"] * hetero, lesion["confounder"] * hetero
    confounder_factor = {
        "Flair": rng.uniform(1.4, 1.9),
        "T2": rng.uniform(1.5, 2.1),
        "T1": rng.uniform(0.55, 0.75),
        "T1c": rng.uniform(0.55, 0.75),
        "DWI": rng.uniform(0.8, 1.0),
        "CBF": rng.uniform(0.5, 0.8),
        "CBV": rng.uniform(0.5, 0.8),
    }
    if task == "SISS":
        lesion_factor = {
            "DWI": _log_uniform(rng, 1.3, 2.6),  # fades over the sub-acute weeks
            "Flair": rng.uniform(1.3, 1.7),
            "T2": rng.uniform(1.25, 1.6),
            "T1": rng.uniform(0.7, 0.88),
        }
    else:
        K, sev = lesion["core"] * hetero, lesion["severity"]
        core_factor = {
            "DWI": rng.uniform(1.6, 2.4),
            "T2": rng.uniform(1.0, 1.15),
            "T1c": rng.uniform(0.92, 1.0),
            "CBF": rng.uniform(0.3, 0.6),
            "CBV": rng.uniform(0.3, 0.6),
        }
        cbf_drop, cbv_rise = rng.uniform(0.35, 0.6), rng.uniform(0.0, 0.25)
        tmax_excess = rng.uniform(5.0, 7.0) * 100  # 0.01 s units: about 6 s at the label border
        ttp_ratio, arrival = rng.uniform(0.7, 1.0), rng.uniform(0.8, 1.2)

    images: dict[str, np.ndarray] = {}
    for name in task_modalities(task):
        level = LEVELS[name] * _log_uniform(rng, 0.75, 1.35)
        base = (
            t1
            if name in ("T1", "T1c")
            else CONTRASTS[name][0] * gm + CONTRASTS[name][1] * wm + CONTRASTS[name][2] * csf
        )
        value = base * level
        if name in confounder_factor:
            value = value * (1 + (confounder_factor[name] - 1) * C)
        if task == "SISS":
            value = value * (1 + (lesion_factor[name] - 1) * L)
        elif name in ("DWI", "T2", "T1c"):
            value = value * (1 + (core_factor[name] - 1) * K)
        elif name == "CBF":
            value = value * np.exp(-cbf_drop * sev) * (1 + (core_factor["CBF"] - 1) * K)
        elif name == "CBV":
            value = value * (1 + cbv_rise * np.minimum(sev, 1)) * (1 + (core_factor["CBV"] - 1) * K)
        elif name == "Tmax":
            value = value + tmax_excess * sev * hetero_perfusion
        elif name == "TTP":
            value = value * arrival + ttp_ratio * tmax_excess * sev * hetero_perfusion
        if name == "DWI":
            value = value * (1 + artefact)
        if name in MAGNITUDE:
            value = _rician(
                value * np.exp(rng.uniform(0.05, 0.15) * coil),
                noise_fraction * level * (1.5 if name == "DWI" else 1),
                rng,
            )
        else:
            sigma = PERFUSION_NOISE[name] * level * rng.uniform(0.7, 1.3)
            value = value * np.exp(0.08 * perf) + rng.standard_normal(value.size, dtype=np.float32) * sigma
        volume = np.zeros(shape, np.int16, order="F")  # NIfTI's order: nibabel writes it without a copy
        volume[region][inside] = np.clip(np.rint(value), 1, np.iinfo(np.int16).max).astype(np.int16)
        images[name] = volume

    def full(values: np.ndarray, dtype) -> np.ndarray:
        out = np.zeros(shape, dtype, order="F")
        out[region][inside] = values
        return out

    label = full(lesion["lesion"] > 0.5, np.uint8)
    voxel_ml = geo.spacing**3 / 1000
    truth = {
        "shape": list(shape),
        "spacing_mm": [geo.spacing] * 3,
        "affine": np.round(affine, 6).tolist(),
        "rotation_deg": np.round(rotation, 4).tolist(),
        "rotation_order": "extrinsic xyz about rotation_centre_mni_mm, then translation",
        "translation_mm": np.round(translation, 4).tolist(),
        "scale": round(scale, 5),
        "rotation_centre_mni_mm": np.round(tpl["centre"], 3).tolist(),
        "midsagittal_plane": _midsagittal_plane(pose, affine, tpl),
        **info,
        "lesion_volume_ml": round(float(label.sum()) * voxel_ml, 4),
        "brain_volume_ml": round(float(inside.sum()) * voxel_ml, 2),
    }
    maps: dict[str, np.ndarray] = {}
    confounder = lesion["confounder"] > 0.5
    if info["confounder"]:
        truth["confounder_volume_ml"] = round(float(confounder.sum()) * voxel_ml, 4)
    if task == "SPES":
        truth["core_volume_ml"] = round(
            float(((lesion["core"] > 0.5) & (lesion["lesion"] > 0.5)).sum()) * voxel_ml, 4
        )
    if keep_maps:
        maps = {
            "gm": full(gm, np.float32),
            "wm": full(wm, np.float32),
            "csf": full(csf, np.float32),
            "brain": full(np.ones_like(inside[inside]), bool),
            "confounder": full(confounder, bool),
        }
        if task == "SPES":
            maps["core"] = full(lesion["core"] > 0.5, bool)
            maps["severity"] = full(lesion["severity"], np.float32)
    return SyntheticCase(images=images, label=label, affine=affine, truth=truth, maps=maps)


# ---------------------------------------------------------------------------------------------------------
# writing the ISLES 2015 layout
# ---------------------------------------------------------------------------------------------------------


def _tokens(task: str) -> list[str]:
    return [f"MR_{m}" for m in task_modalities(task)] + [LABEL_TOKEN]


def _save_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


def _write_case(
    case: SyntheticCase, folder: Path, task: str, first_id: int, with_label: bool
) -> dict[str, str]:
    """Write one case folder ``<folder>/VSD.Brain.XX.O.<token>.<id>/<same>.nii.gz``; ids increase in token order."""
    arrays = [case.images[m] for m in task_modalities(task)] + ([case.label] if with_label else [])
    names = {}
    for offset, (token, array) in enumerate(zip(_tokens(task), arrays, strict=False)):
        name = f"VSD.Brain.XX.O.{token}.{first_id + offset}"
        _save_nifti(array, case.affine, folder / name / f"{name}.nii.gz")
        names[token] = name
    return names


def _generate_one(
    task: str, seed: int, split: str, index: int, geometry: str, folder: Path, first_id: int
) -> dict:
    """Generate and write case ``index`` of ``split``; returns its ground truth (runs in a worker with ``n_jobs``)."""
    case = synthesize_case(task, case_rng(task, seed, split, index), geometry)
    case.truth["files"] = _write_case(case, folder, task, first_id, with_label=split == "training")
    return case.truth


def _params(task: str, n_train: int, n_test: int, seed: int, geometry: str) -> dict:
    return {
        "task": task,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "seed": int(seed),
        "geometry": str(geometry).lower(),
        "version": VERSION,
    }


def _read_params(root: Path) -> dict | None:
    try:
        return json.loads((root / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return None


def make_synthetic_isles(
    root: str | os.PathLike,
    task: str,
    n_train: int,
    n_test: int = 0,
    seed: int = 0,
    geometry: str = "paper",
    progress: bool = True,
    n_jobs: int | None = None,
) -> Path:
    """Write ``n_train`` training and ``n_test`` testing synthetic cases in the ISLES 2015 layout under ``root``.

    Training cases go to ``root/<TASK>2015_Training/<i>/`` with their ground truth (OT), testing cases to
    ``root/<TASK>2015_Testing/<i>/`` without. ``geometry`` is ``"paper"`` (SISS 230×230×153/154 at 1 mm, SPES
    96×110×72 at 2 mm, §2.1–2.2) or ``"small"`` (SISS 116×116×78 at 2 mm, SPES 48×56×36 at 4 mm). Everything is
    generated into a temporary folder next to ``root`` and renamed onto it at the end, so an interrupted run leaves
    nothing half-done; an existing synthetic dataset at ``root`` is replaced. ``n_jobs > 1`` generates cases in
    that many processes (same bytes as ``n_jobs=1``); ``None`` uses up to 4 cores when the job is large (the paper
    SISS geometry) and one process otherwise. Returns ``root``.
    """
    task = _check_task(task)
    geo = _geometry(task, geometry)
    for name, value, least in (("n_train", n_train, 0), ("n_test", n_test, 0), ("n_jobs", n_jobs or 1, 1)):
        if int(value) != value or value < least:
            raise ConfigError(f"make_synthetic_isles: {name}={value!r} must be an integer ≥ {least}")
    if n_train + n_test < 1:
        raise ConfigError("make_synthetic_isles: ask for at least one case (n_train + n_test ≥ 1)")
    root = Path(root).expanduser()
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and _read_params(root) is None)):
        raise DataLayoutError(
            f"{root} exists and is not a synthetic dataset made by strokelib (no {PARAMS_FILE}); "
            "choose an empty or new folder, or delete it first"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is an ordinary folder
    jobs, next_id = (
        [],
        70613 if task == "SISS" else 80613,
    )  # VSD-like object ids, unique and increasing per file
    for split, count in (("training", n_train), ("testing", n_test)):
        for index in range(1, int(count) + 1):
            folder = tmp / f"{task}2015_{split.capitalize()}" / str(index)
            jobs.append((task, int(seed), split, index, str(geometry).lower(), folder, next_id))
            next_id += len(_tokens(task)) - (split == "testing")
    if n_jobs is None:  # worker start-up (~5 s) only pays off on big jobs
        n_jobs = min(4, os.cpu_count() or 1) if np.prod(geo.shape) * len(jobs) > 5e7 else 1
    n_jobs = min(int(n_jobs), len(jobs))
    log.info(
        "generating %d %s %s-geometry synthetic cases (seed %d, %d process%s) into %s",
        len(jobs),
        task,
        geometry,
        seed,
        n_jobs,
        "es" if n_jobs > 1 else "",
        root,
    )
    try:
        bar = tqdm(total=len(jobs), desc=f"synthetic {task}", disable=not progress, leave=False)
        if n_jobs == 1:
            truths = []
            for job in jobs:
                truths.append(_generate_one(*job))
                bar.update()
        else:
            # spawn, not fork: forking a process that runs torch or Jupyter threads can deadlock.
            with ProcessPoolExecutor(
                max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")
            ) as pool:
                futures = [pool.submit(_generate_one, *job) for job in jobs]
                for future in futures:
                    future.result()
                    bar.update()
                truths = [f.result() for f in futures]
        bar.close()
        cases: dict[str, dict] = {"training": {}, "testing": {}}
        for job, truth in zip(jobs, truths, strict=True):
            cases[job[2]][str(job[3])] = truth
        params = _params(task, n_train, n_test, seed, geometry)
        truth = {
            **params,
            "modalities": list(task_modalities(task)),
            "spacing_mm": geo.spacing,
            "label": "SISS: whole lesion" if task == "SISS" else "SPES: penumbra label, core included",
            "cases": cases,
        }
        write_text(tmp / TRUTH_FILE, json.dumps(truth, indent=1))
        write_text(tmp / FILES_FILE, json.dumps(_file_fingerprints(tmp), indent=1))
        write_text(tmp / PARAMS_FILE, json.dumps(params, indent=1))  # written last: its presence means complete
        old = None
        if root.exists():
            old = root.with_name(f".{root.name}.old-{os.getpid()}")
            os.replace(root, old)
        os.replace(tmp, root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def dataset_name(task: str, n_train: int, n_test: int = 0, seed: int = 0, geometry: str = "paper") -> str:
    """The folder name of a synthetic dataset, keyed by every generator parameter and :data:`VERSION`, e.g.
    ``SPES_paper_train30_test5_seed0_v2``: datasets made with other parameters live side by side."""
    p = _params(_check_task(task), n_train, n_test, seed, geometry)
    return f"{p['task']}_{p['geometry']}_train{p['n_train']}_test{p['n_test']}_seed{p['seed']}_v{p['version']}"


def _file_fingerprints(root: Path) -> dict[str, str]:
    return {f.relative_to(root).as_posix(): provenance.file_digest(f)
            for f in sorted(root.rglob("*.nii*")) if f.is_file()}


def ensure_synthetic(
    task: str,
    n_train: int,
    n_test: int = 0,
    seed: int = 0,
    geometry: str = "paper",
    base_dir: str | os.PathLike = "data/synthetic",
    progress: bool = True,
    n_jobs: int | None = None,
) -> Path:
    """The synthetic dataset folder ``base_dir/<dataset_name(...)>``, generated with :func:`make_synthetic_isles` when
    missing and reused otherwise.

    The folder is keyed by every generator parameter (:func:`dataset_name`), so runs with other parameters never
    regenerate each other's data. A folder is reused only when its stored parameters and the fingerprint of every
    image file (size and content hash, recorded at generation) still match; a changed folder raises
    :class:`~strokelib.errors.ProvenanceError` instead of being used or replaced.
    """
    task = _check_task(task)
    _geometry(task, geometry)
    folder = Path(base_dir).expanduser() / dataset_name(task, n_train, n_test, seed, geometry)
    wanted = _params(task, n_train, n_test, seed, geometry)
    stored = _read_params(folder) if folder.is_dir() else None
    if stored is None:
        log.info("no synthetic %s dataset in %s yet: generating it", task, folder)
        return make_synthetic_isles(folder, task, n_train, n_test, seed, geometry, progress=progress, n_jobs=n_jobs)
    fix = f"delete {folder} to generate it again"
    provenance.check(f"synthetic dataset {folder}", stored, wanted, fix)
    files = provenance.read_record(folder / FILES_FILE)
    if files is not None and _file_fingerprints(folder) != files:
        changed = sorted(set(files.items()) ^ set(_file_fingerprints(folder).items()))
        raise ProvenanceError(
            f"synthetic dataset {folder}: {len({k for k, _ in changed})} image files changed since it was generated "
            f"(e.g. {changed[0][0]}); {fix}"
        )
    log.info("reusing synthetic %s dataset in %s (%d training, %d testing, seed %d)", task, folder, n_train, n_test, seed)
    return folder


def read_truth(root: str | os.PathLike) -> dict:
    """The ground truth of a synthetic dataset (``root/synthetic.json``): per split and case id (``"1"``, ...) the pose
    (rotation_deg, translation_mm, scale, midsagittal_plane point/normal in world mm and voxels), lesion side,
    territory and volume in mL, whether it has a confounder, and the file names."""
    path = Path(root).expanduser() / TRUTH_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataLayoutError(
            f"{path} not found: {root} is not a synthetic dataset; generate one with make_synthetic_isles or ensure_synthetic"
        ) from None
    except ValueError as exc:
        raise DataLayoutError(
            f"{path} is not valid JSON ({exc}); delete {root} and generate it again"
        ) from exc
