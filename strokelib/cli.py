"""The ``strokelib`` command line over paper §2–§4: ``synth``, ``run`` (notebooks), ``notebooks`` (copies of them),
``train``, ``postprocess``, ``segment``, ``evaluate``, ``check-data``. It only parses arguments, calls library
functions and prints.

Every command prints a clear message and exits non-zero on bad input; library errors are
:class:`strokelib.errors.StrokelibError` and never reach the user as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .config import PAPER
from .data.layout import ISLES22, SISS_MODALITIES, SPES_MODALITIES, SPLITS
from .errors import ConfigError, StrokelibError
from .provenance import ACCEPT_CODE_CHANGE_ENV, code_version
from .settings import DEFAULTS, PRECISIONS, SETTINGS, TASKS

log = logging.getLogger("strokelib")


def _cmd_synth(args: argparse.Namespace) -> int:
    from .synthetic.dataset import make_synthetic_isles

    if args.task == ISLES22:
        return _synth_isles22(args)
    root = make_synthetic_isles(args.out, args.task, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
                                geometry=args.geometry)
    print(f"wrote {args.n_train} training and {args.n_test} testing {args.task.upper()} cases to {root}")
    return 0


def _synth_isles22(args: argparse.Namespace) -> int:
    from .synthetic.isles22 import make_synthetic_isles22

    if args.n_test:
        raise ConfigError("--task ISLES22 writes training cases only (every case has its mask): drop --n-test")
    root = make_synthetic_isles22(args.out, args.n_train, seed=args.seed, geometry=args.geometry)
    print(f"wrote {args.n_train} ISLES22 cases (DWI, ADC, FLAIR and mask, Zenodo layout) to {root}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .notebooks import run_notebooks
    from .settings import parse_value

    params = {name: parse_value(value) for name, value in (args.param or [])} | ({"fresh": True} if args.fresh else {})
    only = [s for part in (args.only or []) for s in part.split(",") if s]
    if args.workdir is not None:
        _use_workdir(args.workdir)
    if args.task is not None:
        only = _task_notebooks(args.task, only)
        if args.task != ISLES22:
            params["task"] = args.task
    done = run_notebooks(args.profile, only=only or None, parameters=params, output_dir=args.executed_dir)
    for path in done:
        print(f"executed {path}")
    return 0


def _task_notebooks(task: str, only: list[str]) -> list[str]:
    """``--task``: the notebooks of that task, or ``--only`` when it names none of another task's."""
    from .notebooks import task_notebooks

    mine = task_notebooks(task)
    others = [n for n in only if f"{int(n):02d}" not in mine] if all(n.isdigit() for n in only) else []
    if others:
        raise ConfigError(f"--task {task} runs notebook(s) {', '.join(mine)}; --only {','.join(others)} belongs to "
                          f"{'ISLES 2015 (SISS or SPES)' if task == ISLES22 else 'ISLES 2022 (--task ISLES22)'}")
    return only or mine


def _use_workdir(folder: Path) -> None:
    """``--workdir DIR``: create DIR and make it the working folder of this process and its kernels."""
    from .workspace import WORKDIR_ENV

    blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"--workdir {folder}: {blocker} is a file, not a folder; choose another DIR")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[WORKDIR_ENV] = str(folder.resolve())


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from .workspace import copy_notebooks

    written = copy_notebooks(args.dir, force=args.force)
    for path in written:
        print(f"wrote {path}")
    notebooks = sum(p.suffix == ".ipynb" for p in written)
    print(f"{notebooks} notebooks and {len(written) - notebooks} profiles in {args.dir / 'notebooks'}; from {args.dir}, "
          "`strokelib run --profile smoke` runs these copies and writes outputs/ there (or `jupyter lab notebooks/`)")
    return 0


