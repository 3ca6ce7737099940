"""The tables of paper §4 (Tables 1–3): mean ± sd per approach, Wilcoxon p-values, ours and the paper's side by side.

Rows come from per-case metrics (:mod:`strokelib.evaluation.metrics`: one row per case at the chosen Th and S_min). Ours and
the paper's are separate tables, each readable on its own: :func:`table1` (our run, with the Wilcoxon p-values and,
when the rows say so, both post-processing protocols :data:`strokelib.evaluation.metrics.PAPER_PROTOCOL` and
:data:`~strokelib.evaluation.metrics.NESTED_PROTOCOL`) and :func:`paper_table1` (the paper's Table 1 as printed). Both give HD in
voxels (the unit of Eq. 2 and of the paper's Table 1) and in mm, because a voxel is not the same size in both: the
paper's SISS voxels are 1 mm, a synthetic run's may be 2 mm. For Tables 2 and 3, :func:`leaderboard_with_ours`
returns the ISLES 2015 blind-test leaderboard as published and, apart, our cross-validated row marked as not
comparable. Every table names the unit of HD in its column and is written with the data that produced it
(:func:`write_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ..files import write_csv, write_text
from . import paper_results
from .metrics import METRICS

P_NAMES = {"dsc": "DSC", "ppv": "PPV", "sensitivity": "sensitivity", "hd": "HD"}
NOT_COMPARABLE = "not comparable: cross-validation on {data}, not the blind test set"
"""Our leaderboard row's note (:func:`our_leaderboard_row`); ``{data}`` says which training data."""


def format_p(p: float | None) -> str:
    """A p-value as computed, never rounded to a bound: ``0.0078``-style to three significant digits from 0.001 up,
    ``2.2e-4`` below; ``–`` when there is none."""
    if p is None or pd.isna(p):
        return "–"
    if p >= 1e-3:
        return f"{p:.3g}"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _mean_sd(values: pd.Series, digits: int) -> str:
    values = values.dropna()
    if values.empty:
        return "n/a"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=0):.{digits}f}"


def summary_table(per_case: pd.DataFrame, by: str | Sequence[str] | None = None, hd_unit: str = "voxels") -> pd.DataFrame:
    """Tables 1–3 layout: "mean ± sd" of DSC, PPV, sensitivity and HD, with the undefined-HD count.

    ``per_case`` has one row per case (e.g. :func:`strokelib.evaluation.metrics.select_cell` output, or :func:`strokelib.evaluation.metrics.evaluate` dicts); ``by`` names
    grouping columns (e.g. ``"approach"``). Th and S_min are shown when the rows hold a single cell, as a range
    when they vary (the nested choice picks them per fold). ``hd_unit`` names the unit of the ``hd`` values in the
    column header: ``"voxels"`` (Table 1 and the Eq. 2 grid, as the released code) or ``"mm"`` (the leaderboard).
    """
    groups = [((), per_case)] if by is None else per_case.groupby(by, sort=False)
    rows = []
    for key, frame in groups:
        row = dict(zip([by] if isinstance(by, str) else (by or []), key if isinstance(key, tuple) else (key,), strict=True))
        for column, name in (("threshold", "Th"), ("min_size", "S_min")):
            if column in frame and frame[column].nunique() == 1:
                row[name] = frame[column].iloc[0]
            elif column in frame:
                row[name] = f"{frame[column].min():g}–{frame[column].max():g}"
        row["n"] = len(frame)
        for column, name, digits in (("dsc", "DSC", 2), ("ppv", "PPV", 2), ("sensitivity", "Sensitivity", 2),
                                     ("hd", f"HD ({hd_unit})", 1)):
            row[name] = _mean_sd(frame[column], digits)
        row["HD undefined"] = int(frame["hd"].isna().sum())
        rows.append(row)
    return pd.DataFrame(rows)


