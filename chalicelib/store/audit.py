"""The append-only audit trail. Rows are only ever put with a not-exists condition, never updated
or deleted, and the deployed IAM policy grants no UpdateItem or DeleteItem on this table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

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


@table
class AuditEvent(PortalModel):
    Meta = meta("audit")

    # "<ISO time>#<random>": unique and in time order within each index.
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


def append(event: AuditEvent) -> None:
    event.save(condition=AuditEvent.id.does_not_exist())


def for_patient(patient_id: str, limit: int = 500) -> Iterable[AuditEvent]:
    return AuditEvent.by_patient.query(patient_id, scan_index_forward=False, limit=limit)


def for_actor(actor_id: str, limit: int = 500) -> Iterable[AuditEvent]:
    return AuditEvent.by_actor.query(actor_id, scan_index_forward=False, limit=limit)


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
