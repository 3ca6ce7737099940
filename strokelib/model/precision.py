"""The number format the network runs in (paper §3.4 training, §3.5 inference): fp32, or bf16 autocast where it was
measured faster. ``precision: auto`` decides per device and, on a CPU, per CPU and model width from a measurement.

* CUDA: bf16 autocast (fp16 on a GPU without bf16). MPS: fp32 (reduced precision was never measured there).
* CPU: fp32, unless the CPU computes bf16 natively (AVX512_BF16, AMX or Arm BF16: :func:`cpu_supports_bf16`) *and* a
  short calibration on the actual model (a copy of it, at the real batch size and patch shape; a warm-up batch, then
  a few timed batches in fp32 and in bf16 autocast, for training and for inference separately) measures bf16 at
  least :data:`MIN_SPEEDUP` times as fast. Why measure: on a 2-core Intel Xeon with AMX, bf16 made training 1.2×
  (base 8), 1.4× (base 16) and 2.4× (base 32) as fast and inference 1.0×, 1.6× and 3.2×; on a CPU with AVX512_BF16
  but no AMX it was no faster at base 8 and 16; on an AVX2-only CPU bf16 is emulated, 25× slower.

A calibration is cached per machine and width in ``precision.json`` under the user's cache folder
(``$XDG_CACHE_HOME/strokelib/``, else ``~/.cache/strokelib/``; ``STROKELIB_PRECISION_CACHE`` names another file),
keyed by the CPU's model name and the flags that matter, any ISA limit set in the environment (``ONEDNN_MAX_CPU_ISA``,
``DNNL_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``), the torch version, the thread count, the mode, the input channels, the
base filters, the batch size and the patch shape; ``STROKELIB_RECALIBRATE=1`` (or ``recalibrate=True``)
measures again. Each choice is logged once per process as one line saying which precision and why.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import json
import logging
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PAPER
from ..errors import ConfigError, OutputError
from ..files import file_lock, write_text
from ..settings import PRECISIONS
from .checkpoints import channels_last_helps

log = logging.getLogger(__name__)

MODES = ("training", "inference")
MIN_SPEEDUP = 1.10
"""bf16 is chosen on a CPU only when the calibration measures it at least this many times as fast as fp32."""
CACHE_ENV = "STROKELIB_PRECISION_CACHE"
RECALIBRATE_ENV = "STROKELIB_RECALIBRATE"
CALIBRATION_BATCHES = 3
_ISA_LIMITS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
"""Environment variables that hold torch's or oneDNN's kernels below what the CPU has: a calibration made under one
limit does not hold under another, so they are part of its key."""
_FLAGS_THAT_MATTER = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
                                "asimd", "sve", "bf16"})
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
_logged: set[str] = set()
_measured_here: set[str] = set()  # keys calibrated in this process: STROKELIB_RECALIBRATE measures each once


@dataclass(frozen=True)
class PrecisionChoice:
    """A resolved number format (``fp32``, ``bf16`` or ``fp16``) and why it was chosen."""

    precision: str
    reason: str

    def __str__(self) -> str:
        return f"{self.precision}: {self.reason}"


# ---------------------------------------------------------------------------------------------------------
# the CPU
# ---------------------------------------------------------------------------------------------------------


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@functools.lru_cache(maxsize=1)
def cpu_features() -> tuple[str, frozenset[str]]:
    """(model name, flags) of this CPU, read from the CPU itself: ``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS
    (where only the Arm BF16 flag is read); no flags where neither can be read."""
    if platform.system() == "Darwin":
        name = _sysctl("machdep.cpu.brand_string") or platform.machine()
        return name, frozenset({"bf16"} if _sysctl("hw.optional.arm.FEAT_BF16") == "1" else ())
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU", frozenset()
    name, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags |= set(value.split())
        elif key.strip() == "model name" and not name:
            name = value.strip()
    return name or platform.machine() or "unknown CPU", frozenset(flags)


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively: x86 with AVX512_BF16 or AMX_BF16, Arm with the BF16 extension.

    Read from the CPU's own flags (:func:`cpu_features`), never assumed from the architecture. Without native
    support bf16 autocast is emulated: on an AVX2-only CPU bf16 inference was 25× slower than fp32.
    """
    return bool(cpu_features()[1] & _BF16_FLAGS)


# ---------------------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------------------


