"""The common part of the end-to-end queue benchmarks (publication, lab intake): hand everything
waiting to its function, as Lambda's SQS event source would, while botocore records the calls;
print the function's calls per unit by operation and check that each unit mailed one notice."""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.localstack import calls, pump


@dataclass(frozen=True)
class Drained:
    function_calls: int  # AWS calls the functions made (SQS receive/delete left out: the event source makes them)
    seconds: float


def drain_recording(units: int, function: str, unit: str) -> Drained:
    """Drain the queues until three rounds in a row find nothing, recording every AWS call; print
    the calls per `unit` by operation (`function` names who made them) and fail unless `units`
    notices were sent."""
    with calls.recording() as recorded:
        started = time.perf_counter()
        idle_rounds = 0
        while idle_rounds < 3:
            idle_rounds = idle_rounds + 1 if pump.drain() == 0 else 0
        seconds = time.perf_counter() - started
    made = calls.Recorder([c for c in recorded.calls if c.service != "sqs"])
    print(f"  {function} AWS calls per {unit}: " + ", ".join(
        f"{name} {count / units:.2f}" for name, count in made.by_operation().most_common()), flush=True)
    if made.count("email", "SendEmail") != units:
        raise RuntimeError(f"{made.count('email', 'SendEmail')} notices sent for {units} {unit}s")
    return Drained(len(made.calls), seconds)
