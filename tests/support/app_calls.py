"""The AWS calls the portal's functions make, as IAM sees them, for the policy coverage test.

A call counts as the app's when it is made while a Lambda entry point is running: Chalice's
dispatch in `chalice/app.py` (every HTTP route, and the SQS, SNS and scheduled handlers the
local pump invokes) is on the calling thread's stack. Everything else is the test stack's own
doing, made with other credentials in AWS: creating tables, buckets, queues and the SES identity
(`chalicelib/localstack`), the pump's polling of queues, reading moto's mailbox, the fixtures'
direct service calls, and the `portal` command line (run with an operator's credentials).

Each call is kept with the Lambda function that made it, as `chalice package` splits the app:
the innermost event handler on the stack (the pump, the test client and a `/dev` route all call
the same handler objects) names its function; any other call inside Chalice's dispatch is the
API function's. Each function has its own role, so each is checked against its own policy.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from chalicelib.localstack.calls import Call, Recorder

REGION = "us-east-1"
ACCOUNT = "123456789012"
_ENTRY_POINT = os.path.join("chalice", "app.py")

# One requirement: IAM must allow at least one of these (action, resource) pairs.
Requirement = tuple[tuple[str, str], ...]


API_FUNCTION = "api_handler"  # the name `.chalice/config.json`'s `lambda_functions` gives the API's function


@functools.lru_cache(maxsize=1)
def _event_functions() -> dict[object, str]:
    """Each event handler's function (the user's function object) -> its Lambda function's name."""
    from app import app

    return {_handler_function(source.handler_string): source.name for source in app.event_sources}


def _handler_function(handler_string: str):
    module, _, name = handler_string.rpartition(".")
    return getattr(importlib.import_module(module), name).func


def calling_function() -> str | None:
    """The Lambda function whose entry point is running on this thread, or None outside them."""
    frame, inside = sys._getframe(2), False
    while frame is not None:
        if frame.f_code.co_filename.endswith(_ENTRY_POINT):
            inside = True
            handler = frame.f_locals.get("self")
            function = getattr(handler, "func", None)
            if function is not None and frame.f_code.co_name == "__call__":
                name = _event_functions().get(function)
                if name:
                    return name
        frame = frame.f_back
    return API_FUNCTION if inside else None