def _cmd_check_data(args: argparse.Namespace) -> int:
    from .data.checks import check_dataset, check_isles22

    if args.task == ISLES22:
        problems = check_isles22(args.root, _isles22_modalities(args.modalities), args.split)
    else:
        problems = check_dataset(args.root, args.task, args.split, penumbra_label=args.penumbra_label)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {args.root} ({args.task} {args.split})" if problems
          else f"{args.root}: {args.task} {args.split} data look clean")
    return 1 if problems else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .settings import parse_value
    from .training.cross_validation import train_command

    overrides = {name: parse_value(value) for name, value in (args.param or [])} | ({"fresh": True} if args.fresh else {})
    if args.modalities is not None and args.task != ISLES22:
        raise ConfigError(f"--modalities chooses the images of ISLES22 models; {args.task} reads its own modalities")
    modalities = _isles22_modalities(args.modalities or "DWI,ADC") if args.task == ISLES22 else None
    history = train_command(args.task, args.approach, fold=args.fold, data_root=args.data_root, profile=args.profile,
                            out_dir=args.out, device=args.device, modalities=modalities, **overrides)
    last = history.groupby("fold").tail(1)
    for row in last.itertuples():
        print(f"{args.task} {args.approach} fold {row.fold}: {int(row.epoch)} epochs, best epoch {int(row.best_epoch)}")
    return 0


def _cmd_postprocess(args: argparse.Namespace) -> int:
    from .evaluation.tables import write_table
    from .evaluation.tuning import choose_postprocessing

    choice = choose_postprocessing(args.models, args.data_root, args.step, penumbra_label=args.penumbra_label,
                                   batch_size=args.batch_size, device=args.device, fresh=args.fresh)
    best = choice.best
    print(f"Th {choice.threshold:g}, S_min {choice.min_size} (Eq. 2 score {best['score']:.3f}: mean DSC "
          f"{best['dsc_mean']:.3f}, mean HD {best['hd_mean']:.1f} voxels, HD undefined in {int(best['hd_undefined'])} "
          f"of {int(best['n_cases'])} cases), chosen on the {choice.source}")
    table = choice.table.loc[:, ~(choice.table == "–").all()]  # one approach: no p-values against a Baseline
    print(table.to_string(index=False))
    csv, _ = write_table(table, args.models / "table1_rows", choice.source)
    print(f"wrote {choice.path} and {csv} (.md beside it)")
    return 0


_MODALITY_FLAGS = {m.lower(): m for m in (*SISS_MODALITIES, *SPES_MODALITIES, "ADC")}


def _flag_modalities(task: str) -> tuple[str, ...]:
    """The modalities whose flags a task reads: ISLES 2015's, or ISLES 2022's DWI, ADC and FLAIR."""
    from .data.cases import task_modalities
    from .data.isles22 import ISLES22_MODALITIES

    return ISLES22_MODALITIES if task == ISLES22 else task_modalities(task)


def _segment_files(args: argparse.Namespace) -> dict[str, Path] | None:
    """{modality: file} given with the modality flags (--flair ...), or None when INPUT is used instead."""
    from .data.cases import task_modalities

    given = {_MODALITY_FLAGS[k]: Path(v) for k, v in vars(args).items() if k in _MODALITY_FLAGS and v is not None}
    if args.task == ISLES22:  # --flair names ISLES 2022's FLAIR, spelt in capitals there
        given = {m.upper(): path for m, path in given.items()}
    if args.input is not None and given:
        raise ConfigError("give either INPUT (a case folder, a folder of cases or an ISLES 2015 or 2022 folder) or one "
                          "file per modality (--flair ...), not both")
    if args.input is not None:
        if args.input.is_file():
            raise ConfigError(f"{args.input} is a file: give the case folder, or each modality with "
                              f"--{_flag_modalities(args.task)[0].lower()} etc.")
        return None
    others = [m for m in given if m not in _flag_modalities(args.task)]
    if others:
        raise ConfigError(f"{args.task} reads no {', '.join('--' + m.lower() for m in others)}: its images are "
                          f"{', '.join('--' + m.lower() for m in _flag_modalities(args.task))}")
    if args.task == ISLES22:  # which of --dwi, --adc, --flair are needed, the models' record says
        if "DWI" not in given:
            raise ConfigError("ISLES22: give INPUT (a BIDS root or one sub-* folder) or the images with --dwi and "
                              "--adc (and --flair for models that read FLAIR)")
    else:
        missing = [m for m in task_modalities(args.task) if m not in given]
        if missing:
            raise ConfigError(f"{args.task} needs every modality: missing "
                              f"{', '.join('--' + m.lower() for m in missing)}")
        given = {m: given[m] for m in task_modalities(args.task)}
    for modality, path in given.items():
        if not path.is_file():
            raise ConfigError(f"--{modality.lower()} {path}: no such file")
    return given


