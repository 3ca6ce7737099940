"""Provenance of reused results: what produced a checkpoint (§3.4), a probability map (§3.5) or a generated dataset.

strokelib reuses expensive results instead of recomputing them (fold checkpoints, probability maps, the symmetric
modality cache, the synthetic datasets). Each one is stored with a *record* of what produced it: the data (the
resolved data folder and, for every case, a fingerprint of each file: its size and a content hash), every setting
that affects it, and for probability maps the hashes of the model files, the patch shape and the step.

One rule holds everywhere:

* a stored result is reused only when its record equals the record of what would produce it now;
* where a result lives is keyed by its inputs whenever they are known before computing (synthetic datasets by their
  generator parameters, symmetric modalities by a hash of the input arrays and settings, probability maps by the
  model set), so other inputs compute into another place instead of meeting an old result;
* a stored result whose record differs is never reused and never silently overwritten: the run stops with a
  :class:`~strokelib.errors.ProvenanceError` that says what differs and what to do (choose another ``outputs_dir``,
  or pass ``fresh`` to recompute it in place).

A moved copy of the same files is the same data: fingerprints decide, the data folder is recorded to be shown.
Every record also holds the code version (:func:`code_version`): a result made by another version of strokelib gets
its own message and is reused only with ``STROKELIB_ACCEPT_CODE_CHANGE=1`` (``--accept-code-change``). Beside it, a
record made from a git checkout holds the commit (:func:`code_commit`, key ``code_commit``), to be read, never
compared: a commit that changes no module of :data:`RESULT_MODULES` keeps every result reusable.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import ProvenanceError

_CHUNK = 1 << 20
CODE_KEY = "code"
COMMIT_KEY = "code_commit"
NOT_COMPARED = ("data_root", COMMIT_KEY)
"""Record keys shown but never compared: where the data lay (fingerprints decide) and the git commit."""
ACCEPT_CODE_CHANGE_ENV = "STROKELIB_ACCEPT_CODE_CHANGE"


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return f"{size}:{h.hexdigest()}"


def file_digest(path: str | os.PathLike) -> str:
    """``"<size in bytes>:<blake2b hash of the content>"`` of one file (cached per path, size and mtime)."""
    path = Path(path)
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def array_digest(*arrays) -> str:
    """Hash of in-memory arrays (shape, dtype and bytes), for cases that were not read from files."""
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()


RESULT_MODULES = (
    "config", "files", "data.cases", "data.geometry", "data.isles22", "data.layout", "data.new_cases",
    "preprocessing.normalisation", "preprocessing.symmetric", "sampling.centres", "sampling.patches",
    "model.sunet", "model.losses", "model.checkpoints", "model.precision", "training.loop", "training.cross_validation",
    "inference.patches", "inference.whole_volume", "inference.maps", "inference.postprocessing", "inference.segment",
)
"""The modules whose code decides a checkpoint, a map or a segmentation (loading, preparation, sampling, the network,
training, inference, post-processing). Figures, tables, the CLI and the docs can change without invalidating them;
synthetic datasets carry a version of their own."""


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``"<package version>+<hash of the source of RESULT_MODULES>"``: what a record stores as the code that made it.

    Line endings are normalised, so a checkout with Windows line endings hashes the same; a module that cannot be
    read counts as missing rather than stopping the command.
    """
    from . import __version__

    package = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=6)
    for name in RESULT_MODULES:
        h.update(name.encode())
        try:
            h.update((package / f"{name.replace('.', '/')}.py").read_bytes().replace(b"\r\n", b"\n"))
        except OSError:
            h.update(b"missing")
    return f"{__version__}+{h.hexdigest()}"


@functools.lru_cache(maxsize=1)
def code_commit() -> str | None:
    """The git commit of the checkout strokelib runs from (:func:`git_commit` of the package's parent folder); None
    for an installed strokelib, whose parent folder (site-packages) is no checkout, or without git.

    Informational: records store it beside :func:`code_version` (:func:`with_commit`) and nothing compares it.
    """
    return git_commit(Path(__file__).resolve().parent.parent)


