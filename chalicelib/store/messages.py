"""Secure message threads between a patient and the office, and the messages in them.

Tables:
- `threads`: one row per thread, keyed by id. Its counters say how many messages each side has
  not read yet. Indexes, all by `updated_at` (the time of the latest message):
  - `by_patient`: a patient's threads;
  - `office_recent`: every thread, for the office inbox (one shard: a clinic's volume is small);
  - `office_waiting` (sparse): threads whose latest message is the patient's, i.e. waiting for
    the office; an office message removes the thread from it;
  - `patient_unread` (sparse): a patient's threads with office messages they have not opened.
- `thread_messages`: the messages, keyed by thread and a time-ordered message id, so one Query
  reads a thread's history in order.

Sending a message is one transaction: the message row plus the thread's counters (and, for an
office message, the thread's item and its first notice; for a patient message, the office's
"a patient wrote" alert in the outbox), so they can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.store import item_lists
from chalicelib.store.base import NullableText, PortalModel, StillContended, conditional, meta, table, transact
from chalicelib.store.items import Item, round_actions
from chalicelib.store.outbox import Notice, OfficeAlert, queue_office_alert

OFFICE_SHARD = "office"
WAITING_SHARD = "waiting"
PATIENT, OFFICE = "patient", "office"


class PatientThreadsIndex(GlobalSecondaryIndex["Thread"]):
    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_id = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class OfficeRecentIndex(GlobalSecondaryIndex["Thread"]):
    class Meta:
        index_name = "office_recent"
        projection = AllProjection()

    office_shard = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class OfficeWaitingIndex(GlobalSecondaryIndex["Thread"]):
    class Meta:
        index_name = "office_waiting"
        projection = AllProjection()

    waiting_shard = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class PatientUnreadIndex(GlobalSecondaryIndex["Thread"]):
    class Meta:
        index_name = "patient_unread"
        projection = AllProjection()

    unread_by_patient = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


@table
class Thread(PortalModel):
    Meta = meta("threads")

    id = UnicodeAttribute(hash_key=True)
    patient_id = UnicodeAttribute()
    subject = UnicodeAttribute()
    category = NullableText()
    started_by = UnicodeAttribute()  # patient | office
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    message_count = NumberAttribute(default=0)
    last_author_role = UnicodeAttribute()
    # Messages the other side wrote that this side has not opened yet.
    patient_unread = NumberAttribute(default=0)
    office_unread = NumberAttribute(default=0)
    # True once the office has written: the thread is then also the patient's item (same id).
    has_item = BooleanAttribute(default=False)
    office_shard = UnicodeAttribute(default=OFFICE_SHARD)
    waiting_shard = NullableText()
    unread_by_patient = NullableText()
    # The patient's own item (a result) a question is about, when they asked from it.
    item_id = NullableText()

    by_patient = PatientThreadsIndex()
    office_recent = OfficeRecentIndex()
    office_waiting = OfficeWaitingIndex()
    patient_unread_threads = PatientUnreadIndex()


@table
class ThreadMessage(PortalModel):
    Meta = meta("messages")

    thread_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)  # time-ordered: sorts in the order sent
    author_role = UnicodeAttribute()  # patient | office
    author_id = UnicodeAttribute()
    body = UnicodeAttribute()
    sent_at = UTCDateTimeAttribute()


@dataclass(frozen=True)
class ItemWrite:
    """What an office message does to the thread's item: create it (first office message) or
    start a new round of the existing one (`expected_round` guards against a concurrent reply),
    together with the round's first notice."""

    item: Item
    notice: Notice
    expected_round: int | None  # None: the item is new


class ThreadGone(Exception):
    """The thread does not exist or does not belong to the caller."""


# Someone else changed the thread at the same moment; the caller may try again.
ConcurrentChange = StillContended


def _run(write: Callable[[TransactWrite], None], condition_failed: type[Exception]) -> None:
    """Run a transaction; a failed condition raises `condition_failed`."""
    if not transact(write):
        raise condition_failed()


def _run_with_office_alert(write: Callable[[TransactWrite], None], alerts: Sequence[OfficeAlert], now: datetime,
                           condition_failed: type[Exception]) -> None:
    """Run a patient message's transaction together with the office's alert. The alerts come in
    order, the window's shared one first and the message's own, new row last: a shared alert a
    sender already took fails the transaction, and one that other messages' transactions hold at
    this moment stays contended, so the message takes the next. Only the own row's transaction
    failing its condition is the message's own condition failing."""
    def with_alert(alert: OfficeAlert) -> Callable[[TransactWrite], None]:
        def both(tx: TransactWrite) -> None:
            write(tx)
            queue_office_alert(tx, alert, now)
        return both

    *shared, own = alerts
    for alert in shared:
        try:
            if transact(with_alert(alert)):
                return
        except StillContended:
            pass  # many patients writing at once: no waiting on the shared row
    if not transact(with_alert(own)):
        raise condition_failed()


def _write_item(tx: TransactWrite, item_write: ItemWrite, now: datetime, due_at: datetime) -> None:
    if item_write.expected_round is None:
        tx.save(item_write.item, condition=Item.id.does_not_exist())
    else:
        tx.update(item_write.item, actions=round_actions(now, due_at, notices_sent=1),
                  condition=Item.round == item_write.expected_round)
    item_lists.write_entry(tx, item_write.item, read_at=None)  # new, or unread again
    tx.save(item_write.notice, condition=Notice.id.does_not_exist())


def get(thread_id: str) -> Thread | None:
    try:
        return Thread.get(thread_id, consistent_read=True)
    except DoesNotExist:
        return None


