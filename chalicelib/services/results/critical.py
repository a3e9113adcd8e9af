"""Critical values on the office's work queue: a result version with LL, HH or AA puts an entry
there the moment it arrives (written in the version's own transaction, `publish._critical`), with
what the call needs: the patient, their phone on file, the result and who ordered it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from chalicelib.clock import clock, iso
from chalicelib.errors import NotFound
from chalicelib.i18n import N_
from chalicelib.observability import failure, logger, metrics
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup import notices
from chalicelib.services.results.answers import CriticalCallRecorded, CriticalResultEntry
from chalicelib.store import accounts as account_store
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store
from chalicelib.vocabulary import Role

CRITICAL_RESULT = "critical_result"
RESULT = "result"
# An entry still uncalled this long after it arrived is mailed again, to the admins (once).
REMIND_AFTER = timedelta(hours=1)
# One transaction holds the entry's mark and every admin's reminder (DynamoDB takes 100 rows).
_MOST_ADMINS = 99


def entry_id(result_id: str, version: int) -> str:
    """The work entry of one version's critical value."""
    return f"{CRITICAL_RESULT}#{result_id}#v{version}"


def record_call(caller: Caller, result_id: str, outcome: str, note: str | None) -> CriticalCallRecorded:
    """The office called the patient about a critical result: the outcome and note close every
    open entry of the result (one per version that had a critical value); audited. 404 when the
    result is unknown or nothing of it waits for a call."""
    item = item_store.get(result_id) if result_id and len(result_id) <= 100 else None
    if item is None or item.kind != RESULT:
        raise NotFound(N_("No critical result of that id is waiting for a call."))
    versions = int(item.version or 1)
    entries = work_store.open_among([entry_id(result_id, v) for v in range(1, versions + 1)])
    if not entries:
        raise NotFound(N_("No critical result of that id is waiting for a call."))
    now = clock.now()
    text = (note or "").strip() or None
    for entry in entries:
        work_store.resolve(entry, caller.actor_id or "", text, now, resolution=outcome)
    audit.record_for(caller, "result.critical_called", patient_id=item.patient_id, target_id=result_id,
                     detail={"outcome": outcome, "entries": len(entries)})
    logger.info("critical result called", extra={"result_id": result_id, "outcome": outcome})
    return {"result_id": result_id, "outcome": cast(Any, outcome), "called_at": iso(now)}


def open_entries() -> list[CriticalResultEntry]:
    """Every critical result still waiting for a call, oldest first, with the patients' names and
    phones (one batched read of the accounts)."""
    return entries_json(list(work_store.open_entries(CRITICAL_RESULT)))


def entries_json(entries: list[work_store.WorkEntry]) -> list[CriticalResultEntry]:
    """Critical-result entries as the office reads them, with the patients' names and phones (one
    batched read of the accounts)."""
    patients = import_store.accounts_by_id({e.patient_id for e in entries if e.patient_id})
    shown: list[CriticalResultEntry] = []
    for entry in entries:
        data: dict[str, Any] = entry.data.as_dict() if entry.data is not None else {}
        patient = patients.get(entry.patient_id or "")
        shown.append({
            "id": entry.id, "result_id": str(data.get("result_id") or entry.item_id or ""),
            "version": int(data.get("version") or 1), "patient_id": entry.patient_id,
            "patient_name": patient.name if patient is not None else None,
            "phone": patient.phone if patient is not None else None, "title": data.get("title"),
            "flags": [str(f) for f in data.get("flags") or []], "reported_at": data.get("reported_at"),
            "created_at": iso(entry.created_at) or "", "ordered_by_name": data.get("ordered_by_name"),
            "ordered_by_npi": data.get("ordered_by_npi"),
        })
    return shown


def remind_admins(now: datetime) -> dict[str, int]:
    """The hourly sweep's step: each critical-result entry still uncalled REMIND_AFTER after it
    arrived is mailed again, to every admin (the mail says only that a lab result still needs a
    call), or to the office's address when no admin can take it (none active with an address).
    The entry's reminder mark and the reminders' outbox rows are written in ONE conditional
    transaction, so two sweeps at once, or the same sweep run twice, remind once; a send that fails
    in passing is left to the outbox's retries. Reads only the open critical entries old
    enough and not reminded yet (the work queue's sparse index)."""
    due = work_store.open_unreminded(CRITICAL_RESULT, now - REMIND_AFTER)
    counts: dict[str, int] = {}
    if not due:
        return counts
    admins = [a for a in account_store.list_staff() if a.role == Role.ADMIN and a.disabled_at is None and a.email]
    recipients: list[account_store.Account | None] = list(admins[:_MOST_ADMINS]) or [None]  # None: the office
    for entry in due:
        try:
            reminders = [notices.new_leased_admin_reminder(
                entry.id, admin.id if admin is not None else notices.OFFICE_RECIPIENT, now) for admin in recipients]
            if not work_store.mark_reminded(entry, now, reminders):
                counts["taken"] = counts.get("taken", 0) + 1  # called, or reminded by another sweep, meanwhile
                continue
            counts["reminded"] = counts.get("reminded", 0) + 1
            outcomes = [notices.deliver(reminder, admin, leased=True) for reminder, admin in zip(reminders, recipients,
                                                                                               strict=True)]
        except Exception as exc:  # noqa: BLE001 - one entry's passing failure must not stop the sweep
            # Unmarked, it is reminded next run; marked, its leased rows are sent by the outbox's retries.
            logger.error("critical result reminder failed", extra={"entry_id": entry.id, **failure(exc)})
            counts["errors"] = counts.get("errors", 0) + 1
            continue
        for outcome in outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        level = logger.info if admins else logger.warning
        level("critical result reminder", extra={"entry_id": entry.id, "admins": len(admins),
                                                 "to_office": not admins, "sent": outcomes.count("sent")})
    metrics.add_metric(name="CriticalResultReminded", unit="Count", value=counts.get("reminded", 0))
    return counts
