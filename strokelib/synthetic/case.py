"""Synthetic data, part 4: one ISLES 2015-like case, image by image (paper §2.1 SISS, §2.2 SPES).

A case is the MNI152 anatomy (:mod:`strokelib.synthetic.anatomy`) in a random head pose
(:mod:`strokelib.synthetic.pose`), with a lesion, possibly an old lesion and symmetric mimics
(:mod:`strokelib.synthetic.lesions`), turned into one image per modality by a contrast model:

* SISS (sub-acute, §2.1): the lesion is bright on DWI (fading over the sub-acute weeks), FLAIR and T2, dark on T1;
  mimics draw their own factors from the same ranges, so inside a patch they look like a lesion on every channel;
* SPES (acute, §2.2): a DWI-bright core with low CBF/CBV inside a larger region of raised Tmax/TTP and lowered CBF,
  surrounded by a ring of benign oligemia (Tmax mildly raised, not labelled). The label plays the ISLES 2015 penumbra
  label: the whole hypoperfused tissue at risk, **core included**, bounded where the Tmax excess reaches about 6 s
  (``docs/isles2015-data.md#spes-labels``: whether the real label leaves the core out is not documented). SPES mimics
  are bilateral perfusion delays with the same Tmax/TTP/CBF profile and no core;
* old lesions: FLAIR/T2 bright, T1 dark, DWI unchanged or darker, CBF/CBV lowered;
* a lesion heterogeneity field (§4.1.1: case 5 fails on a heterogeneous lesion), a coil bias shared by the magnitude
  images, a per-case intensity scale, Rician noise (Gaussian on perfusion maps) and DWI susceptibility spots.

Images are int16 in arbitrary units (Tmax and TTP in 0.01 s), labels uint8 0/1. Background outside the posed brain is
exactly 0, every brain voxel is ≥ 1. Every random draw comes from one generator in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..data.cases import task_modalities
from ..errors import ConfigError
from .anatomy import (
    GEOMETRIES,
    LEVELS,
    Geometry,
    draw_waves,
    grid_field,
    healthy_image,
    log_uniform,
    template,
)
from .anatomy import field as eval_field
from .lesions import Phenomena, phenomena_for, template_lesions
from .pose import (
    MAGNITUDE,
    MAX_ROTATION_DEG,
    MAX_TRANSLATION_MM,
    PERFUSION_NOISE,
    SCALE_RANGE,
    artefact_spots,
    midsagittal_plane,
    output_affine,
    output_box,
    pose_matrix,
    resample,
    resample_into,
    rician,
)

LESION_MAPS = ("lesion", "confounder", "mimic", "core", "severity")
SMALL_LESION_ML = 10.0  # "small" in the case table: a lesion under this volume is a few patches wide


@dataclass
class SyntheticCase:
    """One generated case: int16 images per modality, uint8 label, the output affine and its ground truth.

    ``maps`` (only with ``keep_maps=True``) holds float32 (X, Y, Z) volumes in the output grid: ``gm``, ``wm``,
    ``csf`` (tissue fractions inside the brain), ``brain``, ``confounder`` and ``mimic`` (bool) and for SPES ``core``
    (bool) and ``severity`` (the perfusion deficit: 0 outside the oligemic ring, 1 at the label border, up to 2.5).
    """

    images: dict[str, np.ndarray]
    label: np.ndarray
    affine: np.ndarray
    truth: dict
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def geometry(task: str, name: str) -> Geometry:
    """The output grid of ``task`` in geometry ``name`` (``paper`` or ``small``)."""
    key = (task, str(name).lower())
    if key not in GEOMETRIES:
        names = sorted({g for _, g in GEOMETRIES})
        raise ConfigError(f"unknown synthetic geometry {name!r} for {task}: use one of {', '.join(names)}")
    return GEOMETRIES[key]


def _draw_pose(rng: np.random.Generator, geo: Geometry, tpl: dict) -> dict:
    """The head pose (§3.1 needs a mid-sagittal plane to find: here it is tilted and shifted off the array centre)."""
    rotation = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, size=3)
    translation = rng.uniform(-MAX_TRANSLATION_MM, MAX_TRANSLATION_MM, size=3)
    scale = float(rng.uniform(*SCALE_RANGE))
    z_pick = int(rng.integers(2))  # drawn for every geometry, so case i is the same subject in all of them
    shape = (*geo.shape[:2], geo.z_choices[z_pick % len(geo.z_choices)]) if geo.z_choices else geo.shape
    pose = pose_matrix(rotation, translation, scale, tpl["centre"])
    affine = output_affine(shape, geo.spacing, tpl)
    vox_to_tpl = np.linalg.inv(tpl["affine"]) @ np.linalg.inv(pose) @ affine
    return {"rotation": rotation, "translation": translation, "scale": scale, "shape": shape, "pose": pose,
            "affine": affine, "vox_to_tpl": vox_to_tpl}


def _on_grid(tpl: dict, lesion_maps: dict, vox_to_tpl: np.ndarray, shape) -> dict:
    """Anatomy and lesion maps resampled onto the posed grid, over the brain's bounding box only; flat arrays over
    the brain voxels (``inside``) plus the box ``lo``/``hi``."""
    lo, hi = output_box(vox_to_tpl, *tpl["bbox"], shape)
    # Nearest-neighbour resampling can leave single-voxel pits in the surface: fill them (the loader would).
    inside = ndimage.binary_fill_holes(resample(tpl["brain"], vox_to_tpl, lo, hi, order=0))
    # Tissue fractions; at the brain's edge they sum to less than 1 and the rest is CSF (the subarachnoid space).
    gm = np.clip(resample(tpl["gm"], vox_to_tpl, lo, hi)[inside], 0, 1)
    wm = np.minimum(np.clip(resample(tpl["wm"], vox_to_tpl, lo, hi)[inside], 0, 1), 1 - gm)
    grid = {"lo": lo, "hi": hi, "inside": inside, "gm": gm, "wm": wm, "csf": 1 - gm - wm,
            "t1": resample(tpl["t1"], vox_to_tpl, lo, hi)[inside] / 0.87}  # MNI T1 white matter ≈ 0.87
    for name in LESION_MAPS:
        grid[name] = (resample_into(lesion_maps[name], vox_to_tpl, lo, hi, shape)[inside] if name in lesion_maps
                      else np.zeros_like(gm))
    for name in ("confounder", "mimic"):  # a labelled voxel is lesion, whatever else reaches it after resampling
        grid[name][grid["lesion"] > 0.5] = 0
    return grid


def _smooth_fields(task: str, rng: np.random.Generator, grid: dict, spacing: float) -> None:
    """Coil bias (shared by the magnitude images), slow perfusion variation and the lesion heterogeneity, in place."""
    lo, hi, inside = grid["lo"], grid["hi"], grid["inside"]
    axes = tuple(np.arange(a, b, dtype=np.float32) * spacing for a, b in zip(lo, hi, strict=True))  # output mm
    grid["coil"] = grid_field(draw_waves(rng, 8, wavelength=rng.uniform(150, 250)), axes)[inside]
    perf_waves = draw_waves(rng, 8, wavelength=rng.uniform(80, 160))
    grid["perf"] = grid_field(perf_waves, axes)[inside] if task == "SPES" else None
    lesion_like = (grid["lesion"] > 0) | (grid["confounder"] > 0) | (grid["mimic"] > 0)
    near = np.zeros(inside.shape, bool)
    near[inside] = lesion_like
    points = ((np.argwhere(near) + lo) * spacing).astype(np.float32)  # same order as the flat lesion-like voxels
    amplitude = rng.uniform(0.1, 0.3)
    hetero = np.ones_like(grid["gm"])
    hetero[np.flatnonzero(lesion_like)] = np.clip(
        1 + amplitude * eval_field(draw_waves(rng, 24, wavelength=rng.uniform(10, 30)), points), 0.3, 1.7)
    grid["hetero"] = hetero


def _draw_factors(task: str, rng: np.random.Generator) -> dict:
    """Contrast factors of one case: relative intensity of each lesion-like region per modality (1 = unchanged)."""
    f = {"confounder": {"Flair": rng.uniform(1.4, 1.9), "T2": rng.uniform(1.5, 2.1), "T1": rng.uniform(0.55, 0.75),
                        "T1c": rng.uniform(0.55, 0.75), "DWI": rng.uniform(0.8, 1.0), "CBF": rng.uniform(0.5, 0.8),
                        "CBV": rng.uniform(0.5, 0.8)}}
    if task == "SISS":
        for region in ("lesion", "mimic"):  # mimics: the same ranges, drawn on their own
            f[region] = {"DWI": log_uniform(rng, 1.3, 2.6),  # fades over the sub-acute weeks
                         "Flair": rng.uniform(1.3, 1.7), "T2": rng.uniform(1.25, 1.6), "T1": rng.uniform(0.7, 0.88)}
        return f
    f["core"] = {"DWI": rng.uniform(1.6, 2.4), "T2": rng.uniform(1.0, 1.15), "T1c": rng.uniform(0.92, 1.0),
                 "CBF": rng.uniform(0.3, 0.6), "CBV": rng.uniform(0.3, 0.6)}
    f["cbf_drop"], f["cbv_rise"] = rng.uniform(0.35, 0.6), rng.uniform(0.0, 0.25)
    f["tmax_excess"] = rng.uniform(5.0, 7.0) * 100  # 0.01 s units: about 6 s at the label border
    f["ttp_ratio"], f["arrival"] = rng.uniform(0.7, 1.0), rng.uniform(0.8, 1.2)
    return f


def _with_lesions(name: str, task: str, value: np.ndarray, g: dict, f: dict) -> np.ndarray:
    """The healthy image ``value`` of modality ``name`` with every lesion-like region's contrast applied."""
    scaled = lambda region: g[region] * g["hetero"]  # noqa: E731
    if name in f["confounder"]:
        value = value * (1 + (f["confounder"][name] - 1) * scaled("confounder"))
    if task == "SISS":
        value = value * (1 + (f["lesion"][name] - 1) * scaled("lesion")) * (1 + (f["mimic"][name] - 1) * scaled("mimic"))
    else:
        core, deficit = scaled("core"), g["severity"] + g["mimic"]  # mimics: a deficit without a core
        delay = f["tmax_excess"] * deficit * (1 + 0.4 * (g["hetero"] - 1))  # perfusion is smoother than diffusion
        if name in ("DWI", "T2", "T1c"):
            value = value * (1 + (f["core"][name] - 1) * core)
        elif name == "CBF":
            value = value * np.exp(-f["cbf_drop"] * deficit) * (1 + (f["core"]["CBF"] - 1) * core)
        elif name == "CBV":
            value = value * (1 + f["cbv_rise"] * np.minimum(g["severity"], 1)) * (1 + (f["core"]["CBV"] - 1) * core)
        elif name == "Tmax":
            value = value + delay
        elif name == "TTP":
            value = value * f["arrival"] + f["ttp_ratio"] * delay
    if name == "DWI":
        value = value * (1 + g["artefact"])
    return value


