"""Table 1 assembly: Wilcoxon p-values against the Baseline, the paper's values beside ours, CSV + Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strokelib import metrics, tables


def _per_case(rng, shift=0.1, n=8):
    rows = []
    for approach, s in (("baseline", 0.0), ("proposed", shift)):
        for c in range(n):
            rows.append({"approach": approach, "case": str(c), "threshold": 0.5, "min_size": 10,
                         "dsc": 0.7 + s + 0.02 * (c - 3.5), "ppv": 0.7, "sensitivity": 0.7, "hd": 10.0 + c})
    return pd.DataFrame(rows)


def test_wilcoxon_detects_a_consistent_improvement_and_ignores_ties(rng):
    p = tables.wilcoxon_pvalues(_per_case(rng)).set_index("approach")
    assert np.isnan(p.loc["baseline", "p_dsc"])
    assert p.loc["proposed", "p_dsc"] == pytest.approx(0.0078125)  # 8 pairs all positive: exact two-sided 2/2^8
    assert np.isnan(p.loc["proposed", "p_hd"])  # identical HD in both approaches: no test


def test_table1_puts_the_paper_values_beside_ours(rng):
    table = tables.table1(_per_case(rng), "SISS").set_index("approach")
    assert table.loc["proposed", "DSC"] == "0.80 ± 0.05"
    assert table.loc["proposed", "paper DSC"] == "0.71 ± 0.19" and table.loc["baseline", "paper S_min"] == 50
    assert table.loc["proposed", "HD undefined"] == 0


def test_write_table_states_its_data_in_both_files(tmp_path, rng):
    csv, md = tables.write_table(tables.table1(_per_case(rng), "SPES"), tmp_path / "table1_spes", "synthetic SPES, smoke")
    assert pd.read_csv(csv)["data"].eq("synthetic SPES, smoke").all()
    text = md.read_text()
    assert text.startswith("| approach |") and text.rstrip().endswith("Data: synthetic SPES, smoke")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table1_spes.csv", "table1_spes.md"]


def test_table1_names_the_hd_unit_and_shows_both_protocols(rng):
    paper = _per_case(rng).assign(protocol=metrics.PAPER_PROTOCOL)
    nested = _per_case(rng, shift=-0.05).assign(protocol=metrics.NESTED_PROTOCOL)
    table = tables.table1(pd.concat([paper, nested], ignore_index=True), "SPES")
    assert "HD (voxels)" in table and "paper HD (voxels)" in table and "HD" not in table
    assert list(table["Th, S_min chosen"]) == [metrics.PAPER_PROTOCOL] * 2 + [metrics.NESTED_PROTOCOL] * 2
    rows = table.set_index(["approach", "Th, S_min chosen"])
    assert rows.loc[("proposed", metrics.NESTED_PROTOCOL), "DSC"] == "0.65 ± 0.05"
    assert rows.loc[("proposed", metrics.NESTED_PROTOCOL), "paper DSC"] == "–"
    assert rows.loc[("proposed", metrics.PAPER_PROTOCOL), "paper DSC"] == "0.82 ± 0.16"
    assert rows.loc[("proposed", metrics.NESTED_PROTOCOL), "p DSC vs baseline"] == "0.00781"


def test_leaderboard_rows_are_in_mm(rng):
    table = tables.leaderboard_with_ours("SPES", _per_case(rng)[lambda f: f.approach == "proposed"], "ours")
    assert "HD (mm)" in table and "HD" not in table
    assert table["HD (mm)"].iloc[0] == "20.7 ± 13.9" and table["HD (mm)"].iloc[-1] == "13.5 ± 2.3"


def test_nested_choice_picks_each_folds_cell_on_the_other_folds():
    # two cells; folds 0 and 1 prefer different ones, so each fold gets the other fold's favourite
    rows = []
    for case, fold in (("1", 0), ("2", 0), ("3", 1), ("4", 1)):
        for th, good in ((0.3, fold == 1), (0.7, fold == 0)):
            rows.append({"case": case, "threshold": th, "min_size": 10, "dsc": 0.9 if good else 0.5,
                         "ppv": 0.5, "sensitivity": 0.5, "hd": 10.0})
    per_case = pd.DataFrame(rows)
    folds = {"1": 0, "2": 0, "3": 1, "4": 1}
    chosen = metrics.nested_choice(per_case, folds).set_index("case")
    assert chosen.loc["1", "threshold"] == 0.3 and chosen.loc["3", "threshold"] == 0.7  # chosen on the other fold
    assert (chosen["dsc"] == 0.5).all() and list(chosen["fold"]) == [0, 0, 1, 1]
    with pytest.raises(metrics.EvaluationError, match="two folds"):
        metrics.nested_choice(per_case, dict.fromkeys(folds, 0))
