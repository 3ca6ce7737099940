"""Synthetic data, part 6: an ISLES 2022-like dataset in the Zenodo layout (stands in for paper §2.2's data, now
ISLES 2022: acute and sub-acute infarcts on DWI, ADC and FLAIR, multi-centre, often several lesions per patient), so
:func:`strokelib.data.isles22.find_isles22_cases` and :func:`~strokelib.data.isles22.load_isles22_case` read
synthetic and real data alike::

    <root>/ISLES-2022/sub-strokecaseNNNN/ses-0001/dwi/sub-strokecaseNNNN_ses-0001_{dwi,adc}.nii.gz
    <root>/ISLES-2022/sub-strokecaseNNNN/ses-0001/anat/sub-strokecaseNNNN_ses-0001_FLAIR.nii.gz
    <root>/ISLES-2022/derivatives/sub-strokecaseNNNN/ses-0001/sub-strokecaseNNNN_ses-0001_msk.nii.gz
    <root>/synthetic.json, synthetic_params.json, synthetic_files.json     as the ISLES 2015-like sets

What a case is, built from the same parts as the ISLES 2015-like cases (:mod:`~strokelib.synthetic.anatomy`,
:mod:`~strokelib.synthetic.lesions`, :mod:`~strokelib.synthetic.pose`):

* **Grids.** DWI and ADC share one isotropic grid in LAS voxel order, as the real sample case
  (``tests/data/isles22/``: 112×112×73 at 2 mm); FLAIR has its own thick-slice grid (1×1×5 mm here, 0.45×0.45×5 mm
  there). The head has a random pose (±10°, ±8 mm, ±7 % scale, as for ISLES 2015), and between the DWI and the
  FLAIR acquisition it moved by a small rigid motion (up to ±4° and ±4 mm per axis, about the DWI grid's centre):
  FLAIR is *not* aligned with DWI through the headers and must be registered
  (:func:`strokelib.data.isles22.register_flair`). ``synthetic.json`` records the motion for each case.
* **Lesions** (the mask, on the DWI grid): an embolic shower of 1 to :data:`MAX_EMBOLI` emboli of 0.02–3 mL
  (a few voxels to a few hundred), most of them in one vascular territory of one hemisphere, some elsewhere; with
  probability :data:`TERRITORIAL_P` one large territorial infarct of 15–150 mL instead, with 0–5 emboli around
  it. Lesions are 26-connected components of the mask, so emboli that touch count as one. Every
  :data:`EMPTY_EVERY`-th case from case :data:`EMPTY_FIRST` (3, 13, 23, ...) has no lesion: ISLES 2022 has cases
  with an empty mask, and its metrics define them.
* **Contrasts.** Acute lesions are bright on DWI (×1.5–2.6 of the healthy signal, per case), dark on ADC
  (×0.55–0.75: the real sample's lesion ADC is 0.59 against 0.91 in the brain) and mildly bright or unchanged on
  FLAIR (×1.0–1.4: a FLAIR-negative lesion is a recent one); each lesion has its own amplitude and a smooth
  heterogeneity. Old infarcts (not labelled, probability 0.3) are bright on FLAIR, raised on ADC and unchanged on
  DWI. DWI has a coil bias, Rician noise and susceptibility spots near the skull base (bright on DWI, not on ADC);
  FLAIR its own bias and noise. Levels follow the real sample: white matter DWI about 270 and FLAIR about 1000
  (both vary ×0.6–1.7 between cases, as between centres), ADC in 10⁻³ mm²/s (white matter 0.72, CSF about 3).
  DWI and FLAIR are int16, ADC float32, the mask uint8 0/1; 0 outside the brain (skull-stripped, as the sample).

Case ``i`` draws from ``default_rng(SeedSequence(seed, spawn_key=(22, i)))``, so it is the same whatever the number of
cases; the same seed gives identical files. The folder name is keyed by every parameter
(:func:`isles22_dataset_name`), reuse and regeneration work as for the ISLES 2015-like sets
(:func:`ensure_isles22_synthetic`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from ..data.isles22 import lesions as connected_lesions
from ..data.layout import ISLES22, LABEL_TOKEN
from ..errors import ConfigError, DataLayoutError
from ..files import replace_folder, write_text
from ..progress import progress_bar
from .anatomy import draw_waves, field, grid_field, healthy_image, log_uniform, template
from .case import _full, _on_grid
from .dataset import (
    FILES_FILE,
    PARAMS_FILE,
    TRUTH_FILE,
    _check_unchanged,
    _dataset_lock,
    _file_fingerprints,
    _read_params,
    _save_nifti,
)
from .lesions import (
    GUARD_MM,
    TERRITORIES,
    Phenomena,
    blob_score,
    draw_blob,
    draw_old_lesion,
    pick_centre,
    top,
)
from .pose import (
    MAX_ROTATION_DEG,
    MAX_TRANSLATION_MM,
    SCALE_RANGE,
    artefact_spots,
    output_affine,
    pose_matrix,
    resample_into,
    rician,
)

log = logging.getLogger(__name__)

ISLES22_VERSION = 1  # bump when the generated data change, so ensure_isles22_synthetic regenerates old datasets
TASK_KEY = 22  # first spawn key of a case's generator (the ISLES 2015-like sets use 0 and 1)
DATA_DIR = "ISLES-2022"
SESSION = "ses-0001"
MODALITIES = ("DWI", "ADC", "FLAIR")
GRID_OF = {"DWI": "DWI", "ADC": "DWI", "FLAIR": "FLAIR", LABEL_TOKEN: "DWI"}  # the grid each file lies on
EMPTY_EVERY, EMPTY_FIRST = 10, 3  # cases 3, 13, 23, ... have no lesion
MAX_EMBOLI = 20
EMBOLUS_ML = (0.02, 3.0)
MIN_VOXELS = 4  # template voxels of the smallest lesion: fewer can vanish when resampled onto the posed grid
TERRITORIAL_P = 0.3
TERRITORIAL_ML = (15.0, 150.0)
EMBOLUS_TERRITORY_P = {"MCA": 0.7, "ACA": 0.1, "PCA": 0.2}  # where emboli lodge, roughly as the arteries' flow
SAME_TERRITORY_P = 0.75  # an embolus in the shower's territory and hemisphere; otherwise anywhere
OLD_INFARCT = Phenomena(old_lesion_p=0.3, old_lesion_ml=(1.0, 20.0))
FLAIR_MOTION_DEG = 4.0  # per axis, between the DWI and the FLAIR acquisition
FLAIR_MOTION_MM = 4.0
ISLES22_LEVELS = {"DWI": 270.0, "ADC": 0.72, "FLAIR": 1000.0}  # white matter, as in the real sample case
CONTRAST_KEY = {"DWI": "DWI", "ADC": "ADC", "FLAIR": "Flair"}  # keys of anatomy.CONTRASTS
ADC_NOISE = 0.06  # Gaussian, relative to the white-matter level


@dataclass(frozen=True)
class Isles22Geometry:
    """The grids of one geometry: DWI/ADC (shape, isotropic spacing in mm), FLAIR (shape, spacing per axis in mm),
    and the voxel size in mm of the template everything is drawn in."""

    dwi_shape: tuple[int, int, int]
    dwi_spacing: float
    flair_shape: tuple[int, int, int]
    flair_spacing: tuple[float, float, float]
    template_mm: int


GEOMETRIES = {
    "paper": Isles22Geometry((112, 112, 73), 2.0, (224, 224, 30), (1.0, 1.0, 5.0), 2),  # the sample case's DWI grid
    "small": Isles22Geometry((56, 56, 37), 4.0, (112, 112, 25), (2.0, 2.0, 6.0), 4),  # tests and smoke runs
}


@dataclass
class Isles22Case:
    """One generated case on RAS+ grids: images per modality (DWI and ADC on ``affines["DWI"]``, FLAIR on
    ``affines["FLAIR"]``), the uint8 mask on the DWI grid and the ground truth."""

    images: dict[str, np.ndarray]
    label: np.ndarray
    affines: dict[str, np.ndarray]
    truth: dict


def isles22_geometry(name: str) -> Isles22Geometry:
    """The grids of geometry ``name``: ``paper`` (DWI 2 mm, as the challenge's data) or ``small`` (DWI 4 mm)."""
    key = str(name).lower()
    if key not in GEOMETRIES:
        raise ConfigError(f"unknown synthetic ISLES22 geometry {name!r}: use one of {', '.join(GEOMETRIES)}")
    return GEOMETRIES[key]


def case_id(index: int) -> str:
    """The folder name of case ``index`` (1-based): ``sub-strokecase0001``."""
    return f"sub-strokecase{int(index):04d}"


def isles22_case_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of case ``index`` (1-based): independent of how many cases are generated."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(TASK_KEY, int(index))))


def is_lesion_free(index: int) -> bool:
    """Whether case ``index`` has an empty mask (one case in :data:`EMPTY_EVERY`, from :data:`EMPTY_FIRST`)."""
    return int(index) % EMPTY_EVERY == EMPTY_FIRST % EMPTY_EVERY


# ---------------------------------------------------------------------------------------------------------
# one case
# ---------------------------------------------------------------------------------------------------------
def _grid_affine(shape, spacing, centre) -> np.ndarray:
    """Axis-aligned RAS affine of a grid of ``shape`` and ``spacing`` (mm per axis) centred on ``centre``."""
    affine = np.diag([*np.broadcast_to(np.asarray(spacing, float), 3), 1.0])
    affine[:3, 3] = np.asarray(centre) - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2)
    return affine


