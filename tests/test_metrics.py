"""Metrics of §4, the Eq. 2 score, the §4.1 grid search and the tables, against hand-built masks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from strokelib.errors import EvaluationError
from strokelib.evaluation import metrics, tables
from strokelib.inference.postprocessing import binarize


def mask_with(shape, *voxels) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    for v in voxels:
        m[v] = True
    return m


def medpy_hd(a: np.ndarray, b: np.ndarray, spacing=None) -> float:
    """Independent reference: MedPy's definition through distance transforms over the whole volume."""
    cube = np.ones((3, 3, 3), dtype=bool)
    sa, sb = a ^ ndimage.binary_erosion(a, cube), b ^ ndimage.binary_erosion(b, cube)
    d_ab = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa].max()
    d_ba = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb].max()
    return float(max(d_ab, d_ba))


# ---------------------------------------------------------------------------------------------------------
# Overlap metrics
# ---------------------------------------------------------------------------------------------------------
def test_overlap_metrics_on_known_masks():
    truth = np.zeros((6, 6, 6), dtype=bool)
    truth[1:4, 1:3, 1] = True  # 6 voxels
    pred = np.zeros_like(truth)
    pred[1:4, 1, 1] = True  # 3 voxels inside the truth
    pred[5, 5, 5] = True  # 1 false positive
    assert metrics.dice(pred, truth) == pytest.approx(2 * 3 / (4 + 6))
    assert metrics.ppv(pred, truth) == pytest.approx(3 / 4)
    assert metrics.sensitivity(pred, truth) == pytest.approx(3 / 6)
    result = metrics.evaluate(pred, truth)
    assert (result["tp"], result["fp"], result["fn"]) == (3, 1, 3)
    assert (result["pred_voxels"], result["truth_voxels"]) == (4, 6)


def test_labels_other_than_one_count_as_lesion():
    truth = np.zeros((4, 4, 4), dtype=np.uint8)
    truth[1, 1, 1] = 2
    assert metrics.dice(truth.astype(bool), truth) == 1.0


def test_empty_mask_policy():
    shape = (5, 5, 5)
    empty, one = np.zeros(shape, bool), mask_with(shape, (2, 2, 2))
    both = metrics.evaluate(empty, empty)
    assert (both["dsc"], both["ppv"], both["sensitivity"]) == (1.0, 1.0, 1.0)
    assert math.isnan(both["hd"]) and math.isnan(both["score"])
    for pred, truth in ((empty, one), (one, empty)):
        r = metrics.evaluate(pred, truth)
        assert (r["dsc"], r["ppv"], r["sensitivity"]) == (0.0, 0.0, 0.0)
        assert math.isnan(r["hd"])


# ---------------------------------------------------------------------------------------------------------
# Hausdorff distance
# ---------------------------------------------------------------------------------------------------------
def test_hausdorff_single_voxels_in_voxels_and_mm():
    shape = (10, 10, 10)
    a, b = mask_with(shape, (2, 2, 2)), mask_with(shape, (2, 2, 7))
    assert metrics.hausdorff(a, b) == pytest.approx(5.0)
    assert metrics.hausdorff(a, b, spacing=(1.0, 1.0, 2.0)) == pytest.approx(10.0)
    c = mask_with(shape, (5, 6, 2))  # offset (3, 4, 0) voxels
    assert metrics.hausdorff(a, c, spacing=(2.0, 3.0, 7.0)) == pytest.approx(math.hypot(6.0, 12.0))


def test_hausdorff_is_symmetric_maximum_of_directed_distances():
    shape = (12, 12, 12)
    truth = mask_with(shape, (3, 3, 3))
    pred = mask_with(shape, (3, 3, 3), (3, 3, 9))  # one far-away false positive
    assert metrics.hausdorff(pred, truth) == pytest.approx(6.0)
    assert metrics.hausdorff(truth, pred) == pytest.approx(6.0)


def test_surface_uses_full_cube_erosion_and_volume_border():
    cube = np.zeros((5, 5, 5), dtype=bool)
    cube[1:4, 1:4, 1:4] = True
    inner = {tuple(v) for v in metrics.surface_voxels(cube)}
    assert len(inner) == 26 and (2, 2, 2) not in inner
    cube[1, 1, 1] = False  # a missing corner is a 26-neighbour of the centre, not a 6-neighbour
    assert (2, 2, 2) in {tuple(v) for v in metrics.surface_voxels(cube)}
    full = np.ones((4, 4, 4), dtype=bool)  # border voxels of the volume are surface
    assert len(metrics.surface_voxels(full)) == 64 - 8


