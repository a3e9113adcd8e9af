"""Lab results as patients, caregivers and the office read them: one result (opening it records
the read receipt and is audited), every version for the office, and a test's trend over time.

A patient reads only their own results (a caregiver, those of the patient their grant names):
anyone else's id answers exactly like an id that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup import sweep as followup
from chalicelib.services.providers import review
from chalicelib.services.results.answers import (
    Result,
    ResultComment,
    ResultObservation,
    ResultVersionValues,
    StaffResult,
    Trend,
    TrendPoint,
)
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from chalicelib.store import results as results_store

RESULT = results_store.RESULT
MAX_CODE = 100


def _observation(data: dict[str, Any], counts: dict[str, int] | None = None) -> ResultObservation:
    observation: ResultObservation = {
        "code": str(data.get("code") or ""), "system": data.get("system"), "name": str(data.get("name") or ""),
        "value": data.get("value"), "value_type": data.get("value_type") or "text", "unit": data.get("unit"),
        "reference_range": data.get("reference_range"), "flag": data.get("flag"),
        "status": data.get("status") or "final", "critical": bool(data.get("critical")),
        "comparator": data.get("comparator"), "value_code": data.get("value_code"),
        "observed_at": data.get("observed_at"), "notes": list(data.get("notes") or []),
    }
    if counts is not None:
        observation["trend_points"] = counts.get(_trend_key(data), 0) if data.get("value_type") == "numeric" else 0
    return observation


def _comment(comment: Any) -> ResultComment:
    role = getattr(comment, "role", None)
    return {"author": comment.author, "role": "provider" if role == "provider" else "office", "text": comment.text,
            "created_at": iso(comment.created_at) or ""}


def _reader(caller: Caller) -> tuple[str, str] | None:
    return (caller.actor_role, caller.actor_id) if caller.actor_role and caller.actor_id else None


def _result_json(item: item_store.Item, row: results_store.ResultVersion, counts: dict[str, int] | None) -> Result:
    report = row.report()
    return {
        "id": item.id, "title": row.title, "status": cast(Any, row.status), "version": int(row.version),
        "updated": item.status == item_store.UPDATED,
        "ordered_by": (report.get("ordered_by") or {}).get("name"),
        "collected_at": report.get("collected_at"), "reported_at": report.get("reported_at"),
        "performing_lab": report.get("performing_lab"), "released_at": iso(row.released_at),
        "read_at": iso(item.read_at),
        "observations": [_observation(o, counts) for o in report.get("observations") or []],
        "notes": list(report.get("notes") or []),
        "comments": [_comment(c) for c in item.comments or []],
    }


def _own_result(caller: Caller, result_id: str, action: str) -> tuple[item_store.Item, results_store.ResultVersion]:
    """The caller's own released result and its current version, or the same 404 for another
    patient's id and an unknown one."""
    item = item_store.get(result_id) if result_id and len(result_id) <= 100 else None
    row = results_store.current(item.id, int(item.version or 1)) if item is not None and item.kind == RESULT else None
    if item is None or row is None or item.patient_id != caller.patient_id or not _released(row, clock.now()):
        audit.record_for(caller, action, outcome="not_found", target_id=result_id[:100])
        raise NotFound(N_("No result with that id."))
    return item, row


def _released(row: results_store.ResultVersion, now: datetime) -> bool:
    return row.released_at is not None and row.released_at <= now


def open_result(caller: Caller, result_id: str) -> Result:
    """The result as the patient reads it. The first open of unread content writes the read
    receipt (as a document's: the follow-up stops, the office's call is closed); every open is
    audited, a caregiver's naming them."""
    item, row = _own_result(caller, result_id, "result.view")
    now = clock.now()
    first = followup.record_read(item, now, reader=_reader(caller))
    if first:
        item.read_at = now
    audit.record_for(caller, "result.view", patient_id=item.patient_id, target_id=item.id,
                     detail={"first_open": first, "version": int(row.version)})
    return _result_json(item, row, trend_counts(item.patient_id))


