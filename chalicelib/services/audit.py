"""Writes the append-only audit trail: who did what to whose record, when, from where, outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from typing_extensions import TypedDict

from chalicelib.clock import clock, iso
from chalicelib.services import paging
from chalicelib.services.answers import Time
from chalicelib.store import audit as audit_store
from chalicelib.vocabulary import Role

if TYPE_CHECKING:
    from chalicelib.services.access.identity import Caller


class AuditEvent(TypedDict):
    """One event of the trail as admins read it (`as_json`; see chalicelib/services/answers.py for
    how an answer is declared). `detail` holds identifiers only."""

    id: str
    at: Time
    action: str
    outcome: str
    actor_id: str | None
    actor_role: str | None
    patient_id: str | None
    target_id: str | None
    client_ip: str | None
    detail: dict[str, Any] | None


class Someone(Protocol):
    """An account as the trail names it: its id and role."""

    id: str
    role: str


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


def for_caller(caller: Caller, *, actor: Someone | None = None) -> dict[str, Any]:
    """Who acted and from where, as `record` and `new_event` take it: the caller's session, or
    `actor` when there is no session yet (sign-in, forgot password)."""
    return {
        "actor_id": caller.actor_id or (actor.id if actor else None),
        "actor_role": caller.actor_role or (actor.role if actor else None),
        "client_ip": caller.client_ip,
    }


def record_for(caller: Caller, action: str, *, outcome: str = "ok", patient_id: str | None = None,
               target_id: str | None = None, detail: dict[str, Any] | None = None,
               actor: Someone | None = None) -> None:
    """Append one event done by `caller` (see `for_caller` for `actor`)."""
    record(action, outcome=outcome, patient_id=patient_id, target_id=target_id, detail=detail,
           **for_caller(caller, actor=actor))


def patient_of(account: Someone) -> str | None:
    """The patient an event about this account concerns: the account itself, for a patient."""
    return account.id if account.role == Role.PATIENT else None


def record_about(caller: Caller, action: str, account: Someone, *, outcome: str = "ok",
                 detail: dict[str, Any] | None = None, as_actor: bool = False) -> None:
    """An event about one account: its patient id (for patients) and its id as the target;
    `as_actor` when that account is also who acted, without a session yet."""
    record_for(caller, action, outcome=outcome, patient_id=patient_of(account), target_id=account.id,
               detail=detail, actor=account if as_actor else None)


def new_event(action: str, *, outcome: str = "ok", actor_id: str | None = None, actor_role: str | None = None,
              patient_id: str | None = None, target_id: str | None = None, client_ip: str | None = None,
              detail: dict[str, Any] | None = None) -> audit_store.AuditEvent:
    """An event not yet written, for a store that writes it in the same transaction as the change."""
    now = clock.now()
    return audit_store.AuditEvent(
        audit_store.event_id(now),
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


def as_json(event: audit_store.AuditEvent) -> AuditEvent:
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


# Events a page of the trail holds, at most and when the reader does not say.
TRAIL_PAGE = 500


def trail_page(*, patient_id: str | None = None, actor_id: str | None = None, limit: int = TRAIL_PAGE,
               cursor: str | None = None) -> tuple[list[AuditEvent], str | None]:
    """One page of the trail, newest first (events of one moment in the order they were written),
    for one patient or one actor (both given: both must match): the events, and the cursor of the
    next page (None on the last). A cursor this trail did not give out is a 400."""
    position = paging.decode(cursor, "audit", parts=1)
    rows, last = audit_store.page(patient_id=patient_id, actor_id=actor_id, before=position[0] if position else None,
                                  limit=limit)
    return [as_json(row) for row in rows], (paging.encode("audit", last) if last else None)


def read_trail(caller: Caller, *, patient_id: str | None = None, of_actor_id: str | None = None,
               limit: int = TRAIL_PAGE, cursor: str | None = None) -> tuple[list[AuditEvent], str | None]:
    """An admin reads a page of the trail (of a patient, of a staff member); each reading is
    recorded too. (The events, and the next page's cursor or None.)"""
    position = paging.decode(cursor, "audit", parts=1)  # a bad cursor is refused before anything is written
    record_for(caller, "audit.view", patient_id=patient_id, target_id=of_actor_id,
               detail={"page": "older"} if position else None)
    return trail_page(patient_id=patient_id, actor_id=of_actor_id, limit=limit, cursor=cursor)
