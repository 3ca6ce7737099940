"""What the notebooks teach, checked on their sources: every notebook opens with what you will learn, how long it
takes and a link to the glossary, ends with key ideas and 2–4 exercises that each say what to change, what was
measured and how long it took; the notebooks that explain a step show the package's own code for it; cells stay
short and define nothing; and every relative link in the sources and docs resolves."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

from strokelib.notebooks import notebook_paths, project_root

ROOT = project_root()
NOTEBOOKS = notebook_paths()
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)#\s]+)(?:#[^)\s]*)?\)")
SHOWS_CODE = {"02": ["flip_left_right", "register_flipped"],
              "03": ["balanced_centres", "balanced_lesion_patches"],
              "04": ["DualRes", "MonoRes", "DownStep", "focal_loss"],
              "05": ["patch_coverage", "predict_case"],
              "06": ["register_flair"]}


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_top_says_what_you_learn_how_long_and_where_the_words_are(path):
    top = _cells(path)[0].source
    assert "**What you will learn:**" in top and "**Time:**" in top, path.name
    assert "smoke" in top and "demo" in top and "paper" in top, f"{path.name}: the time under each profile"
    assert "(../docs/glossary.md)" in top, f"{path.name}: no glossary link at the top"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_ends_with_key_ideas_and_measured_exercises(path):
    text = "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")
    assert "## Key ideas" in text and "## Exercises" in text, path.name
    exercises = re.split(r"\n(?=\d+\. \*\*)", text.split("## Exercises", 1)[1])[1:]
    assert 2 <= len(exercises) <= 4, f"{path.name}: {len(exercises)} exercises"
    for item in exercises:
        assert "*Measured" in item and "*Time:*" in item, f"{path.name}: an exercise without its answer or time"
    assert not re.search(r"\b(TIME|EXERCISES)_0\d", text), f"{path.name}: a placeholder is left"


@pytest.mark.parametrize("number", sorted(SHOWS_CODE))
def test_shows_the_package_code_of_the_step_it_explains(number):
    path = next(p for p in NOTEBOOKS if p.name.startswith(number))
    code = "\n".join(c.source for c in _cells(path) if c.cell_type == "code")
    for name in SHOWS_CODE[number]:
        assert f"notebooks.show_source({name}" in code, f"{path.name} does not show {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_imports_only_public_names(path):
    """What a notebook calls or shows is part of strokelib's public face: no ``_private`` name is imported."""
    for cell in _cells(path):
        if cell.cell_type != "code":
            continue
        body = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        for node in ast.walk(ast.parse(body)):
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports private {private} from {node.module}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_cells_stay_thin(path):
    for cell in _cells(path):
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue  # the parameters cell lists every setting a profile may give
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert len(lines) <= 16, f"{path.name}: a code cell of {len(lines)} lines:\n{cell.source}"
        body = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        defined = [n for n in ast.walk(ast.parse(body)) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defined, f"{path.name}: define functions in strokelib, not in a notebook:\n{cell.source}"


def _links(text: str, where: Path) -> list[str]:
    return [link for link in LINK.findall(text) if not (where / link).exists()]


def test_relative_links_in_the_sources_and_docs_resolve():
    broken = {}
    for path in NOTEBOOKS:
        text = "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")
        broken[path.name] = _links(text, path.parent)
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "figures").glob("*.md"))]:
        broken[path.name] = _links(path.read_text(), path.parent)
    assert not {k: v for k, v in broken.items() if v}, broken


def test_show_source_names_the_file_and_lines():
    from strokelib import notebooks
    from strokelib.model import losses

    shown = notebooks.show_source(losses.focal_loss)
    assert shown.data.startswith("# strokelib/model/losses.py, lines ") and "def focal_loss(" in shown.data
    part = notebooks.show_source(losses.focal_loss, start="return", lines=1)
    assert len(part.data.splitlines()) == 2 and "return" in part.data.splitlines()[1]
    with pytest.raises(ValueError, match="not in the source"):
        notebooks.show_source(losses.focal_loss, start="no such text")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_a_kernel_without_strokelib_is_told_how_to_install_it(path, monkeypatch):
    setup = next(c.source for c in _cells(path) if c.cell_type == "code" and "%matplotlib" in c.source)
    code = "\n".join(line for line in setup.splitlines() if not line.startswith("%"))
    monkeypatch.setitem(sys.modules, "strokelib", None)  # `import strokelib` now fails as in a kernel without it
    with pytest.raises(SystemExit, match=r"strokelib is not installed .*pip install"):
        exec(compile(code, path.name, "exec"), {})
