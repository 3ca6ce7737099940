"""What a run shows beside what the paper found (§4.1, §4.1.1, §4.1.2, Table 1): the approaches' order, the Wilcoxon
tests, the post-processing and the failure cases — written as sentences computed from the run, never typed in.

The paper's claims are taken as it words them (:data:`strokelib.evaluation.paper_results.CLAIMS`,
:data:`~strokelib.evaluation.paper_results.S_MIN_CLAIMS`). SISS (§4.1.1): against the Baseline, Balanced significantly improves
HD (p < 0.01) with marginal improvements in the other metrics; Proposed has significantly better DSC, PPV and HD
(p < 0.02) but needs S_min 200 where the Baseline needs 50. SPES (§4.1.2): Balanced significantly improves the
sensitivity (p < 0.01) with a marginal increase in the rest except HD; Proposed has significantly better DSC and
sensitivity (p < 0.01), and S_min goes from 500 to 200. Table 1's means order the approaches, but not strictly:
SPES Balanced and Proposed both have DSC 0.82 (the paper claims no order between them), and the SPES Proposed HD
(11.2 voxels) is slightly above the Baseline's (11.1). :func:`compare_with_paper` states every pair our means order
differently from the paper's, says where the paper has two equal and what ours show there, and calls a difference
within :data:`SMALL` small without hiding its direction. It also names the two failure modes of §4.1.1
(under-segmented heterogeneous lesions, false positives on old lesions, case 13): :func:`phenomenon_hits` measures
how much of each synthetic look-alike (old lesions, symmetric mimics) an approach labelled as lesion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import PAPER
from .metrics import METRICS, PAPER_PROTOCOL
from .paper_results import CLAIMS, S_MIN_CLAIMS, table1_means
from .tables import format_p, representative_cases, wilcoxon_pvalues

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
    phenomena : {case id: {phenomenon: bool mask}} (e.g. :func:`strokelib.synthetic.dataset.phenomenon_masks`).

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


SMALL = 0.02
"""Two means within this share of the larger are called a small difference; its direction is still stated."""


def _direction(metric: str, first: float, second: float) -> int:
    """+1 when ``second`` is better than ``first``, −1 when worse, 0 when they are equal."""
    return int(np.sign(first - second if metric in LOWER_IS_BETTER else second - first))


def _relation(metric: str, first: float, second: float, digits: int) -> tuple[str, str]:
    """("better", "0.71 vs 0.64") for ``second`` against ``first``: "slightly" when within :data:`SMALL`, "equal"
    when equal; more digits where the printed ones would hide a difference."""
    direction = _direction(metric, first, second)
    if direction == 0:
        return "equal", f"{second:.{digits}f}"
    for shown in range(digits, digits + 3):
        values = f"{second:.{shown}f} vs {first:.{shown}f}"
        if f"{second:.{shown}f}" != f"{first:.{shown}f}":
            break
    small = abs(second - first) < SMALL * max(abs(first), abs(second))
    return f"{'slightly ' if small else ''}{'better' if direction > 0 else 'worse'}", values


def _pair_sentences(metric: str, ours: pd.Series, paper: pd.Series, approaches: list[str]) -> tuple[list, list, int]:
    """Every pair (earlier, later approach): the disagreements with the paper (flagged when reversed), the remarks
    (pairs the paper has equal, agreements that are small here) and how many pairs the paper orders."""
    digits = 1 if metric == "hd" else 2
    disagree, remarks, ordered = [], [], 0
    for i, a in enumerate(approaches):
        for b in approaches[i + 1:]:
            first, second = a.capitalize(), b.capitalize()
            mine, theirs = _direction(metric, ours[a], ours[b]), _direction(metric, paper[a], paper[b])
            word, values = _relation(metric, ours[a], ours[b], digits)
            here = (f"{second} equals {first} ({values})" if mine == 0 else f"{second} is {word} than {first} ({values})")
            if theirs == 0:
                remarks.append(f"the paper has {second} and {first} equal ({paper[b]:.{digits}f}), here {here}")
                continue
            ordered += 1
            if mine != theirs:
                paper_word, paper_values = _relation(metric, paper[a], paper[b], digits)
                disagree.append((mine == -theirs, f"{here[:-1]}; the paper: {paper_word}, {paper_values})"))
            elif word.startswith("slightly"):
                remarks.append(f"{here}: the paper's direction, but small")
    return disagree, remarks, ordered


def _order_sentence(metric: str, ours: pd.Series, paper: pd.Series) -> str:
    """"DSC: Baseline 0.61, Balanced 0.64, Proposed 0.70; the paper had 0.64, 0.67, 0.71 — the paper's order", or
    every pair that goes another way, then the pairs the paper has equal and what ours show there."""
    digits = 1 if metric == "hd" else 2
    approaches = [a for a in _ordered(list(ours.index)) if a in paper.index and pd.notna(ours[a])]
    listed = ", ".join(f"{a.capitalize()} {ours[a]:.{digits}f}" for a in approaches)
    paper_listed = ", ".join(f"{paper[a]:.{digits}f}" for a in approaches)
    disagree, remarks, ordered = _pair_sentences(metric, ours, paper, approaches)
    if not ordered:
        verdict = "the paper has them all equal"
    elif not disagree:
        verdict = "the paper's order"
    elif len(disagree) == ordered and all(reversed_ for reversed_, _ in disagree):
        verdict = "the reverse of the paper's order: " + "; ".join(text for _, text in disagree)
    else:
        verdict = "not the paper's order: " + "; ".join(text for _, text in disagree)
    name = NAMES[metric][0].upper() + NAMES[metric][1:] + (" (voxels)" if metric == "hd" else "")
    return f"{name}: {listed}; the paper had {paper_listed} — {'; '.join([verdict, *remarks])}."


def _paired_direction(frame: pd.DataFrame, approach: str, metric: str) -> int:
    """+1 when ``approach`` is better than the Baseline over the cases where both have a value (the pairs the
    Wilcoxon test uses), −1 when worse, 0 when the median paired difference is 0."""
    wide = frame.pivot_table(index="case", columns="approach", values=metric, aggfunc="first")
    pairs = wide[[approach, "baseline"]].dropna()
    median = float((pairs[approach] - pairs["baseline"]).median()) if len(pairs) else 0.0
    return int(np.sign(-median if metric in LOWER_IS_BETTER else median))


def _listed(metrics: Sequence[str]) -> str:
    names = [NAMES[m] for m in metrics]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _tested(metric: str, p: float, direction: int, alpha: float) -> str:
    if pd.isna(p):
        return f"{NAMES[metric]} not testable"
    if p < alpha:
        word = {1: "better", -1: "worse", 0: "median difference 0"}[direction]
        return f"{NAMES[metric]} p = {format_p(p)} ({word})"
    return f"{NAMES[metric]} p = {format_p(p)} (not significant at {alpha:g})"


def _claim_sentence(task: str, approach: str, frame: pd.DataFrame, pvalues: pd.DataFrame, means: pd.DataFrame,
                    alpha: float) -> str | None:
    """The paper's words on ``approach`` against the Baseline (:data:`CLAIMS`) and what this run shows for each
    metric they name: the Wilcoxon p for the significant ones, our means (``approach`` vs Baseline) and p for the
    rest."""
    claim = CLAIMS.get((task, approach))
    if claim is None or approach not in means.index:
        return None
    p = pvalues.set_index("approach").loc[approach]
    text = (f"The paper found {approach.capitalize()} significantly better than the Baseline in "
            f"{_listed(claim.significant)} (p < {claim.bound:g}; {claim.section})")
    if claim.marginal:
        text += f", with marginal improvements in {_listed(claim.marginal)}"
    if claim.not_improved:
        text += f" but not in {_listed(claim.not_improved)}"
    parts = [_tested(m, p[f"p_{m}"], _paired_direction(frame, approach, m), alpha) for m in claim.significant]
    for metric in claim.marginal + claim.not_improved:
        digits = 1 if metric == "hd" else 2
        word, values = _relation(metric, means.loc["baseline", metric], means.loc[approach, metric], digits)
        tested = "not testable" if pd.isna(p[f"p_{metric}"]) else f"p = {format_p(p[f'p_{metric}'])}"
        parts.append(f"{NAMES[metric]} {word} ({values}, {tested})")
    return f"{text}; here: {'; '.join(parts)}."


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


def _s_min_sentence(task: str, frame: pd.DataFrame) -> str | None:
    """The paper's words on the S_min Proposed needed against the Baseline's (:data:`S_MIN_CLAIMS`), and ours."""
    cells = frame.groupby("approach")["min_size"].first()
    if not {"baseline", "proposed"} <= set(cells.index):
        return None
    section, _, _, words = S_MIN_CLAIMS[task]
    base, proposed = int(cells["baseline"]), int(cells["proposed"])
    relation = ("more restrictive than" if proposed > base else "less restrictive than" if proposed < base
                else "the same as")
    return f"The paper ({section}): {words}; here Proposed's S_min {proposed} is {relation} the Baseline's {base}."


def compare_with_paper(task: str, per_case: pd.DataFrame, hits: pd.DataFrame | None = None,
                       case_notes: Mapping[str, str] | None = None, alpha: float = 0.05) -> list[str]:
    """Sentences on what this run shows beside the paper's Table 1 and its claims (§4.1.1, §4.1.2), each computed
    from ``per_case``: the approaches' order in DSC, PPV, sensitivity and HD (every pair that differs from the
    paper's order), each claim against the Baseline with this run's Wilcoxon p-values, the post-processing and its
    S_min claim, the look-alikes and the worst case.

    Parameters
    ----------
    task : "SISS" or "SPES".
    per_case : :func:`strokelib.evaluation.metrics.protocol_rows` rows with an ``approach`` column (the paper's protocol rows
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
    out += [_order_sentence(metric, means[metric], paper[metric]) for metric in METRICS]
    pvalues = wilcoxon_pvalues(frame)
    out += [s for a in approaches if (s := _claim_sentence(task, a, frame, pvalues, means, alpha))]
    out.append(_postprocessing_sentence(frame, paper, approaches))
    if s_min := _s_min_sentence(task, frame):
        out.append(s_min)
    last = approaches[-1]
    if hits is not None and not hits.empty:
        out += _phenomenon_sentences(task, phenomenon_summary(hits), last)
    worst = frame[frame["approach"] == last].sort_values(["dsc", "case"]).iloc[0]
    note = f" ({case_notes[str(worst['case'])]})" if case_notes and case_notes.get(str(worst["case"])) else ""
    out.append(f"The worst {last.capitalize()} case is case {worst['case']}{note}, DSC {worst['dsc']:.2f}.")
    return out


def figure_cases(per_case: pd.DataFrame, hits: pd.DataFrame | None, approach: str) -> dict[str, str]:
    """The cases Figures 4–5 show for ``approach``: best, median and worst DSC
    (:func:`strokelib.evaluation.tables.representative_cases`) and, when look-alikes were measured, the case where the most
    of a look-alike was labelled as lesion (``"look-alike"``), the failure §4.1.1 describes."""
    rows = _paper_rows(per_case)
    shown = representative_cases(rows[rows["approach"] == approach])
    if hits is not None and not hits.empty:
        mine = hits[(hits["approach"] == approach) & ~hits["case"].isin(list(shown.values()))]
        if not mine.empty and mine["flagged"].max() > 0:
            shown["look-alike"] = str(mine.sort_values(["flagged", "case"], ascending=[False, True]).iloc[0]["case"])
    return shown
