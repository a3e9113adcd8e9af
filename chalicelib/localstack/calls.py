"""Records every AWS API call the portal makes (service, operation, and the resource named),
for the benchmarks' call counts and the IAM policy coverage test.

botocore emits `before-call` on each client's own event system; clients made before recording
starts (cached by `chalicelib.aws`, held by PynamoDB) would be missed, so the recorder hooks the
one method every client call goes through instead, and emits the same information.
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

from botocore.client import BaseClient

_RESOURCE_PARAMS = ("TableName", "Bucket", "QueueUrl", "TopicArn", "ConfigurationSetName", "FromEmailAddress")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    resource: str | None


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, call: Call, params: dict | None = None) -> None:
        """`params` are the call's parameters, for recorders that look inside (the policy check)."""
        with self._lock:
            self.calls.append(call)

    def count(self, service: str | None = None, operation: str | None = None) -> int:
        return sum(1 for c in self.calls if (service is None or c.service == service)
                   and (operation is None or c.operation == operation))

    def by_operation(self) -> Counter:
        return Counter(f"{c.service}:{c.operation}" for c in self.calls)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


_active: list[Recorder] = []
_original = BaseClient._make_api_call
_install_lock = threading.Lock()


def _resource(params: dict) -> str | None:
    for name in _RESOURCE_PARAMS:
        if name in params:
            return str(params[name])
    items = params.get("TransactItems") or []
    tables = sorted({next(iter(op.values())).get("TableName", "") for op in items if op})
    tables += sorted(params.get("RequestItems") or {})  # BatchGetItem, BatchWriteItem: keyed by table
    return ",".join(tables) or None


def _recording_call(self, operation_name, api_params):
    if _active:
        service = self.meta.service_model.endpoint_prefix
        call = Call(service, operation_name, _resource(api_params or {}))
        for recorder in list(_active):
            recorder.add(call, api_params or {})
    return _original(self, operation_name, api_params)


@contextmanager
def recording(recorder: Recorder | None = None):
    """`with recording() as calls:` every AWS call made in any thread meanwhile lands in `calls`
    (or in the given recorder, which may choose what to keep)."""
    recorder = recorder if recorder is not None else Recorder()
    with _install_lock:
        BaseClient._make_api_call = _recording_call
        _active.append(recorder)
    try:
        yield recorder
    finally:
        with _install_lock:
            _active.remove(recorder)
            if not _active:
                BaseClient._make_api_call = _original