def _cmd_segment(args: argparse.Namespace) -> int:
    from .inference.segment import segment, summary_name

    files = _segment_files(args)
    table = segment(files if files is not None else args.input, args.models, args.task, args.out, split=args.split,
                    step=args.step, batch_size=args.batch_size, device=args.device, threshold=args.threshold,
                    min_size=args.min_size, shard=args.shard, fresh=args.fresh, fast=args.fast,
                    precision=args.precision)
    for row in table.itertuples():
        if row.status == "done":
            print(f"case {row.case}: lesion volume: {row.lesion_ml:.1f} mL ({int(row.voxels)} voxels; Th {row.Th}, "
                  f"S_min {row.S_min}; {row.mode}, {row.seconds:.1f} s) -> {args.out / str(row.case)}")
        else:
            print(f"case {row.case}: {row.status}: {row.reason}")
        if isinstance(row.warning, str) and row.warning:
            print(f"case {row.case}: warning: {row.warning}")
    counts = table["status"].value_counts()
    print(f"{counts.get('done', 0)} done, {counts.get('skipped', 0)} skipped, {counts.get('failed', 0)} failed; "
          f"summary: {args.out / summary_name(table.attrs.get('shard'))}")
    problems = table[(table["status"] == "failed")
                     | ((table["status"] == "skipped") & ~table["reason"].astype(str).str.startswith("done earlier"))]
    return 1 if len(problems) else 0


def _isles22_modalities(text: str) -> tuple[str, ...]:
    from .data.isles22 import ISLES22_MODALITIES

    modalities = tuple(m.strip().upper() for m in text.split(",") if m.strip())
    unknown = [m for m in modalities if m not in ISLES22_MODALITIES]
    if unknown or "DWI" not in modalities:
        raise ConfigError(f"--modalities {text!r}: give DWI plus any of ADC, FLAIR, comma-separated (e.g. DWI,ADC)")
    return modalities


def _evaluate_isles22(args: argparse.Namespace) -> int:
    from .data.isles22 import load_isles22
    from .evaluation.metrics import evaluate_isles22_predictions
    from .files import write_csv

    per_case = evaluate_isles22_predictions(load_isles22(args.gt_root, ("DWI",)), args.pred_dir, args.threshold,
                                            args.min_size)
    out = args.out or args.pred_dir / f"evaluation_{args.task}.csv"
    write_csv(per_case, out, index=False)
    columns = ["dice", "volume_difference_ml", "lesion_count_difference", "lesion_f1"]
    print(per_case[columns].agg(["mean", "std"]).T.round(3).to_string())
    print(f"per-case metrics: {out} ({len(per_case)} cases; the ISLES 2022 challenge's metrics)")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.cases import load_isles2015
    from .evaluation.metrics import evaluate_predictions
    from .evaluation.tables import summary_table
    from .files import write_csv

    if args.task == ISLES22:
        return _evaluate_isles22(args)
    cases = load_isles2015(args.gt_root, args.task, "training", penumbra_label=args.penumbra_label)
    per_case = evaluate_predictions(cases, args.pred_dir, args.threshold, args.min_size, mm=args.mm)
    out = args.out or args.pred_dir / f"evaluation_{args.task}.csv"
    write_csv(per_case, out, index=False)
    summary = summary_table(per_case, hd_unit="mm" if args.mm else "voxels")
    print(summary.to_string(index=False))
    print(f"per-case metrics: {out} (HD in {'mm' if args.mm else 'voxels'}; HD undefined where a mask is empty)")
    return 0


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="write the embedded synthetic ISLES-like dataset in the ISLES 2015 layout "
                       "(ISLES22: the ISLES 2022 Zenodo layout)")
    p.add_argument("out", type=Path, help="output folder (created)")
    p.add_argument("--task", default=DEFAULTS.task, type=str.upper, choices=(*TASKS, ISLES22),
                   help="SISS or SPES (ISLES 2015-like), or ISLES22 (DWI, ADC, FLAIR on its own grid, mask)")
    p.add_argument("--n-train", type=int, default=30, help="training cases (with ground truth)")
    p.add_argument("--n-test", type=int, default=0, help="testing cases (no ground truth)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--geometry", default=DEFAULTS.synthetic_geometry, choices=SETTINGS["synthetic_geometry"].choices,
                   help="'paper' = ISLES 2015 grid (ISLES22: DWI at 2 mm); 'small' = a reduced grid for quick runs")
    p.set_defaults(func=_cmd_synth)


