"""The layers of the kit, read from the source: imports point down and never form a cycle.

``baseline -> starting_kit -> scoring``. Every import counts, wherever it stands: at module level,
inside a function (an import moved into a function still couples the two modules at run time) or
under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scoring", "starting_kit", "baseline")
#: What each layer may import from the kit: only itself and the layers below it.
ALLOWED = {
    "scoring": {"scoring"},
    "starting_kit": {"scoring", "starting_kit"},
    "baseline": {"scoring", "starting_kit", "baseline"},
}


def module_files() -> dict[str, Path]:
    """Every module of the three packages, by dotted name (a package is its ``__init__``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def imported_modules(name: str, path: Path) -> Iterator[str]:
    """The kit's modules that ``name`` imports, at any depth of its syntax tree."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` imports that module; ``from module import name``
            # imports the module itself.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]  # a.b.name -> a.b, the module it lives in
            if target and target != name:
                yield target


GRAPH = {name: sorted(set(imported_modules(name, path))) for name, path in MODULES.items()}


def test_the_graph_sees_the_three_packages() -> None:
    assert {"scoring.atomic", "starting_kit.cli", "baseline.cli"} <= set(GRAPH)
    assert "scoring.atomic" in GRAPH["baseline.predict"]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_the_layers(package: str) -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in ALLOWED[package]
    ]
    assert upward == []


def test_progress_reporting_depends_on_nothing_of_the_baseline() -> None:
    assert [t for t in GRAPH["baseline.progress"] if t.startswith("baseline")] == []


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in graph[node]:
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a"]}) is None


def test_no_import_cycle() -> None:
    assert find_cycle(GRAPH) is None
