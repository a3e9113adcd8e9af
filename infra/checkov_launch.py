"""Runs checkov (in its own virtualenv's interpreter: `infra.scan` starts it) with one change that
leaves its findings as they are: the JSONPath grammar's parse tables are built once.

checkov renders a template's `Fn::Sub` values through `bc_jsonpath_ng`, whose parser asks PLY for
a new LALR table on every path it parses (its own comment: "we regenerate the parse table every
time"). On the packaged template that is over 600 tables, nine tenths of checkov's run. The table
depends only on the grammar (the parser's class), the start symbol and the debug switch, and the
grammar's actions keep no state in the parser, so one table per grammar serves every parse.

    .venv-checkov/bin/python infra/checkov_launch.py --file build/sam.json ...   # checkov's own arguments
"""

from __future__ import annotations

import sys
import warnings
from typing import Any


def build_tables_once() -> None:
    import ply.yacc

    build = ply.yacc.yacc
    built: dict[tuple[Any, ...], Any] = {}

    def yacc_once(*args: Any, module: Any = None, start: str | None = None, debug: bool = False,
                  **options: Any) -> Any:
        if args or module is None:  # not the way bc_jsonpath_ng asks: build as PLY always does
            return build(*args, module=module, start=start, debug=debug, **options)
        key = (type(module), start, bool(debug))
        if key not in built:
            built[key] = build(module=module, start=start, debug=debug, **options)
        return built[key]

    ply.yacc.yacc = yacc_once


if __name__ == "__main__":
    build_tables_once()
    from checkov.main import Checkov

    sys.argv[0] = "checkov"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=SyntaxWarning)
        sys.exit(Checkov().run())
