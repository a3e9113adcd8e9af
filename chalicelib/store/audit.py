"""The append-only audit trail. Rows are only ever put with a not-exists condition, never updated
or deleted, and the deployed IAM policy grants no UpdateItem or DeleteItem on this table."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from chalicelib.store.base import NullableText, PortalModel, meta, table


class PatientIndex(GlobalSecondaryIndex["AuditEvent"]):
    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ActorIndex(GlobalSecondaryIndex["AuditEvent"]):
    class Meta:
        index_name = "by_actor"
        projection = AllProjection()

    actor_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class TargetIndex(GlobalSecondaryIndex["AuditEvent"]):
    """The events about one target (a document, an account), in the order of their ids: who opened
    a document is a Query of its own events, never of its patient's whole trail. Only what that
    question needs is projected."""

    class Meta:
        index_name = "by_target"
        projection = IncludeProjection(["at", "action", "outcome", "actor_id", "actor_role"])

    target_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


@table
class AuditEvent(PortalModel):
    Meta = meta("audit")

    # Unique, and the sort key of both indexes: see `event_id`.
    id = UnicodeAttribute(hash_key=True)
    at = UTCDateTimeAttribute()
    action = UnicodeAttribute()
    outcome = UnicodeAttribute()
    actor_id = NullableText()
    actor_role = NullableText()
    patient_id = NullableText()
    target_id = NullableText()
    client_ip = NullableText()
    detail: MapAttribute[str, Any] = MapAttribute(null=True)

    by_patient = PatientIndex()
    by_actor = ActorIndex()
    by_target = TargetIndex()


# The time part of the last id this process gave out (see `event_id`).
_last_stamp = datetime.min.replace(tzinfo=UTC)
_stamping = threading.Lock()
_SMALL_STEP_BACK = timedelta(seconds=1)


def event_id(at: datetime) -> str:
    """A new event's id, the sort key of both indexes: `<time to the microsecond>Z#<random>`. Ids
    sort in the order of their times, and the events one process writes in the order it wrote them,
    also within one second or one microsecond: an id's time is at least a microsecond past the last
    one this process gave out (unless the clock was set back by more than a second, when the time
    read wins). The random part tells apart two processes' events of the same microsecond. (The
    first releases' ids, `<time to the second>Z#<random>`, sort among these by their second.)"""
    global _last_stamp
    with _stamping:
        stamp = at.astimezone(UTC)
        if stamp <= _last_stamp and _last_stamp - stamp < _SMALL_STEP_BACK:
            stamp = _last_stamp + timedelta(microseconds=1)
        _last_stamp = stamp
    return f"{stamp:%Y-%m-%dT%H:%M:%S.%f}Z#{secrets.token_hex(6)}"


def append(event: AuditEvent) -> None:
    event.save(condition=AuditEvent.id.does_not_exist())


def for_patient(patient_id: str, limit: int | None = 500) -> Iterable[AuditEvent]:
    return AuditEvent.by_patient.query(patient_id, scan_index_forward=False, limit=limit)


def for_actor(actor_id: str, limit: int = 500) -> Iterable[AuditEvent]:
    return AuditEvent.by_actor.query(actor_id, scan_index_forward=False, limit=limit)


def page(*, patient_id: str | None = None, actor_id: str | None = None, before: str | None = None,
         limit: int = 500) -> tuple[list[AuditEvent], str | None]:
    """One page of the trail, newest first: one patient's events (only one actor's among them when
    both are given: a filter on the patient index) or one actor's, older than the event id
    `before`. (At most `limit` events, and the id to pass as `before` for the next page, or None
    on the last page.)"""
    condition = AuditEvent.id < before if before else None
    if patient_id:
        rows = AuditEvent.by_patient.query(patient_id, condition, scan_index_forward=False, limit=limit + 1,
                                           filter_condition=(AuditEvent.actor_id == actor_id) if actor_id else None)
    elif actor_id:
        rows = AuditEvent.by_actor.query(actor_id, condition, scan_index_forward=False, limit=limit + 1)
    else:
        return [], None
    found = list(rows)
    shown = found[:limit]
    return shown, (shown[-1].id if len(found) > limit else None)


def views_of_patient(patient_id: str, actions: tuple[str, ...], *, before: str | None = None,
                     limit: int = 50) -> tuple[list[AuditEvent], str | None]:
    """Successful events of `actions` about one patient by anyone but the patient, newest first,
    older than the event id `before`: a Query of the patient index (a filter on it, never a scan).
    (a page of at most `limit`, the id to pass as `before` for the next page or None)."""
    condition = AuditEvent.id < before if before else None
    rows = list(AuditEvent.by_patient.query(
        patient_id, condition, scan_index_forward=False, limit=limit + 1,
        filter_condition=AuditEvent.action.is_in(*actions) & (AuditEvent.outcome == "ok")
        & (AuditEvent.actor_id != patient_id)))
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


def _id_bound(moment: datetime) -> str:
    """The start of the ids of events at `moment` (ids begin with their time, see `event_id`)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}"


def successes_about(target_id: str, actions: tuple[str, ...], since: datetime, until: datetime) -> list[AuditEvent]:
    """Successful events of `actions` about one target between `since` and `until` (to the second,
    both included), oldest first, every page: a Query of the target index (its own events only)."""
    upper = f"{until.astimezone(UTC) + timedelta(seconds=1):%Y-%m-%dT%H:%M:%S}"
    return list(AuditEvent.by_target.query(
        target_id, AuditEvent.id.between(_id_bound(since), upper),
        filter_condition=AuditEvent.action.is_in(*actions) & (AuditEvent.outcome == "ok")))
