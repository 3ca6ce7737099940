"""strokelib as a user installs it: the wheel built from this tree (``pip wheel``), installed into a fresh virtual
environment without the source tree on ``sys.path``, runs the notebooks it carries, its profiles and its commands
from an empty folder, and writes there.

Slow (the wheel, a fresh kernel, notebooks 01 and 03 under ``smoke``: 44 s on an idle 2-core CPU), so ``make test``
skips it; ``make test-installed`` (run by ``.ci/run``) sets ``STROKELIB_TEST_INSTALLED=1`` and runs it. The fresh
environment reuses this environment's dependencies through a ``.pth`` file naming its site-packages, so nothing is
downloaded. strokelib itself comes from the wheel only: the editable install of this checkout is a ``.pth`` file in
that site-packages, and Python processes ``.pth`` files only in its own site folders, not in folders a ``.pth`` file
adds; the tests check where strokelib and the notebooks' kernel come from."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_workspace import where_notebook

from strokelib.provenance import code_version
from strokelib.settings import load_profile

RUN_ENV = "STROKELIB_TEST_INSTALLED"
pytestmark = pytest.mark.installed
if os.environ.get(RUN_ENV) != "1":
    pytest.skip(f"builds and installs the wheel (about 45 s): set {RUN_ENV}=1, as `make test-installed` does",
                allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "strokelib", "notebooks", "tests/data/isles22")
"""What building the wheel reads; copied first, so the build leaves nothing (build/, *.egg-info) in the checkout."""
SMOKE = load_profile(ROOT / "notebooks" / "profiles" / "smoke.yaml")
TASK = SMOKE["task"]


@dataclass
class Installed:
    venv: Path
    site: Path
    wheel: Path
    env: dict
    base: Path
    seconds: dict = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.venv / ("Scripts" if os.name == "nt" else "bin")

    def run(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        """``strokelib ARGS`` (or ``python ARGS`` when the first is "python") of the fresh environment, in ``cwd``."""
        command = [str(self.bin / args[0]), *args[1:]] if args[0] == "python" else [str(self.bin / "strokelib"), *args]
        return _run(command, cwd=cwd, env=self.env, check=check)


def _run(command, check: bool = True, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=900, **kw)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-6000:]}")
    return done


def _empty(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    start = time.perf_counter()
    src = base / "src"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(source, src / name)
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []  # else fetched
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, "-q", src, "-w", base / "dist"])
    (wheel,) = (base / "dist").glob("strokelib-*.whl")
    built = time.perf_counter()
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    ours = sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")})
    (site / "strokelib-test-dependencies.pth").write_text("\n".join(ours) + "\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STROKELIB_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH"}}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], env=env)
    seconds = {"build": built - start, "install": time.perf_counter() - built}
    return Installed(venv, site, wheel, env, base, seconds)


def test_the_wheel_carries_the_notebooks_and_profiles(installed):
    import zipfile

    names = zipfile.ZipFile(installed.wheel).namelist()
    carried = sorted(n.removeprefix("strokelib/_notebooks/") for n in names if n.startswith("strokelib/_notebooks/"))
    source = ROOT / "notebooks"
    sample = ROOT / "tests" / "data" / "isles22"  # the real ISLES 2022 case notebook 06 segments, with its licence
    expected = sorted([p.name for p in source.glob("[0-9][0-9]_*.ipynb")] +
                      [f"profiles/{p.name}" for p in (source / "profiles").glob("*.yaml")] +
                      [f"isles22_sample/{p.relative_to(sample).as_posix()}" for p in sample.rglob("*") if p.is_file()])
    assert carried == expected
    print(f"wheel {installed.wheel.name}: {installed.wheel.stat().st_size / 1024:.0f} KB; built in "
          f"{installed.seconds['build']:.1f} s, installed in {installed.seconds['install']:.1f} s")


def test_strokelib_comes_from_the_fresh_environment_not_the_checkout(installed):
    here = _empty(installed.base / "where")
    done = installed.run("python", "-c", "import strokelib, strokelib.workspace as w; print(strokelib.__file__); "
                         "print(w.packaged_notebooks())", cwd=here)
    module, notebooks = (Path(line) for line in done.stdout.split())
    assert module.is_relative_to(installed.site) and not module.resolve().is_relative_to(ROOT)
    assert notebooks == installed.site / "strokelib" / "_notebooks"
    sample = installed.run("python", "-c", "import strokelib.workspace as w; print(w.isles22_sample_folder())",
                           cwd=here).stdout.strip()
    assert Path(sample) == installed.site / "strokelib" / "_notebooks" / "isles22_sample"
    version = installed.run("--version", cwd=here).stdout.strip()
    assert version == f"strokelib {code_version()}"  # the same code hash as this checkout; no git commit installed


def test_run_from_an_empty_folder_writes_there(installed):
    work = _empty(installed.base / "work")
    start = time.perf_counter()
    done = installed.run("run", "--profile", "smoke", "--only", "01,03", cwd=work)
    seconds = time.perf_counter() - start
    executed = work / "outputs" / "notebooks" / "smoke"
    assert sorted(p.name[:2] for p in executed.glob("*.ipynb")) == ["01", "03"], done.stdout
    figures, outputs = work / SMOKE["figures_dir"], work / SMOKE["outputs_dir"]
    assert (figures / f"data_modalities_{TASK}.png").is_file() and (figures / "fig3_patch_sampling.png").is_file()
    assert (outputs / f"difficulty_{TASK}.csv").is_file() and (outputs / "tables" / f"sampling_counts_{TASK}.csv").is_file()
    assert list((work / "data" / "synthetic").glob(f"{TASK}_small_*")), "the synthetic data go under the folder"
    assert str(ROOT) not in "".join(p.read_text() for p in executed.glob("*.ipynb"))
    print(f"strokelib run --profile smoke --only 01,03 from an empty folder: {seconds:.1f} s")


def test_workdir_runs_its_notebooks_with_the_fresh_python(installed):
    work = where_notebook(installed.base / "mine")
    elsewhere = _empty(installed.base / "elsewhere")
    installed.run("run", "--workdir", work, "--profile", "smoke", cwd=elsewhere)
    where = json.loads((work / "where.json").read_text())
    assert Path(where["python"]).parent == installed.bin  # the kernel runs the fresh environment's Python
    assert Path(where["strokelib"]).is_relative_to(installed.site) and where["root"] == str(work.resolve())
    assert (work / "outputs" / "notebooks" / "smoke" / "01_where.ipynb").is_file() and not list(elsewhere.iterdir())


def test_synth_and_notebooks_commands_from_an_empty_folder(installed):
    here = _empty(installed.base / "commands")
    done = installed.run("synth", "spes", "--task", "SPES", "--n-train", "1", "--geometry", "small", cwd=here)
    assert "wrote 1 training and 0 testing SPES cases" in done.stdout
    assert list((here / "spes").rglob("*.nii*")), "synth wrote no images"
    installed.run("notebooks", "copies", cwd=here)
    copied = here / "copies" / "notebooks"
    for source in [*(ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"), *(ROOT / "notebooks" / "profiles").glob("*.yaml")]:
        assert (copied / source.relative_to(ROOT / "notebooks")).read_bytes() == source.read_bytes()
    again = installed.run("notebooks", "copies", cwd=here, check=False)
    assert again.returncode == 2 and "already exist" in again.stderr and "--force" in again.stderr
