"""The paper's published numbers and claims (Clèrigues et al., §4 Tables 1–3, §4.1.1, §4.1.2), cited in notebook 05.

Values are "mean ± sd" exactly as printed in the paper. HD is in voxels for Table 1 (the released code passes no
spacing to its Hausdorff distance) and in mm for Tables 2–3, which are the ISLES 2015 online evaluation's figures:
its evaluator measures distances with the images' spacing. The paper's voxels are 1 mm for SISS and 2 mm for SPES
(§2.1, §2.2, :data:`VOXEL_MM`), so a SPES HD in voxels is half the same HD in mm. The leaderboard row ``clera2``
is the paper's authors' entry, not this reproduction's. :data:`CLAIMS` and :data:`S_MIN_CLAIMS` hold what §4.1.1
and §4.1.2 say in words about Table 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

VOXEL_MM = {"SISS": 1.0, "SPES": 2.0}
"""The ISLES 2015 images' isotropic voxel size in mm: SISS 1×1×1 mm (§2.1), SPES 2×2×2 mm (§2.2)."""

_TABLE1 = [
    # task, approach, Th, S_min, DSC, PPV, sensitivity, HD
    ("SISS", "baseline", 0.4, 50, "0.64 ± 0.22", "0.69 ± 0.27", "0.68 ± 0.21", "43.7 ± 32.6"),
    ("SISS", "balanced", 0.4, 200, "0.67 ± 0.21", "0.73 ± 0.22", "0.69 ± 0.23", "30.9 ± 28.9"),
    ("SISS", "proposed", 0.5, 200, "0.71 ± 0.19", "0.78 ± 0.20", "0.67 ± 0.22", "29.5 ± 29.5"),
    ("SPES", "baseline", 0.6, 500, "0.80 ± 0.17", "0.82 ± 0.21", "0.82 ± 0.19", "11.1 ± 6.9"),
    ("SPES", "balanced", 0.4, 500, "0.82 ± 0.15", "0.84 ± 0.14", "0.85 ± 0.17", "12.4 ± 7.6"),
    ("SPES", "proposed", 0.5, 200, "0.82 ± 0.16", "0.85 ± 0.13", "0.85 ± 0.17", "11.2 ± 7.3"),
]

_LEADERBOARD = {
    # Table 2: top 5 of 74 SISS entries; Table 3: top 5 of 41 SPES entries (ranked by mean DSC). clera2 is the
    # paper's authors' entry (§4.2.1: "ranking first"), the blind test set scored by the ISLES 2015 platform.
    "SISS": [
        (1, "clera2 (Clèrigues et al.)", "0.59 ± 0.31", "0.65 ± 0.35", "0.60 ± 0.30", "34.7 ± 28.9"),
        (2, "kamnk1", "0.59 ± 0.31", "0.68 ± 0.33", "0.60 ± 0.27", "39.6 ± 30.7"),
        (3, "zhanr6", "0.58 ± 0.31", "0.60 ± 0.33", "0.68 ± 0.24", "38.9 ± 35.3"),
        (4, "lianl1", "0.57 ± 0.29", "0.58 ± 0.30", "0.64 ± 0.29", "43.0 ± 30.5"),
        (5, "saliz1", "0.57 ± 0.31", "0.54 ± 0.31", "0.67 ± 0.29", "41.1 ± 36.7"),
    ],
    "SPES": [
        (1, "clera2 (Clèrigues et al.)", "0.84 ± 0.10", "0.82 ± 0.15", "0.89 ± 0.06", "20.7 ± 13.9"),
        (2, "mckir1", "0.82 ± 0.08", "0.83 ± 0.10", "0.82 ± 0.14", "29.0 ± 16.3"),
        (3, "cheng5", "0.81 ± 0.11", "0.81 ± 0.12", "0.81 ± 0.14", "22.7 ± 12.6"),
        (4, "maieo1", "0.81 ± 0.09", "0.84 ± 0.08", "0.80 ± 0.14", "23.6 ± 13.0"),
        (5, "ghosp1", "0.80 ± 0.11", "0.80 ± 0.15", "0.83 ± 0.11", "57.1 ± 25.4"),
    ],
}


