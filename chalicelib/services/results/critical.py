"""Critical values on the office's work queue: a result version with LL, HH or AA puts an entry
there the moment it arrives (written in the version's own transaction, `publish._critical`), with
what the call needs: the patient, their phone on file, the result and who ordered it."""

from __future__ import annotations

from typing import Any, cast

from chalicelib.clock import clock, iso
from chalicelib.errors import NotFound
from chalicelib.i18n import N_
from chalicelib.observability import logger
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.results.answers import CriticalCallRecorded, CriticalResultEntry
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store

CRITICAL_RESULT = "critical_result"
RESULT = "result"


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
