"""Table 1 assembly: Wilcoxon p-values against the Baseline, ours and the paper's as separate tables with HD in voxels
and mm, the leaderboard as published with our row apart, CSV + Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strokelib.evaluation import metrics, tables


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


def test_table1_is_ours_only_with_hd_in_voxels_and_mm(rng):
    table = tables.table1(_per_case(rng), "SISS", voxel_mm=2.0).set_index("approach")
    assert table.loc["proposed", "DSC"] == "0.80 ± 0.05" and table.loc["proposed", "HD undefined"] == 0
    assert table.loc["proposed", "HD (voxels)"] == "13.5 ± 2.3" and table.loc["proposed", "HD (mm)"] == "27.0 ± 4.6"
    assert table.loc["proposed", "voxel (mm)"] == "2"
    assert not [c for c in table.columns if "paper" in c]  # the paper's values are a table of their own
    assert table.loc["proposed", "p DSC vs baseline"] == "0.00781" and table.loc["baseline", "p DSC vs baseline"] == "–"
    assert {"p PPV vs baseline", "p sensitivity vs baseline", "p HD vs baseline"} <= set(table.columns)


def test_table1_takes_each_cases_voxel_size_and_refuses_anisotropic_ones(rng):
    per_case = _per_case(rng)
    spacing = {str(c): (1.0, 1.0, 1.0) if c < 4 else (2.0, 2.0, 2.0) for c in range(8)}
    table = tables.table1(per_case, "SISS", voxel_mm=spacing).set_index("approach")
    hd_mm = [10.0 + c if c < 4 else 2 * (10.0 + c) for c in range(8)]
    assert table.loc["baseline", "HD (mm)"] == f"{np.mean(hd_mm):.1f} ± {np.std(hd_mm):.1f}"
    assert table.loc["baseline", "voxel (mm)"] == "1–2"
    assert tables.table1(per_case, "SISS", (2.0, 2.0, 2.0)).equals(tables.table1(per_case, "SISS", 2.0))
    with pytest.raises(metrics.EvaluationError, match="anisotropic"):
        tables.table1(per_case, "SISS", voxel_mm={**spacing, "0": (1.0, 1.0, 3.0)})
    with pytest.raises(metrics.EvaluationError, match="case 7"):
        tables.table1(per_case, "SISS", voxel_mm={str(c): 1.0 for c in range(7)})


def test_paper_table1_gives_hd_in_the_papers_voxels_and_in_mm():
    siss = tables.paper_table1("SISS").set_index("approach")
    assert siss.loc["proposed", "HD (voxels)"] == "29.5 ± 29.5" and siss.loc["proposed", "HD (mm)"] == "29.5 ± 29.5"
    spes = tables.paper_table1("SPES").set_index("approach")
    assert spes.loc["proposed", "HD (voxels)"] == "11.2 ± 7.3" and spes.loc["proposed", "HD (mm)"] == "22.4 ± 14.6"
    assert spes.loc["baseline", "S_min"] == 500 and spes.loc["proposed", "voxel (mm)"] == "2"
    assert not [c for c in spes.columns if c.startswith("p ")]  # the paper prints no p-value per row
    ours = tables.table1(_per_case(np.random.default_rng(0)), "SPES", voxel_mm=2.0)
    assert [c for c in ours.columns if c in spes.columns] == list(spes.columns)  # same names, same order


def test_write_table_states_its_data_in_both_files(tmp_path, rng):
    csv, md = tables.write_table(tables.table1(_per_case(rng), "SPES", 2.0), tmp_path / "table1_spes",
                                 "synthetic SPES, smoke")
    assert pd.read_csv(csv)["data"].eq("synthetic SPES, smoke").all()
    text = md.read_text()
    assert text.startswith("| approach |") and text.rstrip().endswith("Data: synthetic SPES, smoke")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table1_spes.csv", "table1_spes.md"]


def test_table1_names_the_hd_unit_and_shows_both_protocols(rng):
    paper = _per_case(rng).assign(protocol=metrics.PAPER_PROTOCOL)
    nested = _per_case(rng, shift=-0.05).assign(protocol=metrics.NESTED_PROTOCOL)
    table = tables.table1(pd.concat([paper, nested], ignore_index=True), "SPES", 2.0)
    assert "HD (voxels)" in table and "HD (mm)" in table and "HD" not in table
    assert list(table["Th, S_min chosen"]) == [metrics.PAPER_PROTOCOL] * 2 + [metrics.NESTED_PROTOCOL] * 2
    rows = table.set_index(["approach", "Th, S_min chosen"])
    assert rows.loc[("proposed", metrics.NESTED_PROTOCOL), "DSC"] == "0.65 ± 0.05"
    assert rows.loc[("proposed", metrics.NESTED_PROTOCOL), "p DSC vs baseline"] == "0.00781"


def test_p_values_are_quoted_as_computed():
    assert tables.format_p(2.2e-4) == "2.2e-4" and tables.format_p(2.94e-5) == "2.9e-5"
    assert tables.format_p(0.0078125) == "0.00781" and tables.format_p(0.0496) == "0.0496"
    assert tables.format_p(np.nan) == "–"


def test_the_leaderboard_is_as_published_and_our_row_is_apart(rng):
    published, ours = tables.leaderboard_with_ours("SPES", _per_case(rng)[lambda f: f.approach == "proposed"],
                                                   "strokelib proposed", synthetic=True)
    assert list(published["rank"]) == [1, 2, 3, 4, 5] and published["HD (mm)"].iloc[0] == "20.7 ± 13.9"
    assert published["user"].iloc[0] == "clera2 (Clèrigues et al.)"
    assert not published.astype(str).apply(lambda c: c.str.contains("ours")).any().any()  # we are not the authors
    assert "HD (mm)" in published and "HD" not in published and "HD (mm)" in ours
    assert len(ours) == 1 and ours["rank"].iloc[0] == "—" and ours["user"].iloc[0] == "strokelib proposed"
    assert ours["HD (mm)"].iloc[0] == "13.5 ± 2.3"
    assert ours["comparable with the leaderboard"].iloc[0] == (
        "not comparable: cross-validation on synthetic data, not the blind test set")
    _, real = tables.leaderboard_with_ours("SISS", _per_case(rng), "strokelib", synthetic=False)
    assert real["comparable with the leaderboard"].iloc[0] == (
        "not comparable: cross-validation on ISLES 2015 training data, not the blind test set")
    assert tables.published_leaderboard("SISS")["user"].iloc[0] == "clera2 (Clèrigues et al.)"


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
