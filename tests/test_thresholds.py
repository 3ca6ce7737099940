"""The difficulty figure: the best single-channel threshold and its Dice."""

from __future__ import annotations

import numpy as np
import pytest

from strokelib.data.cases import Case
from strokelib.errors import ConfigError
from strokelib.evaluation import difficulty as thresholds


def make_case(case_id: str, rng: np.random.Generator, lesion_value: float, confounder: bool) -> Case:
    shape = (30, 30, 20)
    brain = np.zeros(shape, bool)
    brain[3:27, 3:27, 2:18] = True
    label = np.zeros(shape, np.uint8)
    label[5:10, 5:10, 5:10] = 1
    bright = rng.normal(100, 5, shape).astype(np.float32)  # channel 0 separates lesion from healthy exactly
    bright[label > 0] = lesion_value
    dark = rng.normal(100, 5, shape).astype(np.float32)  # channel 1: darker lesion, plus a dark confounder
    dark[label > 0] = 40
    if confounder:
        dark[15:20, 15:20, 5:10] = 40
    images = np.stack([bright, dark]) * brain
    return Case(case_id, images, ("A", "B"), label, np.eye(4), (1.0, 1.0, 1.0), brain)


def test_a_separating_channel_scores_one_and_a_confounded_one_less():
    rng = np.random.default_rng(0)
    cases = [make_case(str(i), rng, 300, confounder=True) for i in range(3)]
    table = thresholds.channel_threshold_dsc(cases).set_index("modality")
    assert table.loc["A", "direction"] == ">" and table.loc["A", "dsc_mean"] == pytest.approx(1.0)
    assert table.loc["B", "direction"] == "<"
    assert table.loc["B", "dsc_mean"] == pytest.approx(2 * 125 / (125 + 250), abs=1e-6)  # 125 TP, 125 FP
    assert list(table.index) == ["A", "B"]  # best first


def test_cases_without_lesion_are_skipped_and_none_is_an_error():
    rng = np.random.default_rng(1)
    empty = make_case("0", rng, 300, confounder=False)
    empty.label[:] = 0
    with pytest.raises(ConfigError, match="labelled cases"):
        thresholds.channel_threshold_dsc([empty])
    table = thresholds.channel_threshold_dsc([empty, make_case("1", rng, 300, confounder=False)])
    assert (table["cases"] == 1).all()


def test_intensity_overlap_counts_what_a_threshold_cannot_separate():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    shape = (20, 20, 10)
    brain = np.zeros(shape, bool)
    brain[2:18, 2:18, 2:8] = True
    label = np.zeros(shape, np.uint8)
    label[4:8, 4:8, 3:6] = 1
    mimic = np.zeros(shape, bool)
    mimic[12:16, 12:16, 3:6] = True
    bright = rng.normal(0, 1, shape)
    bright[label > 0] += 8  # the lesion stands apart in channel A
    bright[mimic] += 8  # and so does the look-alike
    flat = rng.normal(0, 1, shape)  # channel B: the lesion is not visible at all
    images = np.stack([bright, flat]).astype(np.float32) * brain
    case = SimpleNamespace(case_id="1", images=images, brain_mask=brain, label=label, modalities=["A", "B"])
    table = thresholds.intensity_overlap(case, {"mimic": mimic})
    assert table.loc["A", "% of lesion inside healthy 1–99th pct"] < 5
    assert table.loc["B", "% of lesion inside healthy 1–99th pct"] > 90
    assert table.loc["A", "% of mimic inside lesion 5–95th pct"] > 70  # a threshold would take the mimic for lesion
    assert table.loc["A", "lesion median z"] > table.loc["A", "healthy median z"] + 3