def _version_json(row: results_store.ResultVersion) -> ResultVersionValues:
    report = row.report()
    return {"version": int(row.version), "status": cast(Any, row.status), "reported_at": report.get("reported_at"),
            "received_at": iso(row.received_at) or "",
            "observations": [_observation(o) for o in report.get("observations") or []],
            "notes": list(report.get("notes") or [])}


def staff_result(caller: Caller, result_id: str) -> StaffResult:
    """A result for the office: its patient, receipts and notices, and every version's values."""
    item = item_store.get(result_id) if result_id and len(result_id) <= 100 else None
    if item is None or item.kind != RESULT:
        raise NotFound(N_("No result with that id."))
    rows = results_store.versions(item.id)
    current = next((r for r in rows if int(r.version) == int(item.version or 1)), rows[-1] if rows else None)
    if current is None:
        raise NotFound(N_("No result with that id."))
    patient = account_store.get(item.patient_id)
    reviewed_by, reviewed_at = review.last_review(item.id, int(item.version or 1))
    audit.record_for(caller, "result.staff_view", patient_id=item.patient_id, target_id=item.id)
    return {
        **_result_json(item, current, None),
        "patient_id": item.patient_id, "patient_name": patient.name if patient is not None else None,
        "ordered_by_npi": current.ordered_by_npi, "reviewed_by": reviewed_by, "reviewed_at": iso(reviewed_at),
        "held": not _released(current, clock.now()),
        "critical": any(bool(r.critical) for r in rows), "first_read_at": iso(item.first_read_at),
        "open_count": int(item.open_count or 0), "notices_sent": int(item.notices_sent or 0),
        "versions": [_version_json(r) for r in rows],
    }


# ---------------------------------------------------------------- trends

def _trend_key(observation: dict[str, Any]) -> str:
    return str(observation.get("code") or "")


def _released_rows(patient_id: str) -> list[results_store.ResultVersion]:
    now = clock.now()
    return [row for row in results_store.current_for_patient(patient_id) if _released(row, now)]


def trend_counts(patient_id: str) -> dict[str, int]:
    """How many released numeric values the patient has of each test (by code): one index query."""
    counts: dict[str, int] = {}
    for row in _released_rows(patient_id):
        for observation in row.report().get("observations") or []:
            if observation.get("value_type") == "numeric" and observation.get("value") is not None:
                counts[_trend_key(observation)] = counts.get(_trend_key(observation), 0) + 1
    return counts


def trend(caller: Caller, code: str | None) -> Trend:
    """Every released numeric value of one test (by the code its observations carry), oldest first,
    in the unit of the latest one; 404 for a code the patient has no value of."""
    code = (code or "").strip()
    if not code or len(code) > MAX_CODE:
        raise BadRequest(N_("Give the test's code."), code="invalid_request", field="code")
    points: list[tuple[str, TrendPoint, dict[str, Any]]] = []
    for row in _released_rows(caller.patient_id or ""):
        report = row.report()
        for observation in report.get("observations") or []:
            value = observation.get("value")
            if _trend_key(observation) != code or observation.get("value_type") != "numeric" or value is None:
                continue
            at = observation.get("observed_at") or report.get("collected_at") or report.get("reported_at") \
                or iso(row.received_at) or ""
            points.append((at, {"at": at, "value": float(value), "flag": observation.get("flag"),
                                "result_id": row.id}, observation))
    if not points:
        audit.record_for(caller, "result.trend", outcome="not_found", patient_id=caller.patient_id,
                         detail={"code": code[:40]})
        raise NotFound(N_("No values of that test."))
    points.sort(key=lambda point: (point[0], point[1]["result_id"]))
    latest = points[-1][2]
    unit = latest.get("unit")
    shown = [point for _, point, observation in points if observation.get("unit") == unit]
    audit.record_for(caller, "result.trend", patient_id=caller.patient_id, detail={"code": code[:40],
                                                                                   "points": len(shown)})
    return {"code": code, "name": str(latest.get("name") or code), "unit": unit,
            "reference_range": latest.get("reference_range"), "points": shown}
