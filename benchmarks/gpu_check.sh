#!/usr/bin/env bash
# GPU check (paper §3.4–3.5 on CUDA): a few hundred mixed-precision SUNet training steps at batch 16, then one
# full-case prediction at the paper's step 4×4×1 for a SPES-sized and a SISS-sized synthetic case.
# Prints JSON lines: training patches/s, data wait share and peak memory; prediction patches, seconds, patches/s
# and peak memory.
#
#   bash benchmarks/gpu_check.sh            # 300 timed steps
#   STEPS=500 PRED_BATCH=1024 bash benchmarks/gpu_check.sh
#   DEVICE=cpu STEPS=2 SHAPES=tiny bash benchmarks/gpu_check.sh    # dry run of the script itself, no GPU
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STEPS=${STEPS:-300}
DEVICE=${DEVICE:-cuda}
PRED_BATCH=${PRED_BATCH:-512}
SHAPES=${SHAPES:-paper}
WORKERS=${WORKERS:-4}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" - <<EOF
import json, torch
if "$DEVICE" == "cuda" and not torch.cuda.is_available():
    raise SystemExit("gpu_check: no CUDA device visible to torch " + torch.__version__)
info = {"check": "environment", "torch": torch.__version__, "device": "$DEVICE"}
if torch.cuda.is_available():
    info |= {"gpu": torch.cuda.get_device_name(0), "bf16": torch.cuda.is_bf16_supported(), "cuda": torch.version.cuda}
print(json.dumps(info))
EOF

# training: AMP (bf16 where supported) with channels_last_3d, then fp32 for comparison
if [ "$DEVICE" = cuda ]; then PRECISIONS="auto fp32"; else PRECISIONS="fp32"; fi
"$PYTHON" benchmarks/train_throughput.py --device "$DEVICE" --precision $PRECISIONS --steps "$STEPS" --warmup 20 \
    --num-workers "$WORKERS"
if [ "$DEVICE" = cuda ]; then  # CUDA graphs: batch-16 steps are bound by kernel-launch overhead
    "$PYTHON" benchmarks/train_throughput.py --device cuda --precision auto --steps "$STEPS" --warmup 30 \
        --num-workers "$WORKERS" --compile reduce-overhead
fi

# one full-case prediction per task geometry at the paper's step
"$PYTHON" - <<EOF
import json, sys, time
import torch
sys.path.insert(0, "benchmarks")
from train_throughput import synthetic_case
from strokelib.inference import predict_case
from strokelib.sampling import grid_centres
from strokelib.model import SUNet

device = torch.device("$DEVICE")
torch.backends.cudnn.benchmark = True
shapes = {"paper": {"SPES": (14, (96, 110, 72)), "SISS": (8, (230, 230, 154))},
          "tiny": {"SPES": (14, (32, 40, 24))}}["$SHAPES"]
for task, (channels, shape) in shapes.items():
    case = synthetic_case(channels, shape)
    torch.manual_seed(0)
    model = SUNet(channels).to(device, memory_format=torch.channels_last_3d if device.type == "cuda" else torch.contiguous_format)
    n = len(grid_centres(case.brain_mask, (24, 24, 16), (4, 4, 1)))
    predict_case(model, synthetic_case(channels, (48, 48, 32)), step=(8, 8, 4), batch_size=$PRED_BATCH, device=device,
                 progress=False)  # warm-up: kernels and cudnn autotuning
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    prob = predict_case(model, case, step=(4, 4, 1), batch_size=$PRED_BATCH, device=device, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    report = {"check": "predict_case", "task": task, "shape": list(shape), "channels": channels, "step": [4, 4, 1],
              "batch_size": $PRED_BATCH, "patches": n, "seconds": round(seconds, 2), "patches_per_s": round(n / seconds, 1),
              "finite": bool(torch.isfinite(torch.from_numpy(prob)).all())}
    if device.type == "cuda":
        report["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(report))
EOF

# the whole training loop on the device: 3 short epochs with AMP, checkpoint, early-stopping bookkeeping, load_model;
# COMPILE=1 (default on CUDA) runs it through torch.compile(mode="reduce-overhead")
"$PYTHON" - <<EOF
import dataclasses, json, sys, tempfile, time
from pathlib import Path
import torch
sys.path.insert(0, "benchmarks")
from train_throughput import synthetic_case
from strokelib.config import PAPER
from strokelib.model import SUNet
from strokelib.sampling import PatchDataset
from strokelib.training import load_model, train

cfg = dataclasses.replace(PAPER, max_epochs=3)
case = synthetic_case(14, (96, 110, 72) if "$SHAPES" == "paper" else (32, 40, 24))
train_set = PatchDataset([case], n_patches=200 * cfg.batch_size, seed=0, progress=False)
val_set = PatchDataset([case], n_patches=16 * cfg.batch_size, seed=1, progress=False)
torch.manual_seed(0)
with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    history = train(SUNet(14), train_set, val_set, cfg, device="$DEVICE", checkpoint=Path(tmp) / "fold0.pt",
                    num_workers=$WORKERS, progress=False, compile_model=bool(int("${COMPILE:-1}")) and "$DEVICE" == "cuda")
    seconds = time.perf_counter() - t0
    model, meta = load_model(Path(tmp) / "fold0.pt", device="$DEVICE")
print(json.dumps({"check": "train", "compile": bool(int("${COMPILE:-1}")) and "$DEVICE" == "cuda",
                  "epochs": len(history), "seconds": round(seconds, 1),
                  "precision": meta["precision"], "device": meta["device"],
                  "train_loss": [round(v, 4) for v in history["train_loss"]],
                  "val_l1_er": [round(v, 4) for v in history["val_l1_er"]],
                  "patches_per_s": [round(v, 1) for v in history["patches_per_s"]],
                  "data_wait": [round(v, 4) for v in history["data_wait"]]}))
EOF