def _image(name: str, task: str, g: dict, f: dict, rng: np.random.Generator, shape) -> np.ndarray:
    """One int16 image: healthy contrast × per-case level, lesions, then bias and noise; 0 outside the brain."""
    level = LEVELS[name] * log_uniform(rng, 0.75, 1.35)
    value = _with_lesions(name, task, healthy_image(name, g["gm"], g["wm"], g["csf"], g["t1"]) * level, g, f)
    if name in MAGNITUDE:
        sigma = g["noise_fraction"] * level * (1.5 if name == "DWI" else 1)
        value = rician(value * np.exp(rng.uniform(0.05, 0.15) * g["coil"]), sigma, rng)
    else:
        sigma = PERFUSION_NOISE[name] * level * rng.uniform(0.7, 1.3)
        value = value * np.exp(0.08 * g["perf"]) + rng.standard_normal(value.size, dtype=np.float32) * sigma
    volume = np.zeros(shape, np.int16, order="F")  # NIfTI's order: nibabel writes it without a copy
    volume[_region(g)][g["inside"]] = np.clip(np.rint(value), 1, np.iinfo(np.int16).max).astype(np.int16)
    return volume


def _region(g: dict) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in zip(g["lo"], g["hi"], strict=True))


def _full(g: dict, values: np.ndarray, shape, dtype) -> np.ndarray:
    out = np.zeros(shape, dtype, order="F")
    out[_region(g)][g["inside"]] = values
    return out