def representative_cases(per_case: pd.DataFrame, metric: str = "dsc") -> dict[str, str]:
    """Case ids of the best, median and worst ``metric`` (Figures 4–5). The median is the case nearest the
    median value (the lower one for an even count)."""
    frame = per_case.dropna(subset=[metric]).sort_values([metric, "case"], kind="stable")
    if frame.empty:
        raise EvaluationError(f"no case has a defined {metric}; nothing to show")
    values = frame[metric].to_numpy()
    return {
        "best": str(frame["case"].iloc[-1]),
        "median": str(frame["case"].iloc[(len(values) - 1) // 2]),
        "worst": str(frame["case"].iloc[0]),
    }


def wilcoxon_pvalues(per_case: pd.DataFrame, baseline: str = "baseline", metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Paired two-sided Wilcoxon signed-rank p-values of each approach against ``baseline`` (Table 1).

    ``per_case`` has columns ``approach``, ``case`` and the metrics; pairs are matched by case and pairs with an
    undefined value are dropped. NaN where there are fewer than two pairs or every difference is zero.
    """
    from scipy.stats import wilcoxon

    wide = per_case.pivot_table(index="case", columns="approach", values=list(metrics), aggfunc="first")
    rows = []
    for approach in per_case["approach"].unique():
        row = {"approach": approach}
        for metric in metrics:
            if approach == baseline or baseline not in per_case["approach"].values:
                row[f"p_{metric}"] = np.nan
                continue
            pairs = wide[metric][[approach, baseline]].dropna()
            diff = pairs[approach] - pairs[baseline]
            row[f"p_{metric}"] = float(wilcoxon(pairs[approach], pairs[baseline]).pvalue) if len(pairs) >= 2 and (diff != 0).any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _isotropic_mm(spacing, case: str) -> float:
    values = np.atleast_1d(np.asarray(spacing, dtype=float)).ravel()
    if values.size not in (1, 3) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise EvaluationError(f"voxel size of case {case} must be one or three positive sizes in mm, not {spacing!r}")
    if np.ptp(values) > 1e-3 * values.max():
        raise EvaluationError(
            f"case {case} has voxels of {'×'.join(f'{v:g}' for v in values)} mm: an HD counted in voxels has no single "
            "size in mm on an anisotropic grid; score HD in mm with metrics.grid_metrics(spacing=...)")
    return float(values.mean())


def _case_voxel_mm(cases: pd.Series, voxel_mm) -> pd.Series:
    """The isotropic voxel size (mm) of each row's case; an error for a missing case or an anisotropic voxel."""
    cases = cases.astype(str)
    if not isinstance(voxel_mm, Mapping):
        return pd.Series(_isotropic_mm(voxel_mm, "(every case)"), index=cases.index)
    by_case = {str(k): v for k, v in voxel_mm.items()}
    missing = sorted(set(cases) - set(by_case))
    if missing:
        raise EvaluationError(f"voxel_mm has no voxel size for case {', '.join(missing)}")
    return cases.map({case: _isotropic_mm(by_case[case], case) for case in cases.unique()})


def _sizes(values: pd.Series) -> str:
    low, high = values.min(), values.max()
    return f"{low:g}" if low == high else f"{low:g}–{high:g}"


def _ours(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """:func:`summary_table` by approach with the voxel size, HD in mm and the Wilcoxon p-values of every metric."""
    ours = summary_table(frame, by="approach")
    mm = summary_table(frame.assign(hd=frame["hd"] * frame["voxel_mm"]), by="approach", hd_unit="mm")
    ours.insert(ours.columns.get_loc("DSC"), "voxel (mm)", frame.groupby("approach", sort=False)["voxel_mm"]
                .agg(_sizes).reindex(ours["approach"]).to_numpy())
    ours.insert(ours.columns.get_loc("HD (voxels)") + 1, "HD (mm)", mm["HD (mm)"].to_numpy())
    pvalues = wilcoxon_pvalues(frame, baseline).set_index("approach").reindex(ours["approach"])
    for metric in METRICS:
        ours[f"p {P_NAMES[metric]} vs {baseline}"] = [format_p(p) for p in pvalues[f"p_{metric}"]]
    return ours


def table1(per_case: pd.DataFrame, task: str,
           voxel_mm: float | Sequence[float] | Mapping[str, float | Sequence[float]],
           baseline: str = "baseline") -> pd.DataFrame:
    """Our Table 1 for one task (§4.1): one row per approach (and protocol), the paper's values not in it
    (:func:`paper_table1` has them, in the same columns).

    Columns: ``approach``, ``Th, S_min chosen`` (with a ``protocol`` column in ``per_case``), ``Th``, ``S_min``,
    ``n``, ``voxel (mm)``, ``DSC``, ``PPV``, ``Sensitivity``, ``HD (voxels)`` (as ``per_case`` holds it: the unit of
    Eq. 2), ``HD (mm)``, ``HD undefined`` (cases without HD), then ``p <metric> vs <baseline>``: the paired two-sided
    Wilcoxon signed-rank p-value against the Baseline of the same protocol (:func:`wilcoxon_pvalues`, the HD test on
    the voxel values), ``–`` for the Baseline itself or where there is nothing to test.

    ``voxel_mm`` is the voxel size of the grid the ``hd`` values were counted on: one size (a number, or three equal
    sizes) when every case has it, or ``{case id: spacing}`` (e.g. ``Case.spacing``) since cases may differ. Each case's HD (mm) is its HD in voxels × its voxel size, which is exact only for isotropic voxels: an
    anisotropic case raises :class:`EvaluationError` (score its HD with the spacing instead,
    :func:`strokelib.evaluation.metrics.grid_metrics`).
    """
    if str(task).upper() not in paper_results.VOXEL_MM:
        raise EvaluationError(f"task must be SISS or SPES, not {task!r}")
    per_case = per_case.assign(voxel_mm=_case_voxel_mm(per_case["case"], voxel_mm).to_numpy())
    protocols = list(per_case["protocol"].unique()) if "protocol" in per_case else [None]
    parts = []
    for protocol in protocols:
        frame = per_case if protocol is None else per_case[per_case["protocol"] == protocol]
        ours = _ours(frame, baseline)
        if protocol is not None:
            ours.insert(1, "Th, S_min chosen", protocol)
        parts.append(ours)
    return pd.concat(parts, ignore_index=True)


def _scaled(mean_sd: str, factor: float) -> str:
    mean, sd = (float(v) for v in mean_sd.split("±"))
    return f"{mean * factor:.1f} ± {sd * factor:.1f}"


def paper_table1(task: str) -> pd.DataFrame:
    """The paper's Table 1 for one task (§4.1), in the columns of :func:`table1`: ``approach``, ``Th``, ``S_min``,
    ``voxel (mm)``, ``DSC``, ``PPV``, ``Sensitivity``, ``HD (voxels)`` as printed and ``HD (mm)`` = HD in voxels ×
    the paper's voxel size (SISS 1 mm, SPES 2 mm: §2.1, §2.2). No p-values: the paper prints none per row, only
    the claims of §4.1.1 and §4.1.2 (:data:`strokelib.evaluation.paper_results.CLAIMS`)."""
    task = str(task).upper()
    paper = paper_results.table1(task).drop(columns="task").rename(columns={"sensitivity": "Sensitivity"})
    size = paper_results.VOXEL_MM[task]
    paper.insert(paper.columns.get_loc("DSC"), "voxel (mm)", f"{size:g}")
    paper.insert(paper.columns.get_loc("HD (voxels)") + 1, "HD (mm)", paper["HD (voxels)"].map(lambda v: _scaled(v, size)))
    return paper


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def write_table(table: pd.DataFrame, path_stem: str | Path, source: str) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically; both state ``source``, the data that produced them."""
    stem = Path(path_stem)
    csv = stem.with_suffix(".csv")
    with_source = table.copy()
    with_source["data"] = source
    write_csv(with_source, csv, index=False)
    md = write_text(stem.with_suffix(".md"), f"{to_markdown(table)}\n\nData: {source}\n")
    return csv, md


def published_leaderboard(task: str) -> pd.DataFrame:
    """Table 2 (SISS) or 3 (SPES) as published (§4.2.1): the top five of the ISLES 2015 blind-test leaderboard,
    ``rank``, ``user``, ``DSC``, ``PPV``, ``Sensitivity``, ``HD (mm)``. ``clera2`` is the paper's authors' entry."""
    return paper_results.leaderboard(task).rename(columns={"sensitivity": "Sensitivity"})


def our_leaderboard_row(per_case: pd.DataFrame, label: str, synthetic: bool) -> pd.DataFrame:
    """Our row in the leaderboard's columns, set apart: ``rank`` "—", ``user`` = ``label``, and a column
    ``comparable with the leaderboard`` saying why it is not: cross-validation (on synthetic data, or on the ISLES
    2015 training data when ``synthetic`` is False), not the blind test set. ``per_case`` must hold HD in mm
    (:func:`strokelib.evaluation.metrics.grid_metrics` with ``spacing``), the leaderboard's unit."""
    ours = summary_table(per_case, hd_unit="mm").iloc[0]
    data = "synthetic data" if synthetic else "ISLES 2015 training data"
    return pd.DataFrame([{"rank": "—", "user": label, "DSC": ours["DSC"], "PPV": ours["PPV"],
                          "Sensitivity": ours["Sensitivity"], "HD (mm)": ours["HD (mm)"],
                          "comparable with the leaderboard": NOT_COMPARABLE.format(data=data)}])


def leaderboard_with_ours(task: str, per_case: pd.DataFrame, label: str, *,
                          synthetic: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 2 (SISS) and 3 (SPES) as two tables: ``(published, ours)``.

    ``published`` is :func:`published_leaderboard` (the blind test set, as published); ``ours`` is
    :func:`our_leaderboard_row`, kept out of the ranking because it is cross-validation, not the blind test set.
    HD is in mm in both, like the leaderboard: ``per_case`` must hold HD computed with the voxel spacing
    (:func:`strokelib.evaluation.metrics.grid_metrics` with ``spacing``), because the ISLES 2015 online evaluation measured
    distances in the images' physical space (its evaluator builds a distance map with the image spacing)."""
    return published_leaderboard(task), our_leaderboard_row(per_case, label, synthetic)
