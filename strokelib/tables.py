"""The tables of paper §4 (Tables 1–3): mean ± sd per approach, Wilcoxon p-values, the paper's numbers beside ours.

Rows come from per-case metrics (:mod:`strokelib.metrics`: one row per case at the chosen Th and S_min). Table 1
compares the three approaches of one task with the paper's values and, when the rows say so, under both
post-processing protocols (:data:`strokelib.metrics.PAPER_PROTOCOL`, :data:`~strokelib.metrics.NESTED_PROTOCOL`);
Tables 2 and 3 put our row under the ISLES 2015 leaderboard (:mod:`strokelib.paper_results`). Every table names
the unit of HD in its column and is written with the data that produced it (:func:`write_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import EvaluationError
from .files import write_csv, write_text
from .metrics import METRICS, PAPER_PROTOCOL
from .paper_results import leaderboard
from .paper_results import table1 as paper_table1


def _mean_sd(values: pd.Series, digits: int) -> str:
    values = values.dropna()
    if values.empty:
        return "n/a"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=0):.{digits}f}"


def summary_table(per_case: pd.DataFrame, by: str | Sequence[str] | None = None, hd_unit: str = "voxels") -> pd.DataFrame:
    """Tables 1–3 layout: "mean ± sd" of DSC, PPV, sensitivity and HD, with the undefined-HD count.

    ``per_case`` has one row per case (e.g. :func:`strokelib.metrics.select_cell` output, or :func:`strokelib.metrics.evaluate` dicts); ``by`` names
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


def table1(per_case: pd.DataFrame, task: str, baseline: str = "baseline") -> pd.DataFrame:
    """Table 1 for one task: ours (Th, S_min, DSC, PPV, sensitivity, HD in voxels as mean ± sd, undefined-HD count,
    Wilcoxon p against Baseline) beside the paper's values for the same approach.

    With a ``protocol`` column (:data:`PAPER_PROTOCOL`, :data:`NESTED_PROTOCOL`) there is one row per approach and
    protocol; p-values compare each approach with the Baseline of the same protocol, and the paper's values sit
    beside the paper protocol's rows only.
    """
    protocols = list(per_case["protocol"].unique()) if "protocol" in per_case else [None]
    parts = []
    for protocol in protocols:
        frame = per_case if protocol is None else per_case[per_case["protocol"] == protocol]
        ours = summary_table(frame, by="approach")
        pvalues = wilcoxon_pvalues(frame, baseline)
        ours = ours.merge(pvalues[["approach", "p_dsc", "p_hd"]], on="approach", how="left")
        if protocol is not None:
            ours.insert(1, "Th, S_min chosen", protocol)
        parts.append(ours)
    ours = pd.concat(parts, ignore_index=True)
    ours[["p_dsc", "p_hd"]] = ours[["p_dsc", "p_hd"]].map(lambda p: "–" if pd.isna(p) else f"{p:.3g}")
    paper = paper_table1(task).drop(columns="task").rename(columns=lambda c: c if c == "approach" else f"paper {c}")
    table = ours.merge(paper, on="approach", how="left").rename(columns={"p_dsc": "p DSC vs baseline",
                                                                         "p_hd": "p HD vs baseline"})
    if "Th, S_min chosen" in table:
        other = table["Th, S_min chosen"] != PAPER_PROTOCOL
        paper_columns = [c for c in table.columns if c.startswith("paper ")]
        table[paper_columns] = table[paper_columns].astype(object)
        table.loc[other, paper_columns] = "–"
    return table


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


def leaderboard_with_ours(task: str, per_case: pd.DataFrame, label: str) -> pd.DataFrame:
    """Table 2 (SISS) or 3 (SPES): the paper's top-five leaderboard rows (cited, static) and our row below them.

    Our row is labelled ``label`` (say which data and which evaluation produced it: the leaderboard is the blind
    test set, ours is whatever ground truth we have). HD is in mm, like the leaderboard: ``per_case`` must hold HD
    computed with the voxel spacing (:func:`strokelib.metrics.grid_metrics` with ``spacing``), because the ISLES 2015 online evaluation
    measured distances in the images' physical space (its evaluator builds a distance map with the image spacing)."""
    ours = summary_table(per_case, hd_unit="mm").iloc[0]
    row = {"rank": "–", "user": label, "DSC": ours["DSC"], "PPV": ours["PPV"], "sensitivity": ours["Sensitivity"],
           "HD (mm)": ours["HD (mm)"]}
    return pd.concat([leaderboard(task), pd.DataFrame([row])], ignore_index=True)