def _draw_grids(rng: np.random.Generator, geo: Isles22Geometry, tpl: dict) -> dict:
    """The head pose, the DWI grid, the FLAIR grid and the motion between the two acquisitions: FLAIR world =
    ``motion`` · DWI world (RAS mm), a rotation about the DWI grid's centre followed by a translation."""
    rotation = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, size=3)
    translation = rng.uniform(-MAX_TRANSLATION_MM, MAX_TRANSLATION_MM, size=3)
    scale = float(rng.uniform(*SCALE_RANGE))
    pose = pose_matrix(rotation, translation, scale, tpl["centre"])
    dwi = output_affine(geo.dwi_shape, geo.dwi_spacing, tpl)
    centre = dwi[:3, :3] @ ((np.asarray(geo.dwi_shape) - 1) / 2) + dwi[:3, 3]
    motion_rotation = rng.uniform(-FLAIR_MOTION_DEG, FLAIR_MOTION_DEG, size=3)
    motion_translation = rng.uniform(-FLAIR_MOTION_MM, FLAIR_MOTION_MM, size=3)
    motion = pose_matrix(motion_rotation, motion_translation, 1.0, centre)
    flair = _grid_affine(geo.flair_shape, geo.flair_spacing, centre)
    world_to_tpl = np.linalg.inv(tpl["affine"]) @ np.linalg.inv(pose)
    return {"rotation": rotation, "translation": translation, "scale": scale, "affine": {"DWI": dwi, "FLAIR": flair},
            "vox_to_tpl": {"DWI": world_to_tpl @ dwi, "FLAIR": world_to_tpl @ np.linalg.inv(motion) @ flair},
            "motion": {"rotation": motion_rotation, "translation": motion_translation, "centre": centre,
                       "matrix": motion}}


