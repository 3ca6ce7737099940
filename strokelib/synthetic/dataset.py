"""Synthetic data, part 5: the embedded default dataset written in the ISLES 2015 layout (paper §2).

Nothing is downloaded: cases are synthesised from the MNI152 templates inside nilearn
(:mod:`strokelib.synthetic.anatomy`, :mod:`strokelib.synthetic.lesions`, :mod:`strokelib.synthetic.pose`,
:mod:`strokelib.synthetic.case`) and written in the ISLES 2015 layout (``docs/isles2015-data.md#layout-as-distributed``),
so :func:`strokelib.data.cases.load_isles2015` reads synthetic and real data alike::

    <root>/SISS2015_Training/<i>/VSD.Brain.XX.O.MR_Flair.<id>/VSD.Brain.XX.O.MR_Flair.<id>.nii.gz
    <root>/SISS2015_Training/<i>/VSD.Brain.XX.O.OT.<id>/VSD.Brain.XX.O.OT.<id>.nii.gz
    <root>/SISS2015_Testing/<i>/...                                   (no OT)
    <root>/synthetic.json                                             ground truth of the generation
    <root>/synthetic_params.json                                      task, sizes, seed, geometry, phenomena, version
    <root>/synthetic_files.json                                       size and content hash of every image
    <root>/synthetic_maps/<split>/<i>/{old_lesion,mimic}.nii.gz        where the phenomena are (uint8 masks)

Randomness: case ``i`` of a split draws from ``default_rng(SeedSequence(seed, spawn_key=(task, split, i)))``, so it is
the same whatever ``n_train``/``n_test``; the gzip writer of nibabel is deterministic, so the same seed gives identical
bytes. The dataset's folder name is keyed by every generator parameter (:func:`dataset_name`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .. import provenance
from ..data.cases import LABEL_TOKEN, task_modalities
from ..errors import ConfigError, DataLayoutError, ProvenanceError
from ..files import atomic_path, file_lock, replace_folder, write_text
from ..progress import progress_bar
from ..settings import DEFAULTS, synthetic_dir
from .anatomy import Geometry
from .case import SyntheticCase, case_phenomena, synthesize_case
from .case import geometry as _geometry
from .lesions import DEFAULT_PHENOMENA, Phenomena, phenomena_for

log = logging.getLogger(__name__)

VERSION = 4  # bump when the generated data change, so ensure_synthetic regenerates old datasets
TRUTH_FILE = "synthetic.json"
PARAMS_FILE = "synthetic_params.json"
FILES_FILE = "synthetic_files.json"  # size and content hash of every image file, recorded at generation
MAPS_DIR = "synthetic_maps"  # phenomenon masks per case, outside the ISLES case folders (the loader never sees them)
PHENOMENON_MAPS = {"old_lesion": "confounder", "mimic": "mimic"}  # file name -> SyntheticCase.maps key
SPLIT_KEYS = {"training": 0, "testing": 1}
TASK_KEYS = {"SISS": 0, "SPES": 1}
VOLUME_RANGE_ML = {task: p.lesion_volume_ml for task, p in DEFAULT_PHENOMENA.items()}  # default lesion volumes


def _check_task(task: str) -> str:
    task_modalities(task)  # raises ConfigError for an unknown task
    return str(task).upper()


def case_rng(task: str, seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of case ``index`` (1-based) of ``split``: independent of how many cases are generated."""
    if split not in SPLIT_KEYS:
        raise ConfigError(f"unknown split {split!r}: use 'training' or 'testing'")
    key = (TASK_KEYS[_check_task(task)], SPLIT_KEYS[split], int(index))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def _tokens(task: str) -> list[str]:
    return [f"MR_{m}" for m in task_modalities(task)] + [LABEL_TOKEN]


def _save_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


