"""One clock style (chalicelib/clock.py): a function that needs the time and is not handed it reads the
one clock once, at its start, and hands that `now` down to its helpers and the store; a function handed
`now` never reads the clock; the store never does. Checked on the source, as the layers are."""

from __future__ import annotations

import ast
from pathlib import Path

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"

# Long jobs whose every step is a moment of its own (a migration's claim, each page it writes and
# checkpoints, its release or finish keep the run's lease current): each step reads the clock once.
LONG_JOBS = {"services/maintenance/migrations.py _run_one"}


def _reads(node: ast.AST) -> int:
    """The calls of `clock.now()` in a function's own body (not in the functions it defines)."""
    count, stack = 0, list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.Call) and ast.unparse(child.func) == "clock.now":
            count += 1
        stack.extend(ast.iter_child_nodes(child))
    return count


def _functions(folder: str):
    for path in sorted((CHALICELIB / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield f"{path.relative_to(CHALICELIB)} {node.name}", node


def _takes_now(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(arg.arg == "now" for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))


def test_a_function_handed_now_never_reads_the_clock():
    # Given every function of the portal that takes `now` / Then it uses that moment alone
    found = [name for folder in ("services", "store", "mail", "events", "api", "web")
             for name, node in _functions(folder) if _takes_now(node) and _reads(node)]
    assert found == []


def test_a_service_function_reads_the_clock_once_and_hands_it_down():
    # Given every function of the services / Then none reads the clock twice (the moments of one
    # operation are one `now`), apart from the long jobs named above
    found = [f"{name} (reads {_reads(node)})" for name, node in _functions("services")
             if _reads(node) > 1 and name not in LONG_JOBS]
    assert found == []


def test_nothing_below_the_services_reads_the_clock():
    # Given the store / Then it is handed every moment it writes
    assert [name for name, node in _functions("store") if _reads(node)] == []
