"""One Lambda function's work in a fresh interpreter, as a cold Lambda sandbox would do it, and the
process's peak resident memory after it: `python -m bench.peak_memory signin|publish|sweep`, with
the local stack's environment. Prints the peak in MiB.

- signin: import the app, then POST /api/auth/login for BENCH_USERNAME / BENCH_PASSWORD
  (Argon2id at the production cost: the settings' defaults, nothing cheaper).
- publish: the publisher handles what waits in the upload queue (the main process put it there).
- sweep: the hourly follow-up sweep runs as of BENCH_AT.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path


def api_event(method: str, path: str, body: dict | None = None, *, route: str | None = None,
              params: dict | None = None) -> dict:
    """API Gateway's proxy event for `path`; `route` is its declared route when it has parameters."""
    headers = {"host": "localhost", "accept": "application/json", "content-type": "application/json"}
    return {
        "resource": route or path, "path": path, "httpMethod": method, "headers": headers, "multiValueHeaders": {},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": params,
        "stageVariables": None, "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
        "requestContext": {"httpMethod": method, "resourcePath": route or path, "path": path,
                           "identity": {"sourceIp": "127.0.0.1", "userAgent": "bench"}, "requestId": "bench"},
    }


def peak_mib() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries the
    latter across exec, so a child started from a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: KiB, as Linux reports


def main(kind: str) -> None:
    if kind == "signin":
        from app import app
        from bench.coldstart import Context

        answer = app(api_event("POST", "/api/auth/login", {"username": os.environ["BENCH_USERNAME"],
                                                           "password": os.environ["BENCH_PASSWORD"]}), Context())
        assert answer["statusCode"] == 200, answer
    elif kind == "publish":
        from chalicelib.localstack import pump

        assert pump.drain() > 0, "nothing was waiting in the upload queue"
    elif kind == "sweep":
        from chalicelib.localstack import pump

        pump.run_schedules(os.environ["BENCH_AT"], only="follow-up-sweep")
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    print(f"{peak_mib():.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