def _write_case(
    case: SyntheticCase, folder: Path, task: str, first_id: int, with_label: bool
) -> dict[str, str]:
    """Write one case folder ``<folder>/VSD.Brain.XX.O.<token>.<id>/<same>.nii.gz``; ids increase in token order."""
    arrays = [case.images[m] for m in task_modalities(task)] + ([case.label] if with_label else [])
    names = {}
    for offset, (token, array) in enumerate(zip(_tokens(task), arrays, strict=False)):
        name = f"VSD.Brain.XX.O.{token}.{first_id + offset}"
        _save_nifti(array, case.affine, folder / name / f"{name}.nii.gz")
        names[token] = name
    return names


def _generate_one(task: str, seed: int, split: str, index: int, geometry: str, folder: Path, first_id: int,
                  phenomena: dict) -> dict:
    """Generate and write case ``index`` of ``split``; returns its ground truth (runs in a worker with ``n_jobs``)."""
    case = synthesize_case(task, case_rng(task, seed, split, index), geometry, keep_maps=True, phenomena=phenomena)
    case.truth["files"] = _write_case(case, folder, task, first_id, with_label=split == "training")
    maps = folder.parents[1] / MAPS_DIR / split / folder.name
    for name, key in PHENOMENON_MAPS.items():
        _save_nifti(case.maps[key].astype(np.uint8), case.affine, maps / f"{name}.nii.gz")
    return case.truth


def _params(task: str, n_train: int, n_test: int, seed: int, geometry: str, phenomena=None) -> dict:
    return {
        "task": task,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "seed": int(seed),
        "geometry": str(geometry).lower(),
        "phenomena": phenomena_for(task, phenomena).as_dict(),
        "version": VERSION,
    }


def _read_params(root: Path) -> dict | None:
    try:
        return json.loads((root / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return None


def _check_request(root: Path, task: str, geometry: str, n_train, n_test, n_jobs) -> Geometry:
    geo = _geometry(task, geometry)
    for name, value, least in (("n_train", n_train, 0), ("n_test", n_test, 0), ("n_jobs", n_jobs or 1, 1)):
        if int(value) != value or value < least:
            raise ConfigError(f"make_synthetic_isles: {name}={value!r} must be an integer ≥ {least}")
    if n_train + n_test < 1:
        raise ConfigError("make_synthetic_isles: ask for at least one case (n_train + n_test ≥ 1)")
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and _read_params(root) is None)):
        raise DataLayoutError(
            f"{root} exists and is not a synthetic dataset made by strokelib (no {PARAMS_FILE}); "
            "choose an empty or new folder, or delete it first"
        )
    return geo


def _jobs(tmp: Path, task: str, seed: int, geometry: str, n_train: int, n_test: int, phenomena: dict) -> list[tuple]:
    """One job per case: (task, seed, split, index, geometry, folder, first file id, phenomena)."""
    jobs, next_id = [], 70613 if task == "SISS" else 80613  # VSD-like object ids, unique and increasing per file
    for split, count in (("training", n_train), ("testing", n_test)):
        for index in range(1, int(count) + 1):
            folder = tmp / f"{task}2015_{split.capitalize()}" / str(index)
            jobs.append((task, int(seed), split, index, str(geometry).lower(), folder, next_id, phenomena))
            next_id += len(_tokens(task)) - (split == "testing")
    return jobs


def _run_jobs(jobs: list[tuple], n_jobs: int, task: str, progress: bool) -> list[dict]:
    """Generate every case, in this process or in ``n_jobs`` spawned ones (same bytes either way)."""
    bar = progress_bar(total=len(jobs), desc=f"synthetic {task}", disable=not progress, leave=False)
    if n_jobs == 1:
        truths = []
        for job in jobs:
            truths.append(_generate_one(*job))
            bar.update()
    else:
        # spawn, not fork: forking a process that runs torch or Jupyter threads can deadlock.
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_generate_one, *job) for job in jobs]
            for future in futures:
                future.result()
                bar.update()
            truths = [f.result() for f in futures]
    bar.close()
    return truths


