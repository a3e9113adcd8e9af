"""No import circle under chalicelib: every module's imports, read from its source, form a graph
without cycles.

What counts as an edge from module A to module B: every `import B` / `from B import x` (and
`from package import B` when B is a module) written anywhere in A, at module level and inside
functions alike. A function-level import is only a deferred one: it still needs B to be importable
after A, and it is the usual way a circle gets hidden rather than removed, so it counts. Imports
under `if TYPE_CHECKING:` never run, so they do not count (annotations are strings here). Parent
packages' `__init__` modules, which hold only docstrings, are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "chalicelib"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every import statement that runs: at module level, in functions, in classes; not the ones
    under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The chalicelib modules one import statement loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:  # relative: from the module's own package upwards
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    found = set()
    for alias in node.names:
        if f"{source}.{alias.name}" in known:
            found.add(f"{source}.{alias.name}")
        elif source in known:
            found.add(source)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        edges = set()
        for node in _import_nodes(tree):
            edges |= _targets(node, module, is_package, known)
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the path that closes it (first module repeated at the end), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        colour[module] = grey
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if colour.get(target, black) == grey:
                return path[path.index(target):] + [target]
            if colour.get(target) == white and (cycle := visit(target)):
                return cycle
        path.pop()
        colour[module] = black
        return None

    for module in sorted(graph):
        if colour[module] == white and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_circle_under_chalicelib():
    # Given every module under chalicelib and the imports it runs
    graph = import_graph()
    assert "chalicelib.services.accounts.registry" in graph and graph["chalicelib.services.accounts.registry"]

    # When the graph is walked
    cycle = find_cycle(graph)

    # Then no module imports, directly or through others, itself
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_walk_sees_a_circle_made_by_a_function_level_import():
    # Given a circle closed only by an import inside a function (the way circles hide)
    source_a = "from chalicelib.b import thing\n"
    source_b = "def late():\n    from chalicelib import a\n"
    module_b = "chalicelib.b"
    known = {"chalicelib.a", module_b}
    graph = {
        "chalicelib.a": set().union(*(_targets(n, "chalicelib.a", False, known) for n in _import_nodes(ast.parse(source_a)))),
        module_b: set().union(*(_targets(n, module_b, False, known) for n in _import_nodes(ast.parse(source_b)))),
    }

    # When the graph is walked
    cycle = find_cycle(graph)

    # Then the circle is found and named
    assert cycle == ["chalicelib.a", "chalicelib.b", "chalicelib.a"]


def test_imports_for_type_checking_only_are_not_edges():
    # Given an import that only type checkers run
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from chalicelib.b import thing\n"

    # When its imports are read
    nodes = list(_import_nodes(ast.parse(source)))

    # Then only the typing import is there
    assert [n.module for n in nodes] == ["typing"]