def git_commit(root: str | os.PathLike) -> str | None:
    """The short hash of the commit checked out in ``root`` (the top of a git work tree: it holds ``.git``), with
    ``-dirty`` appended when tracked files differ from it (untracked files do not count, as for
    ``git describe --dirty``); None when ``root`` is not such a folder or git cannot tell."""
    root = Path(root)
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if status.returncode != 0 or status.stdout.strip() else "")


def with_commit(record: Mapping) -> dict:
    """``record`` with :data:`COMMIT_KEY` beside :data:`CODE_KEY`, at its top level and in the records it nests (a
    segmentation's ``provenance``), when :func:`code_commit` knows one; as it is otherwise."""
    commit = code_commit()
    if commit is None:
        return dict(record)
    out = {k: with_commit(v) if isinstance(v, Mapping) and CODE_KEY in v else v for k, v in record.items()}
    return out | ({COMMIT_KEY: commit} if CODE_KEY in out else {})


def _accepts_code_change() -> bool:
    return os.environ.get(ACCEPT_CODE_CHANGE_ENV, "").strip().lower() in {"1", "true", "yes"}


def case_fingerprint(case) -> dict[str, str]:
    """{modality or 'OT': file digest} of one case, or ``{"arrays": hash}`` for a case built in memory."""
    files = {str(k): Path(v) for k, v in (getattr(case, "files", None) or {}).items()}
    if files and all(p.is_file() for p in files.values()):
        return {k: file_digest(p) for k, p in sorted(files.items())}
    return {"arrays": array_digest(case.images, case.label)}


def data_fingerprint(cases: Iterable) -> dict[str, dict[str, str]]:
    """{case id: :func:`case_fingerprint`} for a set of cases."""
    return {str(c.case_id): case_fingerprint(c) for c in cases}


def data_root(cases: Sequence) -> str:
    """The folder that holds the cases' files (their common parent), resolved; ``"in memory"`` without files."""
    paths = [Path(p).resolve() for c in cases for p in (getattr(c, "files", None) or {}).values()]
    if not paths:
        return "in memory"
    common = Path(os.path.commonpath([str(p) for p in paths]))
    return str(common if len(cases) > 1 or common.is_dir() else common.parent)


def digest(record) -> str:
    """A short stable hash of a JSON-able record (settings, a data fingerprint, ...)."""
    text = json.dumps(record, sort_keys=True, default=_jsonable)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def normalised(record):
    """``record`` as JSON would read it back (tuples become lists), so stored and new records compare equal."""
    return json.loads(json.dumps(record, sort_keys=True, default=_jsonable))


def differences(stored: Mapping, wanted: Mapping, limit: int = 4) -> list[str]:
    """Human-readable ``key: stored ≠ wanted`` for the top-level keys that differ (data keys summarised)."""
    stored, wanted = normalised(dict(stored)), normalised(dict(wanted))
    out = []
    for key in wanted:
        if stored.get(key) == wanted[key]:
            continue
        if key == "data":
            out.append(describe_data_change(stored.get("data") or {}, wanted["data"]))
        elif key not in NOT_COMPARED:
            out.append(f"{key}: {_short(stored.get(key))} ≠ {_short(wanted[key])}")
    return out[:limit]


def describe_data_change(stored: Mapping, wanted: Mapping) -> str:
    """One sentence on how two data fingerprints differ (cases added, removed, or with other files)."""
    added = sorted(set(wanted) - set(stored), key=_natural)
    removed = sorted(set(stored) - set(wanted), key=_natural)
    changed = sorted((c for c in set(stored) & set(wanted) if stored[c] != wanted[c]), key=_natural)
    parts = []
    if changed:
        parts.append(f"cases {_ids(changed)} have other files")
    if added:
        parts.append(f"cases {_ids(added)} are new")
    if removed:
        parts.append(f"cases {_ids(removed)} are gone")
    return "data: " + ("; ".join(parts) or "the data differ")