def _finish(tmp: Path, root: Path, jobs: list[tuple], truths: list[dict], params: dict, geo: Geometry) -> None:
    """Write the ground truth, the file fingerprints and (last: its presence means complete) the parameters, then
    rename the temporary folder onto ``root``."""
    cases: dict[str, dict] = {"training": {}, "testing": {}}
    for job, truth in zip(jobs, truths, strict=True):
        cases[job[2]][str(job[3])] = truth
    task = params["task"]
    truth = {**params, "modalities": list(task_modalities(task)), "spacing_mm": geo.spacing,
             "label": "SISS: whole lesion" if task == "SISS" else "SPES: penumbra label, core included",
             "cases": cases}
    write_text(tmp / TRUTH_FILE, json.dumps(truth, indent=1))
    write_text(tmp / FILES_FILE, json.dumps(_file_fingerprints(tmp), indent=1))
    write_text(tmp / PARAMS_FILE, json.dumps(params, indent=1))
    replace_folder(tmp, root)


def make_synthetic_isles(
    root: str | os.PathLike,
    task: str,
    n_train: int,
    n_test: int = 0,
    seed: int = 0,
    geometry: str = "paper",
    progress: bool = True,
    n_jobs: int | None = None,
    phenomena: dict | Phenomena | None = None,
) -> Path:
    """Write ``n_train`` training and ``n_test`` testing synthetic cases in the ISLES 2015 layout under ``root``.

    Training cases go to ``root/<TASK>2015_Training/<i>/`` with their ground truth (OT), testing cases to
    ``root/<TASK>2015_Testing/<i>/`` without. ``geometry`` is ``"paper"`` (SISS 230×230×153/154 at 1 mm, §2.1; SPES
    96×110×72 at 2 mm: the paper's §2.2 gives 96×110×71, a public loader of the released data 72) or ``"small"`` (SISS 116×116×78 at 2 mm, SPES 48×56×36 at 4 mm). ``phenomena``
    overrides fields of the task's :class:`~strokelib.synthetic.lesions.Phenomena` (e.g. ``{"mimic_p": 0}``).
    Everything is generated into a temporary folder next to ``root`` and renamed onto it at the end, so an interrupted
    run leaves nothing half-done; an existing synthetic dataset at ``root`` is replaced. Generation and replacement
    hold the lock ``<root>.lock`` next to ``root``, so parallel calls for one ``root`` replace it one at a time.
    ``n_jobs > 1`` generates cases in that many processes (same bytes as ``n_jobs=1``); ``None`` uses up to 4 cores
    when the job is large (the paper SISS geometry) and one process otherwise. Returns ``root``.
    """
    task = _check_task(task)
    root = Path(root).expanduser()
    geo = _check_request(root, task, geometry, n_train, n_test, n_jobs)
    with _dataset_lock(root):
        return _generate(root, task, geo, n_train, n_test, seed, geometry, progress, n_jobs, phenomena)


def _dataset_lock(root: Path) -> contextlib.AbstractContextManager[Path]:
    """The inter-process lock of the dataset folder ``root``: a file next to it, not inside the folder it replaces."""
    return file_lock(root.parent / f"{root.name}.lock", f"synthetic dataset {root}")


def _generate(root: Path, task: str, geo: Geometry, n_train: int, n_test: int, seed: int, geometry: str,
              progress: bool, n_jobs: int | None, phenomena: dict | Phenomena | None) -> Path:
    """Generate the dataset into a temporary folder and rename it onto ``root`` (the caller holds the lock)."""
    params = _params(task, n_train, n_test, seed, geometry, phenomena)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is an ordinary folder
    jobs = _jobs(tmp, task, seed, geometry, n_train, n_test, params["phenomena"])
    if n_jobs is None:  # worker start-up (~5 s) only pays off on big jobs
        n_jobs = min(4, os.cpu_count() or 1) if np.prod(geo.shape) * len(jobs) > 5e7 else 1
    n_jobs = min(int(n_jobs), len(jobs))
    log.info("generating %d %s %s-geometry synthetic cases (seed %d, %d process%s) into %s", len(jobs), task,
             geometry, seed, n_jobs, "es" if n_jobs > 1 else "", root)
    try:
        truths = _run_jobs(jobs, n_jobs, task, progress)
        _finish(tmp, root, jobs, truths, params, geo)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def dataset_name(task: str, n_train: int, n_test: int = 0, seed: int = 0, geometry: str = "paper",
                 phenomena: dict | Phenomena | None = None) -> str:
    """The folder name of a synthetic dataset, keyed by every generator parameter and :data:`VERSION`, e.g.
    ``SPES_paper_train30_test5_seed0_v4``; phenomena other than the task's defaults add a short hash of them
    (``..._v4_ph1a2b3c4d``). Datasets made with other parameters live side by side."""
    p = _params(_check_task(task), n_train, n_test, seed, geometry, phenomena)
    name = f"{p['task']}_{p['geometry']}_train{p['n_train']}_test{p['n_test']}_seed{p['seed']}_v{p['version']}"
    if p["phenomena"] != DEFAULT_PHENOMENA[p["task"]].as_dict():  # typed by phenomena_for: 0 and 0.0 are one name
        name += "_ph" + hashlib.blake2b(json.dumps(p["phenomena"], sort_keys=True).encode(), digest_size=4).hexdigest()
    return name


