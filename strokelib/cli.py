"""The ``strokelib`` command line: ``synth``, ``run`` (notebooks), ``train``, ``segment``, ``evaluate``, ``check-data``.

Every command prints a clear message and exits non-zero on bad input; library errors are
:class:`strokelib.errors.StrokelibError` and never reach the user as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import StrokelibError

log = logging.getLogger("strokelib")


def _cmd_synth(args: argparse.Namespace) -> int:
    from .synthetic import make_synthetic_isles

    root = make_synthetic_isles(args.out, args.task, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
                                geometry=args.geometry)
    print(f"wrote {args.n_train} training and {args.n_test} testing {args.task.upper()} cases to {root}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .notebooks import parse_value, run_notebooks

    params = {name: parse_value(value) for name, value in (args.param or [])}
    only = [s for part in (args.only or []) for s in part.split(",") if s]
    done = run_notebooks(args.profile, only=only or None, parameters=params)
    for path in done:
        print(f"executed {path}")
    return 0


def _cmd_check_data(args: argparse.Namespace) -> int:
    from .integrity import check_dataset

    problems = check_dataset(args.root, args.task, args.split)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {args.root} ({args.task} {args.split})" if problems
          else f"{args.root}: {args.task} {args.split} data look clean")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strokelib",
        description="Stroke lesion segmentation from multimodal MRI (Clèrigues et al., ISLES 2015 SISS and SPES).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write the embedded synthetic ISLES-like dataset in the ISLES 2015 layout")
    p.add_argument("out", type=Path, help="output folder (created)")
    p.add_argument("--task", default="SPES", type=str.upper, choices=["SISS", "SPES"])
    p.add_argument("--n-train", type=int, default=30, help="training cases (with ground truth)")
    p.add_argument("--n-test", type=int, default=0, help="testing cases (no ground truth)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--geometry", default="paper", choices=["paper", "small"],
                   help="'paper' = ISLES 2015 grid; 'small' = a reduced grid for quick runs")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("run", help="execute the numbered notebooks headless with papermill under a profile")
    p.add_argument("--profile", default="smoke", help="smoke, demo, paper, or a YAML file")
    p.add_argument("--only", action="append", metavar="NN[,NN]", help="run only these notebook numbers, e.g. 01,03")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override one notebook parameter (YAML value), e.g. -p data_root /data/ISLES2015")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("check-data", help="list every problem of an ISLES 2015 dataset at once (exit 0 only when clean)")
    p.add_argument("root", type=Path, help="the unpacked ISLES 2015 folder (or a split folder)")
    p.add_argument("--task", required=True, type=str.upper, choices=["SISS", "SPES"])
    p.add_argument("--split", default="training", choices=["training", "testing"])
    p.set_defaults(func=_cmd_check_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``strokelib`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except StrokelibError as exc:
        print(f"strokelib {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"strokelib {args.command}: interrupted; finished results are kept and the next run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