def _plan(rng: np.random.Generator) -> list[dict]:
    """What the acute lesions of one case are: kind, hemisphere, territory and volume of each."""
    names, p = list(EMBOLUS_TERRITORY_P), list(EMBOLUS_TERRITORY_P.values())
    side, territory = int(rng.choice([-1, 1])), str(rng.choice(names, p=p))
    territorial = bool(rng.uniform() < TERRITORIAL_P)
    n_emboli = int(rng.integers(0, 6)) if territorial else int(np.rint(log_uniform(rng, 1, MAX_EMBOLI)))
    plan = [{"kind": "territorial", "side": side, "territory": territory,
             "volume_ml": log_uniform(rng, *TERRITORIAL_ML)}] if territorial else []
    for _ in range(n_emboli):  # a few lesions; each one is drawn vectorised over the template
        here = bool(rng.uniform() < SAME_TERRITORY_P)
        plan.append({"kind": "embolus", "side": side if here else int(rng.choice([-1, 1])),
                     "territory": territory if here else str(rng.choice(names, p=p)),
                     "volume_ml": log_uniform(rng, *EMBOLUS_ML)})
    return plan


def _draw_lesions(rng: np.random.Generator, tpl: dict, scale: float, plan: list[dict]) -> tuple[dict, list[dict]]:
    """The planned lesions in template space: ``lesion`` (0/1) and ``strength`` (each lesion's amplitude times a
    smooth heterogeneity, about 1), and their description. A lesion is the top-N tissue voxels of a blob score
    (:func:`strokelib.synthetic.lesions.blob_score`); a territorial one keeps to its hemisphere and territory."""
    xyz = tpl["xyz"]
    lesion = np.zeros(tpl["mask"].shape, np.float32)
    strength = np.zeros_like(lesion)
    hetero = draw_waves(rng, 16, wavelength=rng.uniform(10, 30))
    voxel_mm3 = float(abs(np.linalg.det(tpl["affine"][:3, :3]))) * scale**3  # output mm³ per template voxel
    described = []
    for item in plan:
        big = item["kind"] == "territorial"
        box = TERRITORIES[item["territory"]]
        blob = draw_blob(rng, pick_centre(rng, xyz, box, item["side"]), item["volume_ml"] * 1000 / scale**3,
                         box if big else None)
        points = np.flatnonzero(item["side"] * xyz[:, 0] > 0) if big else np.arange(len(xyz))
        n = max(MIN_VOXELS, round(item["volume_ml"] * 1000 / voxel_mm3))
        keep, score = blob_score(blob, xyz[points], n_best=n)
        chosen = _largest_piece(tpl["ijk"], points[keep[top(score, n)[0]]])
        amplitude = float(rng.uniform(0.75, 1.25))
        ijk = tuple(tpl["ijk"][chosen].T)
        lesion[ijk] = 1
        varying = np.clip(1 + 0.15 * field(hetero, xyz[chosen]), 0.5, 1.5)
        strength[ijk] = np.maximum(strength[ijk], amplitude * varying)
        described.append({"kind": item["kind"], "territory": item["territory"],
                          "side": "right" if item["side"] > 0 else "left",
                          "target_volume_ml": round(item["volume_ml"], 4), "amplitude": round(amplitude, 3),
                          "centre_mni_mm": [round(float(c), 1) for c in blob["centre"]]})
    return {"lesion": lesion, "strength": strength}, described