def _file_fingerprints(root: Path) -> dict[str, str]:
    return {f.relative_to(root).as_posix(): provenance.file_digest(f)
            for f in sorted(root.rglob("*.nii*")) if f.is_file()}


def _check_unchanged(folder: Path, stored: dict, wanted: dict) -> None:
    """Raise :class:`~strokelib.errors.ProvenanceError` unless the synthetic dataset ``folder`` was made with the
    parameters ``wanted`` and every image file still has the fingerprint recorded at generation."""
    fix = f"delete {folder} to generate it again"
    provenance.check(f"synthetic dataset {folder}", stored, wanted, fix)
    files = provenance.read_record(folder / FILES_FILE)
    if files is not None and _file_fingerprints(folder) != files:
        changed = sorted(set(files.items()) ^ set(_file_fingerprints(folder).items()))
        raise ProvenanceError(
            f"synthetic dataset {folder}: {len({k for k, _ in changed})} image files changed since it was generated "
            f"(e.g. {changed[0][0]}); {fix}"
        )


def ensure_synthetic(
    task: str,
    n_train: int,
    n_test: int = 0,
    seed: int = 0,
    geometry: str = "paper",
    base_dir: str | os.PathLike = "data/synthetic",
    progress: bool = True,
    n_jobs: int | None = None,
    phenomena: dict | Phenomena | None = None,
) -> Path:
    """The synthetic dataset folder ``base_dir/<dataset_name(...)>``, generated with :func:`make_synthetic_isles` when
    missing and reused otherwise.

    The folder is keyed by every generator parameter (:func:`dataset_name`), so runs with other parameters never
    regenerate each other's data. A folder is reused only when its stored parameters and the fingerprint of every
    image file (size and content hash, recorded at generation) still match; a changed folder raises
    :class:`~strokelib.errors.ProvenanceError` instead of being used or replaced. Safe in parallel: a missing
    dataset is checked for and generated under the lock ``<folder>.lock``, so of several processes asking for it at
    once one generates it and the others wait, then reuse it. An existing dataset is checked without the lock (it
    is never replaced here), so a read-only copy still works.
    """
    task = _check_task(task)
    _geometry(task, geometry)
    folder = Path(base_dir).expanduser() / dataset_name(task, n_train, n_test, seed, geometry, phenomena)
    wanted = _params(task, n_train, n_test, seed, geometry, phenomena)
    stored = _read_params(folder) if folder.is_dir() else None
    if stored is None:
        # Check again under the lock: a parallel run (several `strokelib train --fold K`) may have generated it while
        # this one waited, and must then be reused, not replaced under the feet of its reader.
        with _dataset_lock(folder):
            stored = _read_params(folder) if folder.is_dir() else None
            if stored is None:
                log.info("no synthetic %s dataset in %s yet: generating it", task, folder)
                geo = _check_request(folder, task, geometry, n_train, n_test, n_jobs)
                return _generate(folder, task, geo, n_train, n_test, seed, geometry, progress, n_jobs, phenomena)
    _check_unchanged(folder, stored, wanted)
    log.info("reusing synthetic %s dataset in %s (%d training, %d testing, seed %d)", task, folder, n_train, n_test, seed)
    return folder


