"""Writes the append-only audit trail: who did what to whose record, when, from where, outcome."""

from __future__ import annotations

import secrets
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.store import audit as audit_store


def record(
    action: str,
    *,
    outcome: str = "ok",
    actor_id: str | None = None,
    actor_role: str | None = None,
    patient_id: str | None = None,
    target_id: str | None = None,
    client_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event. `detail` holds identifiers only: never medical content or secrets."""
    audit_store.append(new_event(action, outcome=outcome, actor_id=actor_id, actor_role=actor_role, patient_id=patient_id,
                                 target_id=target_id, client_ip=client_ip, detail=detail))


def new_event(action: str, *, outcome: str = "ok", actor_id: str | None = None, actor_role: str | None = None,
              patient_id: str | None = None, target_id: str | None = None, client_ip: str | None = None,
              detail: dict[str, Any] | None = None) -> audit_store.AuditEvent:
    """An event not yet written, for a store that writes it in the same transaction as the change."""
    now = clock.now()
    return audit_store.AuditEvent(
        f"{iso(now)}#{secrets.token_hex(6)}",
        at=now,
        action=action,
        outcome=outcome,
        actor_id=actor_id,
        actor_role=actor_role,
        patient_id=patient_id,
        target_id=target_id,
        client_ip=client_ip,
        detail=detail or None,
    )


def as_json(event: audit_store.AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "action": event.action,
        "outcome": event.outcome,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "patient_id": event.patient_id,
        "target_id": event.target_id,
        "client_ip": event.client_ip,
        "detail": event.detail.as_dict() if event.detail is not None else None,
    }


def events(*, patient_id: str | None = None, actor_id: str | None = None) -> list[dict[str, Any]]:
    """Newest first, for one patient or one actor (both given: both must match)."""
    if patient_id:
        rows = audit_store.for_patient(patient_id)
        if actor_id:
            rows = (row for row in rows if row.actor_id == actor_id)
    elif actor_id:
        rows = audit_store.for_actor(actor_id)
    else:
        rows = []
    return [as_json(row) for row in rows]


def read_trail(*, actor_id: str | None, actor_role: str | None, client_ip: str | None,
               patient_id: str | None = None, of_actor_id: str | None = None) -> list[dict[str, Any]]:
    """An admin reads the trail (of a patient, of a staff member); the reading is recorded too."""
    record("audit.view", actor_id=actor_id, actor_role=actor_role, patient_id=patient_id, target_id=of_actor_id,
           client_ip=client_ip)
    return events(patient_id=patient_id, actor_id=of_actor_id)