def _table(name: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def _queue(url_or_name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url_or_name.rstrip('/').rsplit('/', 1)[-1]}"


def _one(action: str, resource: str) -> Requirement:
    return ((action, resource),)


_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _dynamodb(operation: str, params: dict) -> list[Requirement]:
    if operation == "TransactWriteItems":
        return [_one(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table(body["TableName"]))
                for item in params.get("TransactItems", []) for kind, body in item.items()]
    if operation == "TransactGetItems":
        return [_one("dynamodb:GetItem", _table(item["Get"]["TableName"])) for item in params.get("TransactItems", [])]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [_one(f"dynamodb:{operation}", _table(name)) for name in params.get("RequestItems", {})]
    return [_one(f"dynamodb:{operation}", _table(params.get("TableName", "?"), params.get("IndexName")))]


_S3_OBJECT_ACTIONS = {"HeadObject": "GetObject", "GetObject": "GetObject", "PutObject": "PutObject",
                      "DeleteObject": "DeleteObject", "GetObjectTagging": "GetObjectTagging",
                      "PutObjectTagging": "PutObjectTagging", "CreateMultipartUpload": "PutObject",
                      "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject",
                      "AbortMultipartUpload": "AbortMultipartUpload"}


def _s3(operation: str, params: dict) -> list[Requirement]:
    bucket = params.get("Bucket", "?")
    if operation == "CopyObject":
        source = params["CopySource"]
        source = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else source.lstrip("/")
        return [_one("s3:GetObject", f"arn:aws:s3:::{source.split('?', 1)[0]}"),
                _one("s3:PutObject", f"arn:aws:s3:::{bucket}/{params['Key']}")]
    if operation == "GetObjectAttributes":  # S3 asks for both
        return [_one(f"s3:{action}", f"arn:aws:s3:::{bucket}/{params['Key']}")
                for action in ("GetObject", "GetObjectAttributes")]
    if operation == "DeleteObjects":
        return [_one("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{o['Key']}") for o in params["Delete"]["Objects"]]
    if operation in _S3_OBJECT_ACTIONS:
        return [_one(f"s3:{_S3_OBJECT_ACTIONS[operation]}", f"arn:aws:s3:::{bucket}/{params['Key']}")]
    if operation in ("ListObjects", "ListObjectsV2", "HeadBucket"):
        return [_one("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    return [_one(f"s3:{operation}", f"arn:aws:s3:::{bucket}")]


def _sqs(operation: str, params: dict) -> list[Requirement]:
    queue = _queue(params.get("QueueUrl") or params.get("QueueName", "?"))
    action = operation.removesuffix("Batch")
    return [_one(f"sqs:{action}", queue)]


def _ses(operation: str, params: dict) -> list[Requirement]:
    sender = params.get("FromEmailAddress") or params.get("Source") or "?"
    identities = (f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{sender}",
                  f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{sender.rsplit('@', 1)[-1]}")
    action = "ses:SendEmail" if operation == "SendEmail" else f"ses:{operation}"
    needs = [tuple((action, identity) for identity in identities)]
    if params.get("ConfigurationSetName"):
        needs.append(_one(action, f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{params['ConfigurationSetName']}"))
    return needs


def required_permissions(service: str, operation: str, params: dict) -> list[Requirement]:
    """What IAM must allow for one API call: a list of requirements, all needed."""
    if service == "dynamodb":
        return _dynamodb(operation, params)
    if service == "s3":
        return _s3(operation, params)
    if service == "sqs":
        return _sqs(operation, params)
    if service == "email":  # SES and SESv2 share the endpoint prefix
        return _ses(operation, params)
    if service == "sns":
        return [_one(f"sns:{operation}", params.get("TopicArn", "?"))]
    return [_one(f"{service}:{operation}", "*")]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _matches(statement: dict, action: str, resource: str) -> bool:
    actions = [a.lower() for a in _as_list(statement.get("Action", []))]
    return (any(fnmatchcase(action.lower(), pattern) for pattern in actions)
            and any(fnmatchcase(resource, pattern) for pattern in _as_list(statement.get("Resource", []))))


def allows(policy: dict, action: str, resource: str) -> bool:
    """IAM's answer for one action on one resource, for policies without conditions."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _matches(s, action, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource) for s in statements)


def not_allowed(policy: dict, requirements: Iterable[Requirement]) -> list[Requirement]:
    return [need for need in requirements if not any(allows(policy, action, arn) for action, arn in need)]


@dataclass
class AppCallRecorder(Recorder):
    """Keeps only the app's calls (see the module docstring), as IAM requirements with an example,
    per Lambda function (`by_function`) and for all of them together (`requirements`)."""

    requirements: dict[Requirement, str] = field(default_factory=dict)
    by_function: dict[str, dict[Requirement, str]] = field(default_factory=dict)
    _needs_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, call: Call, params: dict | None = None) -> None:
        function = calling_function()
        if function is None:
            return
        needs = required_permissions(call.service, call.operation, params or {})
        example = f"{call.service}:{call.operation} on {call.resource}"
        with self._needs_lock:
            own = self.by_function.setdefault(function, {})
            for need in needs:
                self.requirements.setdefault(need, example)
                own.setdefault(need, example)

    def save(self, path: Path) -> None:
        """Write what this process recorded, for the check that runs after every worker is done."""
        with self._needs_lock:
            rows = [[function, [list(pair) for pair in need], example]
                    for function, needs in self.by_function.items() for need, example in needs.items()]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows), encoding="utf-8")

    def merge(self, path: Path) -> None:
        """Add what another process recorded and saved."""
        for function, need, example in json.loads(path.read_text(encoding="utf-8")):
            requirement = tuple(tuple(pair) for pair in need)
            with self._needs_lock:
                self.requirements.setdefault(requirement, example)
                self.by_function.setdefault(function, {}).setdefault(requirement, example)