def phenomenon_masks(root: str | os.PathLike, case, split: str = "training") -> dict[str, np.ndarray]:
    """Where the phenomena of a synthetic case are: ``{"old_lesion": mask, "mimic": mask}``, bool arrays on the case's
    (RAS+) grid, read from ``<root>/synthetic_maps/<split>/<case id>/``. Raises :class:`DataLayoutError` when the
    dataset has no such maps (real data, or a synthetic set from before they were written)."""
    from ..files import read_on_case_grid

    folder = Path(root).expanduser() / MAPS_DIR / split / case.case_id
    if not folder.is_dir():
        raise DataLayoutError(f"{folder} not found: {root} is not a synthetic dataset with phenomenon maps "
                              f"(real data has none; regenerate an older synthetic set)")
    return {name: read_on_case_grid(folder / f"{name}.nii.gz", case, f"{name} mask") > 0.5 for name in PHENOMENON_MAPS}


def read_truth(root: str | os.PathLike) -> dict:
    """The ground truth of a synthetic dataset (``root/synthetic.json``): per split and case id (``"1"``, ...) the pose
    (rotation_deg, translation_mm, scale, midsagittal_plane point/normal in world mm and voxels), lesion side,
    territory and volume in mL, whether it has a confounder, and the file names."""
    path = Path(root).expanduser() / TRUTH_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataLayoutError(
            f"{path} not found: {root} is not a synthetic dataset; generate one with make_synthetic_isles or ensure_synthetic"
        ) from None
    except ValueError as exc:
        raise DataLayoutError(
            f"{path} is not valid JSON ({exc}); delete {root} and generate it again"
        ) from exc


def phenomena_table(root: str | os.PathLike, split: str = "training") -> pd.DataFrame:
    """Which case carries which phenomenon (:mod:`strokelib.synthetic.lesions`), from the generator's ground truth:
    one row per case with the lesion volume and side, the old lesion's and the symmetric mimics' volumes (mL), and
    the phenomena by name (``small lesion``, ``old lesion``, ``symmetric mimics``; empty when none)."""
    cases = read_truth(root)["cases"][split]
    rows = [{"case": case_id, "lesion_ml": t.get("lesion_volume_ml"), "lesion_side": t["lesion_side"],
             "old_lesion_ml": t.get("confounder_volume_ml", 0.0), "mimic_pairs": t.get("mimic_pairs", 0),
             "mimic_ml": t.get("mimic_volume_ml", 0.0), "phenomena": ", ".join(case_phenomena(t))}
            for case_id, t in sorted(cases.items(), key=lambda item: int(item[0]))]
    return pd.DataFrame(rows).set_index("case")


def resolve_data_root(
    data_root: str | Path | None,
    task: str,
    geometry: str = DEFAULTS.synthetic_geometry,
    n_train: int = DEFAULTS.n_train,
    n_test: int = DEFAULTS.n_test,
    seed: int = DEFAULTS.seed,
    root: str | Path | None = None,
    phenomena: dict | None = None,
) -> Path:
    """The data folder a notebook reads: ``data_root`` when given (real ISLES 2015), else the embedded synthetic
    dataset under ``data/synthetic/``, generated on first use and reused afterwards; ``phenomena`` overrides fields of
    its :class:`~strokelib.synthetic.lesions.Phenomena` (another set of phenomena is another dataset folder). The
    environment variable ``STROKELIB_SYNTHETIC_DIR`` moves the synthetic sets elsewhere (`make figures` uses it to
    start from no data at all)."""
    if data_root:
        path = Path(data_root).expanduser()
        if not path.exists():
            raise ConfigError(f"data_root {path} does not exist; unpack ISLES 2015 there or leave data_root empty for synthetic data")
        return path
    return ensure_synthetic(task, n_train=n_train, n_test=n_test, seed=seed, geometry=geometry,
                            base_dir=synthetic_dir(root), phenomena=phenomena or None)
