"""The staff work queue: what needs a person (follow-up calls, forms, quarantined uploads,
bad email addresses, notices that could not be sent)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from chalicelib.clock import clock, iso
from chalicelib.errors import NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit, paging
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup.answers import (
    BadEmail,
    FollowUpEntry,
    QueueCounts,
    QueuePage,
    Resolved,
    WorkEntry,
)
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


def _bad_emails() -> list[BadEmail]:
    return [{"patient_id": a.id, "name": a.name, "reason": a.email_bad_reason, "since": iso(a.email_bad_at)}
            for a in account_store.with_bad_email()]


# Entries of each list a page of the queue holds when the reader does not say, and at most.
QUEUE_PAGE = 100
QUEUE_PAGE_MAX = 500
# The lists that come a page at a time, and the kind of work entry each lists.
PAGED = {"follow_ups": "follow_up", "forms": "form", "quarantine": "quarantine", "failed_notices": "notice_failed",
         "critical_results": critical.CRITICAL_RESULT}


def _positions(cursor: str | None) -> dict[str, tuple[datetime, str]] | None:
    """Where each list with more entries goes on (the cursor a page gave out), None for the first page."""
    decoded = paging.decode(cursor, "queue", parts=1, longest=4000)
    if decoded is None:
        return None
    try:
        raw = json.loads(decoded[0])
        positions = {name: (datetime.fromisoformat(at), str(entry_id)) for name, (at, entry_id) in raw.items()
                     if name in PAGED and isinstance(at, str) and isinstance(entry_id, str) and entry_id}
    except (ValueError, TypeError, AttributeError):
        raise paging.bad_cursor() from None
    if not positions or len(positions) != len(raw):
        raise paging.bad_cursor()
    return positions


def page(limit: int | None = QUEUE_PAGE, cursor: str | None = None) -> QueuePage:
    """A page of the work queue: at most `limit` entries of each list (None: every one), oldest
    first, and the cursor that continues every list with more (the others then come empty). The
    addresses that bounced come whole on the first page (a short list: a patient leaves it with a
    new address)."""
    positions = _positions(cursor)
    found: dict[str, list[work_store.WorkEntry]] = {}
    more: dict[str, list[str]] = {}
    for name, kind in PAGED.items():
        if positions is not None and name not in positions:
            found[name] = []
            continue
        entries, has_more = work_store.open_page(kind, limit, positions.get(name) if positions else None)
        found[name] = entries
        if has_more:
            more[name] = [entries[-1].created_at.isoformat(), entries[-1].id]
    return {
        "follow_ups": _named([entry_json(e) for e in found["follow_ups"]]),
        "forms": [entry_json(e) for e in found["forms"]],
        "quarantine": [entry_json(e) for e in found["quarantine"]],
        "failed_notices": _named([entry_json(e) for e in found["failed_notices"]]),
        "critical_results": critical.entries_json(found["critical_results"]),
        "bad_emails": _bad_emails() if positions is None else [],
        "next_cursor": paging.encode("queue", json.dumps(more, separators=(",", ":"))) if more else None,
    }


def counts(lists: Iterable[str] = (*PAGED, "bad_emails")) -> QueueCounts:
    """How many open entries each of `lists` holds (the queue page's headings: all of them; the
    home page's tiles: those the digest's figures do not count already): a count over the sparse
    open-queue index, or the bounced-address index, for each, no entry read."""
    counted = {name: account_store.count_bad_email() if name == "bad_emails" else work_store.count_open(PAGED[name])
               for name in lists}
    return cast(QueueCounts, counted)


def resolve(caller: Caller, entry_id: str, note: str | None, kind: str | None = None) -> Resolved:
    entry = work_store.get(entry_id)
    if entry is None or (kind and entry.kind != kind):
        raise NotFound(N_("No queue entry with that id."))
    closed = work_store.resolve(entry, caller.signed_in.account_id, note, clock.now())
    audit.record_for(caller, "queue.resolve", patient_id=entry.patient_id, target_id=entry.id,
                     outcome="ok" if closed else "already_resolved", detail={"kind": entry.kind})
    return {"id": entry.id, "status": "resolved"}
