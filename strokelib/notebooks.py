"""Run the numbered notebooks (paper §2–§4, one notebook per group of steps) headless with papermill under a profile,
plus the helpers every notebook's set-up cells call. The settings helpers (project root, profiles) live in
:mod:`strokelib.settings`; the data a notebook reads, real or generated, comes from
:func:`strokelib.synthetic.dataset.resolve_data_root`."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path

from .errors import ConfigError, NotebookError
from .progress import PROGRESS_ENV
from .settings import (
    SETTINGS,
    load_profile,
    project_root,
    unknown_hint,
    validate,
)
from .workspace import WORKDIR_ENV, notebooks_folder

log = logging.getLogger(__name__)

ISLES22_NOTEBOOKS = ("06",)
"""The notebooks about ISLES 2022 (``--task ISLES22``); the others (01–05) follow the paper on ISLES 2015 (SISS or
SPES, the ``task`` setting). A run without ``only`` executes the ISLES 2015 notebooks."""
KERNEL_NAME = "strokelib"
TCP_WARNING = "Kernel is running over TCP without encryption"
"""ipykernel's start-up warning, dropped from the kernel's stderr: papermill's kernel listens on localhost only."""


def task_notebooks(task: str) -> list[str]:
    """The numbers of the notebooks a run for ``task`` executes: ``ISLES22`` → 06, ``SISS`` or ``SPES`` → 01–05."""
    numbers = [p.name[:2] for p in notebook_paths()]
    if str(task).upper() == "ISLES22":
        return [n for n in numbers if n in ISLES22_NOTEBOOKS]
    return [n for n in numbers if n not in ISLES22_NOTEBOOKS]


