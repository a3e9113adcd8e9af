"""One cold start, measured inside a fresh interpreter: import an app module, then serve its
first request. Run as `python -m bench.coldstart portal|bare` with the local stack's environment;
prints the seconds taken."""

from __future__ import annotations

import os
import sys
import time


def api_gateway_event(path: str, token: str | None) -> dict:
    headers = {"host": "localhost", "accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"httpMethod": "GET", "resourcePath": path, "path": path,
                           "identity": {"sourceIp": "127.0.0.1"}, "requestId": "cold"},
        "body": None,
        "isBase64Encoded": False,
    }


class Context:
    function_name = "cold-start"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:local:123456789012:function:cold-start"
    aws_request_id = "cold"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def main(kind: str) -> None:
    started = time.perf_counter()
    if kind == "portal":
        from app import app

        answer = app(api_gateway_event("/api/items", os.environ["BENCH_TOKEN"]), Context())
    else:
        from bench.bare_app import app

        answer = app(api_gateway_event("/items", None), Context())
    elapsed = time.perf_counter() - started
    assert answer["statusCode"] == 200, answer
    print(f"{elapsed:.6f}")


if __name__ == "__main__":
    main(sys.argv[1])
