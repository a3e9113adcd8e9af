"""`make bench`: every `bench/bench_*.py` against one local stack; prints a table and writes
bench/results.json. Each module has `run(portal) -> list[Figure]`."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    from chalicelib.localstack.stack import LocalStack, free_port
    from chalicelib.observability import logger

    # The portal's own log lines go to a file: the terminal keeps the table.
    log_file = HERE.parent / "build" / "bench-portal.log"
    log_file.parent.mkdir(exist_ok=True)
    logger.registered_handler.setStream(log_file.open("w"))  # noqa: SIM115 - open for the whole run

    only = set(sys.argv[1:])
    stack = LocalStack(portal_port=free_port(), jvm_options=()).start()  # steady throughput: the JVM's defaults
    from bench.harness import BenchPortal

    portal = BenchPortal.start(stack)
    figures = []
    try:
        for module in sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_")):
            if only and module not in only:
                continue
            print(f"running {module} …", flush=True)
            figures.extend(importlib.import_module(f"bench.{module}").run(portal))
    finally:
        portal.stop()
        stack.stop()
    rows = [f.as_json() for f in figures]
    (HERE / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    header = f"| {'figure':<34} | {'value':>10} | {'floor':>8} | {'ratio':>7} | {'goal':<12} | holds |"
    print("\n" + header + "\n|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        holds = {True: "yes", False: "NO", None: "-"}[r["holds"]]
        print(f"| {r['name']:<34} | {r['value']:>10} | {r['floor']:>8} | {r['ratio']:>7} | {r['goal']:<12} | {holds:<5} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
