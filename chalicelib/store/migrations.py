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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.store.accounts import PATIENT_SHARD, STAFF_SHARD, Account
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
    """The rows a migration looks at, always through a key, never by scanning a table: the rows
    under each of `keys` in the table's `index`, read a page at a time (a Query), with a filter
    DynamoDB applies while reading (rows it filters out are counted as read, never returned).
    With `within`, the key is each row of another source instead (`key_of` gives it): the
    sessions of each office account, the items of each patient. An index added for a migration
    keys on an attribute the old rows already have, so DynamoDB fills it for them."""

    model: type[_Row]
    index: str
    keys: tuple[str, ...] = ()
    condition: Condition | None = None
    within: RowSource[Any] | None = None
    key_of: Callable[[Any], str] | None = None


def pages(source: RowSource[_Row], start: dict[str, Any] | None, page_size: int
          ) -> Iterator[tuple[list[_Row], dict[str, Any] | None]]:
    """The source's rows from `start` on, a page at a time: each page's rows that pass the filter,
    and where to carry on after it (None after the last page). Under `within`, a page is every row
    under one page of the other source's rows, and carrying on starts at that source's next page
    (a page cut short is read again: each migration's writes are conditional, so that is safe)."""
    if source.within is not None:
        key_of = cast(Callable[[Any], str], source.key_of)
        for owners, carry_on in pages(source.within, start, page_size):
            yield [row for owner in owners for row in _all_under(source, key_of(owner))], carry_on
        return
    number, after = int((start or {}).get("key", 0)), (start or {}).get("after")
    while number < len(source.keys):
        rows, after = _query_page(source, source.keys[number], after, page_size)
        if not after:
            number += 1
        yield rows, ({"key": number, "after": after} if number < len(source.keys) else None)


def _query_page(source: RowSource[_Row], key: str, after: dict[str, Any] | None, page_size: int | None
                ) -> tuple[list[_Row], dict[str, Any] | None]:
    # PynamoDB declares the start key a str; DynamoDB's (and what it hands back) is a dict.
    answer = source.model._get_connection().query(key, index_name=source.index, filter_condition=source.condition,
                                                  limit=page_size, exclusive_start_key=cast(Any, after))
    return [source.model.from_raw_data(raw) for raw in answer.get("Items", [])], answer.get("LastEvaluatedKey")


def _all_under(source: RowSource[_Row], key: str) -> list[_Row]:
    rows, after = _query_page(source, key, None, None)
    while after:
        more, after = _query_page(source, key, after, None)
        rows += more
    return rows


# ---------------------------------------------------------------- what the migrations change

# The office's accounts (by role: what every account had from the first release on).
OFFICE_ACCOUNTS = RowSource(Account, Account.by_role.Meta.index_name, tuple(str(role) for role in OFFICE_ROLES))
STAFF_WITHOUT_NAME_KEY = RowSource(Account, Account.by_role.Meta.index_name, tuple(str(role) for role in OFFICE_ROLES),
                                   Account.search_shard.does_not_exist())
# Patients, by the name index's patient key (patients had it from the first release on).
PATIENTS = RowSource(Account, Account.by_name.Meta.index_name, (PATIENT_SHARD,))


def put_in_staff_name_index(account: Account) -> bool:
    """Give a staff member or admin the name index's staff keys (what the admin's staff list
    reads). False when it has them already, or is no longer staff."""
    return conditional(lambda: account.update(
        actions=[Account.search_shard.set(STAFF_SHARD), Account.name_lower.set(account.name.casefold())],
        condition=Account.role.is_in(*OFFICE_ROLES) & Account.search_shard.does_not_exist()))


# The office's sessions, by account (that index holds their keys only: a session that says its
# factor is left by the delete's condition, not by a filter).
OFFICE_SESSIONS_WITHOUT_FACTOR = RowSource(Session, Session.by_account.Meta.index_name, within=OFFICE_ACCOUNTS,
                                           key_of=lambda account: account.id)


def end_session_without_factor(session: Session) -> bool:
    """End a session made before sessions said what second factor they owe. False when it has
    ended already (or says it now)."""
    return conditional(lambda: session.delete(condition=Session.token_hash.exists() & Session.mfa.does_not_exist()))


PENDING_UPLOADS = RowSource(PendingUpload, PendingUpload.by_patient.Meta.index_name, within=PATIENTS,
                            key_of=lambda patient: patient.id)


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


ACCOUNTS_WITH_PHONE = RowSource(Account, Account.by_name.Meta.index_name, (PATIENT_SHARD,), Account.phone.exists())


def rewrite_phone(account: Account, typed: str, e164: str) -> bool:
    """Store a phone number typed before numbers were kept in E.164 as its E.164 form. False when
    the number on file changed meanwhile (its new one was checked when it was typed)."""
    return conditional(lambda: account.update(actions=[Account.phone.set(e164)], condition=Account.phone == typed))


def open_work(open_kind: str) -> RowSource[WorkEntry]:
    """The open work entries still queued under `open_kind`: that key of the open-queue index."""
    return RowSource(WorkEntry, WorkEntry.open_queue.Meta.index_name, (open_kind,))


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
ESCALATED_UNREAD = RowSource(Item, Item.by_patient.Meta.index_name, condition=_ESCALATED_OUT_OF_INDEX, within=PATIENTS,
                             key_of=lambda patient: patient.id)


def into_escalated_key(item: Item) -> bool:
    """Put an unread item escalated before the change under the index's escalated key, dated when
    it was escalated. False when it no longer needs it (read, retracted, or back in follow-up)."""
    escalated_at = item.escalated_at or item.updated_at
    return conditional(lambda: item.update(
        actions=[Item.due_shard.set(ESCALATED_SHARD), Item.due_at.set(escalated_at)],
        condition=_ESCALATED_OUT_OF_INDEX))