def _ids(ids: list[str]) -> str:
    return ", ".join(ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")


def _natural(case_id: str):
    digits = "".join(ch for ch in case_id if ch.isdigit())
    return (int(digits) if digits else 0, case_id)


def _short(value, width: int = 60) -> str:
    text = json.dumps(value, default=_jsonable)
    return text if len(text) <= width else text[: width - 1] + "…"


def read_record(path: str | os.PathLike) -> dict | None:
    """The JSON record at ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_record(path: str | os.PathLike, record: Mapping) -> Path:
    """Write a record as JSON, atomically, with the git commit beside the code version (:func:`with_commit`)."""
    from .files import write_text

    return write_text(path, json.dumps(normalised(with_commit(record)), indent=1, sort_keys=True) + "\n")


def data_mismatch_message(what: str, stored: Mapping, wanted: Mapping) -> str:
    """``<what> was made from <root> (N cases), not <root> (M cases)``, or the per-case change when the roots agree."""
    stored_root, wanted_root = stored.get("data_root", "unknown data"), wanted.get("data_root")
    n_stored, n_wanted = len(stored.get("data") or {}), len(wanted.get("data") or {})
    if stored_root != wanted_root:
        return (f"{what} was made from {display(stored_root)} ({n_stored} cases), not {display(wanted_root)} "
                f"({n_wanted} cases)")
    return f"{what} was made from other data in {display(wanted_root)} ({describe_data_change(stored.get('data') or {}, wanted['data'])[6:]})"


def check(what: str, stored: Mapping | None, wanted: Mapping, fix: str) -> None:
    """Raise :class:`ProvenanceError` unless ``stored`` equals ``wanted`` (both records of the same result).

    ``what`` names the result (``"fold 0 in outputs/demo/models/SPES/proposed"``); ``fix`` says what to do.
    """
    if stored is None:
        raise ProvenanceError(f"{what} has no record of what produced it (made by an older strokelib?); {fix}")
    s, w = normalised(dict(stored)), normalised(dict(wanted))
    if _compared(s) == _compared(w):  # a moved copy of the same files is the same data; the commit is information
        return
    if only_code_differs(s, w):
        if _accepts_code_change():
            return
        made_by = (s.get(CODE_KEY) or "one that did not record its version") + (
            f", git commit {s[COMMIT_KEY]}" if s.get(COMMIT_KEY) else "")
        raise ProvenanceError(f"{what} was made by another version of strokelib ({made_by}; this is {w[CODE_KEY]}), "
                              f"from the same data and settings: {fix}; or reuse it as it is with "
                              f"--accept-code-change ({ACCEPT_CODE_CHANGE_ENV}=1)")
    if "data" in w and s.get("data") != w["data"]:
        raise ProvenanceError(f"{data_mismatch_message(what, s, w)}: {fix}")
    raise ProvenanceError(f"{what} was made with other settings ({'; '.join(differences(s, w))}): {fix}")


def _compared(record: dict) -> dict:
    """The part of a record that decides reuse: all but :data:`NOT_COMPARED`."""
    return {k: v for k, v in record.items() if k not in NOT_COMPARED}


def only_code_differs(stored: Mapping, wanted: Mapping) -> bool:
    """Whether two records differ in the code version only (the data folder and the commit aside)."""
    stored, wanted = normalised(dict(stored)), normalised(dict(wanted))
    return CODE_KEY in wanted and stored.get(CODE_KEY) != wanted[CODE_KEY] and \
        _compared({**stored, CODE_KEY: None}) == _compared({**wanted, CODE_KEY: None})


def matches(stored: Mapping | None, wanted: Mapping) -> bool:
    """Whether a stored record equals the wanted one (the data folder and the commit aside: fingerprints decide;
    another code version only with ``STROKELIB_ACCEPT_CODE_CHANGE=1``)."""
    if stored is None:
        return False
    s, w = _compared(normalised(dict(stored))), _compared(normalised(dict(wanted)))
    return s == w or (only_code_differs(s, w) and _accepts_code_change())


def display(path) -> str:
    """A path relative to the working directory when it lies inside it (short messages), else as is."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, TypeError, OSError):
        return str(path)