def _truth(task: str, geo: Geometry, p: dict, tpl: dict, info: dict, g: dict, label: np.ndarray) -> dict:
    """The ground truth of one case: pose, mid-sagittal plane, lesion description and measured volumes in mL."""
    voxel_ml = geo.spacing**3 / 1000
    ml = lambda mask: round(float(np.count_nonzero(mask)) * voxel_ml, 4)  # noqa: E731
    truth = {
        "shape": list(p["shape"]), "spacing_mm": [geo.spacing] * 3, "affine": np.round(p["affine"], 6).tolist(),
        "rotation_deg": np.round(p["rotation"], 4).tolist(),
        "rotation_order": "extrinsic xyz about rotation_centre_mni_mm, then translation",
        "translation_mm": np.round(p["translation"], 4).tolist(), "scale": round(p["scale"], 5),
        "rotation_centre_mni_mm": np.round(tpl["centre"], 3).tolist(),
        "midsagittal_plane": midsagittal_plane(p["pose"], p["affine"], tpl),
        **info, "lesion_volume_ml": ml(label), "brain_volume_ml": ml(g["inside"]),
    }
    if info["confounder"]:
        truth["confounder_volume_ml"] = ml(g["confounder"] > 0.5)
    truth["mimic_volume_ml"] = ml(g["mimic"] > 0.5)
    if task == "SPES":
        truth["core_volume_ml"] = ml((g["core"] > 0.5) & (g["lesion"] > 0.5))
    truth["phenomena"] = case_phenomena(truth)
    return truth


