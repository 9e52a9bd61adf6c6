"""The layout holds: no import cycle among syncer's modules, data flows one way (providers never
import the store, reports never import providers), and every provider of the registry has its
module. Imports are read from the source (module level and inside functions alike), not run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import syncer
from syncer.provider_facts import FACTS, PROVIDERS
from syncer.providers import listing_for

ROOT = Path(syncer.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each syncer module -> the syncer modules it imports (a `from package import name`
    counts as importing `package.name` when that is a module, else `package`)."""
    paths = {module_name(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name in paths)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, *([base] if base else [])])
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    imported.add(target if target in paths else base)
        graph[name] = {module for module in imported if module in paths and module != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_syncer_is_in_an_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # every module was read
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_data_flows_one_way() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        if module.startswith("syncer.providers"):
            assert not {m for m in imported if m.startswith("syncer.store")}, module
        if module.startswith("syncer.reports"):
            assert not {m for m in imported if m.startswith("syncer.providers")}, module


def test_every_provider_of_the_registry_has_its_listing() -> None:
    assert tuple(FACTS) == PROVIDERS
    for provider in PROVIDERS:
        assert callable(listing_for(provider))