def _largest_piece(ijk: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The candidates ``chosen`` (indices into ``ijk``) of the largest 26-connected piece they form: a blob's ragged
    outline can leave a few detached voxels, which would count as lesions of their own."""
    voxels = ijk[chosen]
    lo = voxels.min(axis=0)
    box = np.zeros(voxels.max(axis=0) - lo + 1, bool)
    box[tuple((voxels - lo).T)] = True
    pieces = connected_lesions(box)[0][tuple((voxels - lo).T)]
    return chosen[pieces == np.bincount(pieces).argmax()]


def _near(tpl: dict, lesion: np.ndarray):
    """``near_label(points)`` for :func:`~strokelib.synthetic.lesions.draw_old_lesion`: template-world points
    within about :data:`~strokelib.synthetic.lesions.GUARD_MM` of an acute lesion."""
    near = ndimage.binary_dilation(lesion > 0, iterations=max(1, round(GUARD_MM / abs(tpl["affine"][0, 0]))))
    to_voxel = np.linalg.inv(tpl["affine"])

    def near_label(points: np.ndarray) -> np.ndarray:
        ijk = np.rint(points @ to_voxel[:3, :3].T + to_voxel[:3, 3]).astype(int)
        return near[tuple(np.clip(ijk, 0, np.array(near.shape) - 1).T)]

    return near_label


def _draw_factors(rng: np.random.Generator) -> dict:
    """Contrast factors of one case (relative to the healthy image; 1 = unchanged), levels, noise and coil bias."""
    return {
        "lesion": {"DWI": log_uniform(rng, 1.5, 2.6), "ADC": rng.uniform(0.55, 0.75), "FLAIR": rng.uniform(1.0, 1.4)},
        "confounder": {"DWI": rng.uniform(0.85, 1.05), "ADC": rng.uniform(1.3, 1.9), "FLAIR": rng.uniform(1.4, 1.9)},
        "level": {"DWI": ISLES22_LEVELS["DWI"] * log_uniform(rng, 0.6, 1.7), "ADC": ISLES22_LEVELS["ADC"] * rng.uniform(0.92, 1.08),
                  "FLAIR": ISLES22_LEVELS["FLAIR"] * log_uniform(rng, 0.6, 1.7)},
        "noise": rng.uniform(0.02, 0.05),
        "coil": {"DWI": rng.uniform(0.05, 0.15), "FLAIR": rng.uniform(0.05, 0.15)},
    }


def _grid(tpl: dict, maps: dict, vox_to_tpl: np.ndarray, shape, spacing, rng: np.random.Generator) -> dict:
    """Anatomy, lesions (:func:`strokelib.synthetic.case._on_grid`), lesion strength and a coil bias on one grid."""
    g = _on_grid(tpl, {k: v for k, v in maps.items() if k != "strength"}, vox_to_tpl, shape)
    g["strength"] = resample_into(maps["strength"], vox_to_tpl, g["lo"], g["hi"], shape)[g["inside"]]
    axes = tuple(np.arange(a, b, dtype=np.float32) * s
                 for a, b, s in zip(g["lo"], g["hi"], np.broadcast_to(spacing, 3), strict=True))
    g["coil"] = grid_field(draw_waves(rng, 8, wavelength=rng.uniform(150, 250)), axes)[g["inside"]]
    return g


def _image(name: str, g: dict, f: dict, rng: np.random.Generator, shape) -> np.ndarray:
    """One image on the grid ``g``: healthy contrast × level, lesions and old infarcts, then bias and noise (DWI,
    FLAIR: int16 magnitude, Rician) or Gaussian noise (ADC: float32, 10⁻³ mm²/s); 0 outside the brain."""
    level = f["level"][name]
    value = healthy_image(CONTRAST_KEY[name], g["gm"], g["wm"], g["csf"], g["t1"]) * level
    value = value * (1 + (f["lesion"][name] - 1) * g["strength"])
    value = value * (1 + (f["confounder"][name] - 1) * g["confounder"])
    if name == "ADC":
        value = value + rng.standard_normal(value.size, dtype=np.float32) * (ADC_NOISE * level)
        return _full(g, np.clip(value, 0.01, 4.5).astype(np.float32), shape, np.float32)
    if name == "DWI":
        value = value * (1 + g["artefact"])
    sigma = f["noise"] * level * (1.5 if name == "DWI" else 1.0)
    value = rician(value * np.exp(f["coil"][name] * g["coil"]), sigma, rng)
    return _full(g, np.clip(np.rint(value), 1, np.iinfo(np.int16).max).astype(np.int16), shape, np.int16)


def _motion_truth(motion: dict) -> dict:
    """The FLAIR motion as the ground truth records it, with the two figures a registration reports: the rotation
    angle and the shift of the DWI grid's centre (the centre :func:`~strokelib.data.isles22.register_flair` uses)."""
    angle = np.degrees(Rotation.from_euler("xyz", motion["rotation"], degrees=True).magnitude())
    return {"rotation_deg": np.round(motion["rotation"], 4).tolist(),
            "translation_mm": np.round(motion["translation"], 4).tolist(),
            "centre_mm": np.round(motion["centre"], 4).tolist(), "rotation_angle_deg": round(float(angle), 4),
            "shift_mm": round(float(np.linalg.norm(motion["translation"])), 4),
            "matrix": np.round(motion["matrix"], 6).tolist(),
            "convention": "RAS mm: FLAIR world = matrix · DWI world; extrinsic xyz rotation about centre_mm, then "
                          "translation_mm"}


def _truth(index: int, geo: Isles22Geometry, grids: dict, described: list, old: dict, g: dict, label: np.ndarray,
           f: dict) -> dict:
    """The ground truth of one case: grids, head pose, FLAIR motion, planned lesions, measured lesions."""
    voxel_ml = geo.dwi_spacing**3 / 1000
    n_lesions = connected_lesions(label)[1]
    return {
        "case_id": case_id(index), "lesion_free": is_lesion_free(index), "n_lesions": n_lesions,
        "lesion_volume_ml": round(float(np.count_nonzero(label)) * voxel_ml, 4),
        "n_drawn": len(described), "territorial": any(d["kind"] == "territorial" for d in described),
        "lesions": described, **old,
        "confounder_volume_ml": round(float(np.count_nonzero(g["confounder"] > 0.5)) * voxel_ml, 4),
        "dwi_shape": list(geo.dwi_shape), "dwi_spacing_mm": geo.dwi_spacing,
        "flair_shape": list(geo.flair_shape), "flair_spacing_mm": list(geo.flair_spacing),
        "rotation_deg": np.round(grids["rotation"], 4).tolist(),
        "translation_mm": np.round(grids["translation"], 4).tolist(), "scale": round(grids["scale"], 5),
        "flair_motion": _motion_truth(grids["motion"]),
        "contrast": {k: ({m: round(float(x), 4) for m, x in v.items()} if isinstance(v, dict) else round(float(v), 4))
                     for k, v in f.items()},
    }


def synthesize_isles22_case(rng: np.random.Generator, index: int, geometry: str = "paper") -> Isles22Case:
    """Generate case ``index`` (1-based; it decides only whether the case is lesion-free, :func:`is_lesion_free`) of
    an ISLES 2022-like set from ``rng`` (module docstring). Old infarcts and DWI artefact spots draw from child
    generators (``rng.spawn``)."""
    geo = isles22_geometry(geometry)
    tpl = template(geo.template_mm)
    old_rng, artefact_rng = rng.spawn(2)
    grids = _draw_grids(rng, geo, tpl)
    plan = [] if is_lesion_free(index) else _plan(rng)
    maps, described = _draw_lesions(rng, tpl, grids["scale"], plan)
    old_map, old = draw_old_lesion(tpl, old_rng, grids["scale"], OLD_INFARCT, _near(tpl, maps["lesion"]))
    if old_map is not None:
        maps["confounder"] = old_map
    f = _draw_factors(rng)
    shapes = {"DWI": geo.dwi_shape, "FLAIR": geo.flair_shape}
    spacings = {"DWI": geo.dwi_spacing, "FLAIR": geo.flair_spacing}
    g = {k: _grid(tpl, maps, grids["vox_to_tpl"][k], shapes[k], spacings[k], rng) for k in ("DWI", "FLAIR")}
    dwi, vox_to_world = g["DWI"], tpl["affine"] @ grids["vox_to_tpl"]["DWI"]
    dwi["artefact"] = artefact_spots(artefact_rng, vox_to_world, dwi["lo"], dwi["hi"])[dwi["inside"]]
    images = {m: _image(m, g[GRID_OF[m]], f, rng, shapes[GRID_OF[m]]) for m in MODALITIES}
    label = _full(dwi, dwi["lesion"] > 0.5, geo.dwi_shape, np.uint8)
    truth = _truth(index, geo, grids, described, old, dwi, label, f)
    return Isles22Case(images=images, label=label, affines=grids["affine"], truth=truth)


# ---------------------------------------------------------------------------------------------------------
# the dataset
# ---------------------------------------------------------------------------------------------------------
def isles22_case_files(root: str | os.PathLike, index: int) -> dict[str, Path]:
    """Where case ``index`` lives under ``root`` in the Zenodo layout: ``{"DWI", "ADC", "FLAIR", "OT": path}``."""
    cid = case_id(index)
    base, stem = Path(root) / DATA_DIR / cid / SESSION, f"{cid}_{SESSION}"
    return {"DWI": base / "dwi" / f"{stem}_dwi.nii.gz", "ADC": base / "dwi" / f"{stem}_adc.nii.gz",
            "FLAIR": base / "anat" / f"{stem}_FLAIR.nii.gz",
            LABEL_TOKEN: Path(root) / DATA_DIR / "derivatives" / cid / SESSION / f"{stem}_msk.nii.gz"}


def _las(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A RAS+ array and affine in LAS voxel order (the first axis reversed), as the real data are stored."""
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, array.shape[0] - 1
    return np.asfortranarray(array[::-1]), affine @ flip


def _write_case(root: Path, index: int, seed: int, geometry: str) -> dict:
    """Generate case ``index`` and write it under ``root``; returns its ground truth with the file names."""
    case = synthesize_isles22_case(isles22_case_rng(seed, index), index, geometry)
    files = isles22_case_files(root, index)
    arrays = {**case.images, LABEL_TOKEN: case.label}
    for key, path in files.items():
        _save_nifti(*_las(arrays[key], case.affines[GRID_OF[key]]), path)
    return {**case.truth, "files": {k: p.relative_to(root).as_posix() for k, p in files.items()}}


def _params(n_cases: int, seed: int, geometry: str) -> dict:
    return {"task": ISLES22, "n_cases": int(n_cases), "seed": int(seed), "geometry": str(geometry).lower(),
            "version": ISLES22_VERSION}


def _check_request(root: Path, n_cases: int, geometry: str) -> None:
    isles22_geometry(geometry)
    if int(n_cases) != n_cases or n_cases < 1:
        raise ConfigError(f"synthetic ISLES22: n_cases={n_cases!r} must be an integer ≥ 1")
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and _read_params(root) is None)):
        raise DataLayoutError(f"{root} exists and is not a synthetic dataset made by strokelib (no {PARAMS_FILE}); "
                              "choose an empty or new folder, or delete it first")


def _generate(root: Path, n_cases: int, seed: int, geometry: str, progress: bool) -> Path:
    """Write every case into a temporary folder next to ``root``, then the records (the parameters last: their
    presence means complete), and rename it onto ``root`` (the caller holds the lock)."""
    params = _params(n_cases, seed, geometry)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is an ordinary folder
    log.info("generating %d ISLES22 %s-geometry synthetic cases (seed %d) into %s", n_cases, geometry, seed, root)
    try:
        bar = progress_bar(range(1, int(n_cases) + 1), desc="synthetic ISLES22", disable=not progress, leave=False)
        cases = {case_id(i): _write_case(tmp, i, seed, params["geometry"]) for i in bar}
        geo = isles22_geometry(geometry)
        truth = {**params, "layout": "ISLES 2022 Zenodo release", "modalities": list(MODALITIES),
                 "units": {"ADC": "1e-3 mm^2/s", "DWI": "a.u.", "FLAIR": "a.u."}, "dwi_shape": list(geo.dwi_shape),
                 "dwi_spacing_mm": geo.dwi_spacing, "flair_shape": list(geo.flair_shape),
                 "flair_spacing_mm": list(geo.flair_spacing), "cases": cases}
        write_text(tmp / TRUTH_FILE, json.dumps(truth, indent=1))
        write_text(tmp / FILES_FILE, json.dumps(_file_fingerprints(tmp), indent=1))
        write_text(tmp / PARAMS_FILE, json.dumps(params, indent=1))
        replace_folder(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def make_synthetic_isles22(root: str | os.PathLike, n_cases: int, seed: int = 0, geometry: str = "paper",
                           progress: bool = True) -> Path:
    """Write ``n_cases`` ISLES 2022-like cases (``sub-strokecase0001`` ...) in the Zenodo layout under ``root``.

    ``geometry`` is ``"paper"`` (DWI/ADC 112×112×73 at 2 mm, FLAIR 224×224×30 at 1×1×5 mm) or ``"small"`` (DWI/ADC
    56×56×37 at 4 mm, FLAIR 112×112×25 at 2×2×6 mm). As :func:`strokelib.synthetic.dataset.make_synthetic_isles`:
    generated into a temporary folder and renamed onto ``root`` under the lock ``<root>.lock``, so an interrupted run
    leaves nothing half-done; an existing synthetic dataset at ``root`` is replaced. Returns ``root``.
    """
    root = Path(root).expanduser()
    _check_request(root, n_cases, geometry)
    with _dataset_lock(root):
        return _generate(root, int(n_cases), int(seed), str(geometry).lower(), progress)


def isles22_dataset_name(n_cases: int, seed: int = 0, geometry: str = "paper") -> str:
    """The folder name of an ISLES 2022-like set, keyed by every parameter and :data:`ISLES22_VERSION`, e.g.
    ``ISLES22_paper_n50_seed0_v1``."""
    p = _params(n_cases, seed, geometry)
    return f"{p['task']}_{p['geometry']}_n{p['n_cases']}_seed{p['seed']}_v{p['version']}"


def ensure_isles22_synthetic(n_cases: int, seed: int = 0, geometry: str = "paper",
                             base_dir: str | os.PathLike = "data/synthetic", progress: bool = True) -> Path:
    """The ISLES 2022-like set ``base_dir/<isles22_dataset_name(...)>``, generated when missing and reused otherwise.

    As :func:`strokelib.synthetic.dataset.ensure_synthetic`: reused only when its stored parameters and every image
    file's fingerprint still match (a changed folder raises :class:`~strokelib.errors.ProvenanceError`); a missing
    set is generated under the lock ``<folder>.lock``, so of several processes one generates and the others reuse.
    """
    isles22_geometry(geometry)
    folder = Path(base_dir).expanduser() / isles22_dataset_name(n_cases, seed, geometry)
    wanted = _params(n_cases, seed, geometry)
    stored = _read_params(folder) if folder.is_dir() else None
    if stored is None:
        with _dataset_lock(folder):
            stored = _read_params(folder) if folder.is_dir() else None
            if stored is None:
                log.info("no synthetic ISLES22 dataset in %s yet: generating it", folder)
                _check_request(folder, n_cases, geometry)
                return _generate(folder, int(n_cases), int(seed), str(geometry).lower(), progress)
    _check_unchanged(folder, stored, wanted)
    log.info("reusing synthetic ISLES22 dataset in %s (%d cases, seed %d)", folder, n_cases, seed)
    return folder


def resolve_isles22_root(data_root: str | os.PathLike | None, n_cases: int, seed: int = 0, geometry: str = "paper",
                         root: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """The ISLES 2022 folder a run reads: ``data_root`` when given (the Zenodo release or the challenge's sample
    layout, :func:`strokelib.data.isles22.find_isles22_cases`), else the embedded ISLES 2022-like set of ``n_cases``
    (:func:`ensure_isles22_synthetic`) under :func:`strokelib.settings.synthetic_dir`."""
    from ..settings import synthetic_dir

    if data_root:
        path = Path(data_root).expanduser()
        if not path.exists():
            raise ConfigError(f"ISLES 2022 data root {path} does not exist; download the release from Zenodo "
                              "(doi 10.5281/zenodo.7153326) and unpack it there, or leave it empty for synthetic data")
        return path
    return ensure_isles22_synthetic(n_cases, seed, geometry, base_dir=synthetic_dir(root), progress=progress)
