"""A matched report becomes a result the patient reads: an item of kind `result` (the patient's
list, read receipts, notices, re-notices, escalation and the digest work on it exactly as on a
document) and a version row holding its values.

- The result's id is stable for its order (the sending facility with the filler order number,
  else the placer order number), so every version of a report lands on the same result.
- The same report delivered again (same fingerprint) publishes nothing.
- A corrected report, or a final one after a preliminary, is the next version: unread again,
  "Updated", the patient notified again; earlier versions stay for the office. A preliminary that
  arrives after the final is older news: it publishes nothing.
- A result may be held from its patient until a provider reviews it (`release`): then it is
  written without list entry or notice, and a critical value's entry still reaches the office now.
- Each version is ONE transaction (item, version row, list entry, notice and, for a critical value,
  the office's work entry and mail), tried first as a new result; when the result exists, it is
  read and the version is written on condition that nobody wrote one meanwhile. Two deliveries at
  once therefore make one result.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.observability import logger, metrics
from chalicelib.services.followup import notices
from chalicelib.services.providers import review
from chalicelib.services.results import critical, release
from chalicelib.services.results.model import (
    CORRECTED,
    FINAL,
    PRELIMINARY,
    UNKNOWN_PATIENT,
    UNPARSEABLE,
    Report,
    Unreadable,
)
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from chalicelib.store import outbox
from chalicelib.store import results as results_store
from chalicelib.store import work as work_store
from chalicelib.store.base import StillContended

RESULT = results_store.RESULT
CRITICAL_RESULT = critical.CRITICAL_RESULT  # the work-queue entry: the office calls the patient
MAX_ROW_BYTES = 350_000  # a version row's report, within DynamoDB's 400 KB a row
_TRIES = 4


def result_id(report: Report) -> str:
    """The same order (facility and filler, else placer, order number) always names the same result."""
    return "r_" + hashlib.sha256(report.order_key().encode()).hexdigest()[:24]


def critical_entry_id(result: str, version: int) -> str:
    return critical.entry_id(result, version)


def _row(result: str, version: int, account: account_store.Account, report: Report, now: datetime,
         source: dict[str, Any], held: bool = False) -> results_store.ResultVersion:
    content = json.dumps(report.content(), separators=(",", ":"))
    if len(content.encode()) > MAX_ROW_BYTES:
        raise Unreadable(UNPARSEABLE, "The report is too large to keep as one result (its values and notes take "
                         f"more than {MAX_ROW_BYTES // 1000} KB). Ask the lab to split it.", patient_id=account.id)
    provider = report.ordered_by
    return results_store.ResultVersion(
        result, version, patient_id=account.id, sort_at=report.collected_at or report.reported_at or now,
        status=report.status, title=report.title, content=content, fingerprint=report.fingerprint(),
        order_key=report.order_key(), received_at=now, released_at=None if held else now,
        critical=any(o.critical for o in report.observations),
        ordered_by_npi=provider.npi if provider else None, ordered_by_name=provider.name if provider else None,
        source=source,
    )


def _critical(result: str, row: results_store.ResultVersion, report: Report, now: datetime) -> list[Any]:
    """For a version with a critical value (LL, HH, AA): the office's work entry (to call the
    patient) and its mail, written in the version's transaction. The entry keeps what the call
    needs and what routing to the ordering provider will need."""
    if not row.critical:
        return []
    version = int(row.version)
    entry = work_store.WorkEntry(
        critical_entry_id(result, version), kind=CRITICAL_RESULT, open_kind=CRITICAL_RESULT, created_at=now,
        patient_id=row.patient_id, item_id=result, reason="critical_value",
        data={"result_id": result, "version": version, "title": report.title,
              "reported_at": iso(report.reported_at or now),
              "flags": sorted({o.flag or "abnormal" for o in report.observations if o.critical}),
              "ordered_by_npi": row.ordered_by_npi, "ordered_by_name": row.ordered_by_name},
    )
    return [entry, notices.new_leased_office_critical(result, version, now)]


def _to_review(result: str, row: results_store.ResultVersion, report: Report, now: datetime) -> list[Any]:
    """Every version goes on the providers' "Results to review" (the ordering provider's, else
    everyone's: `providers.routing`), routed now, in the version's transaction."""
    ordered = report.ordered_by
    return review.new_entries(result, int(row.version), row.patient_id, {
        "title": report.title, "flags": sum(1 for o in report.observations if o.flag),
        "critical": bool(row.critical), "reported_at": iso(report.reported_at or now),
        "released_at": iso(row.released_at), "ordered_by_npi": row.ordered_by_npi,
        "ordered_by_name": row.ordered_by_name, "ordered_by_family": ordered.family if ordered else None,
        "ordered_by_given": ordered.given if ordered else None,
    }, now)


def _send(notice: outbox.Notice | None, account: account_store.Account, extras: list[Any], result: str) -> str:
    """The patient's notice (none for a held result: "held"), then the office's critical-result
    mail; a send that fails here is left to the outbox's retries (both rows were written leased,
    in the transaction)."""
    sent = notices.deliver_written(notice, account, "publication", {"item_id": result}) if notice else "held"
    for extra in extras:
        if isinstance(extra, outbox.Notice):
            notices.deliver_written(extra, None, "critical result", {"item_id": result})
    return sent


def _sources(item: item_store.Item) -> dict[str, Any]:
    known: dict[str, Any] = item.source.as_dict() if item.source is not None else {}
    return known


def publish(report: Report, account: account_store.Account, source: dict[str, Any]) -> dict[str, Any]:
    """Publish one report for its matched patient: published (version 1), updated (version n),
    duplicate or stale (nothing written). Unreadable when the order's result belongs to another
    patient; StillContended when other writers kept winning (SQS delivers it again)."""
    result = result_id(report)
    fingerprint = report.fingerprint()
    for attempt in range(_TRIES):
        item = item_store.get(result) if attempt else None  # a new order is the common case: try it first
        if item is None:
            outcome = _create(result, report, account, source)
            if outcome is not None:
                return outcome
            continue
        if item.kind != RESULT or item.patient_id != account.id:
            raise Unreadable(UNKNOWN_PATIENT, "A result of this order is already filed for another patient in the "
                             "portal. Check which patient the lab meant before sending it again.", patient_id=account.id)
        known = _sources(item)
        if fingerprint in (known.get("fingerprints") or []):
            logger.info("lab report already published", extra={"result_id": result, "outcome": "duplicate"})
            return {"outcome": "duplicate", "result_id": result}
        if report.status == PRELIMINARY and known.get("status") in (FINAL, CORRECTED):
            logger.info("lab report older than the result", extra={"result_id": result, "outcome": "stale"})
            return {"outcome": "stale", "result_id": result}
        if item.status == item_store.RETRACTED:
            logger.warning("lab report for a retracted result", extra={"result_id": result, "outcome": "retracted"})
            return {"outcome": "retracted", "result_id": result}
        outcome = _update(item, report, account, source, [*(known.get("fingerprints") or []), fingerprint])
        if outcome is not None:
            return outcome
    raise StillContended()


def _create(result: str, report: Report, account: account_store.Account, source: dict[str, Any]) -> dict[str, Any] | None:
    now = clock.now()
    hold = release.hold_reason(report, account)
    row = _row(result, 1, account, report, now, source, held=hold is not None)
    item = item_store.Item(
        result, patient_id=account.id, kind=RESULT, title=report.title, category="lab result",
        provider=row.ordered_by_name, created_at=now, updated_at=now,
        source={"fingerprints": [row.fingerprint], "status": report.status}, version=1,
        open_count=0, round=0, notices_sent=1, last_notice_at=now, escalated=False,
        due_shard=item_store.DUE_SHARD, due_at=now + timedelta(days=get_settings().follow_up_days),
    )
    if hold:  # no notice yet, and due for release when the hold runs out (`release`)
        item.notices_sent, item.last_notice_at, item.held_at = 0, None, now
        item.due_shard, item.due_at = item_store.HELD_SHARD, release.hold_ends(now)
    notice = None if hold else notices.new_leased_item_notice(item, 1, now)
    extras = _critical(result, row, report, now) + _to_review(result, row, report, now)
    if not results_store.create(item, row, notice, extras):
        return None
    sent = _send(notice, account, extras, result)
    if hold:
        release.held(item, hold, 1)
    metrics.add_metric(name="ResultPublished", unit="Count", value=1)
    if row.critical:
        metrics.add_metric(name="CriticalResult", unit="Count", value=1)
    logger.info("lab result published", extra={"result_id": result, "version": 1, "critical": bool(row.critical),
                                                "notice": sent})
    return {"outcome": "published", "result_id": result, "version": 1, "critical": bool(row.critical),
            "held": hold is not None}


def _update(item: item_store.Item, report: Report, account: account_store.Account, source: dict[str, Any],
            fingerprints: list[str]) -> dict[str, Any] | None:
    now = clock.now()
    expected = (int(item.version or 1), int(item.round or 0))
    version = expected[0] + 1
    was_held = item_store.is_held(item)
    # A result still held follows the release rule again with this version; one released stays so.
    hold = release.hold_reason(report, account) if was_held else None
    row = _row(item.id, version, account, report, now, source, held=hold is not None)
    extras = _critical(item.id, row, report, now) + _to_review(item.id, row, report, now)
    if hold:
        if not results_store.add_held_version(item, row, expected[0], fingerprints, extras):
            return None
        sent = _send(None, account, extras, item.id)
        release.held(item, hold, version)
    else:
        item.round = expected[1] + 1  # the notice belongs to the round this version starts
        notice = notices.new_leased_item_notice(item, 1, now)
        if not results_store.add_version(item, row, expected, now,
                                         now + timedelta(days=get_settings().follow_up_days), notice, fingerprints,
                                         extras, releases=was_held):
            item.round = expected[1]
            return None
        sent = _send(notice, account, extras, item.id)
        if was_held:
            release.on_correction(item, version)
    metrics.add_metric(name="ResultUpdated", unit="Count", value=1)
    logger.info("lab result updated", extra={"result_id": item.id, "version": version,
                                             "critical": bool(row.critical), "notice": sent})
    return {"outcome": "updated", "result_id": item.id, "version": version, "critical": bool(row.critical),
            "held": hold is not None}