def case_phenomena(truth: dict) -> list[str]:
    """The phenomena one case carries, by name: ``small lesion`` (< :data:`SMALL_LESION_ML`), ``old lesion``,
    ``symmetric mimics``."""
    tags = ["small lesion"] if truth["lesion_volume_ml"] < SMALL_LESION_ML else []
    tags += ["old lesion"] if truth.get("confounder") else []
    tags += ["symmetric mimics"] if truth.get("mimic_pairs", 0) else []
    return tags


def synthesize_case(task: str, rng: np.random.Generator, geometry_name: str = "paper", keep_maps: bool = False,
                    phenomena: Phenomena | dict | None = None) -> SyntheticCase:
    """Generate one ISLES 2015-like case (module docstring; §2.1 SISS, §2.2 SPES) with the task's phenomena
    (:func:`strokelib.synthetic.lesions.phenomena_for`). One generator state gives one case; old lesions, mimics and
    artefact spots draw from child generators (``rng.spawn``), so turning one of them off changes nothing else."""
    task = str(task).upper()
    task_modalities(task)  # raises ConfigError for an unknown task
    geo, phen = geometry(task, geometry_name), phenomena_for(task, phenomena)
    tpl = template(geo.template_mm)
    # Each optional phenomenon draws from its own child generator, so switching one off leaves the rest of the case
    # (pose, lesion, other phenomena, noise) exactly as it was.
    old_rng, mimic_rng, artefact_rng = rng.spawn(3)
    p = _draw_pose(rng, geo, tpl)
    lesion_maps, info = template_lesions(task, tpl, rng, p["scale"], phen, old_rng, mimic_rng)
    g = _on_grid(tpl, lesion_maps, p["vox_to_tpl"], p["shape"])
    _smooth_fields(task, rng, g, geo.spacing)
    vox_to_world = tpl["affine"] @ p["vox_to_tpl"]
    g["artefact"] = (artefact_spots(artefact_rng, vox_to_world, g["lo"], g["hi"])[g["inside"]] if phen.artefact_spots
                     else np.zeros_like(g["gm"]))
    g["noise_fraction"] = rng.uniform(0.02, 0.05)
    f = _draw_factors(task, rng)
    images = {name: _image(name, task, g, f, rng, p["shape"]) for name in task_modalities(task)}
    label = _full(g, g["lesion"] > 0.5, p["shape"], np.uint8)
    truth = _truth(task, geo, p, tpl, info, g, label)
    maps = {}
    if keep_maps:
        maps = {k: _full(g, g[k], p["shape"], np.float32) for k in ("gm", "wm", "csf")}
        maps |= {"brain": _full(g, True, p["shape"], bool), "confounder": _full(g, g["confounder"] > 0.5, p["shape"], bool),
                 "mimic": _full(g, g["mimic"] > 0.5, p["shape"], bool)}
        if task == "SPES":
            maps |= {"core": _full(g, g["core"] > 0.5, p["shape"], bool),
                     "severity": _full(g, g["severity"], p["shape"], np.float32)}
    return SyntheticCase(images=images, label=label, affine=p["affine"], truth=truth, maps=maps)
