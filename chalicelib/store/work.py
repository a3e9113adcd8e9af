"""The staff work queue: follow-ups, forgot-username forms, quarantined uploads, failed notices.

An open entry carries `open_kind`, which puts it in the sparse `open_queue` index; resolving it
removes that attribute, so the queue reads only what is still open.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store.base import NullableText, PortalModel, conditional, meta, set_nullable, table, transact

if TYPE_CHECKING:
    from pynamodb.transactions import TransactWrite

    from chalicelib.store.outbox import Notice

KINDS = ("follow_up", "form", "quarantine", "notice_failed")


class OpenQueueIndex(GlobalSecondaryIndex["WorkEntry"]):
    class Meta:
        index_name = "open_queue"
        projection = AllProjection()

    open_kind = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


@table
class WorkEntry(PortalModel):
    Meta = meta("work")

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    open_kind = NullableText()
    created_at = UTCDateTimeAttribute()
    patient_id = NullableText()
    item_id = NullableText()
    reason = NullableText()
    data: MapAttribute[str, Any] = MapAttribute(null=True)
    resolved_at = UTCDateTimeAttribute(null=True)
    resolved_by = NullableText()
    note = NullableText()
    resolution = NullableText()  # how a quarantined upload was dealt with: "published_again" or "closed"
    republished_key = NullableText()  # where a quarantined upload was sent back to be published
    reminded_at = UTCDateTimeAttribute(null=True)  # a critical result's entry: when the admins were reminded

    open_queue = OpenQueueIndex()


def add(entry: WorkEntry) -> bool:
    """Put an open entry once; an entry with the same id already there is left as it is."""
    entry.open_kind = entry.kind
    return conditional(lambda: entry.save(condition=WorkEntry.id.does_not_exist()))


def get(entry_id: str) -> WorkEntry | None:
    try:
        return WorkEntry.get(entry_id, consistent_read=True)
    except DoesNotExist:
        return None


def open_among(entry_ids: list[str]) -> list[WorkEntry]:
    """Those of these entries that exist and are still open, in one batch read."""
    return [entry for entry in WorkEntry.batch_get(entry_ids) if entry.open_kind]


def among(entry_ids: list[str]) -> list[WorkEntry]:
    """Those of these entries that exist, open or closed, in one batch read."""
    return list(WorkEntry.batch_get(entry_ids)) if entry_ids else []


def open_entries(kind: str, limit: int | None = None) -> Iterable[WorkEntry]:
    """Oldest first, every page: the queue is the office's to-do list and must not hide an entry."""
    return WorkEntry.open_queue.query(kind, limit=limit)


def open_page(kind: str, limit: int | None, after: tuple[datetime, str] | None = None
              ) -> tuple[list[WorkEntry], bool]:
    """One page of the open entries of a kind, oldest first, after the entry (created_at, id)
    `after`: at most `limit` entries (None: all of them), and whether more follow. Entries created
    at the same moment all come, in the index's order (a page starts after the exact entry, not
    after its time)."""
    start = None
    if after is not None:
        start = {"open_kind": {"S": kind}, "created_at": {"S": WorkEntry.created_at.serialize(after[0])},
                 "id": {"S": after[1]}}
    found = list(WorkEntry.open_queue.query(kind, limit=limit + 1 if limit is not None else None,
                                            last_evaluated_key=start))
    if limit is None:
        return found, False
    return found[:limit], len(found) > limit


def open_unreminded(kind: str, created_by: datetime) -> list[WorkEntry]:
    """Open entries of a kind created by `created_by` that no reminder went out for yet, oldest
    first: a query of the sparse index (open entries only)."""
    return list(WorkEntry.open_queue.query(kind, WorkEntry.created_at <= created_by,
                                           filter_condition=WorkEntry.reminded_at.does_not_exist()))


def mark_reminded(entry: WorkEntry, now: datetime, reminders: list[Notice]) -> bool:
    """Mark an open entry reminded and write its reminders' outbox rows, in ONE transaction: True
    for the one caller that did it, False when it was reminded or closed meanwhile (nothing is
    written then), so a reminder never goes out twice."""
    def write(tx: TransactWrite) -> None:
        tx.update(entry, actions=[WorkEntry.reminded_at.set(now)],
                  condition=WorkEntry.open_kind.exists() & WorkEntry.reminded_at.does_not_exist())
        for reminder in reminders:
            tx.save(reminder, condition=type(reminder).id.does_not_exist())

    won = transact(write)
    if won:
        entry.reminded_at = now
    return won


def count_open(kind: str, since: datetime | None = None) -> int:
    """Open entries of a kind (created after `since`): a count over the sparse index only."""
    condition = WorkEntry.created_at > since if since is not None else None
    return WorkEntry.open_queue.count(kind, condition)


def resolve(entry: WorkEntry, by: str, note: str | None, now: datetime, *, resolution: str | None = None,
            republished_key: str | None = None) -> bool:
    """Close an open entry; False when it was already closed."""
    actions: list[Action] = [
        WorkEntry.open_kind.remove(),
        WorkEntry.resolved_at.set(now),
        WorkEntry.resolved_by.set(by),
        set_nullable(WorkEntry.note, note),
    ]
    if resolution:
        actions.append(WorkEntry.resolution.set(resolution))
    if republished_key:
        actions.append(WorkEntry.republished_key.set(republished_key))
    return conditional(lambda: entry.update(actions=actions, condition=WorkEntry.open_kind.exists()))


def reopen(entry: WorkEntry) -> None:
    """Put a closed entry back on the queue (its closing step could not be carried out)."""
    entry.update(actions=[
        WorkEntry.open_kind.set(entry.kind),
        WorkEntry.resolved_at.remove(),
        WorkEntry.resolved_by.remove(),
        WorkEntry.note.remove(),
        WorkEntry.resolution.remove(),
        WorkEntry.republished_key.remove(),
    ])


def link_patient(entry: WorkEntry, patient_id: str) -> bool:
    """Name the chart an open entry is about (a forgot-username request the office matched);
    False when the entry is closed."""
    return conditional(lambda: entry.update(actions=[WorkEntry.patient_id.set(patient_id)],
                                            condition=WorkEntry.open_kind.exists()))


def set_data(entry: WorkEntry, name: str, value: str) -> None:
    """Set one field of an entry's data (a released result's `released_at` on its review entry)."""
    entry.update(actions=[WorkEntry.data[name].set(value)])
