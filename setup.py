"""One build step on top of pyproject.toml: a wheel of strokelib carries the numbered notebooks and their profiles.

notebooks/ at the repository root stays their one source (the README, the Makefile and the docs link there), so
nothing is committed twice: when a wheel is built, build_py copies notebooks/NN_*.ipynb and notebooks/profiles/*.yaml
into the build folder as the package data strokelib/_notebooks/ (what strokelib.workspace reads when strokelib is
installed), and the real ISLES 2022 sample case of tests/data/isles22/ (with its SOURCE.md) as
strokelib/_notebooks/isles22_sample/, the case notebook 06 segments. The copy is made fresh at each build, so a notebook removed from notebooks/ never lingers in a wheel.
An editable install (pip install -e .) copies nothing: it reads notebooks/ in the checkout. MANIFEST.in puts the same
files in an sdist, so a wheel built from the sdist carries them too; a build that finds no notebooks stops.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
SHIPPED = ("[0-9][0-9]_*.ipynb", "profiles/*.yaml")
SAMPLE = Path(__file__).resolve().parent / "tests" / "data" / "isles22"  # the real ISLES 2022 case notebook 06 segments


class BuildWithNotebooks(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        files = [path for pattern in SHIPPED for path in sorted(NOTEBOOKS.glob(pattern))]
        if not any(path.suffix == ".ipynb" for path in files):
            raise SystemExit(f"{NOTEBOOKS}: no numbered notebooks (NN_*.ipynb) to put in the wheel; build from a "
                             "checkout or an sdist that has notebooks/")
        target = Path(self.build_lib) / "strokelib" / "_notebooks"
        shutil.rmtree(target, ignore_errors=True)
        for path in files:
            dest = target / path.relative_to(NOTEBOOKS)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        if SAMPLE.is_dir():  # with its SOURCE.md (licence CC BY-SA 4.0 and citations)
            shutil.copytree(SAMPLE, target / "isles22_sample")


setup(cmdclass={"build_py": BuildWithNotebooks})
