"""Operators' tasks run from the `portal` command line: dead letters back to work, audit exports."""

from __future__ import annotations

from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.store import audit as audit_store
from chalicelib.store import queues


def replay_dead_letters(limit: int | None = None, queue: str = "publish") -> int:
    """Move messages from a dead-letter queue (the upload publisher's, the password recovery jobs'
    or the take-away records jobs') back to its queue, after the cause of their failure is fixed;
    returns how many moved. Each is sent before it is deleted, so a crash in between leaves a copy
    in both queues, never in neither: every handler is idempotent (an export already built is not
    built again)."""
    return queues.replay_dead_letters(queue, limit)


def export_audit(caller: Caller, patient_id: str) -> list[audit.AuditEvent]:
    """The patient's whole audit trail, oldest first; the export itself is audited."""
    rows = [audit.as_json(event) for event in audit_store.for_patient(patient_id, limit=None)]
    rows.reverse()
    audit.record_for(caller, "audit.export", patient_id=patient_id, detail={"events": len(rows)})
    return rows
