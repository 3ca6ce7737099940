"""What a smaller early-stopping patience would save, replayed on folds already trained (paper §3.4).

Early stopping watches the validation L1 + error rate. A fold's epochs up to any stop are the same whatever the
patience, so the stop and the kept epoch of a smaller patience can be replayed on the validation history of a run
that used a larger one, with the training loop's own rule (:func:`strokelib.training.loop.early_stopping_status`);
a larger patience than the run's cannot, and is refused.

For each patience it prints the epochs all folds run (what training time scales with), how many folds keep the same
best validation L1+ER as the run itself, and the mean of the kept values. One JSON line per patience.

    python benchmarks/patience_replay.py outputs/demo            # every fold<k>_history.csv under models/
    python benchmarks/patience_replay.py outputs/demo --patience 4 3 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from strokelib.config import PAPER
from strokelib.training.loop import early_stopping_status


def replay(values: list[float], patience: int, min_delta: float) -> tuple[int, float]:
    """(epochs run, validation value kept) had training stopped with ``patience``."""
    for n in range(1, len(values) + 1):
        best, stop = early_stopping_status(values[:n], patience, min_delta)
        if stop:
            return n, values[best]
    best, _ = early_stopping_status(values, patience, min_delta)
    return len(values), values[best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outputs", type=Path, help="a run's outputs folder (models/<task>/<approach>/fold<k>_history.csv)")
    parser.add_argument("--patience", type=int, nargs="+", default=[4, 3, 2])
    parser.add_argument("--min-delta", type=float, default=PAPER.min_delta)
    args = parser.parse_args()
    files = sorted(args.outputs.glob("models/*/*/fold*_history.csv"))
    if not files:
        raise SystemExit(f"no fold<k>_history.csv under {args.outputs / 'models'}: train the folds first")
    histories = {f"{f.parent.parent.name} {f.parent.name} {f.stem.removesuffix('_history')}":
                 pd.read_csv(f)["val_l1_er"].tolist() for f in files}
    # the run itself: every epoch it ran, the best value it kept
    ran = {name: (len(v), v[early_stopping_status(v, len(v), args.min_delta)[0]]) for name, v in histories.items()}
    for patience in args.patience:
        runs = {name: replay(v, patience, args.min_delta) for name, v in histories.items()}
        unknowable = [name for name, (n, _) in runs.items() if n == len(histories[name]) and
                      not early_stopping_status(histories[name], patience, args.min_delta)[1]]
        if unknowable and any(len(histories[n]) < max(len(v) for v in histories.values()) for n in unknowable):
            raise SystemExit(f"patience {patience} does not stop within the recorded epochs of {unknowable[0]}: a "
                             "patience larger than the run's own cannot be replayed")
        print(json.dumps({"benchmark": "patience_replay", "patience": patience, "folds": len(runs),
                          "epochs": sum(n for n, _ in runs.values()),
                          "epochs_vs_run": round(sum(n for n, _ in runs.values()) /
                                                     sum(n for n, _ in ran.values()), 3),
                          "same_kept_value": sum(abs(kept - ran[name][1]) < 1e-12 for name, (_, kept) in runs.items()),
                          "mean_kept_val_l1_er": round(sum(k for _, k in runs.values()) / len(runs), 4)}))


if __name__ == "__main__":
    main()
