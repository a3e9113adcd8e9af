"""Operators' tasks run from the `portal` command line: dead letters back to work, audit exports."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.services import audit
from chalicelib.services.identity import Caller
from chalicelib.settings import get_settings
from chalicelib.store import audit as audit_store


def replay_dead_letters(limit: int | None = None, queue: str = "publish") -> int:
    """Move messages from a dead-letter queue (the upload publisher's, or the password recovery
    jobs') back to its queue, after the cause of their failure is fixed; returns how many moved.
    Each is sent before it is deleted, so a crash in between leaves a copy in both queues, never in
    neither: both handlers are idempotent."""
    settings = get_settings()
    names = {"publish": (settings.publish_dead_letter_queue_name, settings.publish_queue_name),
             "recovery": (settings.recovery_dead_letter_queue_name, settings.recovery_queue_name)}[queue]
    sqs = aws.client("sqs")
    source, target = (sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in names)
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


def export_audit(caller: Caller, patient_id: str) -> list[dict[str, Any]]:
    """The patient's whole audit trail, oldest first; the export itself is audited."""
    rows = [audit.as_json(event) for event in audit_store.for_patient(patient_id, limit=None)]
    rows.reverse()
    audit.record_for(caller, "audit.export", patient_id=patient_id, detail={"events": len(rows)})
    return rows
