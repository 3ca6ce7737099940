"""``precision: auto`` per device, CPU and model width (strokelib.model.precision): fp32 without native bf16 and no
calibration; with native bf16 the (faked) calibration decides, is cached per width and reused; a requested precision
is used as it is (bf16 without native bf16 refused); training and inference ask the same function; segment records
the precision beside its result and a map records it as information the reuse check ignores. The real timing
function runs once here at a tiny width in fp32 (bf16 would be emulated on a CPU without it)."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from strokelib.cli import main
from strokelib.errors import ConfigError
from strokelib.model import precision
from strokelib.model.sunet import SUNet
from strokelib.training.loop import resolve_precision

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")
TINY_PATCH = (8, 8, 8)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Every test gets its own cache file and a process that has logged and calibrated nothing yet."""
    monkeypatch.setenv(precision.CACHE_ENV, str(tmp_path / "cache" / "precision.json"))
    monkeypatch.delenv(precision.RECALIBRATE_ENV, raising=False)
    monkeypatch.setattr(precision, "_logged", set())
    monkeypatch.setattr(precision, "_measured_here", set())
    return tmp_path / "cache" / "precision.json"


@pytest.fixture
def timings(monkeypatch):
    """A native-bf16 CPU whose calibration is faked: set ``rates`` to {precision: patches/s}; ``calls`` lists every
    timing asked for as (mode, precision, (in_channels, base_filters), batch size)."""
    fake = type("Timings", (), {})()
    fake.rates, fake.calls = {"fp32": 10.0, "bf16": 24.0}, []

    def measure(model, device, mode, prec, batch_size, patch_shape=TINY_PATCH, **_):
        fake.calls.append((mode, prec, precision.model_widths(model), batch_size))
        return fake.rates[prec]

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    monkeypatch.setattr(precision, "measure_patches_per_s", measure)
    return fake


def tiny(base: int = 4, channels: int = 2) -> SUNet:
    return SUNet(channels, 2, base, 0.0)


def test_auto_on_a_cpu_without_native_bf16_is_fp32_and_nothing_is_timed(monkeypatch, own_cache, caplog):
    def never(*args, **kwargs):
        raise AssertionError("no calibration without native bf16")

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    monkeypatch.setattr(precision, "measure_patches_per_s", never)
    with caplog.at_level(logging.INFO, logger="strokelib.model.precision"):
        for mode in precision.MODES:
            choice = precision.choose_precision(CPU, "auto", mode, tiny(), 16, TINY_PATCH)
            assert choice.precision == "fp32" and "no native bf16" in choice.reason
        precision.choose_precision(CPU, "auto", "training", tiny(), 16, TINY_PATCH)
    assert resolve_precision(CPU, "auto", tiny(), 16, TINY_PATCH) == "fp32"
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines == ["training precision on cpu: fp32: this CPU has no native bf16 (no AVX512_BF16, AMX or Arm BF16)",
                     "inference precision on cpu: fp32: this CPU has no native bf16 (no AVX512_BF16, AMX or Arm BF16)"]
    assert not own_cache.exists()


@pytest.mark.parametrize(("bf16_rate", "expected"), [(24.0, "bf16"), (10.5, "fp32"), (7.0, "fp32")])
def test_with_native_bf16_the_calibration_decides(timings, own_cache, bf16_rate, expected):
    timings.rates["bf16"] = bf16_rate
    choice = precision.choose_precision(CPU, "auto", "training", tiny(), 16, TINY_PATCH)
    assert choice.precision == expected
    assert [c[:2] for c in timings.calls] == [("training", "fp32"), ("training", "bf16")]
    assert timings.calls[0][2:] == ((2, 4), 16)  # the actual model's width at the real batch size
    assert f"{bf16_rate / 10:.3g}×" in choice.reason and "calibration on this CPU" in choice.reason
    entry = next(iter(json.loads(own_cache.read_text()).values()))
    assert entry["precision"] == expected and entry["speedup"] == pytest.approx(bf16_rate / 10, abs=1e-3)


def test_the_calibration_is_cached_per_width_and_mode_and_reused(timings, own_cache, monkeypatch):
    first = precision.choose_precision(CPU, "auto", "training", tiny(4), 16, TINY_PATCH)
    precision._logged.clear()
    again = precision.choose_precision(CPU, "auto", "training", tiny(4), 16, TINY_PATCH)
    assert first.precision == again.precision == "bf16" and len(timings.calls) == 2  # read back, not timed again
    assert again == first and "base 4, batch 16; measured 20" in first.reason  # the same line: logged once
    precision.choose_precision(CPU, "auto", "training", tiny(8), 16, TINY_PATCH)  # another width: its own entry
    precision.choose_precision(CPU, "auto", "inference", tiny(4), 64, TINY_PATCH)  # inference apart from training
    assert len(timings.calls) == 6
    keys = sorted(json.loads(own_cache.read_text()))
    assert len(keys) == 3 and all(precision.cpu_features()[0] in k and torch.__version__ in k for k in keys)
    assert sum("training: 2 channels, base 4, batch 16" in k for k in keys) == 1
    assert sum("training: 2 channels, base 8, batch 16" in k for k in keys) == 1
    assert sum("inference: 2 channels, base 4, batch 64" in k for k in keys) == 1
    timings.rates["bf16"] = 5.0  # the machine changed: re-calibration on request replaces the entry
    assert precision.choose_precision(CPU, "auto", "training", tiny(4), 16, TINY_PATCH, recalibrate=True).precision == "fp32"
    monkeypatch.setattr(precision, "_measured_here", set())
    monkeypatch.setenv(precision.RECALIBRATE_ENV, "1")
    timings.rates["bf16"] = 30.0
    assert precision.choose_precision(CPU, "auto", "training", tiny(4), 16, TINY_PATCH).precision == "bf16"
    assert precision.choose_precision(CPU, "auto", "training", tiny(4), 16, TINY_PATCH).precision == "bf16"
    assert len(timings.calls) == 10  # the environment variable re-measures each key once per process