def autocast(device_type: str, precision: str):
    """The autocast context of ``precision`` on ``device_type`` (none for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def model_widths(model: nn.Module) -> tuple[int, int] | None:
    """(input channels, base filters) of a SUNet, or of any network from its first 3D convolution; None without one."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv3d)), None)
    if conv is None:
        return None
    return int(getattr(model, "in_channels", conv.in_channels)), int(getattr(model, "base_filters", conv.out_channels))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_function(net: nn.Module, x: torch.Tensor, mode: str, precision: str):
    """One training step (forward, loss, backward; the optimiser's step costs the same in either precision and is left
    out) or one inference forward pass of ``net`` on ``x``."""
    device_type = x.device.type
    if mode == "inference":
        net.eval()

        def forward() -> None:
            with torch.inference_mode(), autocast(device_type, precision):
                net(x)

        return forward
    net.train()
    y = torch.randint(0, 2, (x.shape[0], *x.shape[2:]), device=x.device)

    def step() -> None:
        with autocast(device_type, precision):
            logits = net(x)
        net.zero_grad(set_to_none=True)
        F.cross_entropy(logits.float(), y).backward()

    return step


def measure_patches_per_s(model: nn.Module, device, mode: str, precision: str, batch_size: int,
                          patch_shape: Sequence[int] = PAPER.patch_shape, batches: int = CALIBRATION_BATCHES,
                          warmup: int = 1) -> float:
    """Patches per second of ``model`` for ``mode`` in ``precision``: ``warmup`` untimed batches, then the fastest of
    ``batches`` timed ones (robust to a busy machine). Runs on a copy, in ``channels_last_3d`` where training and
    inference use it, with the random state restored afterwards, so the model and the run's seeds are untouched."""
    device = torch.device(device)
    in_channels = model_widths(model)[0]
    channels_last = channels_last_helps(device)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    net = copy.deepcopy(model).to(device, memory_format=fmt if channels_last else torch.preserve_format)
    seconds = []
    with torch.random.fork_rng(devices=[]):
        x = torch.randn(int(batch_size), in_channels, *patch_shape, device=device).contiguous(memory_format=fmt)
        step = _step_function(net, x, mode, precision)
        for i in range(warmup + batches):
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
    return int(batch_size) / min(seconds)


def calibrate(model: nn.Module, device, mode: str, batch_size: int,
              patch_shape: Sequence[int] = PAPER.patch_shape) -> dict:
    """fp32 against bf16 autocast on ``model`` (:func:`measure_patches_per_s`): the patches/s of each, the speed-up
    and the precision it implies (bf16 from :data:`MIN_SPEEDUP` up)."""
    rates = {p: measure_patches_per_s(model, device, mode, p, batch_size, patch_shape) for p in ("fp32", "bf16")}
    speedup = rates["bf16"] / rates["fp32"]
    return {"precision": "bf16" if speedup >= MIN_SPEEDUP else "fp32", "speedup": round(speedup, 3),
            "fp32_patches_per_s": round(rates["fp32"], 2), "bf16_patches_per_s": round(rates["bf16"], 2),
            "measured": datetime.datetime.now().isoformat(timespec="seconds")}


# ---------------------------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------------------------


