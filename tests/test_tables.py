"""Table 1 assembly: Wilcoxon p-values against the Baseline, the paper's values beside ours, CSV + Markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strokelib import metrics


def _per_case(rng, shift=0.1, n=8):
    rows = []
    for approach, s in (("baseline", 0.0), ("proposed", shift)):
        for c in range(n):
            rows.append({"approach": approach, "case": str(c), "threshold": 0.5, "min_size": 10,
                         "dsc": 0.7 + s + 0.02 * (c - 3.5), "ppv": 0.7, "sensitivity": 0.7, "hd": 10.0 + c})
    return pd.DataFrame(rows)


def test_wilcoxon_detects_a_consistent_improvement_and_ignores_ties(rng):
    p = metrics.wilcoxon_pvalues(_per_case(rng)).set_index("approach")
    assert np.isnan(p.loc["baseline", "p_dsc"])
    assert p.loc["proposed", "p_dsc"] == pytest.approx(0.0078125)  # 8 pairs all positive: exact two-sided 2/2^8
    assert np.isnan(p.loc["proposed", "p_hd"])  # identical HD in both approaches: no test


def test_table1_puts_the_paper_values_beside_ours(rng):
    table = metrics.table1(_per_case(rng), "SISS").set_index("approach")
    assert table.loc["proposed", "DSC"] == "0.80 ± 0.05"
    assert table.loc["proposed", "paper DSC"] == "0.71 ± 0.19" and table.loc["baseline", "paper S_min"] == 50
    assert table.loc["proposed", "HD undefined"] == 0


def test_write_table_states_its_data_in_both_files(tmp_path, rng):
    csv, md = metrics.write_table(metrics.table1(_per_case(rng), "SPES"), tmp_path / "table1_spes", "synthetic SPES, smoke")
    assert pd.read_csv(csv)["data"].eq("synthetic SPES, smoke").all()
    text = md.read_text()
    assert text.startswith("| approach |") and text.rstrip().endswith("Data: synthetic SPES, smoke")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table1_spes.csv", "table1_spes.md"]
