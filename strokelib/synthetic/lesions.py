"""Synthetic data, part 2: lesions and the look-alikes that make the paper's contributions matter (§3.1, §3.3, §4.1).

Everything here is drawn in template (MNI) space, as sets of template voxels; the case builder resamples them onto
the posed output grid. Each *phenomenon* is a field of :class:`Phenomena`, so a learner can switch one off and see
what it changes; the defaults per task are :data:`DEFAULT_PHENOMENA`.

* **The lesion** (the label): one per case, in one hemisphere, centred in a vascular-territory-like box (MCA, ACA,
  PCA), grown as the top-N voxels of a smooth random score so its volume is exact and its outline irregular; it
  never enters CSF. Its volume is log-uniform over ``lesion_volume_ml``: ISLES 2015 SISS mixes small lacunar-sized
  lesions with whole-territory infarcts, so many cases have a lesion of a few mL in a brain of over 1 000 mL — the
  *class imbalance* that balanced sampling and the focal loss address (§3.3). SPES adds a DWI-bright core and a
  perfusion deficit (``severity``) that reaches past the label into a ring of benign oligemia.
* **Old lesions** (``old_lesion_p``): a unilateral chronic infarct elsewhere — bright on FLAIR and T2, dark on T1,
  *no* DWI signal, not labelled. Clinically, patients with a new stroke often carry an old one; the paper's SISS
  case 13 (§4.1.1) gets two false positives from exactly this. Only the diffusion channel tells it apart.
* **Symmetric mimics** (``mimic_p``): pairs of lesion-like hyperintensities at mirror positions in both hemispheres,
  far enough from the midline (``mimic_min_lateral_mm``) that no 24×24×16 training patch holds both on grids of
  2 mm or finer (the ISLES 2015 geometries and the small SISS grid; a 4 mm patch is 96 mm wide and may). Clinically:
  normal bilateral findings that a single patch cannot tell from a lesion — periventricular caps and bands on FLAIR,
  symmetric flow and susceptibility artefacts on FLAIR/DWI (SISS), or bilaterally delayed bolus arrival in both
  posterior or watershed territories on the perfusion maps (SPES). Inside one patch a mimic looks like a lesion on
  every channel; only the contralateral view separates them, which is what the symmetric modalities of §3.1 give
  the network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .anatomy import draw_waves, field, log_uniform

# Vascular-territory-like boxes in MNI mm: (|x| range, y range, z range). Crude, but they put lesions where
# infarcts of the middle, anterior and posterior cerebral arteries lie.
TERRITORIES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "MCA": ((18.0, 70.0), (-75.0, 45.0), (-20.0, 65.0)),
    "ACA": ((3.0, 22.0), (-45.0, 60.0), (5.0, 75.0)),
    "PCA": ((3.0, 50.0), (-105.0, -50.0), (-20.0, 25.0)),
}
TERRITORY_P = {"SISS": (0.7, 0.15, 0.15), "SPES": (0.85, 0.1, 0.05)}
MIDLINE_MARGIN_MM = 4.0
MIMIC_BOX = ((0.0, 64.0), (-85.0, 45.0), (-15.0, 60.0))  # |x| lower bound comes from Phenomena
GUARD_MM = 6.0  # old lesions and mimics keep about this far from the label


@dataclass(frozen=True)
class Phenomena:
    """The phenomena of a synthetic dataset, each a parameter (module docstring: what each one is and why).

    Volumes are in mL per region (a mimic's volume is per side); probabilities are per case.
    """

    lesion_volume_ml: tuple[float, float] = (1.0, 300.0)
    old_lesion_p: float = 0.3
    old_lesion_ml: tuple[float, float] = (2.0, 25.0)
    mimic_p: float = 0.75
    mimic_pairs: tuple[int, int] = (1, 3)
    mimic_ml: tuple[float, float] = (1.0, 15.0)
    mimic_min_lateral_mm: float = 32.0  # > half a 2 mm patch (24 voxels · 2 mm / 2) plus a few mm; not enough at 4 mm
    artefact_spots: bool = True  # DWI susceptibility spots near the skull base (synthetic_pose)

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


DEFAULT_PHENOMENA = {
    "SISS": Phenomena(),
    "SPES": Phenomena(lesion_volume_ml=(20.0, 350.0), mimic_p=0.85, mimic_pairs=(1, 3), mimic_ml=(5.0, 50.0)),
}


def phenomena_for(task: str, overrides: Mapping | Phenomena | None = None) -> Phenomena:
    """The task's default :class:`Phenomena` with ``overrides`` (a mapping of field: value) applied and checked."""
    if isinstance(overrides, Phenomena):
        return _checked(overrides)
    base, overrides = DEFAULT_PHENOMENA[task], dict(overrides or {})
    names = {f.name for f in dataclasses.fields(Phenomena)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown synthetic phenomena {unknown}; known: {', '.join(sorted(names))}")
    return _checked(dataclasses.replace(base, **{k: _typed(k, v) for k, v in overrides.items()}))


def _typed(name: str, value):
    """``value`` in the declared type of field ``name`` (``0`` and ``0.0`` are one probability, and one dataset)."""
    default = getattr(DEFAULT_PHENOMENA["SISS"], name)
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, tuple):
            return tuple(type(d)(v) for d, v in zip(default, value, strict=True))
        return type(default)(value)
    except (TypeError, ValueError):
        raise ConfigError(f"synthetic phenomena: {name} must look like {default!r}, got {value!r}") from None


def _checked(p: Phenomena) -> Phenomena:
    for name in ("lesion_volume_ml", "old_lesion_ml", "mimic_ml", "mimic_pairs"):
        lo, hi = getattr(p, name)
        if not 0 < lo <= hi:
            raise ConfigError(f"synthetic phenomena: {name} must be (low, high) with 0 < low ≤ high, got {(lo, hi)}")
    for name in ("old_lesion_p", "mimic_p"):
        if not 0 <= getattr(p, name) <= 1:
            raise ConfigError(f"synthetic phenomena: {name} must be a probability in [0, 1], got {getattr(p, name)}")
    if p.mimic_min_lateral_mm >= MIMIC_BOX[0][1]:
        raise ConfigError(f"synthetic phenomena: mimic_min_lateral_mm must be below {MIMIC_BOX[0][1]} mm")
    return p


# ---------------------------------------------------------------------------------------------------------
# blobs: smooth irregular regions grown as the top-N voxels of a score
# ---------------------------------------------------------------------------------------------------------


def draw_blob(rng: np.random.Generator, centre: np.ndarray, volume_mm3: float, box=None) -> dict:
    """Parameters of an irregular, smooth lesion-like blob: centre, anisotropic radii, shape noise, territory box."""
    radius = (3 * volume_mm3 / (4 * np.pi)) ** (1 / 3)
    return {
        "centre": np.asarray(centre, np.float32),
        "radii": (radius * rng.uniform(0.75, 1.35, size=3)).astype(np.float32),
        "waves": draw_waves(rng, 16, wavelength=rng.uniform(1.5, 3.0)),
        "noise": float(rng.uniform(0.2, 0.4)),
        "box": box,
    }


def blob_score(blob: dict, xyz: np.ndarray, n_best: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Smooth score, highest at the blob centre: −(scaled distance) + shape noise − distance outside the territory.

    The top-N voxels of this score form the blob; its level sets are nested, so a core and an oligemic ring are the
    top-N' voxels of the same score with N' smaller or larger. Returns the indices of the points that can be among
    the ``n_best`` highest (all points when ``None``) and their scores.
    """
    u = (xyz - blob["centre"]) / blob["radii"]
    score = -np.sqrt((u * u).sum(axis=1))
    if blob["box"] is not None:
        (ax0, ax1), (y0, y1), (z0, z1) = blob["box"]
        lo, hi = np.array([ax0, y0, z0], np.float32), np.array([ax1, y1, z1], np.float32)
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
    return keep, score[keep] + blob["noise"] * field(blob["waves"], u[keep])


def top(score: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """Indices of the ``n`` highest scores and the threshold score (the n-th highest)."""
    n = int(np.clip(n, 1, score.size))
    idx = np.argpartition(-score, n - 1)[:n]
    return idx, float(score[idx].min())


def in_box(xyz: np.ndarray, box, side: int) -> np.ndarray:
    """Points of hemisphere ``side`` (−1 left, +1 right in MNI x) inside ``box`` (|x|, y, z ranges)."""
    (ax0, ax1), (y0, y1), (z0, z1) = box
    ax = np.abs(xyz[:, 0])
    ok = (np.sign(xyz[:, 0]) == side) & (ax >= ax0) & (ax <= ax1) & (xyz[:, 1] >= y0) & (xyz[:, 1] <= y1)
    return ok & (xyz[:, 2] >= z0) & (xyz[:, 2] <= z1)


def pick_centre(rng: np.random.Generator, xyz: np.ndarray, box, side: int) -> np.ndarray:
    """The tissue point nearest to a uniform random point of ``box`` in hemisphere ``side``; drawn in mm, so it
    hardly depends on the template resolution."""
    (ax0, ax1), (y0, y1), (z0, z1) = box
    target = rng.uniform([ax0, y0, z0], [ax1, y1, z1]) * [side, 1, 1]
    candidates = xyz[in_box(xyz, box, side)]
    return candidates[np.argmin(((candidates - target) ** 2).sum(axis=1))]


def template_volume(tpl: dict, indices: np.ndarray, values: np.ndarray | float = 1.0) -> np.ndarray:
    """A template-shaped float32 volume holding ``values`` at the lesion candidates ``indices`` (into ``tpl['ijk']``)."""
    vol = np.zeros(tpl["mask"].shape, np.float32)
    sel = tpl["ijk"][indices]
    vol[sel[:, 0], sel[:, 1], sel[:, 2]] = values
    return vol


def _n_voxels(tpl: dict, volume_ml: float, scale: float) -> int:
    voxel_mm3 = float(abs(np.linalg.det(tpl["affine"][:3, :3]))) * scale**3  # output mm³ per template voxel
    return round(volume_ml * 1000 / voxel_mm3)


def _hemisphere(xyz: np.ndarray, side: int) -> np.ndarray:
    return np.flatnonzero(side * xyz[:, 0] > MIDLINE_MARGIN_MM)


# ---------------------------------------------------------------------------------------------------------
# the lesion, old lesions and symmetric mimics
# ---------------------------------------------------------------------------------------------------------


def draw_lesion(task: str, tpl: dict, rng: np.random.Generator, scale: float, phen: Phenomena):
    """The labelled lesion: template maps (``lesion``; SPES also ``core`` and ``severity``), its description, and a
    guard that flags points within :data:`GUARD_MM` of it (old lesions and mimics keep away)."""
    xyz = tpl["xyz"]
    side = int(rng.choice([-1, 1]))
    territory = str(rng.choice(list(TERRITORIES), p=TERRITORY_P[task]))
    box = TERRITORIES[territory]
    volume_ml = log_uniform(rng, *phen.lesion_volume_ml)
    hemi = _hemisphere(xyz, side)
    blob = draw_blob(rng, pick_centre(rng, xyz, box, side), volume_ml * 1000 / scale**3, box)
    n_label = _n_voxels(tpl, volume_ml, scale)
    olig_factor = float(rng.uniform(1.3, 1.8)) if task == "SPES" else 1.0
    keep, score = blob_score(blob, xyz[hemi], n_best=round(n_label * olig_factor))
    candidates = hemi[keep]
    label_idx, label_tau = top(score, n_label)
    maps = {"lesion": template_volume(tpl, candidates[label_idx])}
    info = {"lesion_side": "right" if side > 0 else "left", "territory": territory,
            "target_volume_ml": round(volume_ml, 3),
            "lesion_centre_mni_mm": [round(float(c), 1) for c in blob["centre"]]}
    if task == "SPES":
        spes_maps, spes_info = _core_and_severity(tpl, rng, blob, candidates, score, label_idx, label_tau, n_label,
                                                  olig_factor)
        maps |= spes_maps
        info |= spes_info
    margin = GUARD_MM / float(blob["radii"].min())

    def near_label(points: np.ndarray) -> np.ndarray:
        return blob_score(blob, points)[1] > label_tau - margin

    return maps, info, near_label


def _core_and_severity(tpl, rng, blob, candidates, score, label_idx, label_tau, n_label,
                       olig_factor) -> tuple[dict, dict]:
    """SPES: the perfusion deficit and the DWI core, both level sets of the lesion's own score (§2.2)."""
    core_fraction = float(rng.uniform(0.1, 0.5))
    olig_idx, olig_tau = top(score, round(n_label * olig_factor))
    # Severity rises linearly from 0 at the oligemia border to 1 at the label border, then to 2.5 at the centre.
    s_olig = score[olig_idx]
    peak = float(s_olig.max())
    severity = np.where(s_olig < label_tau, (s_olig - olig_tau) / max(label_tau - olig_tau, 1e-6),
                        1 + 1.5 * (s_olig - label_tau) / max(peak - label_tau, 1e-6)).clip(0, 2.5)
    # The core: the centre of the same score, reshaped by its own noise, kept inside the label.
    core_waves = draw_waves(rng, 16, wavelength=rng.uniform(1.5, 3.0))
    u = (tpl["xyz"][candidates[label_idx]] - blob["centre"]) / blob["radii"]
    core_sel, _ = top(score[label_idx] + 0.3 * field(core_waves, u), round(n_label * core_fraction))
    maps = {"severity": template_volume(tpl, candidates[olig_idx], severity),
            "core": template_volume(tpl, candidates[label_idx[core_sel]])}
    return maps, {"core_fraction_target": round(core_fraction, 3), "oligemia_factor": round(olig_factor, 3)}


def _grow(tpl: dict, blob: dict, hemi: np.ndarray, points: np.ndarray, n: int,
          near_label: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Candidate indices of the top-``n`` voxels of ``blob`` scored at ``points`` (the hemisphere's candidates, or
    their mirror images), skipping voxels near the label."""
    keep, score = blob_score(blob, points, n_best=n)
    chosen = hemi[keep]
    score[near_label(tpl["xyz"][chosen])] = -np.inf
    idx, _ = top(score, n)
    return chosen[idx[np.isfinite(score[idx])]]


def draw_old_lesion(tpl: dict, rng: np.random.Generator, scale: float, phen: Phenomena, near_label) -> tuple:
    """An old (chronic) infarct elsewhere with probability ``old_lesion_p``: its template map or None, and its info."""
    if not rng.uniform() < phen.old_lesion_p:
        return None, {"confounder": False}
    xyz = tpl["xyz"]
    side = int(rng.choice([-1, 1]))
    volume_ml = log_uniform(rng, *phen.old_lesion_ml)
    box = TERRITORIES[str(rng.choice(list(TERRITORIES)))]
    blob = draw_blob(rng, pick_centre(rng, xyz, box, side), volume_ml * 1000 / scale**3)
    hemi = _hemisphere(xyz, side)
    chosen = _grow(tpl, blob, hemi, xyz[hemi], _n_voxels(tpl, volume_ml, scale), near_label)
    info = {"confounder": True, "confounder_side": "right" if side > 0 else "left",
            "confounder_target_volume_ml": round(volume_ml, 3)}
    return template_volume(tpl, chosen), info


def draw_mimics(task: str, tpl: dict, rng: np.random.Generator, scale: float, phen: Phenomena, near_label) -> tuple:
    """Symmetric mimics with probability ``mimic_p``: 1..n pairs, each one blob and its mirror image (MNI x → −x),
    with its own amplitude per side (±15 %). Returns the template map (the amplitude; SPES: a severity rising from 1
    at the edge to 2 at the centre, like the penumbra) or None, and the pairs' description."""
    if not rng.uniform() < phen.mimic_p:
        return None, {"mimic_pairs": 0}
    xyz = tpl["xyz"]
    box = ((phen.mimic_min_lateral_mm, MIMIC_BOX[0][1]), *MIMIC_BOX[1:])
    n_pairs = int(rng.integers(phen.mimic_pairs[0], phen.mimic_pairs[1] + 1))
    volume = np.zeros(tpl["mask"].shape, np.float32)
    pairs = []
    for _ in range(n_pairs):  # a few pairs, each vectorised over the template
        volume_ml = log_uniform(rng, *phen.mimic_ml)
        blob = draw_blob(rng, pick_centre(rng, xyz, box, +1), volume_ml * 1000 / scale**3)
        n = _n_voxels(tpl, volume_ml, scale)
        for side in (+1, -1):  # the medial edge is cut at the minimum distance, so no patch holds both sides
            hemi = np.flatnonzero(side * xyz[:, 0] >= phen.mimic_min_lateral_mm)
            chosen = _grow(tpl, blob, hemi, xyz[hemi] * np.float32([side, 1, 1]), n, near_label)
            amplitude = float(rng.uniform(0.85, 1.15))
            if task == "SPES" and chosen.size:
                s = blob_score(blob, xyz[chosen] * np.float32([side, 1, 1]))[1]
                values = amplitude * (1 + (s - s.min()) / max(float(np.ptp(s)), 1e-6))
            else:
                values = amplitude
            volume[tuple(tpl["ijk"][chosen].T)] = values
        pairs.append({"centre_mni_mm": [round(float(c), 1) for c in blob["centre"]],
                      "target_volume_ml_per_side": round(volume_ml, 3)})
    return volume, {"mimic_pairs": n_pairs, "mimics": pairs}


def template_lesions(task: str, tpl: dict, rng: np.random.Generator, scale: float, phen: Phenomena,
                     old_rng: np.random.Generator | None = None,
                     mimic_rng: np.random.Generator | None = None) -> tuple[dict, dict]:
    """Every lesion-like map of one case in template space and its description for the ground truth.

    Maps: ``lesion`` (the label region), ``confounder`` (old lesion) and ``mimic`` when drawn; SPES also ``core`` and
    ``severity`` (perfusion deficit: 0 outside the oligemic ring, 1 at the label border, larger towards the centre).
    ``old_rng`` and ``mimic_rng`` (default: ``rng``) draw the old lesion and the mimics, so that with their own
    generators switching one phenomenon off does not change the others.
    """
    maps, info, near_label = draw_lesion(task, tpl, rng, scale, phen)
    old, old_info = draw_old_lesion(tpl, old_rng or rng, scale, phen, near_label)
    mimic, mimic_info = draw_mimics(task, tpl, mimic_rng or rng, scale, phen, near_label)
    for name, volume in (("confounder", old), ("mimic", mimic)):
        if volume is not None:
            maps[name] = volume
    return maps, info | old_info | mimic_info
