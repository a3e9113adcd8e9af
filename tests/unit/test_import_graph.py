"""Imports under chalicelib form a graph without circles, and every arrow points down the layers:
wiring (the local runner) > api/web > frontdoor/events > services > store/mail > aws > kernel.
Only the store, the mail sender, the AWS client factory and the local runner import the AWS libraries.

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


# ---------------------------------------------------------------- direction

# The layers, lowest first. A module belongs to the layer of its longest matching prefix; a module
# may import its own layer or any layer below, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("kernel", ("chalicelib", "chalicelib.settings", "chalicelib.stages", "chalicelib.clock", "chalicelib.errors",
                "chalicelib.observability", "chalicelib.i18n", "chalicelib.startup", "chalicelib.vocabulary",
                "chalicelib.bodies")),
    ("aws", ("chalicelib.aws",)),
    ("store/mail", ("chalicelib.store", "chalicelib.mail")),
    ("services", ("chalicelib.services",)),
    ("frontdoor/events", ("chalicelib.frontdoor", "chalicelib.events")),
    ("api/web", ("chalicelib.api", "chalicelib.web")),
    ("local runner", ("chalicelib.localstack",)),
]
AWS_LIBRARIES = ("boto3", "botocore", "pynamodb", "aws_lambda_powertools.utilities.idempotency")
MAY_IMPORT_AWS = ("aws", "store/mail", "local runner")


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the module's layer, or None for a module no layer names."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best[0] if best else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every edge that runs from a lower layer up to a higher one, as 'a (layer) -> b (layer)'."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                found.append(f"{module} ({LAYERS[low][0]}) -> {target} ({LAYERS[high][0]})")
    return found


def aws_library_imports() -> list[str]:
    """Modules outside the store, mail, aws and the local runner that import an AWS library."""
    found = []
    for module, path in _modules().items():
        index = layer_of(module)
        if index is not None and LAYERS[index][0] in MAY_IMPORT_AWS:
            continue
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{module} imports {name}" for name in names if name.split(".")[0] in {"boto3", "botocore", "pynamodb"}
                      or name.startswith(AWS_LIBRARIES[3])]
    return found


def test_every_module_under_chalicelib_has_a_layer():
    # Given every module under chalicelib
    modules = _modules()

    # When each is placed in a layer
    unplaced = [module for module in modules if layer_of(module) is None]

    # Then none is left out (a new top-level module must be given its layer here)
    assert unplaced == []


def test_every_import_under_chalicelib_points_down_the_layers():
    # Given the import graph of the tree
    graph = import_graph()

    # When its edges are compared with the layers
    upward = upward_imports(graph)

    # Then none runs up
    assert upward == []


def test_an_upward_import_is_caught():
    # Given a tree in which a service imports a page module, and a page module imports a service
    known = {"chalicelib.services.messaging.threads", "chalicelib.web.messaging.patient_pages"}
    up = "from chalicelib.web.messaging import patient_pages\n"
    down = "from chalicelib.services.messaging import threads\n"
    graph = {
        "chalicelib.services.messaging.threads": set().union(
            *(_targets(n, "chalicelib.services.messaging.threads", False, known) for n in _import_nodes(ast.parse(up)))),
        "chalicelib.web.messaging.patient_pages": set().union(
            *(_targets(n, "chalicelib.web.messaging.patient_pages", False, known) for n in _import_nodes(ast.parse(down)))),
    }

    # When the edges are compared with the layers
    upward = upward_imports(graph)

    # Then the service's import is named, and the page's is not
    assert upward == ["chalicelib.services.messaging.threads (services) -> chalicelib.web.messaging.patient_pages (api/web)"]


def test_only_the_store_mail_and_aws_layers_import_the_aws_libraries():
    # Given every module above the store (services, front door, events, routes, pages) and the kernel
    # When their imports of boto3, botocore and PynamoDB are listed
    found = aws_library_imports()

    # Then there are none: the store names the failures services need (store/failures.py)
    assert found == []