@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0), (0.9, 1.3, 2.5)])
def test_hausdorff_matches_distance_transform_reference(rng, spacing):
    for _ in range(3):
        a = ndimage.gaussian_filter(rng.random((18, 16, 14)), 2) > 0.52
        b = ndimage.gaussian_filter(rng.random((18, 16, 14)), 2) > 0.52
        assert a.any() and b.any()
        assert metrics.hausdorff(a, b, spacing) == pytest.approx(medpy_hd(a, b, spacing), rel=1e-9)


def test_identical_masks_have_zero_distance():
    a = np.zeros((8, 8, 8), bool)
    a[2:6, 3:5, 1:7] = True
    assert metrics.hausdorff(a, a) == 0.0


def test_bad_inputs_raise():
    with pytest.raises(EvaluationError, match="differs"):
        metrics.dice(np.zeros((3, 3, 3)), np.zeros((3, 3, 4)))
    with pytest.raises(EvaluationError, match="spacing"):
        metrics.hausdorff(np.ones((3, 3, 3)), np.ones((3, 3, 3)), spacing=(1.0, 0.0, 1.0))
    with pytest.raises(EvaluationError, match="3D"):
        metrics.dice(np.zeros((3, 3)), np.zeros((3, 3)))


# ---------------------------------------------------------------------------------------------------------
# Eq. 2
# ---------------------------------------------------------------------------------------------------------
def test_score_equation_2():
    assert metrics.score(0.8, 20.0) == pytest.approx(0.8 * 0.9 / (0.8 + 0.9))
    assert metrics.score(1.0, 0.0) == pytest.approx(0.5)
    assert metrics.score(0.7, 250.0) == 0.0  # HD beyond HD_max counts as HD_max
    assert metrics.score(0.0, 0.0) == 0.0
    assert math.isnan(metrics.score(0.5, float("nan")))
    assert metrics.score(0.5, 50.0, hd_max=100.0) == pytest.approx(0.25)
    np.testing.assert_allclose(metrics.score(np.array([1.0, 0.5]), np.array([0.0, 100.0])), [0.5, 0.25])


# ---------------------------------------------------------------------------------------------------------
# Grid search
# ---------------------------------------------------------------------------------------------------------
def known_case(offset: int = 0):
    """Truth: a 5³ cube at p=0.7, ringed by a p=0.3 shell; an 8-voxel false positive at p=0.9 far away."""
    p = np.zeros((24, 24, 24), dtype=np.float32)
    truth = np.zeros(p.shape, dtype=bool)
    lo = 6 + offset
    p[lo - 2 : lo + 7, lo - 2 : lo + 7, lo - 2 : lo + 7] = 0.3
    p[lo : lo + 5, lo : lo + 5, lo : lo + 5] = 0.7
    truth[lo : lo + 5, lo : lo + 5, lo : lo + 5] = True
    p[20:22, 20:22, 1:3] = 0.9
    return p, truth


def test_grid_search_picks_the_known_best_cell():
    cases = [known_case(0), known_case(2)]
    table = metrics.grid_search(
        [c[0] for c in cases], [c[1] for c in cases], thresholds=(0.2, 0.5, 0.8), min_sizes=(1, 10, 200), progress=False
    )
    assert len(table) == 9 and set(table["n_cases"]) == {2}
    best = metrics.best_cell(table)
    assert (best["threshold"], best["min_size"]) == (0.5, 10)
    assert best["dsc_mean"] == pytest.approx(1.0) and best["hd_mean"] == pytest.approx(0.0)
    assert best["score"] == pytest.approx(0.5)
    # S_min 200 removes the 125-voxel lesion: DSC 0 and HD undefined in both cases, counted, not dropped.
    empty = table[(table["threshold"] == 0.5) & (table["min_size"] == 200)].iloc[0]
    assert empty["dsc_mean"] == 0.0 and empty["hd_undefined"] == 2 and math.isnan(empty["score"])


def test_grid_cells_equal_evaluate_of_binarize(rng):
    probs, truths = [], []
    for _ in range(2):
        probs.append(ndimage.gaussian_filter(rng.random((20, 18, 16)), 1.5).astype(np.float32))
        probs[-1] = (probs[-1] - probs[-1].min()) / np.ptp(probs[-1])
        truths.append(ndimage.gaussian_filter(rng.random((20, 18, 16)), 2) > 0.5)
    thresholds, min_sizes = (0.3, 0.5, 0.7), (1, 5, 20, 100)
    for connectivity, spacing in ((6, None), (26, (1.0, 2.0, 0.5))):
        per_case = metrics.grid_metrics(
            probs, truths, thresholds, min_sizes, spacing=spacing, case_ids=["a", "b"],
            connectivity=connectivity, progress=False,
        )
        assert len(per_case) == 2 * 3 * 4
        for row in per_case.itertuples():
            i = "ab".index(row.case)
            expected = metrics.evaluate(binarize(probs[i], row.threshold, row.min_size, connectivity), truths[i], spacing)
            for key in ("dsc", "ppv", "sensitivity", "tp", "pred_voxels"):
                assert getattr(row, key) == pytest.approx(expected[key]), (row, key)
            assert row.hd == pytest.approx(expected["hd"], nan_ok=True), row


