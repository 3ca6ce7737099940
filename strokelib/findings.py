"""What a run shows beside what the paper found (§4.1, Table 1): the approaches' order, the Wilcoxon tests, and the
failure cases — written as sentences computed from the run, never typed in.

The paper's Table 1 claims an order (Baseline < Balanced < Proposed in DSC, the reverse in HD), a set of significant
differences against the Baseline (:data:`strokelib.paper_results.SIGNIFICANT`), the post-processing each approach
needed (printed beside ours), and two failure modes: under-segmented heterogeneous lesions and false positives on old lesions
(§4.1.1, case 13). :func:`phenomenon_hits` measures how much of each synthetic look-alike (old lesions, symmetric
mimics) an approach labelled as lesion; :func:`compare_with_paper` says, metric by metric, whether the paper's
finding appears in this run, and says so plainly when it does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .config import PAPER
from .metrics import METRICS, PAPER_PROTOCOL
from .paper_results import SIGNIFICANT, table1_means
from .tables import representative_cases, wilcoxon_pvalues

FALSE_POSITIVE_FRACTION = 0.1
"""A look-alike counts as a false-positive lesion when at least this share of its voxels is in the mask."""
NAMES = {"dsc": "DSC", "ppv": "PPV", "sensitivity": "sensitivity", "hd": "HD"}
LOWER_IS_BETTER = {"hd"}
ORDER = ("baseline", "balanced", "proposed")


def phenomenon_hits(masks: Mapping[str, Mapping[str, np.ndarray]],
                    phenomena: Mapping[str, Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """How much of each look-alike every approach labelled as lesion.

    Parameters
    ----------
    masks : {approach: {case id: binary mask}} after post-processing.
    phenomena : {case id: {phenomenon: bool mask}} (e.g. :func:`strokelib.synthetic.phenomenon_masks`).

    Returns
    -------
    pandas.DataFrame
        One row per approach, case and phenomenon present in the case: ``voxels``, ``flagged`` (share of its voxels
        in the mask) and ``false_positive`` (flagged ≥ :data:`FALSE_POSITIVE_FRACTION`).
    """
    rows = []
    for approach, by_case in masks.items():
        for case_id, mask in by_case.items():
            for name, where in phenomena.get(case_id, {}).items():
                n = int(np.count_nonzero(where))
                if n:
                    flagged = float(np.count_nonzero(np.asarray(mask)[where] > 0)) / n
                    rows.append({"approach": approach, "case": case_id, "phenomenon": name, "voxels": n,
                                 "flagged": flagged, "false_positive": flagged >= FALSE_POSITIVE_FRACTION})
    return pd.DataFrame(rows, columns=["approach", "case", "phenomenon", "voxels", "flagged", "false_positive"])


def phenomenon_summary(hits: pd.DataFrame) -> pd.DataFrame:
    """Per phenomenon and approach: cases carrying it, cases with a false-positive lesion on it, mean share flagged."""
    if hits.empty:
        return pd.DataFrame(columns=["cases", "false_positive_cases", "flagged_mean"])
    return hits.groupby(["phenomenon", "approach"], sort=False).agg(
        cases=("case", "nunique"), false_positive_cases=("false_positive", "sum"), flagged_mean=("flagged", "mean"))


def _paper_rows(per_case: pd.DataFrame) -> pd.DataFrame:
    return per_case[per_case["protocol"] == PAPER_PROTOCOL] if "protocol" in per_case else per_case


def _ordered(approaches: Sequence[str]) -> list[str]:
    return [a for a in ORDER if a in approaches] + [a for a in approaches if a not in ORDER]


TIE = 0.02
"""Two means within this share of each other count as a tie (the paper's SPES HD: 11.1 vs 11.2 voxels)."""


def _relation(metric: str, first: float, second: float) -> int:
    """+1 when ``second`` is better than ``first``, −1 when worse, 0 when they are within :data:`TIE` of each other."""
    scale = max(abs(first), abs(second), 1e-12)
    if abs(second - first) / scale < TIE:
        return 0
    return int(np.sign(first - second if metric in LOWER_IS_BETTER else second - first))


def _order_sentence(metric: str, ours: pd.Series, paper: pd.Series) -> str:
    """"DSC: Baseline 0.61, Balanced 0.64, Proposed 0.70; the paper had 0.64, 0.67, 0.71 — the paper's order", or
    which comparisons go the other way. Pairs the paper has as a tie (:data:`TIE`) are not counted."""
    digits = 1 if metric == "hd" else 2
    approaches = [a for a in _ordered(list(ours.index)) if a in paper.index]
    listed = ", ".join(f"{a.capitalize()} {ours[a]:.{digits}f}" for a in approaches)
    paper_listed = ", ".join(f"{paper[a]:.{digits}f}" for a in approaches)
    pairs = [(a, b) for i, a in enumerate(approaches) for b in approaches[i + 1:]]
    judged = [(a, b, _relation(metric, paper[a], paper[b]), _relation(metric, ours[a], ours[b]))
              for a, b in pairs]
    judged = [j for j in judged if j[2] != 0]
    word = {1: "better", -1: "worse"}
    against = [f"{b.capitalize()} {'ties' if mine == 0 else 'is ' + word[mine] + ' than'} {a.capitalize()} "
               f"(the paper: {word[theirs]})" for a, b, theirs, mine in judged if mine != theirs]
    if not judged:
        verdict = "the paper prints these as ties"
    elif not against:
        verdict = "the paper's order"
    elif all(mine == -theirs for _, _, theirs, mine in judged):
        verdict = "the reverse of the paper's order"
    else:
        verdict = "not the paper's order: " + "; ".join(against)
    unit = " (voxels)" if metric == "hd" else ""
    return f"{NAMES[metric]}{unit}: {listed}; the paper had {paper_listed} — {verdict}."


def _paired_direction(frame: pd.DataFrame, approach: str, metric: str) -> int:
    """+1 when ``approach`` is better than the Baseline over the cases where both have a value (the pairs the
    Wilcoxon test uses), −1 when worse, 0 when the median paired difference is 0."""
    wide = frame.pivot_table(index="case", columns="approach", values=metric, aggfunc="first")
    pairs = wide[[approach, "baseline"]].dropna()
    median = float((pairs[approach] - pairs["baseline"]).median()) if len(pairs) else 0.0
    return int(np.sign(-median if metric in LOWER_IS_BETTER else median))


def _significance_sentence(task: str, approach: str, frame: pd.DataFrame, pvalues: pd.DataFrame,
                           alpha: float) -> str | None:
    claim = SIGNIFICANT.get((task, approach))
    if claim is None or approach not in set(frame["approach"]):
        return None
    metrics, bound = claim
    parts = []
    for metric in metrics:
        p = pvalues.set_index("approach").loc[approach, f"p_{metric}"]
        if pd.isna(p):
            parts.append(f"{NAMES[metric]} not testable")
        elif p < alpha:
            direction = {1: "better", -1: "worse", 0: "median difference 0"}[_paired_direction(frame, approach, metric)]
            parts.append(f"{NAMES[metric]} p = {p:.3g} ({direction})")
        else:
            parts.append(f"{NAMES[metric]} p = {p:.3g} (not significant at {alpha:g})")
    found = ", ".join(NAMES[m] for m in metrics)
    return (f"The paper found {approach.capitalize()} significantly better than the Baseline in {found} "
            f"(p < {bound:g}); here: {'; '.join(parts)}.")


def _mimic_verdict(rows: pd.DataFrame) -> str:
    before, after = rows.loc["balanced", "flagged_mean"], rows.loc["proposed", "flagged_mean"]
    if before == 0:
        return " Balanced labelled none of them, so there was nothing for the symmetric modalities (§3.1) to remove."
    if after <= 0.5 * before:
        return f" The symmetric modalities (§3.1) removed most of them ({before:.0%} → {after:.0%} of their voxels)."
    return f" The symmetric modalities (§3.1) did not remove most of them here ({before:.0%} → {after:.0%})."


def _old_lesion_verdict(task: str, rows: pd.DataFrame, final: str) -> str:
    failing = [a.capitalize() for a in _ordered(list(rows.index)) if rows.loc[a, "false_positive_cases"] > 0]
    where = "§4.1.1, the paper's SISS case 13" if task == "SISS" else "§4.1.1, described there for SISS"
    if final in rows.index and rows.loc[final, "false_positive_cases"] > 0:
        return f" The failure of {where} (false positives on old lesions) appears here for {final.capitalize()}."
    if failing:
        return (f" The failure of {where} (false positives on old lesions) appears for {', '.join(failing)} but not "
                f"for {final.capitalize()}.")
    return f" The failure of {where} (false positives on old lesions) does not appear here."


def _phenomenon_sentences(task: str, summary: pd.DataFrame, final: str) -> list[str]:
    what = {"mimic": "Symmetric mimics", "old_lesion": "Old lesions"}
    out = []
    for name in summary.index.get_level_values(0).unique():
        rows = summary.loc[name]
        listed = "; ".join(f"{a.capitalize()} {rows.loc[a, 'flagged_mean']:.0%} of their voxels, a false positive "
                           f"in {int(rows.loc[a, 'false_positive_cases'])} of {int(rows.loc[a, 'cases'])} cases"
                           for a in _ordered(list(rows.index)))
        sentence = f"{what.get(name, name)} labelled as lesion: {listed}."
        if name == "mimic" and {"balanced", "proposed"} <= set(rows.index):
            sentence += _mimic_verdict(rows)
        if name == "old_lesion":
            sentence += _old_lesion_verdict(task, rows, final)
        out.append(sentence)
    return out


def _postprocessing_sentence(frame: pd.DataFrame, paper: pd.DataFrame, approaches: list[str]) -> str:
    cells = frame.groupby("approach")[["threshold", "min_size"]].first()
    ours = ", ".join(f"{a.capitalize()} Th {cells.loc[a, 'threshold']:g}, S_min {int(cells.loc[a, 'min_size'])}"
                     for a in approaches)
    theirs = ", ".join(f"{paper.loc[a, 'threshold']:g}/{int(paper.loc[a, 'min_size'])}" for a in approaches
                       if a in paper.index)
    sentence = f"Post-processing chosen: {ours} (the paper: {theirs})."
    edge = [a.capitalize() for a in approaches if cells.loc[a, "min_size"] >= max(PAPER.min_sizes)]
    if edge:
        sentence += (f" S_min is the largest of the grid for {', '.join(edge)}: the best value may lie beyond "
                     f"{max(PAPER.min_sizes)} voxels.")
    return sentence


def compare_with_paper(task: str, per_case: pd.DataFrame, hits: pd.DataFrame | None = None,
                       case_notes: Mapping[str, str] | None = None, alpha: float = 0.05) -> list[str]:
    """Sentences on what this run shows beside the paper's Table 1 (§4.1), each computed from ``per_case``.

    Parameters
    ----------
    task : "SISS" or "SPES".
    per_case : :func:`strokelib.metrics.protocol_rows` rows with an ``approach`` column (the paper's protocol rows
        are used).
    hits : optional :func:`phenomenon_hits` output for the failure-case sentences.
    case_notes : optional {case id: description}, e.g. the phenomena a synthetic case carries.
    alpha : significance level for "significant here".
    """
    task = str(task).upper()
    frame = _paper_rows(per_case)
    approaches = _ordered(list(frame["approach"].unique()))
    if len(approaches) < 2 or "baseline" not in approaches:
        return [f"Only {', '.join(approaches)} ran: the paper's comparison needs the Baseline and at least one "
                "other approach (train_approaches), so nothing here can confirm or contradict it."]
    paper = table1_means(task)
    means = frame.groupby("approach")[list(METRICS)].mean()
    n = frame["case"].nunique()
    out = [f"On {n} cross-validated cases, with Th and S_min chosen as the paper did:"]
    out += [_order_sentence(metric, means[metric], paper[metric]) for metric in ("dsc", "hd")]
    pvalues = wilcoxon_pvalues(frame)
    out += [s for a in approaches if (s := _significance_sentence(task, a, frame, pvalues, alpha))]
    out.append(_postprocessing_sentence(frame, paper, approaches))
    last = approaches[-1]
    if hits is not None and not hits.empty:
        out += _phenomenon_sentences(task, phenomenon_summary(hits), last)
    worst = frame[frame["approach"] == last].sort_values(["dsc", "case"]).iloc[0]
    note = f" ({case_notes[str(worst['case'])]})" if case_notes and case_notes.get(str(worst["case"])) else ""
    out.append(f"The worst {last.capitalize()} case is case {worst['case']}{note}, DSC {worst['dsc']:.2f}.")
    return out


def figure_cases(per_case: pd.DataFrame, hits: pd.DataFrame | None, approach: str) -> dict[str, str]:
    """The cases Figures 4–5 show for ``approach``: best, median and worst DSC
    (:func:`strokelib.tables.representative_cases`) and, when look-alikes were measured, the case where the most
    of a look-alike was labelled as lesion (``"look-alike"``), the failure §4.1.1 describes."""
    rows = _paper_rows(per_case)
    shown = representative_cases(rows[rows["approach"] == approach])
    if hits is not None and not hits.empty:
        mine = hits[(hits["approach"] == approach) & ~hits["case"].isin(list(shown.values()))]
        if not mine.empty and mine["flagged"].max() > 0:
            shown["look-alike"] = str(mine.sort_values(["flagged", "case"], ascending=[False, True]).iloc[0]["case"])
    return shown
