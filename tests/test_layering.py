"""Data flows one way through the package: no import cycle between strokelib modules (imports inside functions
count), and no library module imports the command line or the notebook runner."""

from __future__ import annotations

import ast
from pathlib import Path

import strokelib

PACKAGE = Path(strokelib.__file__).parent
TOP = {"cli", "notebooks", "runner", "__main__"}  # entry points: only they may import everything


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__") or "__init__"


def _imports(path: Path) -> set[str]:
    """strokelib modules imported anywhere in ``path`` (module level or inside functions), as dotted names."""
    name = _module_name(path)
    package = name.rsplit(".", 1)[0] if path.name != "__init__.py" and "." in name else (
        name if path.name == "__init__.py" else "")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package and package != "__init__" else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("strokelib"):
                target = node.module.removeprefix("strokelib").lstrip(".")
            else:
                continue
            for alias in node.names:  # `from . import x` imports the module x
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if (PACKAGE / Path(*sub.split("."))).with_suffix(".py").exists()
                          or (PACKAGE / Path(*sub.split(".")) / "__init__.py").exists() else target)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("strokelib.") for a in node.names if a.name.startswith("strokelib.")}
    return {m for m in found if m and m != name}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walker_sees_function_level_imports():
    source = (PACKAGE / "training" / "cross_validation.py").read_text()
    module_level = {n.module for n in ast.parse(source).body if isinstance(n, ast.ImportFrom)}
    assert "preprocessing.normalisation" not in {m.lstrip(".") for m in module_level if m}  # inside _prepare only
    graph = _graph()
    assert "preprocessing.normalisation" in graph["training.cross_validation"] and "errors" in graph["data.cases"]


def test_no_import_cycle():
    cycle = _cycle({k: v - {"__init__"} for k, v in _graph().items()})
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_library_modules_never_import_the_cli_or_the_notebook_runner():
    bad = {name: sorted(deps & TOP) for name, deps in _graph().items() if name not in TOP and deps & TOP}
    assert not bad, f"library modules importing an entry point: {bad}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# --- size and documentation of the modules ----------------------------------------------------------------

EXEMPT: set[str] = set()
MAX_FUNCTION_LINES = 60


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function from its ``def`` (decorators included) to its end, its docstring not counted."""
    start = min([d.lineno for d in node.decorator_list], default=node.lineno)
    first = node.body[0]
    doc = (first.end_lineno - first.lineno + 1
           if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
           else 0)
    return node.end_lineno - start + 1 - doc


def _library_files():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if _module_name(p) not in EXEMPT]


def test_no_function_runs_past_60_lines():
    long = [f"{_module_name(p)}.{n.name} ({_code_lines(n)} lines)" for p in _library_files()
            for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and _code_lines(n) > MAX_FUNCTION_LINES]
    assert not long, f"split these into named steps: {', '.join(long)}"


def test_every_module_opens_with_a_paragraph_naming_its_paper_section():
    missing = [_module_name(p) for p in _library_files()
               if "§" not in (ast.get_docstring(ast.parse(p.read_text())) or "").split("\n\n")[0]]
    assert not missing, f"module docstrings without a paper section (§) in their first paragraph: {missing}"


# The stages of the paper in data-flow order, between the shared base and the entry points. A module imports only
# modules of its own stage or of stages before it.
BASE = {"errors", "progress", "config", "files", "provenance", "workspace", "settings"}
STAGES = ["data", "synthetic", "preprocessing", "sampling", "model", "training", "inference", "evaluation", "plotting"]
ENTRY = {"estimates", "notebooks", "cli", "__init__"}


def _stage(module: str) -> int:
    top = module.split(".")[0]
    if top in BASE:
        return 0
    if top in ENTRY:
        return len(STAGES) + 1
    return STAGES.index(top) + 1


def test_every_module_belongs_to_the_base_a_stage_or_the_entry_points():
    stray = [m for m in _graph() if m.split(".")[0] not in BASE | ENTRY | set(STAGES)]
    assert not stray, f"modules outside the declared stages: {stray}"


def test_stages_import_only_downwards():
    graph = _graph()
    upward = sorted(f"{name} -> {dep}" for name, deps in graph.items() for dep in deps if _stage(dep) > _stage(name))
    assert not upward, f"imports of a later stage: {upward}"


def test_the_layering_check_catches_an_upward_import():
    assert _stage("training.loop") < _stage("inference.segment") and _stage("settings") < _stage("data.cases")
    assert _stage("cli") > _stage("plotting.base")


def test_the_package_map_lists_every_module_in_an_order_the_imports_follow():
    """docs/design.md's package map is in data-flow order: a module imports only modules listed above it."""
    import re

    design = PACKAGE.parent / "docs" / "design.md"
    rows = [r.split("/")[0] for r in re.findall(r"^\| \**`([\w/]+?)(?:\.py)?`\** \|", design.read_text(), re.M)]
    position = {}
    for i, name in enumerate(rows):
        position.setdefault(name, i)
    graph = {k: v - {"__init__"} for k, v in _graph().items() if k != "__init__"}
    top = {name: name.split(".")[0] for name in graph}
    assert sorted(set(top.values()) - set(position)) == [], "modules missing from the package map"
    upward = [f"{name} -> {dep}" for name, deps in graph.items() for dep in deps
              if top[dep] != top[name] and position[top[dep]] >= position[top[name]]]
    assert not upward, f"imports of modules listed below the importer in docs/design.md: {upward}"