def _add_reuse_flags(p: argparse.ArgumentParser, otherwise: str) -> None:
    """``--fresh`` and ``--accept-code-change``, with one meaning in every command (:mod:`strokelib.provenance`)."""
    p.add_argument("--fresh", action="store_true",
                   help="recompute the stored results (checkpoints, maps, segmentations) whose record differs from "
                   "this run's: other data, settings or code; results whose record matches are kept "
                   f"(default: {otherwise})")
    p.add_argument("--accept-code-change", action="store_true",
                   help="reuse results made by another version of strokelib from the same data and settings "
                   "(default: stop and say so); sets STROKELIB_ACCEPT_CODE_CHANGE=1")


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="execute the numbered notebooks headless with papermill under a profile")
    p.add_argument("--profile", default="smoke", help="smoke, demo, paper, or a YAML file")
    p.add_argument("--only", action="append", metavar="NN[,NN]", help="run only these notebook numbers, e.g. 01,03")
    p.add_argument("--task", type=str.upper, choices=(*TASKS, ISLES22), default=None,
                   help="SISS or SPES: notebooks 01-05 on that ISLES 2015 task (-p task); ISLES22: notebook 06, the "
                   "method on ISLES 2022 (default: 01-05 with the profile's task)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override one notebook parameter (YAML value), e.g. -p data_root /data/ISLES2015")
    _add_reuse_flags(p, "stop and say what differs")
    p.add_argument("--executed-dir", type=Path, default=None,
                   help="where the executed copies go (default outputs/notebooks/<profile>/ in the working folder)")
    p.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                   help="the working folder: outputs, figures, executed notebooks and the synthetic data go under DIR "
                   "(created), and DIR/notebooks/ is run when it holds notebooks (default: the checkout around the "
                   "current folder, else the current folder); sets STROKELIB_WORKDIR=DIR")
    p.set_defaults(func=_cmd_run)


def _add_notebooks(sub) -> None:
    p = sub.add_parser("notebooks", help="copy the numbered notebooks and their profiles into DIR/notebooks/, to open "
                       "in JupyterLab or edit and run from DIR")
    p.add_argument("dir", type=Path, metavar="DIR", help="the working folder to copy them into (created)")
    p.add_argument("--force", action="store_true", help="overwrite files that exist (default: refuse, naming them)")
    p.set_defaults(func=_cmd_notebooks)


