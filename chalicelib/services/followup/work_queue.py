"""The staff work queue: what needs a person (follow-up calls, forms, quarantined uploads,
bad email addresses, notices that could not be sent)."""

from __future__ import annotations

from chalicelib.clock import clock, iso
from chalicelib.errors import NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup.answers import FollowUpEntry, Queue, Resolved, WorkEntry
from chalicelib.services.results import critical
from chalicelib.store import accounts as account_store
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store


def entry_json(entry: work_store.WorkEntry) -> WorkEntry:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "created_at": iso(entry.created_at),
        "patient_id": entry.patient_id,
        "item_id": entry.item_id,
        "reason": entry.reason,
        "data": entry.data.as_dict() if entry.data is not None else None,
    }


def _named(entries: list[WorkEntry]) -> list[FollowUpEntry]:
    """Entries with the patient's name and phone on file and the item's title, as a staff member
    making the call needs them (one batch read of the accounts, one read per item)."""
    patients = import_store.accounts_by_id({e["patient_id"] for e in entries if e["patient_id"]})
    titles: dict[str, str | None] = {}
    for entry in entries:
        item_id = entry["item_id"]
        if item_id and item_id not in titles:
            item = item_store.get(item_id)
            titles[item_id] = item.title if item is not None else None
    named: list[FollowUpEntry] = []
    for entry in entries:
        patient = patients.get(entry["patient_id"] or "")
        named.append({**entry, "patient_name": patient.name if patient is not None else None,
                      "phone": patient.phone if patient is not None else None,
                      "item_title": titles.get(entry["item_id"] or "")})
    return named


def snapshot() -> Queue:
    return {
        "follow_ups": _named([entry_json(e) for e in work_store.open_entries("follow_up")]),
        "forms": [entry_json(e) for e in work_store.open_entries("form")],
        "quarantine": [entry_json(e) for e in work_store.open_entries("quarantine")],
        "failed_notices": _named([entry_json(e) for e in work_store.open_entries("notice_failed")]),
        "critical_results": critical.open_entries(),
        "bad_emails": [
            {"patient_id": a.id, "name": a.name, "reason": a.email_bad_reason, "since": iso(a.email_bad_at)}
            for a in account_store.with_bad_email()
        ],
    }


def resolve(caller: Caller, entry_id: str, note: str | None, kind: str | None = None) -> Resolved:
    entry = work_store.get(entry_id)
    if entry is None or (kind and entry.kind != kind):
        raise NotFound(N_("No queue entry with that id."))
    closed = work_store.resolve(entry, caller.actor_id, note, clock.now())
    audit.record_for(caller, "queue.resolve", patient_id=entry.patient_id, target_id=entry.id,
                     outcome="ok" if closed else "already_resolved", detail={"kind": entry.kind})
    return {"id": entry.id, "status": "resolved"}
