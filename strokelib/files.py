"""Atomic file writing: write to a temporary name in the same folder, then rename.

An interrupted run therefore never leaves a half-written NIfTI, checkpoint, CSV or figure behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` defaults to the full suffix of ``path`` (``.nii.gz`` stays ``.nii.gz``) so that writers which
    choose a format from the file name keep working. A failed write (a file where a folder should be, no
    permission, disk full) raises :class:`~strokelib.errors.OutputError` naming ``path``, and leaves no temporary.
    """
    path = Path(path)
    if suffix is None:
        suffix = "".join(path.suffixes) or ".tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name.split('.')[0]}-", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)  # mkstemp creates 0600; give the final file the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OutputError:
        raise
    except OSError as exc:  # disk full, quota, a folder where the file should go: say which file and what to do
        raise _output_error(path, exc) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _output_error(path: Path, exc: OSError) -> OutputError:
    blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
    hint = (f"{blocker} is a file, not a folder: choose another output path or move that file" if blocker is not None
            else "check that the folder is writable and the disk has free space, or choose another output path")
    return OutputError(f"cannot write {path} ({type(exc).__name__}: {exc}); {hint}")


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(frame, path: str | os.PathLike, **kwargs) -> Path:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path
