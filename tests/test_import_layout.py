"""The house's import rules, read from the source: no import cycle anywhere in ``src/``, the
rooms never import a door or the services, and the pillars keep to their lanes.

Imports are read with ``ast`` at module level (an import inside a function, or under
``TYPE_CHECKING``, runs later or never, so it cannot close a cycle at import time). A module
importing ``a.b.c`` also imports the packages ``a`` and ``a.b``, as Python does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import deepshield

SRC = Path(deepshield.__file__).resolve().parent
DOORS = ("deepshield.cli", "deepshield.api", "deepshield.web")
ROOMS = ("deepshield.media", "deepshield.signals", "deepshield.index", "deepshield.watermark",
         "deepshield.labels", "deepshield.provenance", "deepshield.forensics", "deepshield.cases",
         "deepshield.reports",
         "deepshield.notifications", "deepshield.store")


def _module_name(path: Path) -> str:
    parts = ("deepshield", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in SRC.rglob("*.py")}


def _top_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        statements = (ast.Import, ast.ImportFrom, ast.Try, ast.If)
        for inner in ast.walk(node) if isinstance(node, statements) else ():
            if isinstance(inner, ast.Import):
                found.update(alias.name for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom):
                base = inner.module or ""
                if inner.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[:len(anchor) - inner.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in inner.names)
    with_packages = set()
    for target in found:
        parts = target.split(".")
        with_packages.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {target for target in with_packages
            if target in known and target != name and not name.startswith(target + ".")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _top_level_imports(path, name, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read_from_the_source() -> None:
    graph = _graph()
    assert "deepshield.services.takedown.intake" in graph
    assert "deepshield.services.access" in graph["deepshield.services.takedown.intake"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_anywhere_in_src() -> None:
    assert _cycles(_graph()) == []


def test_rooms_never_import_a_door_or_the_services() -> None:
    wrong = [(name, target) for name, targets in _graph().items() if name.startswith(ROOMS)
             for target in targets if target.startswith((*DOORS, "deepshield.services"))]
    assert wrong == []


def test_services_never_import_a_door() -> None:
    wrong = [(name, target) for name, targets in _graph().items() if name.startswith("deepshield.services")
             for target in targets if target.startswith(DOORS)]
    assert wrong == []


def test_spread_label_and_verify_know_nothing_of_takedown() -> None:
    """Takedown builds on the spread pillar (it banks a case's hashes, runs the copy sweep);
    the other pillars never reach into takedown."""
    wrong = [(name, target) for name, targets in _graph().items()
             if name.startswith(("deepshield.services.spread", "deepshield.services.label",
                                 "deepshield.services.verify"))
             for target in targets if target.startswith("deepshield.services.takedown")]
    assert wrong == []