def _add_check_data(sub) -> None:
    p = sub.add_parser("check-data", help="list every problem of an ISLES 2015 or 2022 dataset at once (exit 0 only "
                       "when clean)")
    p.add_argument("root", type=Path, help="the unpacked ISLES 2015 folder (or a split folder), or an ISLES 2022 folder "
                   "(BIDS root or one sub-* folder)")
    p.add_argument("--task", required=True, type=str.upper, choices=(*TASKS, ISLES22))
    p.add_argument("--modalities", default="DWI,ADC",
                   help="ISLES22: the images the model reads, DWI,ADC (default) or DWI,ADC,FLAIR")
    p.add_argument("--split", default="training", choices=SPLITS)
    p.add_argument("--penumbra-label", type=int, default=None,
                   help="SPES ground truth with two labels: the penumbra value (as for the loader and evaluate)")
    p.set_defaults(func=_cmd_check_data)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train the fold models of one approach (one fold with --fold, for one process per GPU)",
                       description="Cross-validated training (paper §3.4, §4.1). Folds run in parallel as separate "
                       "processes: CUDA_VISIBLE_DEVICES=K strokelib train --task SPES --approach proposed --fold K &")
    p.add_argument("--task", required=True, type=str.upper, choices=(*TASKS, ISLES22),
                   help="SISS or SPES (ISLES 2015), or ISLES22 (ISLES 2022: DWI, ADC and optionally FLAIR)")
    p.add_argument("--approach", default="proposed", choices=SETTINGS["train_approaches"].choices)
    p.add_argument("--fold", type=int, default=None, help="train only this fold (0-based); default: all folds")
    p.add_argument("--profile", default="paper", help="settings: smoke, demo, paper or a YAML file (default paper)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="ISLES 2015 folder, or ISLES 2022 BIDS root (either layout); default: the profile's data_root, "
                   "else the embedded synthetic set of the task")
    p.add_argument("--modalities", default=None,
                   help="ISLES22: the images the models read, DWI,ADC (default) or DWI,ADC,FLAIR (FLAIR is registered "
                   "onto DWI and cached under the outputs folder)")
    p.add_argument("--out", type=Path, default=None, help="outputs folder; default: the profile's outputs_dir")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: cuda, then mps, then cpu)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override a profile key, e.g. -p train_max_epochs 50")
    _add_reuse_flags(p, "stop and say what differs")
    p.set_defaults(func=_cmd_train)


def _add_postprocess(sub) -> None:
    p = sub.add_parser("postprocess", help="choose Th and S_min of a models folder by the Eq. 2 grid search "
                       "(writes postprocessing.json for segment)",
                       description="The grid search of §4.1: the cross-validated maps of the training cases (reused "
                       "from <outputs>/probabilities/ or predicted), every Th in 0.1..0.9 x S_min in 1..1000 scored by "
                       "Eq. 2, the best cell written to MODELS/postprocessing.json and the Table 1 rows (chosen on the "
                       "reported cases, and nested on the other folds) to MODELS/table1_rows.csv.")
    p.add_argument("--models", required=True, type=Path,
                   help="folder of every fold<k>.pt of one run (outputs/<profile>/models/<task>/<approach>)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="the training data the folds were trained on (default: the folder their checkpoints record)")
    p.add_argument("--step", type=int, nargs=3, default=None, metavar=("X", "Y", "Z"),
                   help="inference step of the maps (default: that of maps already saved for these models, else 4 4 1)")
    p.add_argument("--penumbra-label", type=int, default=None, help="SPES ground truth with two labels: the penumbra value")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: cuda, then mps, then cpu)")
    p.add_argument("--batch-size", type=int, default=None, help="patches per forward pass (default 64 on a CPU, 2048 on CUDA)")
    _add_reuse_flags(p, "stop and say what differs")
    p.set_defaults(func=_cmd_postprocess)


