"""The shape of the code base: small modules, imports flowing one way, every module importable.

* no Python module over 500 lines outside tests/ and cloud_hub/migrations/;
* no import cycle among the project's modules: the static import graph (from `ast`: top-level
  and function-level imports, `if TYPE_CHECKING:` blocks left out) has no strongly connected
  component of more than one module;
* every project module imports in a fresh interpreter (one subprocess for all of them).
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "edgefleet",
    "contract",
    "mqttio",
    "broker",
    "edge_agent",
    "cloud_hub",
    "models",
    "deploy",
    "dashboard",
)
MAX_LINES = 500
# not the project's modules: the tests, run-time data (var/), and alembic's scripts (run by
# alembic in its own context, never imported)
SKIPPED = {ROOT / "tests", ROOT / "var", ROOT / "cloud_hub" / "migrations"}
GENERATED = {"__pycache__", "node_modules"}


# ------------------------------------------------------------------------------ discovery


def _python_files(top: Path) -> Iterator[Path]:
    """Every .py file under `top`, without hidden, generated and skipped directories."""
    for path in sorted(top.iterdir()):
        if path.is_dir():
            if path.name.startswith(".") or path.name in GENERATED or path in SKIPPED:
                continue
            yield from _python_files(path)
        elif path.suffix == ".py":
            yield path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    return {
        _module_name(path): path
        for package in PACKAGES
        if (ROOT / package).is_dir()
        for path in _python_files(ROOT / package)
    }


# ---------------------------------------------------------------------------- import graph


def _is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree`, except those only under `if TYPE_CHECKING:` (its `else` stays)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The project modules an import statement loads (itself excluded)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _known_prefix(alias.name, known)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}".strip(".")
        for alias in node.names:
            name = f"{base}.{alias.name}"
            if name in known:  # `from package import submodule`
                yield name
            else:
                yield from _known_prefix(base, known)


def _known_prefix(name: str, known: set[str]) -> Iterator[str]:
    """`name`, or the longest dotted prefix of it that is a project module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            yield candidate
            return


Edges = dict[str, dict[str, int]]  # module -> {imported module: line of the first import}


def import_graph(modules: dict[str, Path]) -> Edges:
    """Static, module-level: an edge a -> b when a imports b. Importing `a.b.c` also runs
    `a/__init__` and `a/b/__init__`; those implicit edges are left out, or every package
    whose `__init__` re-exports its submodules would be a cycle."""
    known = set(modules)
    graph: Edges = {m: {} for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _runtime_nodes(tree):
            for target in _targets(node, module, is_package, known):
                if target != module:
                    line = getattr(node, "lineno", 0)
                    graph[module][target] = min(graph[module].get(target, line), line)
    return graph


def strongly_connected(graph: Edges) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components in no particular order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
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
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(sorted(component))
    return found


def a_cycle(graph: Edges, component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module: [a, b, ..., a]."""
    members, start = set(component), component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:  # back home: walk the breadcrumbs to `start`
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child in members and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [*component, component[0]]


def describe_cycle(graph: Edges, modules: dict[str, Path], cycle: list[str]) -> str:
    steps = []
    for a, b in itertools.pairwise(cycle):
        where = modules[a].relative_to(ROOT)
        steps.append(f"    {a} -> {b}  ({where}:{graph[a][b]})")
    return "\n".join(steps)


# ---------------------------------------------------------------------------------- tests


def test_no_module_over_500_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in _python_files(ROOT)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split them): " + ", ".join(
        f"{p} ({n})" for p, n in sorted(too_long.items(), key=lambda kv: -kv[1])
    )


def test_the_cycle_finder_finds_cycles() -> None:
    graph: Edges = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}, "e": {"e": 5}}
    components = [c for c in strongly_connected(graph) if len(c) > 1]
    assert components == [["a", "b", "c"]]
    assert a_cycle(graph, components[0]) == ["a", "b", "c", "a"]


def test_no_import_cycle() -> None:
    modules = project_modules()
    graph = import_graph(modules)
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    report = [
        f"  {len(c)} modules import each other: {', '.join(c)}\n  for example:\n"
        + describe_cycle(graph, modules, a_cycle(graph, c))
        for c in sorted(cycles)
    ]
    assert not cycles, "import cycles (break them; data should flow one way):\n" + "\n".join(report)


IMPORT_ALL = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name)
        print(f"--- {name}", file=sys.stderr)
        traceback.print_exc()
sys.exit(1 if failed else 0)
"""


@pytest.mark.timeout(300)
def test_every_module_imports_in_a_fresh_interpreter() -> None:
    # `__main__` modules run their program when imported
    names = sorted(m for m in project_modules() if not m.endswith("__main__"))
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
