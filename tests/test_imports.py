"""The mechanical bars of the tree's shape (issue 19): no import cycle, no file over 500 lines, and a
``bench/`` whose top level holds only its entry points and packages.

Imports are read from the source with ``ast``, at any level (inside functions and ``if TYPE_CHECKING``
blocks too): a function-level import that hides a cycle is still a cycle. ``import a.b`` depends on
the package ``a`` and the module ``a.b`` (the code names ``a``); ``from a import b`` on the module
``a.b`` when there is one, else on ``a``, whose own code defines ``b``. Every import of a submodule
also runs its package's ``__init__`` first; that is not counted, or every package that re-exports
its modules would be a cycle.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ("eventstore", "bench")
MAX_LINES = 500
BENCH_TOP_LEVEL = {"__init__.py", "__main__.py", "cli.py"}

per_tree = pytest.mark.parametrize("tree", ["eventstore", "bench"])


def python_files(tree: str) -> Iterator[Path]:
    yield from sorted((ROOT / tree).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """Modules of ``known`` that the module ``name`` imports in ``source``, at any level."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                found.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:  # a submodule, or a name the package's own code defines
                found.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin)
    return (found & known) - {name}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for tree in TREES for p in python_files(tree)}
    known = set(files)
    return {name: imported(path.read_text(), name, path.name == "__init__.py", known) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def loop(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest import path from the component's first module back to it, within the component."""
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & set(component)):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{component} is not strongly connected")


@per_tree
def test_no_import_cycle(tree: str) -> None:
    graph = import_graph()
    found = [c for c in cycles(graph) if any(m == tree or m.startswith(f"{tree}.") for m in c)]
    assert not found, "import cycles, at any level (the modules of each, then one loop through them): " + "; ".join(
        f"{{{', '.join(c)}}}: {' -> '.join(loop(graph, c))}" for c in found
    )


def test_the_cycle_finder_sees_function_level_relative_and_dotted_imports() -> None:
    """The finder itself: a function-level import, a relative import and ``import a.b`` (the
    package ``a`` too) are all seen, and a cycle they close is found; a one-way import is not one."""
    known = {"p", "p.low", "p.high"}
    assert imported("def late():\n    import p.high\n", "p.low", False, known) == {"p", "p.high"}
    assert imported("from . import high\nfrom .low import x\n", "p", True, known) == {"p.high", "p.low"}
    assert imported("from . import high, defined_in_p\n", "p.low", False, known) == {"p", "p.high"}
    assert imported("from ..low import x\n", "p.sub.mod", False, known | {"p.sub"}) == {"p.low"}
    assert cycles({"p": {"p.low"}, "p.low": set(), "p.high": {"p.low"}}) == []
    graph = {"p": {"p.low"}, "p.low": {"p.high"}, "p.high": {"p"}}
    assert cycles(graph) == [["p", "p.high", "p.low"]]
    assert loop(graph, ["p", "p.high", "p.low"]) == ["p", "p.low", "p.high", "p"]


def text_files(tree: str) -> Iterator[Path]:
    """Every file of ``tree`` a reader reads (code, SQL, docs), not bytecode caches."""
    for path in sorted((ROOT / tree).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


@per_tree
def test_no_file_over_500_lines(tree: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in text_files(tree) if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_bench_top_level_is_entry_points_and_packages() -> None:
    """``bench/`` keeps its modules in packages; its top level holds only the modules that start it
    (files that are not modules, its README, may stay)."""
    stray = sorted(
        p.name for p in (ROOT / "bench").iterdir()
        if (p.suffix == ".py" and p.name not in BENCH_TOP_LEVEL) or (p.is_dir() and p.name != "__pycache__" and not (p / "__init__.py").exists())
    )
    assert not stray, f"bench/'s top level holds more than {sorted(BENCH_TOP_LEVEL)} and packages: {stray}"