def table1(task: str | None = None) -> pd.DataFrame:
    """Paper Table 1 (cross-validation on the training cases), optionally for one task."""
    df = pd.DataFrame(_TABLE1, columns=["task", "approach", "Th", "S_min", "DSC", "PPV", "sensitivity",
                                    "HD (voxels)"])
    return df if task is None else df[df["task"] == str(task).upper()].reset_index(drop=True)


def leaderboard(task: str) -> pd.DataFrame:
    """Paper Table 2 (SISS) or Table 3 (SPES): the top five entries of the ISLES 2015 online testing leaderboard."""
    rows = _LEADERBOARD[str(task).upper()]
    return pd.DataFrame(rows, columns=["rank", "user", "DSC", "PPV", "sensitivity", "HD (mm)"])


@dataclass(frozen=True)
class Claim:
    """What §4.1.1 or §4.1.2 says of one approach against the Baseline (metric names as in
    :data:`strokelib.evaluation.metrics.METRICS`)."""

    section: str
    significant: tuple[str, ...]  # significantly better than the Baseline (Wilcoxon), ...
    bound: float  # ... at this p bound, as the paper states it
    marginal: tuple[str, ...] = ()  # "marginal" improvements, stated without a test
    not_improved: tuple[str, ...] = ()  # metrics the paper says this approach did not improve


CLAIMS = {
    # §4.1.1: "the Balanced approach significantly improves the Hausdorff distance (p < 0.01) with marginal
    # improvements in other metrics"
    ("SISS", "balanced"): Claim("§4.1.1", ("hd",), 0.01, marginal=("dsc", "ppv", "sensitivity")),
    # §4.1.1: "the Proposed approach achieves significantly better DSC, PPV and HD (p < 0.02)"
    ("SISS", "proposed"): Claim("§4.1.1", ("dsc", "ppv", "hd"), 0.02),
    # §4.1.2: "significantly improves the sensitivity (p < 0.01) while providing marginal increase on the rest
    # except the Hausdorff distance"
    ("SPES", "balanced"): Claim("§4.1.2", ("sensitivity",), 0.01, marginal=("dsc", "ppv"), not_improved=("hd",)),
    # §4.1.2: "it achieves a significantly better DSC and sensitivity (p < 0.01) than the Baseline"
    ("SPES", "proposed"): Claim("§4.1.2", ("dsc", "sensitivity"), 0.01),
}
"""The paper's findings against the Baseline, per (task, approach), worded as in §4.1.1 (SISS) and §4.1.2 (SPES).
The paper gives no per-row p-values, only these bounds; it claims no order between Balanced and Proposed."""

SIGNIFICANT = {key: (claim.significant, claim.bound) for key, claim in CLAIMS.items()}
"""(task, approach): (metrics the paper found significantly better than the Baseline's, the p bound it states)."""

S_MIN_CLAIMS = {
    # task: (section, Baseline S_min, Proposed S_min, the paper's words)
    "SISS": ("§4.1.1", 50, 200, "the Proposed approach needs a more restrictive minimum lesion size of 200 voxels "
                                "than the Baseline, which only filtered lesions smaller than 50 voxels"),
    "SPES": ("§4.1.2", 500, 200, "the augmented modalities reduce the minimum lesion size S_min from 500 to a less "
                                 "restrictive 200 voxels"),
}
"""What the paper says of the S_min the Proposed approach needed against the Baseline's."""


def table1_means(task: str) -> pd.DataFrame:
    """Paper Table 1 as numbers: one row per approach, the mean of each metric (``dsc``, ``ppv``, ``sensitivity``,
    ``hd``) and ``threshold``/``min_size``."""
    table = table1(task).set_index("approach")
    means = {name: table[column].str.split("±").str[0].astype(float)
             for name, column in (("dsc", "DSC"), ("ppv", "PPV"), ("sensitivity", "sensitivity"), ("hd", "HD (voxels)"))}
    return pd.DataFrame(means).assign(threshold=table["Th"], min_size=table["S_min"])
