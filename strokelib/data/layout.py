"""Where the files of ISLES 2015 SISS and SPES are (paper §2.1, §2.2): the layouts as distributed and re-laid out.

Layout as distributed (``docs/isles2015-data.md#layout-as-distributed``)::

    <root>/<case>/VSD.Brain.XX.O.MR_Flair.<id>/VSD.Brain.XX.O.MR_Flair.<id>.nii    (or .nii.gz)
    <root>/<case>/VSD.Brain.XX.O.OT.<id>/VSD.Brain.XX.O.OT.<id>.nii                ground truth

Case folders are ``1..N`` or ``01..``; ``<root>`` may also be a parent holding ``Training/``, ``Testing/``,
``SISS2015_Training/``, ``SPES2015_Training/`` or ``SISS2015/Training/`` (any letter case). The authors' code
reads a flat re-layout instead: ``training/<case>/<Modality>.nii[.gz]`` and ``OT.nii`` (``testing/Nr<case>`` for
SPES), with optional precomputed ``sym_<Modality>.nii[.gz]`` that ``modalities=`` can ask for. This module only
finds files (``{modality or 'OT': path}`` per case) and names what is wrong; :mod:`strokelib.data.cases` reads them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import ConfigError, DataLayoutError

log = logging.getLogger(__name__)

SISS_MODALITIES = ("Flair", "T1", "T2", "DWI")
SPES_MODALITIES = ("DWI", "CBF", "CBV", "T1c", "T2", "Tmax", "TTP")
TASK_MODALITIES = {"SISS": SISS_MODALITIES, "SPES": SPES_MODALITIES}
LABEL_TOKEN = "OT"
SPLITS = ("training", "testing")
ISLES22 = "ISLES22"
"""The ISLES 2022 task (:mod:`strokelib.data.isles22`): check-data, evaluate and its loader know it."""

# ".MR_<token>.<id>" or ".OT.<id>", optionally followed by the NIfTI suffix; matched on whole segments so that
# MR_T1 never matches MR_T1c.
_VSD_NAME = re.compile(r"\.(?:MR_(?P<token>[A-Za-z0-9]+)|(?P<ot>OT))\.(?P<id>\d+)(?:\.nii(?:\.gz)?)?$")
_CASE_DIR = re.compile(r"^(?P<prefix>Nr)?(?P<number>\d+)$", re.IGNORECASE)
_NIFTI = re.compile(r"\.nii(\.gz)?$")


def task_modalities(task: str) -> tuple[str, ...]:
    """Channel order for ``task`` ('SISS' or 'SPES', any letter case)."""
    key = str(task).upper()
    if key not in TASK_MODALITIES:
        raise ConfigError(f"unknown task {task!r}: use 'SISS' (sub-acute lesion) or 'SPES' (penumbra)")
    return TASK_MODALITIES[key]


def _visible(path: Path) -> bool:
    return not (path.name.startswith(".") or path.name == "__MACOSX")


def _case_number(name: str) -> int | None:
    m = _CASE_DIR.match(name)
    return int(m["number"]) if m else None


def _case_id(name: str) -> str:
    m = _CASE_DIR.match(name)
    return f"{'Nr' if m['prefix'] else ''}{int(m['number'])}"


def _has_case_dirs(folder: Path) -> bool:
    return any(p.is_dir() and _visible(p) and _case_number(p.name) is not None for p in folder.iterdir())


def case_folders(folder: str | Path) -> list[tuple[str, Path]]:
    """``(case id, folder)`` of every numbered case folder directly in ``folder``, in numeric order.

    Folder ``03`` has id ``"3"``, ``Nr3`` has ``"Nr3"``; hidden folders and ``__MACOSX`` are skipped.
    """
    dirs = sorted((p for p in Path(folder).iterdir() if p.is_dir() and _visible(p) and _case_number(p.name) is not None),
                  key=lambda p: (_case_number(p.name), p.name))
    return [(_case_id(p.name), p) for p in dirs]


def resolve_split_folder(root: str | Path, task: str, split: str = "training") -> Path:
    """Find the folder that directly holds the case folders of ``split`` under ``root``.

    ``root`` may be that folder itself or any parent in the layouts listed in the module docstring.
    """
    task = task_modalities(task) and str(task).upper()
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: use 'training' or 'testing'")
    root = Path(root).expanduser()
    if not root.exists():
        raise DataLayoutError(
            f"data root {root} does not exist: unpack ISLES 2015 there (see data/README.md) "
            "or leave data_root empty to use the embedded synthetic dataset"
        )
    if not root.is_dir():
        raise DataLayoutError(f"data root {root} is a file, not a folder: point data_root at the unpacked folder")
    word = split.capitalize()
    candidates = [word, f"{task}2015_{word}", f"{task}2015/{word}", f"ISLES2015/{task}2015_{word}"]
    wanted = [c.lower() for c in candidates]
    other_task = next(t for t in TASK_MODALITIES if t != task)
    # Walk at most three levels; match relative paths case-insensitively. A plain "Training" under a folder
    # named for the other task (SPES2015/Training when task is SISS) belongs to that task.
    found: list[Path] = []
    for depth_glob in ("*", "*/*", "*/*/*"):
        for p in sorted(root.glob(depth_glob)):
            if p.is_dir() and all(_visible(q) for q in p.relative_to(root).parents if q != Path(".")) and _visible(p):
                rel = p.relative_to(root).as_posix().lower()
                if f"{other_task.lower()}2015" in rel:
                    continue
                if any(rel == w or rel.endswith("/" + w) for w in wanted) and _has_case_dirs(p):
                    found.append(p)
        if found:
            break
    if found:
        if len(found) > 1:
            log.info("several %s folders under %s; using %s", split, root, found[0])
        return found[0]
    if _has_case_dirs(root):
        other_split = next(s for s in SPLITS if s != split)
        if re.fullmatch(rf"((siss|spes)2015_)?{other_split}", root.name.lower()):
            raise DataLayoutError(
                f"{root} holds the {other_split} cases but split={split!r} was asked for: pass split={other_split!r}, "
                f"or point data_root at the parent folder that holds both splits"
            )
        return root
    seen = sorted(p.name for p in root.iterdir() if _visible(p))
    hint = "point data_root at the unpacked ISLES 2015 folder"
    if any(f"{other_task.lower()}2015" in name.lower() for name in seen):
        hint = f"this looks like {other_task} data: pass task={other_task!r}, or {hint}"
    raise DataLayoutError(
        f"no {task} {split} cases under {root} (found: {', '.join(seen[:10]) or 'nothing'}). Expected numbered case "
        f"folders (1, 2, ... or 01, ...) directly in it or in one of {', '.join(candidates)}; {hint}"
    )


def _nifti_in(entry: Path, case_id: str) -> Path | None:
    """The image for one VSD entry: the entry itself when it is a file, else the file of the same name inside."""
    if entry.is_file():
        return entry if _NIFTI.search(entry.name) else None
    same_name = [entry / (entry.name + s) for s in (".nii", ".nii.gz") if (entry / (entry.name + s)).is_file()]
    if len(same_name) > 1:
        raise DataLayoutError(
            f"case {case_id}: {entry} holds both {same_name[0].name} and {same_name[1].name}; keep one of them"
        )
    if same_name:
        return same_name[0]
    files = [f for f in entry.iterdir() if f.is_file() and _visible(f) and _NIFTI.search(f.name)]
    return files[0] if len(files) == 1 else None


def scan_case(folder: Path, task: str, case_id: str) -> tuple[dict[str, list[Path]], list[Path]]:
    """Map each modality token (and 'OT') in one case folder to the files that carry it; also list the rest.

    Raises :class:`DataLayoutError` for an image of the other task or a VSD folder without its image.
    """
    names = {m.lower(): m for m in task_modalities(task)}
    other_task = {m.lower() for t, mods in TASK_MODALITIES.items() if t != task for m in mods} - set(names)
    found: dict[str, list[Path]] = {}
    unknown: list[Path] = []
    for entry in sorted(p for p in folder.iterdir() if _visible(p)):
        m = _VSD_NAME.search(entry.name)
        if m:
            key = LABEL_TOKEN if m["ot"] else names.get(m["token"].lower())
            if key is None:
                if m["token"].lower() in other_task:
                    raise DataLayoutError(
                        f"case {case_id}: {entry} is a {m['token']} image, which belongs to the other ISLES 2015 task; "
                        f"check task={task!r} (SISS has {', '.join(SISS_MODALITIES)}; SPES has {', '.join(SPES_MODALITIES)})"
                    )
                unknown.append(entry)
                continue
            image = _nifti_in(entry, case_id)
            if image is None:
                raise DataLayoutError(
                    f"case {case_id}: folder {entry} holds no {entry.name}.nii or .nii.gz; re-extract that image from the archive"
                )
            found.setdefault(key, []).append(image)
            continue
        if entry.is_file() and _NIFTI.search(entry.name):  # the authors' flat layout: <Modality>.nii[.gz], OT.nii
            stem = _NIFTI.sub("", entry.name)
            key = LABEL_TOKEN if stem.upper() == LABEL_TOKEN else names.get(stem.lower())
            if key is None and stem.lower().startswith("sym_") and stem.lower()[4:] in names:
                key = "sym_" + names[stem.lower()[4:]]  # the authors' precomputed symmetric modalities
            if key is not None:
                found.setdefault(key, []).append(entry)
                continue
            if stem.lower() in other_task:
                raise DataLayoutError(
                    f"case {case_id}: {entry} is a {stem} image, which belongs to the other ISLES 2015 task; check task={task!r}"
                )
        unknown.append(entry)
    return found, unknown


def case_files(case_dir: str | Path, task: str, case_id: str | None = None, require_label: bool = False) -> dict[str, Path]:
    """{modality/'OT' → file} of ONE case folder in the ISLES 2015 (or flat) layout, in channel order.

    Raises :class:`DataLayoutError` for a missing or duplicated modality, or a missing ground truth when
    ``require_label``.
    """
    task = str(task).upper()
    modalities = task_modalities(task)
    case_dir = Path(case_dir)
    if not case_dir.is_dir():
        raise DataLayoutError(f"case folder {case_dir} does not exist or is not a folder")
    case_id = case_id or case_dir.name
    found, _ = scan_case(case_dir, task, case_id)
    for key, files in found.items():
        if len(files) > 1:
            raise DataLayoutError(
                f"case {case_id}: {key} is given {len(files)} times ({', '.join(str(f) for f in files)}); keep one of them"
            )
    missing = [m for m in modalities if m not in found]
    if missing:
        raise DataLayoutError(
            f"case {case_id} in {case_dir}: missing {', '.join(missing)} (found {', '.join(sorted(found)) or 'no images'}); "
            f"every {task} case needs {', '.join(modalities)} as VSD.Brain.XX.O.MR_<modality>.<id>/<same name>.nii"
        )
    if require_label and LABEL_TOKEN not in found:
        raise DataLayoutError(
            f"case {case_id} in {case_dir}: no ground truth (VSD.Brain.XX.O.OT.<id>/...nii or OT.nii); "
            "training cases need one, or load this folder with split='testing'"
        )
    order = [*modalities, LABEL_TOKEN, *(f"sym_{m}" for m in modalities)]
    return {key: found[key][0] for key in order if key in found}


def find_isles2015(root: str | Path, task: str, split: str = "training") -> dict[str, dict[str, Path]]:
    """Map case id → {modality or 'OT' → file} for one split, in numeric case order.

    Raises :class:`DataLayoutError` naming the case and the file for a missing or duplicated modality,
    a missing ground truth in the training split, or an empty root.
    """
    task = str(task).upper()
    folder = resolve_split_folder(root, task, split)
    case_dirs = case_folders(folder)
    result: dict[str, dict[str, Path]] = {}
    for i, (case_id, case_dir) in enumerate(case_dirs):
        if case_id in result:
            raise DataLayoutError(
                f"case {case_id} appears twice in {folder} (folders {case_dirs[i - 1][1].name} and {case_dir.name}); keep one"
            )
        result[case_id] = case_files(case_dir, task, case_id, require_label=split == "training")
    if not result:
        raise DataLayoutError(f"{folder} holds no case folders; expected numbered folders 1, 2, ... (or 01, 02, ...)")
    return result


def list_unknown_files(root: str | Path, task: str, split: str = "training") -> list[Path]:
    """Files and folders in the case folders that are neither a modality of ``task`` nor the ground truth."""
    folder = resolve_split_folder(root, task, split)
    unknown: list[Path] = []
    for case_id, case_dir in case_folders(folder):
        unknown += scan_case(case_dir, str(task).upper(), case_id)[1]
    return unknown


def has_split(root: str | Path, task: str, split: str) -> bool:
    """Whether ``root`` holds cases of ``split`` for ``task`` (e.g. a download without the testing archive)."""
    try:
        resolve_split_folder(root, task, split)
    except DataLayoutError:
        return False
    return True
