"""Critical values on the office's work queue: a result version with LL, HH or AA puts an entry
there the moment it arrives (written in the version's own transaction, `publish._critical`), with
what the call needs: the patient, their phone on file, the result and who ordered it."""

from __future__ import annotations

from typing import Any

from chalicelib.clock import iso
from chalicelib.services.results.answers import CriticalResultEntry
from chalicelib.store import imports as import_store
from chalicelib.store import work as work_store

CRITICAL_RESULT = "critical_result"


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
