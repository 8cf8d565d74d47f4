"""No import cycles in ``explain`` and ``widgets``, counting every import statement in a file.

The graph is built from the source with ``ast``, not by importing: an import inside a function
or under ``if TYPE_CHECKING:`` is an edge too, because it is a dependency a reader (and a type
checker) has to follow, and a cycle hidden there comes back as soon as the import moves up.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("explain", "widgets")

# module -> {imported module: line of the first import statement that makes the edge}
Graph = dict[str, dict[str, int]]


def module_files(root: pathlib.Path, packages: tuple[str, ...]) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _known(name: str, modules: dict[str, pathlib.Path]) -> str | None:
    """``name`` or its longest prefix that is a project module: ``explain.x.y`` -> ``explain.x``."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Absolute names one import statement may refer to (modules, or a module's attributes)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        # `from . import x` in a package's __init__ is relative to the package itself.
        package = module.split(".") if is_package else module.split(".")[:-1]
        base_parts = package[: len(package) - (node.level - 1)]
        base = ".".join([*base_parts, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    # `from base import x` imports submodule base.x when there is one, else base itself.
    return [base if alias.name == "*" else f"{base}.{alias.name}" for alias in node.names]


def import_graph(root: pathlib.Path, packages: tuple[str, ...] = PACKAGES) -> Graph:
    """Edges between the modules of ``packages`` from every import statement anywhere in them."""
    modules = module_files(root, packages)
    graph: Graph = {name: {} for name in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported(node, module, is_package):
                target = _known(name, modules)
                if target is not None and target != module:
                    graph[module].setdefault(target, node.lineno)
    return graph


def _components(graph: Graph) -> list[list[str]]:
    """Strongly connected components (Tarjan), each sorted; the graph is small, so recursive."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
            found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _shortest_cycle(graph: Graph, start: str, inside: set[str]) -> list[str]:
    """A shortest cycle from ``start`` back to it through ``inside`` (breadth-first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target in inside and target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is on no cycle inside {sorted(inside)}")


def find_cycles(graph: Graph) -> list[list[str]]:
    """For each group of modules that import each other, a shortest cycle through each member
    (one cycle can hide another: a -> b -> a and b -> c -> b are one group), e.g. ``[a, b, a]``.
    """
    cycles: list[list[str]] = []
    for component in _components(graph):
        if len(component) == 1:
            continue
        for start in component:
            cycle = _shortest_cycle(graph, start, set(component))
            first = cycle.index(min(cycle))  # the same cycle, whichever member it starts at
            cycle = [*cycle[first:-1], *cycle[:first], cycle[first]]
            if cycle not in cycles:
                cycles.append(cycle)
    return cycles


def describe(graph: Graph, cycle: list[str]) -> str:
    """``a -> b -> a  (a line 3 imports b; b line 7 imports a)``."""
    lines = "; ".join(
        f"{a} line {graph[a][b]} imports {b}" for a, b in zip(cycle, cycle[1:], strict=False)
    )
    return f"{' -> '.join(cycle)}  ({lines})"


def test_no_import_cycles():
    graph = import_graph(ROOT)
    assert "explain.trace" in graph and graph["widgets"], "the walker found no modules"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(graph, c) for c in cycles)


def _write_package(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


def test_cycle_finder_reports_hidden_cycles(tmp_path):
    _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from .c import f\n",
            # a cycle hidden in a function body and a TYPE_CHECKING block
            "pkg/a.py": "def g():\n    from . import b\n",
            "pkg/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.a import g\n"
                "def h():\n"
                "    import pkg.e\n"
            ),
            "pkg/e.py": "from pkg import b\n",  # a second cycle through b, in the same group
            # a submodule importing its own package's __init__, which imports it
            "pkg/c.py": "from . import __version__\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/d.py": "import os\nfrom ..a import g\n",
        },
    )
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.sub.d"] == {"pkg.a": 2}
    cycles = find_cycles(graph)
    assert cycles == [
        ["pkg", "pkg.c", "pkg"],
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.b", "pkg.e", "pkg.b"],
    ]
    assert describe(graph, cycles[1]) == (
        "pkg.a -> pkg.b -> pkg.a  (pkg.a line 2 imports pkg.b; pkg.b line 3 imports pkg.a)"
    )


def test_cycle_finder_accepts_one_way_imports(tmp_path):
    _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from . import a\nfrom .b import VALUE\n",
            "pkg/a.py": "import pkg.b\nfrom pkg.sub import d\n",
            "pkg/b.py": "VALUE = 1\n",
            "pkg/sub/__init__.py": "from .d import *\n",
            "pkg/sub/d.py": "from .. import b\n",
        },
    )
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg"] == {"pkg.a": 1, "pkg.b": 2}
    assert graph["pkg.a"] == {"pkg.b": 1, "pkg.sub.d": 2}
    assert graph["pkg.sub"] == {"pkg.sub.d": 1}
    assert graph["pkg.sub.d"] == {"pkg.b": 1}
    assert find_cycles(graph) == []