def _add_segment(sub) -> None:
    p = sub.add_parser("segment", help="segment one case, a folder of cases or an ISLES 2015 or 2022 folder with a "
                       "trained models folder",
                       description="symmetric modalities -> ensemble prediction -> threshold and minimum size -> "
                       "OUT/<case>/probability.nii.gz and OUT/<case>/mask.nii.gz with the input's header, and "
                       "OUT/segmentation_summary.csv (one row per case). A re-run skips finished cases.")
    p.add_argument("input", type=Path, nargs="?",
                   help="an ISLES 2015 case folder, a folder of case folders, or an ISLES 2015 folder (see --split); "
                   "ISLES22: a BIDS root (either layout) or one sub-* folder")
    p.add_argument("out", type=Path, help="output folder (not inside INPUT)")
    p.add_argument("--models", required=True, type=Path, help="folder of fold<k>.pt (outputs/<profile>/models/<task>/<approach>)")
    p.add_argument("--task", required=True, type=str.upper, choices=(*TASKS, ISLES22),
                   help="SISS or SPES, or ISLES22 (the models' recorded modalities say which images a case needs; "
                   "outputs lie on the DWI grid)")
    for flag in _MODALITY_FLAGS:
        p.add_argument(f"--{flag}", type=Path, default=None, metavar="FILE",
                       help=f"{_MODALITY_FLAGS[flag]} image (instead of INPUT"
                       + ("; ISLES22: NIfTI or .mha)" if flag in ("dwi", "adc", "flair") else ")"))
    p.add_argument("--split", default=None, choices=SPLITS,
                   help="which split of an ISLES 2015 folder holding both (default: the only one there)")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="only every N-th case from the K-th (cases sorted by id; K in 0..N-1); the summary goes to "
                   "OUT/segmentation_summary.shard-K-of-N.csv")
    p.add_argument("--fast", action="store_true",
                   help="whole-volume inference: one forward pass per model instead of overlapping patches (a "
                   "deviation from the paper's §3.5; about 16x faster than --step 8 8 4 on a CPU)")
    _add_reuse_flags(p, "skip such a case, with the reason in its row")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: cuda, then mps, then cpu)")
    p.add_argument("--step", type=int, nargs=3, default=list(PAPER.inference_step), metavar=("X", "Y", "Z"),
                   help="patch grid step (paper 4 4 1)")
    p.add_argument("--batch-size", type=int, default=None, help="patches per forward pass (default 64 on a CPU, 2048 on CUDA)")
    p.add_argument("--threshold", type=float, default=None, help="override the stored Th")
    p.add_argument("--min-size", type=int, default=None, help="override the stored S_min (voxels)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="number format of the network: auto (default: bf16 on CUDA; on a CPU bf16 only where it is "
                   "native and a short calibration, cached per machine and model width, measured it faster), fp32, "
                   "bf16 (refused on a CPU without native bf16) or fp16; recorded in each case's segmentation.json")
    p.set_defaults(func=_cmd_segment)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score predictions against ISLES 2015 or 2022 ground truth (per-case CSV + "
                       "summary)")
    p.add_argument("pred_dir", type=Path, help="predictions: <case>.nii.gz, <case>/mask.nii.gz or SMIR.<name>.<id>.nii")
    p.add_argument("gt_root", type=Path, help="ISLES 2015 training folder, or ISLES 2022 folder, with ground truth")
    p.add_argument("--task", required=True, type=str.upper, choices=(*TASKS, ISLES22),
                   help="SISS, SPES (Table 1's metrics) or ISLES22 (the 2022 challenge's metrics)")
    p.add_argument("--threshold", type=float, default=None, help="binarise probability maps with p > Th")
    p.add_argument("--min-size", type=int, default=1, help="remove components under this many voxels")
    p.add_argument("--mm", action="store_true", help="HD in mm (default: voxels, as the paper's Table 1)")
    p.add_argument("--penumbra-label", type=int, default=None, help="SPES ground truth with two labels: the penumbra value")
    p.add_argument("--out", type=Path, default=None, help="per-case CSV (default PRED_DIR/evaluation_<task>.csv)")
    p.set_defaults(func=_cmd_evaluate)


class _Version(argparse.Action):
    """``--version``, computed only when asked for (hashing the source is not part of building the parser)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from .provenance import code_commit

        commit = code_commit()  # informational: records store it beside the code version, never compare it
        print(f"strokelib {code_version()}" + (f" (git commit {commit})" if commit else ""))
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strokelib",
        description="Stroke lesion segmentation from multimodal MRI (Clèrigues et al., ISLES 2015 SISS and SPES).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="the package version and a hash of the source that decides results, as records store it; "
                        "in a git checkout also its commit (-dirty: with changes)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(sub)
    _add_run(sub)
    _add_notebooks(sub)
    _add_check_data(sub)
    _add_train(sub)
    _add_postprocess(sub)
    _add_segment(sub)
    _add_evaluate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``strokelib`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "accept_code_change", False):  # read where records are compared, in this process and its kernels
        os.environ[ACCEPT_CODE_CHANGE_ENV] = "1"
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