def test_a_calibration_made_without_an_isa_limit_is_not_reused_under_one(timings, own_cache, monkeypatch):
    for var in precision._ISA_LIMITS:
        monkeypatch.delenv(var, raising=False)
    precision.isa_limits.cache_clear()
    assert precision.choose_precision(CPU, "auto", "training", tiny(), 16, TINY_PATCH).precision == "bf16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # oneDNN held to AVX2: bf16 is emulated, measured again
    precision.isa_limits.cache_clear()  # as a process started with the variable reads it
    timings.rates["bf16"] = 0.4
    precision._logged.clear()
    assert precision.choose_precision(CPU, "auto", "training", tiny(), 16, TINY_PATCH).precision == "fp32"
    assert len(timings.calls) == 4
    keys = sorted(json.loads(own_cache.read_text()))
    assert len(keys) == 2 and sum("ONEDNN_MAX_CPU_ISA=AVX2" in k for k in keys) == 1
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    precision.isa_limits.cache_clear()


def test_a_requested_precision_is_used_as_it_is(timings, monkeypatch):
    for requested in ("fp32", "bf16"):
        choice = precision.choose_precision(CPU, requested, "inference", tiny(), 64)
        assert (choice.precision, choice.reason) == (requested, "requested")
    assert timings.calls == []
    with pytest.raises(ConfigError, match="one of auto, fp32, bf16, fp16"):
        precision.choose_precision(CPU, "fp8", "training", tiny())
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ConfigError, match="no native bfloat16 .* about 25× slower than fp32; use precision 'auto' or 'fp32'"):
        resolve_precision(CPU, "bf16", tiny())


def test_training_and_inference_ask_the_same_choice(timings):
    from strokelib.inference.patches import inference_precision

    assert resolve_precision(CPU, "auto", tiny(), 16, TINY_PATCH) == "bf16"
    choice = inference_precision([tiny(), tiny()], CPU, "auto", None, TINY_PATCH)
    assert choice.precision == "bf16" and timings.calls[-1][0] == "inference" and timings.calls[-1][3] == 64
    assert precision.choose_precision("meta", "auto", "inference", tiny()).precision == "fp32"  # neither CPU nor CUDA


def test_the_real_timing_runs_here_in_fp32_and_leaves_the_model_alone():
    model = tiny(base=2)
    before, rng = {k: v.clone() for k, v in model.state_dict().items()}, torch.get_rng_state()
    for mode in precision.MODES:
        rate = precision.measure_patches_per_s(model, CPU, mode, "fp32", 2, TINY_PATCH, batches=1, warmup=1)
        assert rate > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and model.training
    assert torch.equal(torch.get_rng_state(), rng)  # a calibration inside train() leaves its seeds alone


# ---------------------------------------------------------------------------------------------------------
# what segment and the maps record
# ---------------------------------------------------------------------------------------------------------
SEGMENT = ["--task", "SPES", "--threshold", "0.5", "--min-size", "1", "--step", "8", "8", "4", "--device", "cpu",
           "--split", "testing"]


@pytest.fixture
def trained(spes_root, spes_balanced_models):
    """(data root, models folder): the session's tiny SPES set and its balanced fold 0 (read-only, conftest.py)."""
    return spes_root, spes_balanced_models


def test_segment_records_the_precision_and_another_choice_reuses_the_case(trained, tmp_path, monkeypatch, capsys):
    root, models = trained
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    out = tmp_path / "out"
    assert main(["segment", str(root), str(out), "--models", str(models), *SEGMENT, "--precision", "fp32"]) == 0
    record = json.loads((out / "1" / "segmentation.json").read_text())
    assert record["result"]["precision"] == "fp32" and record["result"]["precision_reason"] == "requested"
    assert "precision" not in record["provenance"]
    assert main(["segment", str(root), str(tmp_path / "bf16"), "--models", str(models), *SEGMENT,
                 "--precision", "bf16"]) == 2
    assert "no native bfloat16" in capsys.readouterr().err and not (tmp_path / "bf16").exists()
    assert main(["segment", str(root), str(out), "--models", str(models), *SEGMENT]) == 0  # auto: fp32 here
    assert "1: skipped: done earlier with the same models and settings" in capsys.readouterr().out


def test_a_map_records_its_precision_as_information(trained, tmp_path, monkeypatch):
    from strokelib.data.cases import load_isles2015
    from strokelib.inference.maps import predict_ensemble
    from strokelib.model.checkpoints import load_models

    root, models_dir = trained
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    models, meta = load_models(models_dir, "cpu")
    cases = load_isles2015(root, "SPES", "testing")
    first = predict_ensemble(cases, models, meta, tmp_path, step=(8, 8, 4), progress=False)
    (record_path,) = tmp_path.rglob("1.json")
    record = json.loads(record_path.read_text())
    assert record["precision"] == "fp32" and "no native bf16" in record["precision_reason"]
    record |= {"precision": "bf16", "precision_reason": "requested"}  # as made on a machine where auto chose bf16
    record_path.write_text(json.dumps(record))
    stamp = record_path.stat().st_mtime_ns
    again = predict_ensemble(cases, models, meta, tmp_path, step=(8, 8, 4), progress=False)
    assert record_path.stat().st_mtime_ns == stamp and (again["1"] == first["1"]).all()  # reused, not refused
