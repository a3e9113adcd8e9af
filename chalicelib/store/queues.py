"""The portal's own SQS queues: the only code that sends to them or moves their dead letters.

The publish queue is fed by S3 (not by the portal); the recovery queue by `enqueue_recovery_job`.
Lambda's event sources read both, so nothing here receives work for a handler.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from chalicelib import aws
from chalicelib.settings import get_settings


def _sqs() -> Any:
    return aws.client("sqs")


@cache
def _queue_url(queue_name: str) -> str:
    url: str = _sqs().get_queue_url(QueueName=queue_name)["QueueUrl"]
    return url


def enqueue_recovery_job(job: dict[str, Any]) -> None:
    """One password recovery job onto the recovery queue."""
    _sqs().send_message(QueueUrl=_queue_url(get_settings().recovery_queue_name), MessageBody=json.dumps(job))


def _queues(queue: str) -> tuple[str, str]:
    """(dead-letter queue, its queue) by the name operators use: publish, recovery, export or lab."""
    settings = get_settings()
    names = {"publish": (settings.publish_dead_letter_queue_name, settings.publish_queue_name),
             "recovery": (settings.recovery_dead_letter_queue_name, settings.recovery_queue_name),
             "export": (settings.export_dead_letter_queue_name, settings.export_queue_name),
             "lab": (settings.lab_dead_letter_queue_name, settings.lab_queue_name)}
    if queue not in names:
        raise ValueError(f"queue: one of {', '.join(names)}")
    return names[queue]


def replay_dead_letters(queue: str, limit: int | None = None) -> int:
    """Move messages from a dead-letter queue back to its queue; returns how many moved. Each is
    sent before it is deleted, so a crash in between leaves a copy in both queues, never in
    neither (every handler is idempotent)."""
    sqs = _sqs()
    source, target = (sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in _queues(queue))
    moved = 0
    while limit is None or moved < limit:
        wanted = 10 if limit is None else min(10, limit - moved)
        messages = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=wanted, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"], VisibilityTimeout=60).get("Messages", [])
        if not messages:
            break
        for message in messages:
            copy = {"QueueUrl": target, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                copy["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**copy)
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def enqueue_export_job(job: dict[str, Any]) -> None:
    """One take-away records job onto the export queue."""
    _sqs().send_message(QueueUrl=_queue_url(get_settings().export_queue_name), MessageBody=json.dumps(job))
