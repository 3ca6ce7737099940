"""How hard a dataset is: the best single-channel intensity threshold and the Dice it reaches (§2, §4.1).

The paper's contributions (symmetric modalities §3.1, class-imbalance handling §3.3) only matter on data where a
lesion cannot be found by thresholding one image. This module measures that: for every modality, one global
threshold on the brain-z-scored intensities (the network's input, see :func:`strokelib.preprocessing.normalisation.normalise_images`),
applied to every case, in either direction (brighter or darker than the threshold), chosen to maximise the mean
per-case DSC. The figure is optimistic on purpose (the threshold is chosen on the cases it is scored on): a dataset
whose best channel reaches DSC 0.8 this way is an intensity-threshold task, whatever a network scores on it. It is
the best *single global* threshold, not a bound on every single-channel rule (a threshold per case, or a minimum
component size, could do better).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..preprocessing.normalisation import normalise_images

Z_RANGE = (-8.0, 16.0)  # z-scores outside this range are clipped into the first or last bin
N_BINS = 960  # 0.025 z per bin


def _cumulative_counts(values: np.ndarray, lesion: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxels (all, lesion) at or above each edge: reversed cumulative histograms, one pass per case and channel."""
    values = np.clip(values, edges[0], edges[-1] - 1e-6)
    all_hist = np.histogram(values, edges)[0]
    lesion_hist = np.histogram(values[lesion], edges)[0]
    above = lambda h: np.concatenate([np.cumsum(h[::-1])[::-1], [0]])  # noqa: E731  index k: count ≥ edges[k]
    return above(all_hist), above(lesion_hist)


def channel_threshold_dsc(cases: Sequence, normalisation: str = "brain", n_bins: int = N_BINS) -> pd.DataFrame:
    """The best global threshold of each modality and the per-case DSC it gives.

    Parameters
    ----------
    cases : sequence of Case
        Labelled cases (training split); cases without lesion voxels are skipped.
    normalisation : str
        How intensities are z-scored first (``brain`` or ``whole_volume``, as for the network).
    n_bins : int
        Candidate thresholds: bin edges over ``Z_RANGE``.

    Returns
    -------
    pandas.DataFrame
        One row per modality, best first: ``modality``, ``direction`` (``>`` brighter or ``<`` darker than the
        threshold is called lesion), ``threshold_z``, ``dsc_mean``, ``dsc_sd``, ``cases``.
    """
    cases = [c for c in cases if c.label is not None and np.any(c.label)]
    if not cases:
        raise ConfigError("channel_threshold_dsc needs labelled cases with a lesion (the training split)")
    edges = np.linspace(*Z_RANGE, n_bins + 1)
    modalities = cases[0].modalities
    # dsc[direction][channel] -> (n_cases, n_edges)
    dsc = {d: np.zeros((len(modalities), len(cases), edges.size)) for d in (">", "<")}
    for i, case in enumerate(cases):
        if case.modalities != modalities:
            raise ConfigError(f"case {case.case_id}: modalities {case.modalities} differ from {modalities}")
        z = normalise_images(case.images, case.brain_mask, normalisation)
        mask = case.brain_mask.astype(bool)
        lesion = case.label[mask] > 0
        n_lesion = lesion.sum()
        for c in range(len(modalities)):
            above_all, above_lesion = _cumulative_counts(z[c][mask], lesion, edges)
            below_all, below_lesion = above_all[0] - above_all, n_lesion - above_lesion
            dsc[">"][c, i] = 2 * above_lesion / np.maximum(above_all + n_lesion, 1)
            dsc["<"][c, i] = 2 * below_lesion / np.maximum(below_all + n_lesion, 1)
    rows = []
    for c, modality in enumerate(modalities):
        best = max(dsc, key=lambda d: dsc[d][c].mean(axis=0).max())
        k = int(dsc[best][c].mean(axis=0).argmax())
        per_case = dsc[best][c][:, k]
        rows.append({"modality": modality, "direction": best, "threshold_z": round(float(edges[k]), 3),
                     "dsc_mean": float(per_case.mean()), "dsc_sd": float(per_case.std()), "cases": len(cases)})
    return pd.DataFrame(rows).sort_values("dsc_mean", ascending=False, ignore_index=True)


def intensity_overlap(case, look_alikes: dict[str, np.ndarray] | None = None, normalisation: str = "brain") -> pd.DataFrame:
    """How far a case's lesion stands apart from healthy brain in each modality, in numbers a histogram only hints at.

    Per modality, on brain-z-scored intensities: the share (%) of lesion voxels inside the healthy brain's central 98 %
    (1st–99th percentile; a lesion no threshold can separate scores 100 %), the lesion's and the healthy brain's
    median z, and, for each look-alike mask given (``{"mimic": mask, ...}``), the share of its voxels inside the
    lesion's central 90 % (5th–95th percentile), in %: look-alikes that a threshold would take for lesion.
    """
    images = normalise_images(case.images, case.brain_mask, normalisation)
    brain = np.asarray(case.brain_mask, bool)
    lesion = brain & (np.asarray(case.label) > 0)
    others = {name: brain & np.asarray(mask, bool) for name, mask in (look_alikes or {}).items()}
    healthy = brain & ~lesion
    for mask in others.values():
        healthy &= ~mask
    if not lesion.any():
        raise ConfigError(f"case {case.case_id} has no lesion voxel: nothing to compare")
    rows = []
    for name, image in zip(case.modalities, images, strict=True):
        low, high = np.percentile(image[healthy], [1, 99])
        in_lesion = image[lesion]
        lo5, hi95 = np.percentile(in_lesion, [5, 95])
        row = {"modality": name, "lesion median z": float(np.median(in_lesion)),
               "healthy median z": float(np.median(image[healthy])),
               "% of lesion inside healthy 1–99th pct": 100 * float(np.mean((in_lesion >= low) & (in_lesion <= high)))}
        for other, mask in others.items():
            values = image[mask]
            inside = 100 * float(np.mean((values >= lo5) & (values <= hi95))) if values.size else np.nan
            row[f"% of {other} inside lesion 5–95th pct"] = inside
        rows.append(row)
    return pd.DataFrame(rows).set_index("modality")