def test_aggregate_counts_undefined_hd_and_can_penalise_it():
    per_case = pd.DataFrame({
        "case": ["1", "2", "3"], "threshold": 0.5, "min_size": 10,
        "dsc": [0.8, 0.6, 0.0], "ppv": [0.9, 0.5, 0.0], "sensitivity": [0.7, 0.7, 0.0], "hd": [10.0, 30.0, np.nan],
    })
    table = metrics.aggregate_grid(per_case)
    row = table.iloc[0]
    assert row["hd_undefined"] == 1 and row["n_cases"] == 3
    assert row["hd_mean"] == pytest.approx(20.0) and row["hd_sd"] == pytest.approx(10.0)
    assert row["dsc_mean"] == pytest.approx(1.4 / 3)
    assert row["score"] == pytest.approx(metrics.score(1.4 / 3, 20.0))
    penalised = metrics.aggregate_grid(per_case, undefined_hd="hd_max").iloc[0]
    assert penalised["hd_mean"] == pytest.approx(240.0 / 3) and penalised["hd_undefined"] == 1
    with pytest.raises(EvaluationError):
        metrics.aggregate_grid(per_case, undefined_hd="drop")


def test_grid_accepts_dicts_and_per_case_spacing():
    p, t = known_case()
    per_case = metrics.grid_metrics({"7": p, "9": p}, {"7": t, "9": t}, (0.5,), (1,), spacing=[(1, 1, 1), (2, 2, 2)], progress=False)
    assert list(per_case["case"]) == ["7", "9"]
    # The 8-voxel false positive sits 14–15 voxels from the cube; doubling the voxel size doubles HD.
    assert per_case["hd"].iloc[1] == pytest.approx(2 * per_case["hd"].iloc[0])
    assert metrics.select_cell(per_case, 0.5, 1).shape[0] == 2
    with pytest.raises(EvaluationError, match="case 7"):
        metrics.grid_metrics({"7": p}, {"7": t[:-1]}, (0.5,), (1,), progress=False)
    with pytest.raises(EvaluationError, match="ground truths"):
        metrics.grid_metrics([p, p], [t], progress=False)


# ---------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------
def test_summary_table_shows_mean_sd_and_undefined_hd():
    per_case = pd.DataFrame({
        "approach": ["Baseline", "Baseline", "Proposed", "Proposed"], "case": ["1", "2", "1", "2"],
        "threshold": [0.4, 0.4, 0.5, 0.5], "min_size": [50, 50, 200, 200],
        "dsc": [0.5, 1.0, 0.6, 0.8], "ppv": [1.0, 1.0, 0.5, 0.5], "sensitivity": [0.2, 0.4, 0.6, 0.8],
        "hd": [10.0, np.nan, 20.0, 40.0],
    })
    table = tables.summary_table(per_case, by="approach")
    baseline = table.set_index("approach").loc["Baseline"]
    assert baseline["DSC"] == "0.75 ± 0.25" and baseline["HD (voxels)"] == "10.0 ± 0.0" and baseline["HD undefined"] == 1
    assert baseline["Th"] == 0.4 and baseline["S_min"] == 50 and baseline["n"] == 2
    proposed = table.set_index("approach").loc["Proposed"]
    assert proposed["HD (voxels)"] == "30.0 ± 10.0" and proposed["HD undefined"] == 0
    assert len(tables.summary_table(per_case)) == 1


def test_representative_cases():
    per_case = pd.DataFrame({"case": ["a", "b", "c", "d", "e"], "dsc": [0.5, 0.9, 0.1, 0.7, 0.3]})
    assert tables.representative_cases(per_case) == {"best": "b", "median": "a", "worst": "c"}


def test_score_heatmap_boxes_the_best_cell(tmp_path):
    import matplotlib.patches as mpatches

    from strokelib import plotting

    cases = [known_case(0), known_case(2)]
    table = metrics.grid_search([c[0] for c in cases], [c[1] for c in cases], (0.2, 0.5, 0.8), (1, 10, 200), progress=False)
    assert plotting.score_heatmap(table, output_file=tmp_path / "heatmap.png") is None
    assert (tmp_path / "heatmap.png").stat().st_size > 0
    fig = plotting.score_heatmap(table)
    box = [p for p in fig.axes[0].patches if isinstance(p, mpatches.Rectangle)][0]
    assert box.get_xy() == (1 - 0.5, 1 - 0.5)  # column S_min=10, row Th=0.5
    shown = fig.axes[0].images[0].get_array()
    assert shown.mask[1, 2] and not shown.mask[1, 1]  # the all-empty cell is grey, not a number
