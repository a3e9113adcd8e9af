"""Data migrations: the table that records which ran, and the reads and writes they make.

One row per migration (its versioned id, such as `0001-staff-in-name-index`): `in_progress` while
it runs, with the scan key it stopped after, so a run that was stopped or crashed carries on from
there; `done` once every row was seen. A run holds the row by a lease it renews after each page,
so two operators running `portal migrate` at once cannot both work on the same migration.

Every change a migration makes to a row is a conditional write that holds only while the row
still needs it: a page seen twice (a run resumed after a crash between its writes and its
checkpoint) changes nothing the second time.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.store.accounts import STAFF_SHARD, Account
from chalicelib.store.base import NullableText, PortalModel, conditional, meta, table, transact
from chalicelib.store.items import ESCALATED_SHARD, RETRACTED, Item
from chalicelib.store.sessions import Session
from chalicelib.store.uploads import PendingUpload
from chalicelib.store.work import WorkEntry
from chalicelib.vocabulary import OFFICE_ROLES

IN_PROGRESS, DONE = "in_progress", "done"
LEASE = timedelta(minutes=2)

_Row = TypeVar("_Row", bound=Model)


@table
class MigrationRecord(PortalModel):
    Meta = meta("migrations")

    id = UnicodeAttribute(hash_key=True)  # "<4-digit version>-<name>": runs in the order of its version
    status = UnicodeAttribute()  # in_progress | done
    started_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    # The key of the last row seen (DynamoDB JSON), where a stopped run carries on; none once done.
    cursor = NullableText()
    examined = NumberAttribute(default=0)
    changed = NumberAttribute(default=0)
    runs = NumberAttribute(default=0)  # how many runs worked on it (more than one: it was resumed)
    operator = NullableText()  # who ran it last
    holder = NullableText()  # the run holding it now, until lease_until
    lease_until = UTCDateTimeAttribute(null=True)


class Held(Exception):
    """Another run holds this migration (until `until`)."""

    def __init__(self, migration_id: str, until: datetime | None):
        super().__init__(migration_id)
        self.migration_id, self.until = migration_id, until


@dataclass
class Claim:
    """One run's hold on a migration: where to start, and the counts so far."""

    record: MigrationRecord
    holder: str

    @property
    def cursor(self) -> dict[str, Any] | None:
        return json.loads(self.record.cursor) if self.record.cursor else None


def records(migration_ids: list[str]) -> dict[str, MigrationRecord]:
    """The records of these migrations that have started, by id (one BatchGetItem by key)."""
    return {row.id: row for row in MigrationRecord.batch_get(migration_ids, consistent_read=True)}


def get(migration_id: str) -> MigrationRecord | None:
    try:
        return MigrationRecord.get(migration_id, consistent_read=True)
    except DoesNotExist:
        return None


def claim(migration_id: str, operator: str, now: datetime) -> Claim | None:
    """Hold a migration for this run: a new one, or one left `in_progress` whose lease ran out
    (stopped, or its run crashed). None when it is done already; Held when another run has it."""
    holder = secrets.token_hex(8)
    record = MigrationRecord(migration_id)
    taken = conditional(lambda: record.update(
        actions=[MigrationRecord.status.set(IN_PROGRESS),
                 MigrationRecord.started_at.set(MigrationRecord.started_at | now),
                 MigrationRecord.examined.set(MigrationRecord.examined | 0),
                 MigrationRecord.changed.set(MigrationRecord.changed | 0),
                 MigrationRecord.runs.add(1), MigrationRecord.operator.set(operator),
                 MigrationRecord.holder.set(holder), MigrationRecord.lease_until.set(now + LEASE)],
        condition=MigrationRecord.id.does_not_exist()
        | ((MigrationRecord.status == IN_PROGRESS)
           & (MigrationRecord.lease_until.does_not_exist() | (MigrationRecord.lease_until <= now)))))
    if taken:
        return Claim(record, holder)
    found = get(migration_id)
    if found is None or found.status == DONE:
        return None
    raise Held(migration_id, found.lease_until)