def cache_path() -> Path:
    """``$STROKELIB_PRECISION_CACHE``, else ``precision.json`` in ``$XDG_CACHE_HOME/strokelib/`` (``~/.cache``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "strokelib" / "precision.json"


@functools.lru_cache(maxsize=1)
def isa_limits() -> tuple[tuple[str, str], ...]:
    """The ISA limits set in the environment, read once: torch reads ``ATEN_CPU_CAPABILITY`` when it is imported and
    oneDNN its variable at first use, so a variable set later in the process changes nothing they run."""
    return tuple((var, os.environ[var]) for var in _ISA_LIMITS if os.environ.get(var))


def calibration_key(mode: str, in_channels: int, base_filters: int, batch_size: int,
                    patch_shape: Sequence[int] = PAPER.patch_shape) -> str:
    """What a calibration holds for: this CPU (model name, the flags that matter, any ISA limit of the environment:
    :func:`isa_limits`), torch, threads, and the run."""
    name, flags = cpu_features()
    relevant = ",".join(sorted(flags & _FLAGS_THAT_MATTER)) or "none of the listed flags"
    limits = "".join(f", {var}={value}" for var, value in isa_limits())
    return (f"{name} [{relevant}{limits}] torch {torch.__version__}, {torch.get_num_threads()} threads | {mode}: "
            f"{in_channels} channels, base {base_filters}, batch {batch_size}, patch {'x'.join(map(str, patch_shape))}")


def _read_cache(path: Path) -> dict:
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _valid(entry) -> bool:
    return isinstance(entry, dict) and entry.get("precision") in ("fp32", "bf16") and \
        isinstance(entry.get("speedup"), int | float)


def _store(path: Path, key: str, entry: dict) -> None:
    """Add one calibration to the cache (read, merged and written atomically under a lock); a cache that cannot be
    written costs a calibration next time, nothing more."""
    try:
        with file_lock(path.with_name(path.name + ".lock"), "the precision calibration cache"):
            entries = _read_cache(path)
            entries[key] = entry
            write_text(path, json.dumps(entries, indent=1, sort_keys=True) + "\n")
    except OutputError as exc:
        log.warning("the precision calibration could not be cached (%s); it is measured again next time", exc)


# ---------------------------------------------------------------------------------------------------------
# the choice
# ---------------------------------------------------------------------------------------------------------


def _recalibrate(recalibrate: bool | None, key: str) -> bool:
    """Measure again: ``recalibrate=True``, or ``STROKELIB_RECALIBRATE=1`` for a key not yet measured in this process."""
    if recalibrate is not None:
        return recalibrate
    return key not in _measured_here and os.environ.get(RECALIBRATE_ENV, "").strip().lower() in {"1", "true", "yes"}


def _calibrated(entry: dict, mode: str, widths: tuple[int, int], batch_size: int) -> PrecisionChoice:
    figures = (f"fp32 {entry.get('fp32_patches_per_s')}, bf16 {entry.get('bf16_patches_per_s')} patches/s; {mode}, "
               f"base {widths[1]}, batch {batch_size}; measured {entry.get('measured')}")
    if entry["precision"] == "bf16":
        return PrecisionChoice("bf16", f"{entry['speedup']:.3g}× faster than fp32 in a calibration on this CPU ({figures})")
    return PrecisionChoice("fp32", f"bf16 was {entry['speedup']:.3g}× fp32 in a calibration on this CPU, under the "
                                   f"{MIN_SPEEDUP:.2f}× needed ({figures})")


def _cpu_auto(device: torch.device, mode: str, model: nn.Module | None, batch_size: int, patch_shape,
              recalibrate: bool | None) -> PrecisionChoice:
    """``auto`` on a CPU: fp32 without native bf16, else what the (cached) calibration on ``model`` measured."""
    if not cpu_supports_bf16():
        return PrecisionChoice("fp32", "this CPU has no native bf16 (no AVX512_BF16, AMX or Arm BF16)")
    widths = model_widths(model) if model is not None else None
    if widths is None:
        return PrecisionChoice("fp32", "no model with a 3D convolution to calibrate bf16 against fp32 on")
    key, path = calibration_key(mode, *widths, batch_size, patch_shape), cache_path()
    entry = None if _recalibrate(recalibrate, key) else _read_cache(path).get(key)
    if not _valid(entry):
        log.info("calibrating bf16 against fp32 for %s on this CPU (base %d, batch %d; a few seconds, once: cached "
                 "in %s)", mode, widths[1], batch_size, path)
        entry = calibrate(model, device, mode, batch_size, patch_shape)
        _measured_here.add(key)
        _store(path, key, entry)
    return _calibrated(entry, mode, widths, batch_size)


def choose_precision(device, requested: str = "auto", mode: str = "training", model: nn.Module | None = None,
                     batch_size: int | None = None, patch_shape: Sequence[int] = PAPER.patch_shape,
                     recalibrate: bool | None = None) -> PrecisionChoice:
    """The precision ``mode`` (``training`` or ``inference``) runs in on ``device``, and why; logged once per process.

    ``requested`` other than ``auto`` is used as it is, except ``bf16`` on a CPU without native bf16, which is
    refused rather than emulated about 25× slower. ``auto``: see the module docstring; on a CPU with native bf16
    ``model`` (with ``batch_size``, default 16, and ``patch_shape``) is what the calibration measures.
    """
    if requested not in PRECISIONS:
        raise ConfigError(f"precision {requested!r} unknown; use one of {', '.join(PRECISIONS)}")
    if mode not in MODES:
        raise ConfigError(f"precision mode {mode!r} unknown; use one of {', '.join(MODES)}")
    device = torch.device(device)
    if requested != "auto":
        if requested == "bf16" and device.type == "cpu" and not cpu_supports_bf16():
            raise ConfigError("precision 'bf16' on this CPU: it has no native bfloat16 (no AVX512_BF16, AMX or Arm "
                              "BF16), so bf16 would be emulated, about 25× slower than fp32; use precision 'auto' or 'fp32'")
        choice = PrecisionChoice(requested, "requested")
    elif device.type == "cuda":
        choice = (PrecisionChoice("bf16", "bf16 autocast on CUDA") if torch.cuda.is_bf16_supported()
                  else PrecisionChoice("fp16", "this GPU has no bf16"))
    elif device.type != "cpu":
        choice = PrecisionChoice("fp32", f"reduced precision was never measured on {device.type}")
    else:
        choice = _cpu_auto(device, mode, model, int(batch_size or PAPER.batch_size), tuple(patch_shape), recalibrate)
    line = f"{mode} precision on {device.type}: {choice}"
    log.log(logging.DEBUG if line in _logged else logging.INFO, "%s", line)
    _logged.add(line)
    return choice