def start(thread: Thread, message: ThreadMessage, item_write: ItemWrite | None = None,
          office_alerts: Sequence[OfficeAlert] = ()) -> None:
    """Write a new thread with its first message (and, when the office starts it, its item and
    first notice; when a patient starts it, the office's alert) in one transaction."""
    def write(tx: TransactWrite) -> None:
        tx.save(thread, condition=Thread.id.does_not_exist())
        tx.save(message, condition=ThreadMessage.id.does_not_exist())
        if item_write is not None:
            _write_item(tx, item_write, message.sent_at, item_write.item.due_at)

    # Every row is new (random ids): a failed condition means an id was taken meanwhile.
    if office_alerts:
        _run_with_office_alert(write, office_alerts, message.sent_at, ConcurrentChange)
    else:
        _run(write, ConcurrentChange)


def add_patient_message(thread_id: str, patient_id: str, message: ThreadMessage, office_alerts: Sequence[OfficeAlert]) -> None:
    """Append the patient's message and queue the office's alert; the thread waits for the office.
    Raises ThreadGone when the thread is unknown or not this patient's (the condition checks both
    in the same round trip)."""
    def write(tx: TransactWrite) -> None:
        tx.save(message, condition=ThreadMessage.id.does_not_exist())
        tx.update(
            Thread(thread_id),
            actions=[
                Thread.updated_at.set(message.sent_at),
                Thread.message_count.add(1),
                Thread.last_author_role.set(PATIENT),
                Thread.office_unread.add(1),
                Thread.waiting_shard.set(WAITING_SHARD),
            ],
            condition=Thread.patient_id == patient_id,
        )

    # The message id is new, so besides a taken alert only the thread's condition can fail: not
    # this patient's thread (one more round trip for such a request).
    _run_with_office_alert(write, office_alerts, message.sent_at, ThreadGone)


def add_office_message(thread: Thread, message: ThreadMessage, item_write: ItemWrite, due_at: datetime) -> None:
    """Append the office's message: the thread no longer waits for the office, the patient has
    one more unread message, and the item starts a new round with its first notice."""
    def write(tx: TransactWrite) -> None:
        tx.save(message, condition=ThreadMessage.id.does_not_exist())
        tx.update(
            Thread(thread.id),
            actions=[
                Thread.updated_at.set(message.sent_at),
                Thread.message_count.add(1),
                Thread.last_author_role.set(OFFICE),
                Thread.patient_unread.add(1),
                Thread.unread_by_patient.set(thread.patient_id),
                Thread.office_unread.set(0),
                Thread.waiting_shard.remove(),
                Thread.has_item.set(True),
            ],
            condition=Thread.patient_id == thread.patient_id,
        )
        _write_item(tx, item_write, message.sent_at, due_at)

    # The thread's patient never changes, so a failed condition is the item's round (and its
    # notice id) moved by a concurrent office reply: the caller reads again and retries.
    _run(write, ConcurrentChange)


def mark_read(thread: Thread, side: str) -> bool:
    """Zero one side's unread count, unless a message arrived since `thread` was read (then the
    count stays, and the next open clears it). True when it wrote."""
    actions: list[Action]
    if side == PATIENT:
        actions = [Thread.patient_unread.set(0), Thread.unread_by_patient.remove()]
    else:
        actions = [Thread.office_unread.set(0)]
    return conditional(lambda: thread.update(actions=actions, condition=Thread.message_count == thread.message_count))


# ---------------------------------------------------------------- reading, a page at a time

def _thread_start_key(partition: dict[str, str], after: tuple[datetime, str] | None) -> dict[str, Any] | None:
    """The ExclusiveStartKey for an index page that follows the thread `after` = (updated_at, id).
    The partition comes from the caller's own identity, never from the client."""
    if after is None:
        return None
    updated_at, thread_id = after
    key = {name: {"S": value} for name, value in partition.items()}
    key["id"] = {"S": thread_id}
    key["updated_at"] = {"S": Thread.updated_at.serialize(updated_at)}
    return key


def _threads(index: GlobalSecondaryIndex[Thread], partition_name: str, partition: str, limit: int,
             after: tuple[datetime, str] | None) -> list[Thread]:
    """Newest first. Asks for `limit` rows; the caller asks for one more than it shows to learn
    whether another page exists."""
    return list(index.query(partition, scan_index_forward=False, limit=limit,
                            last_evaluated_key=_thread_start_key({partition_name: partition}, after)))


def for_patient(patient_id: str, limit: int, after: tuple[datetime, str] | None = None) -> list[Thread]:
    return _threads(Thread.by_patient, "patient_id", patient_id, limit, after)


def waiting_for_office(limit: int, after: tuple[datetime, str] | None = None) -> list[Thread]:
    return _threads(Thread.office_waiting, "waiting_shard", WAITING_SHARD, limit, after)


def recent(limit: int, after: tuple[datetime, str] | None = None) -> list[Thread]:
    return _threads(Thread.office_recent, "office_shard", OFFICE_SHARD, limit, after)


def unread_by_patient(patient_id: str) -> Iterable[Thread]:
    """Only the patient's threads with unread office messages (a sparse index)."""
    return Thread.patient_unread_threads.query(patient_id)


def messages(thread_id: str, limit: int, after: str | None = None) -> list[ThreadMessage]:
    """Oldest first, starting after the message id `after`."""
    start = {"thread_id": {"S": thread_id}, "id": {"S": after}} if after else None
    return list(ThreadMessage.query(thread_id, limit=limit, last_evaluated_key=start, consistent_read=True))
