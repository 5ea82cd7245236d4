"""Public surfaces are pinned (the httpx way): each package's `__init__` lists what it offers in
`__all__`, and nothing outside a module imports a name that the module's `__all__` leaves out."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("access", "audit")
IMPORTERS = ("access", "audit", "console", "scripts", "bench", "tests", "migrations")


def packages() -> list[str]:
    found = []
    for layer in LAYERS:
        found.append(layer)
        found += [m.name for m in pkgutil.walk_packages([str(ROOT / layer)], f"{layer}.")
                  if m.ispkg]
    return sorted(found)


def bound_in(init: Path) -> set[str]:
    """Public names an `__init__.py` binds itself: what it imports or defines."""
    names = set()
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return {n for n in names if not n.startswith("_") and n != "annotations"}


def test_every_package_is_found() -> None:
    assert {"access", "access.identity", "access.workflow", "access.data", "audit"} <= set(
        packages())


@pytest.mark.parametrize("name", packages())
def test_a_package_exports_its_public_modules_and_only_names_it_binds(name: str) -> None:
    """Every public module is on the surface; any other name there is one the `__init__`
    itself imports or defines (what it imports only to use may stay off)."""
    package = importlib.import_module(name)
    folder = Path(package.__file__ or "").parent
    modules = {m.name for m in pkgutil.iter_modules([str(folder)]) if not m.name.startswith("_")}
    assert len(package.__all__) == len(set(package.__all__))  # ruff (RUF022) keeps it sorted
    assert modules <= set(package.__all__) <= modules | bound_in(folder / "__init__.py")


def our_files() -> list[Path]:
    return [path for top in IMPORTERS for path in sorted((ROOT / top).rglob("*.py"))]


def off_surface(files: list[Path]) -> list[str]:
    """`file: module.name` for each name a file takes from one of our modules (`from m import
    name`, or `m.name` after `from package import m`) where the module declares `__all__`
    without that name. A module may use its own names; private names are a test's knowing
    reach."""
    offenders = []
    for path in files:
        importer = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for module_name, name in _taken_names(tree):
            module = importlib.import_module(module_name)
            surface = getattr(module, "__all__", None)
            if (surface is not None and Path(module.__file__ or "") != path
                    and name not in surface and not name.startswith("_")):
                offenders.append(f"{importer}: {module_name}.{name}")
    return sorted(set(offenders))


def _taken_names(tree: ast.Module) -> list[tuple[str, str]]:
    taken, aliases = [], {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                and node.module.split(".")[0] in LAYERS):
            continue
        for alias in node.names:
            dotted = f"{node.module}.{alias.name}"
            if importlib.util.find_spec(node.module) and _is_module(dotted):
                aliases[alias.asname or alias.name] = dotted
            else:
                taken.append((node.module, alias.name))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            taken.append((aliases[node.value.id], node.attr))
    return taken


def _is_module(dotted: str) -> bool:
    parent = importlib.import_module(dotted.rpartition(".")[0])
    return hasattr(parent, "__path__") and importlib.util.find_spec(dotted) is not None


def test_nothing_imports_a_name_a_module_keeps_off_its_surface() -> None:
    assert off_surface(our_files()) == []


def test_the_surface_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    anomalies = importlib.import_module("audit.anomalies")
    hidden = sorted(n for n in vars(anomalies) if not n.startswith("_")
                    and n not in anomalies.__all__ and n != "annotations")[0]
    bad = tmp_path / "bad.py"
    bad.write_text(f"from audit.anomalies import {hidden}, {anomalies.__all__[0]}\n")
    assert off_surface([bad]) == [f"{bad}: audit.anomalies.{hidden}"]
    bad.write_text(f"from audit import anomalies\nanomalies.{hidden}\nanomalies.Flag\n")
    assert off_surface([bad]) == [f"{bad}: audit.anomalies.{hidden}"]