def checkpoint(claim_: Claim, cursor: dict[str, Any] | None, examined: int, changed: int, now: datetime) -> None:
    """Record how far the run got (and renew its lease): a run that stops after this carries on
    from `cursor`. Held when another run took the migration over meanwhile."""
    record = claim_.record
    actions: list[Action] = [MigrationRecord.examined.add(examined), MigrationRecord.changed.add(changed),
                             MigrationRecord.lease_until.set(now + LEASE)]
    actions.append(MigrationRecord.cursor.set(json.dumps(cursor)) if cursor else MigrationRecord.cursor.remove())
    if not conditional(lambda: record.update(actions=actions, condition=MigrationRecord.holder == claim_.holder)):
        raise Held(record.id, None)


def release(claim_: Claim, now: datetime) -> None:
    """Let go of a migration not finished (stopped on purpose): the next run may take it at once."""
    record = claim_.record
    conditional(lambda: record.update(actions=[MigrationRecord.lease_until.set(now), MigrationRecord.holder.remove()],
                                      condition=MigrationRecord.holder == claim_.holder))


def finish(claim_: Claim, now: datetime) -> None:
    """Every row was seen: the migration is done for good."""
    record = claim_.record
    if not conditional(lambda: record.update(
            actions=[MigrationRecord.status.set(DONE), MigrationRecord.finished_at.set(now),
                     MigrationRecord.cursor.remove(), MigrationRecord.holder.remove(),
                     MigrationRecord.lease_until.remove()],
            condition=MigrationRecord.holder == claim_.holder)):
        raise Held(record.id, None)


# ---------------------------------------------------------------- reading a table a page at a time

@dataclass(frozen=True)
class RowSource(Generic[_Row]):
    """The rows a migration looks at: one table, and a filter DynamoDB applies while reading (rows
    it filters out are still counted as read, never returned). With `index` and `key`, only the
    rows under that key of that index are read (a Query): a migration whose rows an index reaches
    reads those alone. Without, the table is scanned: the rows it fixes are ones that no key or
    index of their release reaches (that is what they lack)."""

    model: type[_Row]
    condition: Condition | None = None
    index: str | None = None
    key: str | None = None


def pages(source: RowSource[_Row], start: dict[str, Any] | None, page_size: int
          ) -> Iterator[tuple[list[_Row], dict[str, Any] | None]]:
    """The table's rows from `start` on, a page of at most `page_size` rows read at a time: each
    page's rows that pass the filter, and the key to carry on after (None after the last page)."""
    table_connection = source.model._get_connection()
    key = start
    while True:
        # PynamoDB declares the start key a str; DynamoDB's (and what it hands back) is a dict.
        if source.index is not None and source.key is not None:
            answer = table_connection.query(source.key, index_name=source.index, filter_condition=source.condition,
                                            limit=page_size, exclusive_start_key=cast(Any, key))
        else:
            answer = table_connection.scan(filter_condition=source.condition, limit=page_size,
                                           exclusive_start_key=cast(Any, key), consistent_read=True)
        rows = [source.model.from_raw_data(raw) for raw in answer.get("Items", [])]
        key = answer.get("LastEvaluatedKey")
        yield rows, key
        if not key:
            return


# ---------------------------------------------------------------- what the migrations change

STAFF_WITHOUT_NAME_KEY = RowSource(Account, Account.role.is_in(*OFFICE_ROLES) & Account.search_shard.does_not_exist())


def put_in_staff_name_index(account: Account) -> bool:
    """Give a staff member or admin the name index's staff keys (what the admin's staff list
    reads). False when it has them already, or is no longer staff."""
    return conditional(lambda: account.update(
        actions=[Account.search_shard.set(STAFF_SHARD), Account.name_lower.set(account.name.casefold())],
        condition=Account.role.is_in(*OFFICE_ROLES) & Account.search_shard.does_not_exist()))


