"""One home per name: a function, class or constant of strokelib is imported from the module that defines it.

A re-export is a public name that a strokelib module binds from another strokelib module without using it itself,
so that the name has a second import path. None is left; ALLOWED would name one that a caller cannot stop using yet.
Facades of a package (``strokelib/__init__.py``, ``strokelib/plotting/__init__.py``) are exempt: gathering names is
their job."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import strokelib

ROOT = Path(strokelib.__file__).parent.parent
FACADES = {"strokelib", "strokelib.plotting"}  # the stages' __init__ hold a docstring only

# (old home, name) -> the file that still imports it from there. Empty: every caller imports from the home.
ALLOWED: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, object]:
    names = ["strokelib", *(m.name for m in pkgutil.walk_packages(strokelib.__path__, "strokelib."))]
    return {name: importlib.import_module(name) for name in names}


def _imported_from_strokelib(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Public names bound at module level by ``from <strokelib module> import name`` (modules themselves excluded)."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = set()
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        if source != "strokelib" and not source.startswith("strokelib."):
            continue
        for alias in node.names:
            bound = alias.asname or alias.name
            if bound.startswith("_"):
                continue
            try:
                importlib.import_module(f"{source}.{alias.name}")
            except ImportError:
                found.add(bound)
    return found


def _used(tree: ast.Module) -> set[str]:
    """Names the module reads anywhere (module level, functions, annotations)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store)}


def reexports() -> set[tuple[str, str]]:
    found = set()
    for name, module in _modules().items():
        if name in FACADES:
            continue
        path = Path(inspect.getsourcefile(module))
        tree = ast.parse(path.read_text())
        used = _used(tree)
        candidates = _imported_from_strokelib(tree, name, path.name == "__init__.py")
        for attr, value in vars(module).items():  # functions and classes bound here but defined elsewhere
            if attr.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            home = getattr(value, "__module__", "") or ""
            if (home == "strokelib" or home.startswith("strokelib.")) and home != name:
                candidates.add(attr)
        found |= {(name, attr) for attr in candidates if attr not in used}
    return found


def test_every_name_has_one_home():
    found = reexports()
    new = sorted(found - set(ALLOWED))
    assert not new, (f"re-exports {new}: import each name from the module that defines it instead (or, only for a "
                     f"notebook or strokelib/cli.py that cannot change now, add it to ALLOWED with the reason)")
    stale = sorted(set(ALLOWED) - found)
    assert not stale, f"ALLOWED lists {stale}, which are no longer re-exported: remove them from ALLOWED"


def test_allowed_reexports_are_still_needed():
    for (module, name), user in ALLOWED.items():
        text = (ROOT / user).read_text()
        short = module.rsplit(".", 1)[1]
        assert f"{short}.{name}" in text or (f"from .{short} import" in text and name in text), (
            f"{user} no longer uses {module}.{name}: import it from its home and remove it from ALLOWED")


def test_the_check_sees_a_new_reexport(tmp_path):
    tree = ast.parse("from .files import save_nifti, read_volume\n\ndef f(p):\n    return read_volume(p)\n")
    assert _imported_from_strokelib(tree, "strokelib.example", False) - _used(tree) == {"save_nifti"}
