"""The one Logger and Metrics of the portal.

Logs and metrics never carry medical content, passwords or tokens: log identifiers and outcomes only.
Every line is one JSON object written by Powertools' handler. A failure is logged by `failure()`'s
fields: the exception's type, its AWS error code and where it was raised, never its message (an
exception's message can quote the input it refused, PHI included).
"""

from __future__ import annotations

import functools
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from aws_lambda_powertools import Logger, Metrics

from chalicelib.settings import get_settings

SERVICE = "patient-portal"
NAMESPACE = "PatientPortal"
FRAMES = 6  # the innermost frames a failure names: enough to find the line, short enough to read

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# Every figure names its stage beside the service: dev and prod may share an account, and each
# stage's alarms (infra/alarms.py) watch their own stage's figures only.
metrics.set_default_dimensions(stage=get_settings().stage)

# A scheduled job's heartbeat, published once per completed run: its alarm fires when none came for
# a day and more (infra/alarms.py). Job (the function's name) -> metric name.
HEARTBEATS = {"follow-up-sweep": "FollowUpSweepHeartbeat", "outbox-sender": "OutboxSenderHeartbeat"}
# How long one sign-in took (milliseconds), every attempt: its p95 has an alarm.
SIGN_IN_DURATION = "SignInDuration"

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Most requests record no metric; flushing an empty set at the end of each is expected, not news.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# fpdf2 says at import that it cannot place images without Pillow, which the bundle leaves out
# (infra/bundle.py: the letters are text); said on every cold start, it would be news to no one.
warnings.filterwarnings("ignore", message="Pillow could not be imported")


def heartbeat(job: str) -> None:
    """`job` (a name of HEARTBEATS) ran to its end: one count of its heartbeat metric."""
    metrics.add_metric(name=HEARTBEATS[job], unit="Count", value=1)


def timed(metric: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """A function whose every call (returned or raised) records its duration as `metric`, in ms."""

    def decorate(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def measured(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                metrics.add_metric(name=metric, unit="Milliseconds",
                                   value=round((time.perf_counter() - started) * 1000, 1))

        return measured

    return decorate


def failure(exc: BaseException) -> dict[str, Any]:
    """An exception as log fields: `error_type` (and `error_cause`, the type it was raised from),
    `error_code` (an AWS error's code) and `error_at` (file:line function, innermost last). The
    message and the traceback's values stay out."""
    fields: dict[str, Any] = {"error_type": type(exc).__name__}
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        fields["error_cause"] = type(cause).__name__
    for error in (exc, cause):  # PynamoDB raises its own error from botocore's
        response = getattr(error, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            fields["error_code"] = response["Error"]["Code"]
            break
    frames = traceback.extract_tb(exc.__traceback__)[-FRAMES:]
    fields["error_at"] = [f"{_short(frame.filename)}:{frame.lineno} {frame.name}" for frame in frames]
    return fields


@contextmanager
def failures_logged(message: str, **ids: Any) -> Iterator[None]:
    """An event handler's failure, logged (with `ids` and `failure()`'s fields) and raised again, so
    Lambda's retries and dead-letter queues still see it."""
    try:
        yield
    except Exception as exc:
        logger.error(message, extra={**ids, **failure(exc)})
        raise


def _short(filename: str) -> str:
    """A frame's file as `chalicelib/…`, `botocore/…` (a library's), or its bare name."""
    for marker, keep in (("/chalicelib/", "chalicelib/"), ("/site-packages/", "")):
        if marker in filename:
            return keep + filename.split(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


class ChaliceLog:
    """Chalice's own logger (`app.log`). Chalice says one thing: a view raised, so it answers 500
    ("Caught exception for path %s", the route as declared, with the exception). That goes out
    once, through the one logger, as the same `unhandled error` line the error middleware writes;
    nothing else Chalice might say is written (its lines are plain text, not the portal's JSON)."""

    name = f"{SERVICE}.chalice"

    def error(self, msg: str, *args: Any, exc_info: Any = None, **_: Any) -> None:
        exc = sys.exc_info()[1] if exc_info is True else exc_info if isinstance(exc_info, BaseException) else None
        route = args[0] if args and isinstance(args[0], str) else None
        fields = failure(exc) if exc is not None else {}
        logger.error("unhandled error", extra={"outcome": "internal_error", "status": 500, "route": route, **fields})

    critical = error

    def exception(self, msg: str, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        self.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, *_: Any, **__: Any) -> None:
        return None

    info = warning = debug