OFFICE_SESSIONS_WITHOUT_FACTOR = RowSource(Session, Session.role.is_in(*OFFICE_ROLES) & Session.mfa.does_not_exist())


def end_session_without_factor(session: Session) -> bool:
    """End a session made before sessions said what second factor they owe. False when it has
    ended already (or says it now)."""
    return conditional(lambda: session.delete(condition=Session.token_hash.exists() & Session.mfa.does_not_exist()))


PENDING_UPLOADS = RowSource(PendingUpload)


def published_from(upload_key: str, patient_id: str, replaces: str | None) -> bool:
    """Whether the upload at `upload_key` became a document of this patient (its first file) or,
    for a corrected file, a version of the document it replaces."""
    if replaces:
        try:
            document = Item.get(replaces, consistent_read=True)
        except DoesNotExist:
            return False
        return any(version.source_key == upload_key for version in document.versions or [])
    found = Item.by_patient.query(patient_id, filter_condition=Item.source["key"] == upload_key,
                                  attributes_to_get=["id"])
    return next(iter(found), None) is not None


def drop_pending_upload(upload: PendingUpload) -> bool:
    """Delete a pending-upload row that nothing needs any more (its upload published, or expired)."""
    return conditional(lambda: upload.delete(condition=PendingUpload.id.exists()))


ACCOUNTS_WITH_PHONE = RowSource(Account, Account.phone.exists())


def rewrite_phone(account: Account, typed: str, e164: str) -> bool:
    """Store a phone number typed before numbers were kept in E.164 as its E.164 form. False when
    the number on file changed meanwhile (its new one was checked when it was typed)."""
    return conditional(lambda: account.update(actions=[Account.phone.set(e164)], condition=Account.phone == typed))


def open_work(open_kind: str) -> RowSource[WorkEntry]:
    """The open work entries still queued under `open_kind`: that key of the open-queue index."""
    return RowSource(WorkEntry, index=WorkEntry.open_queue.Meta.index_name, key=open_kind)


def requeue(entry: WorkEntry, was: str, routed: list[WorkEntry]) -> bool:
    """Queue an open entry under its route's key (`routed[0]`, the same entry with its new
    `open_kind` and data), and put the entries of its further routes, in one transaction. False
    when the entry is no longer queued under `was` (closed, or requeued meanwhile)."""
    first, *further = routed

    def write(tx: TransactWrite) -> None:
        tx.update(entry, actions=[WorkEntry.open_kind.set(first.open_kind), WorkEntry.data.set(first.data)],
                  condition=WorkEntry.open_kind == was)
        for row in further:
            tx.save(row, condition=WorkEntry.id.does_not_exist())

    return transact(write)


# Unread, escalated to the office, and out of the follow-up index: escalating used to take an item
# out of the index; it now keeps it there under the escalated key, where the unread list reads it.
_ESCALATED_OUT_OF_INDEX = ((Item.escalated == True) & Item.read_at.does_not_exist()  # noqa: E712 - a condition
                           & Item.due_shard.does_not_exist() & Item.held_at.does_not_exist()
                           & (Item.status.does_not_exist() | (Item.status != RETRACTED)))
ESCALATED_UNREAD = RowSource(Item, _ESCALATED_OUT_OF_INDEX)


def into_escalated_key(item: Item) -> bool:
    """Put an unread item escalated before the change under the index's escalated key, dated when
    it was escalated. False when it no longer needs it (read, retracted, or back in follow-up)."""
    escalated_at = item.escalated_at or item.updated_at
    return conditional(lambda: item.update(
        actions=[Item.due_shard.set(ESCALATED_SHARD), Item.due_at.set(escalated_at)],
        condition=_ESCALATED_OUT_OF_INDEX))
