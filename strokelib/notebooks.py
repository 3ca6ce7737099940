"""Run the numbered notebooks headless with papermill under a profile, plus the small helpers every notebook's
set-up cells call (project root, environment report, data root real-or-synthetic)."""

from __future__ import annotations

import logging
import platform
import re
import sys
from pathlib import Path

import yaml

from .errors import ConfigError, NotebookError

log = logging.getLogger(__name__)

KERNEL_NAME = "strokelib"
PROFILES = ("smoke", "demo", "paper")


def project_root(start: str | Path | None = None) -> Path:
    """The repository root: the first folder upwards from ``start`` (default: cwd) holding ``pyproject.toml``
    and ``notebooks/``. Notebooks use it so they work from JupyterLab (cwd = notebooks/) and papermill alike."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    raise ConfigError(f"cannot find the strokelib repository above {here}; start Jupyter from the repository")


def notebook_paths(root: str | Path | None = None, only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in order, optionally only those whose number is in ``only``."""
    folder = project_root(root) / "notebooks"
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {f"{int(n):02d}" for n in only}
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise ConfigError(f"no notebook numbered {', '.join(sorted(unknown))} in {folder}; have {', '.join(p.name[:2] for p in paths)}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


def load_profile(profile: str | Path, root: str | Path | None = None) -> dict:
    """Parameters of a profile: a name in ``notebooks/profiles/`` or a path to a YAML file."""
    path = Path(profile)
    if not path.suffix:
        path = project_root(root) / "notebooks" / "profiles" / f"{profile}.yaml"
    if not path.is_file():
        raise ConfigError(f"profile {profile!r} not found ({path}); choose one of {', '.join(PROFILES)} or give a YAML file")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path} is not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"profile {path} must be a mapping of parameter: value")
    return params


def parse_value(text: str):
    """Parse a ``-p NAME VALUE`` value with YAML rules (numbers, booleans, lists); fall back to the string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def run_notebooks(
    profile: str = "smoke",
    only: list[str] | None = None,
    parameters: dict | None = None,
    output_dir: str | Path | None = None,
    kernel_name: str | None = None,
    root: str | Path | None = None,
) -> list[Path]:
    """Execute the numbered notebooks in order with papermill; stop at the first failure.

    Executed copies go to ``outputs/notebooks/<profile>/`` (outside the source tree); the working directory is
    the repository root. On failure a :class:`NotebookError` carries the failing cell and its traceback.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    root = project_root(root)
    params = {**load_profile(profile, root), **(parameters or {})}
    name = Path(profile).stem
    out_dir = Path(output_dir) if output_dir else root / "outputs" / "notebooks" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel = kernel_name or _kernel_for_this_python()
    paths = notebook_paths(root, only)
    declared = {path: set(pm.inspect_notebook(str(path))) for path in paths}
    unused = set(parameters or {}) - set().union(*declared.values())
    if unused:
        raise ConfigError(f"no notebook in this run has a parameter named {', '.join(sorted(unused))}; check the spelling")
    done = []
    for path in paths:
        target = out_dir / path.name
        log.info("running %s with profile %s", path.name, name)
        try:
            pm.execute_notebook(
                str(path), str(target), parameters={k: v for k, v in params.items() if k in declared[path]}, kernel_name=kernel, cwd=str(root), progress_bar=False,
                log_output=False,
            )
        except PapermillExecutionError as exc:
            raise NotebookError(
                f"{path.name} failed in cell {exc.exec_count} under profile {name!r} "
                f"(executed copy: {target}):\n{exc.ename}: {exc.evalue}\n{_strip_ansi(''.join(exc.traceback))}"
            ) from None
        done.append(target)
    return done


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _kernel_for_this_python() -> str:
    """Use the registered ``strokelib`` kernel when it runs this interpreter, else ``python3``."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).absolute() == Path(sys.executable).absolute():
            return KERNEL_NAME
    except Exception:  # noqa: BLE001 - no such kernel registered
        pass
    return "python3"


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


def resolve_data_root(
    data_root: str | Path | None,
    task: str,
    geometry: str = "paper",
    n_train: int = 4,
    n_test: int = 0,
    seed: int = 0,
    root: str | Path | None = None,
) -> Path:
    """The data folder a notebook reads: ``data_root`` when given (real ISLES 2015), else the embedded synthetic
    dataset under ``data/synthetic/``, generated on first use and reused afterwards."""
    if data_root:
        path = Path(data_root).expanduser()
        if not path.exists():
            raise ConfigError(f"data_root {path} does not exist; unpack ISLES 2015 there or leave data_root empty for synthetic data")
        return path
    from .synthetic import ensure_synthetic

    return ensure_synthetic(task, n_train=n_train, n_test=n_test, seed=seed, geometry=geometry,
                            base_dir=project_root(root) / "data" / "synthetic")


def display_path(path: str | Path, root: str | Path | None = None) -> str:
    """``path`` relative to the repository root when it lies inside it (short and machine-independent), else as is."""
    path = Path(path)
    try:
        return path.resolve().relative_to(project_root(root)).as_posix()
    except ValueError:
        return str(path)