def notebook_paths(root: str | Path | None = None, only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in order, optionally only those whose number is in ``only``: the working
    folder's ``notebooks/``, or those strokelib carries (:func:`strokelib.workspace.notebooks_folder`)."""
    folder = notebooks_folder(project_root(root))
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {f"{int(n):02d}" for n in only}
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise ConfigError(f"no notebook numbered {', '.join(sorted(unknown))} in {folder}; have {', '.join(p.name[:2] for p in paths)}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


def run_notebooks(
    profile: str = "smoke",
    only: list[str] | None = None,
    parameters: dict | None = None,
    output_dir: str | Path | None = None,
    kernel_name: str | None = None,
    root: str | Path | None = None,
    progress: bool = True,
) -> list[Path]:
    """Execute the numbered notebooks in order with papermill; stop at the first failure: those numbered in
    ``only``, else the ISLES 2015 notebooks 01–05 (:func:`task_notebooks`; notebook 06, ISLES 2022, runs when named).

    Executed copies go to ``outputs/notebooks/<profile>/`` (outside the source tree); the working directory is
    the working folder (``root``, default :func:`project_root`: the repository root in a checkout, else
    ``$STROKELIB_WORKDIR`` or the current folder), which the kernels also get as ``$STROKELIB_WORKDIR`` so that
    their ``project_root()`` names it. Each notebook gets the profile's settings it declares in its ``parameters`` cell;
    ``parameters`` (``-p``) must name a setting some notebook of this run declares. With ``progress`` a bar per
    notebook shows the cell running and the elapsed time, and the notebooks' own stdout/stderr (training and
    prediction logs) reach this process's. On failure a :class:`NotebookError` carries the failing cell and its
    traceback.
    """
    papermill_log = logging.getLogger("papermill")
    level = papermill_log.level
    papermill_log.setLevel(logging.WARNING)  # its "Input Notebook: ..." lines repeat ours
    root = project_root(root)
    try:  # the kernels inherit both: no progress widgets frozen in the copies; project_root() is this run's root
        with _environment({PROGRESS_ENV: "off", WORKDIR_ENV: str(root)}):
            return _run(profile, only, parameters, output_dir, kernel_name, root, progress)
    finally:
        papermill_log.setLevel(level)


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for the duration of the block (kernels started inside inherit them)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(profile, only, parameters, output_dir, kernel_name, root, progress) -> list[Path]:
    """:func:`run_notebooks` with papermill's own INFO log silenced."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    # root is $STROKELIB_WORKDIR now: every look-up names the same folder
    paths = notebook_paths(only=only or task_notebooks("SISS"))
    declared = {path: set(pm.inspect_notebook(str(path))) for path in paths}
    in_run = set().union(*declared.values())
    unused = [k for k in parameters or {} if k not in in_run]
    if unused:
        reason = {k: " (read only by notebooks outside this run or by strokelib train)" for k in unused if k in SETTINGS}
        names = ", ".join(f"{k}{reason[k]}" if k in reason else unknown_hint([k], in_run | set(SETTINGS)) for k in unused)
        raise ConfigError(f"no notebook in this run has a parameter named {names}; check the spelling or --only")
    params = {**load_profile(profile), **validate(parameters or {}, "parameters (-p)")}
    name = Path(profile).stem
    out_dir = Path(output_dir) if output_dir else root / "outputs" / "notebooks" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel = kernel_name or _kernel_for_this_python()
    done = []
    for number, path in enumerate(paths, 1):
        target = out_dir / path.name
        log.info("[%d/%d] running %s with profile %s", number, len(paths), path.name, name)
        start = time.perf_counter()
        shown = ({"progress_bar": {"desc": path.name, "unit": "cell"}, "stdout_file": sys.stdout, "stderr_file": sys.stderr}
                 if progress else {"progress_bar": False})
        try:
            pm.execute_notebook(
                str(path), str(target), parameters={k: v for k, v in params.items() if k in declared[path]},
                kernel_name=kernel, cwd=str(root), log_output=False, kernel_manager_class=_quiet_kernel_manager(),
                **shown,
            )
        except PapermillExecutionError as exc:
            raise NotebookError(
                f"{path.name} failed in cell {exc.exec_count} under profile {name!r} "
                f"(executed copy: {target}):\n{exc.ename}: {exc.evalue}\n{_strip_ansi(''.join(exc.traceback))}"
            ) from None
        log.info("[%d/%d] %s done in %.1f s", number, len(paths), path.name, time.perf_counter() - start)
        relative_paths(target, root)
        rebase_links(target, path.parent)
        done.append(target)
    return done


def forward_kernel_stderr(fd: int, sink) -> None:
    """Copy the kernel process's stderr (file descriptor ``fd``) line by line to ``sink``, without ipykernel's
    :data:`TCP_WARNING`; returns when the kernel closes it."""
    with os.fdopen(fd, "r", errors="replace") as stream:
        for line in stream:
            if TCP_WARNING in line:
                continue
            try:
                sink.write(line)
                sink.flush()
            except (ValueError, OSError):  # the sink was closed (e.g. a test's captured stream)
                return


_QUIET_MANAGER: list[type] = []


def _quiet_kernel_manager() -> type:
    """jupyter_client's ``AsyncKernelManager`` with the kernel's stderr piped through :func:`forward_kernel_stderr`."""
    if not _QUIET_MANAGER:
        from jupyter_client.manager import AsyncKernelManager

        class QuietKernelManager(AsyncKernelManager):
            async def start_kernel(self, **kw):
                if "stderr" in kw:
                    return await super().start_kernel(**kw)
                read, write = os.pipe()
                threading.Thread(target=forward_kernel_stderr, args=(read, sys.stderr), daemon=True).start()
                try:
                    return await super().start_kernel(stderr=write, **kw)
                finally:
                    os.close(write)  # the kernel holds its own copy
                    if isinstance(self._launch_args, dict):  # a restart opens a new pipe
                        self._launch_args.pop("stderr", None)

        _QUIET_MANAGER.append(QuietKernelManager)
    return _QUIET_MANAGER[0]


def relative_paths(executed: str | Path, root: str | Path) -> Path:
    """Rewrite an executed notebook so that paths inside the repository read relative to it (``./outputs/...``):
    logs and papermill's metadata name absolute paths, which say nothing on another machine."""
    from .files import write_text

    executed, root = Path(executed), str(Path(root).resolve())
    text = executed.read_text()
    cleaned = text.replace(root + "/", "./").replace(root, ".")
    if cleaned != text:
        write_text(executed, cleaned)
    return executed


_LINK = re.compile(r"(\]\()(?!https?:|mailto:|#)([^)#\s]+)(#[^)\s]*)?(\))")


def rebase_links(executed: str | Path, source_dir: str | Path) -> Path:
    """Rewrite the relative links of an executed notebook's markdown so they resolve from where the copy lies: a link
    written for ``notebooks/`` (``../docs/x.md``) becomes ``../x.md`` in ``docs/notebooks/``. Links to files that do
    not exist are left as they are (a test of the executed copies reports them)."""
    import nbformat

    from .files import write_text

    executed, source_dir = Path(executed), Path(source_dir).resolve()
    nb = nbformat.read(executed, as_version=4)

    def rebase(match: re.Match) -> str:
        target = source_dir / match.group(2)
        if not target.exists():
            return match.group(0)
        moved = os.path.relpath(target.resolve(), executed.parent.resolve())
        return f"{match.group(1)}{Path(moved).as_posix()}{match.group(3) or ''}{match.group(4)}"

    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            new = _LINK.sub(rebase, cell.source)
            changed |= new != cell.source
            cell.source = new
    if changed:
        write_text(executed, nbformat.writes(nb))
    return executed


def rebase_folder(folder: str | Path, was: str | Path) -> list[Path]:
    """:func:`rebase_links` for every executed notebook copied from ``was`` into ``folder``."""
    return [rebase_links(path, was) for path in sorted(Path(folder).glob("*.ipynb"))]


def show_source(obj, start: str | None = None, lines: int | None = None):
    """The package's own source of a function or class, syntax-highlighted, headed by the file and line numbers it
    comes from: the notebooks show the method's code this way instead of copying it into a cell. ``start`` (a
    piece of text) begins the excerpt at the first line holding it; ``lines`` cuts it to that many lines."""
    from IPython.display import Code

    source, first = inspect.getsourcelines(obj)
    if start is not None:
        found = [i for i, line in enumerate(source) if start in line]
        if not found:
            raise ValueError(f"{start!r} is not in the source of {obj.__qualname__}")
        first, source = first + found[0], source[found[0]:]
    source = source[:lines] if lines else source
    path = Path(inspect.getsourcefile(obj)).resolve()
    package = Path(__file__).resolve().parent.parent
    where = path.relative_to(package).as_posix() if path.is_relative_to(package) else path.name
    header = f"# {where}, lines {first}–{first + len(source) - 1}: {obj.__module__}.{obj.__qualname__}\n"
    return Code(header + "".join(source), language="python")


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _kernel_for_this_python() -> str:
    """The registered ``strokelib`` kernel when it runs this interpreter, else ``python3`` (ipykernel's own spec names
    a bare ``python``, which jupyter_client replaces by this interpreter); a warning when neither runs this
    interpreter, whose strokelib is the one this run should use (an installed copy in another environment)."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        manager = KernelSpecManager()
    except ImportError:
        return "python3"
    found = {}
    for name in (KERNEL_NAME, "python3"):
        try:
            found[name] = manager.get_kernel_spec(name).argv[0]
        except Exception:  # noqa: BLE001 - no such kernel registered
            continue
        if _runs_this_python(found[name]):
            return name
    log.warning("the python3 kernel runs %s, not this Python (%s); register one that does: %s -m ipykernel install "
                "--sys-prefix --name %s", found.get("python3", "an unknown interpreter"), sys.executable,
                sys.executable, KERNEL_NAME)
    return "python3"


def _runs_this_python(command: str) -> bool:
    """Whether a kernel spec's ``argv[0]`` starts this interpreter (jupyter_client runs a bare ``python``,
    ``python3`` or ``python3.X`` as ``sys.executable``)."""
    major, minor = sys.version_info[:2]
    return command in {"python", f"python{major}", f"python{major}.{minor}"} or \
        Path(command).absolute() == Path(sys.executable).absolute()


def data_source_label(data_root: str, task: str, geometry: str = "paper") -> str | None:
    """What a figure's title says about its data: ``"synthetic SISS-like data, 2 mm grid"`` for the embedded default,
    None for real data (``data_root`` set)."""
    if data_root:
        return None
    grid = "ISLES 2015 grid" if geometry == "paper" else "reduced grid"
    return f"synthetic {task}-like data, {grid}"


def environment_report() -> dict:
    """Versions and the compute device, for the first cell of every notebook."""
    import numpy
    import torch

    from . import __version__

    device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    report = {
        "strokelib": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "device": device,
        "cpu threads": torch.get_num_threads(),
    }
    if device == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
    return report



