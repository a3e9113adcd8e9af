"""Items: what the office sends a patient and needs to know was read (documents, office messages).

An unread item carries `due_shard` and `due_at`, which put it in the sparse `follow_up_due`
index; reading removes them, so the sweep reads only what is due. Escalating keeps the item in the
index under a key of its own (`ESCALATED_SHARD`, which the sweep does not read), so the office's
unread list reads every unread item from the index: those in follow-up and those escalated.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chalicelib.store import item_lists
from chalicelib.store.base import (
    NamedMap,
    NullableText,
    PortalModel,
    conditional,
    meta,
    table,
    transact,
)
from chalicelib.store.base import StillContended as StillContended  # re-exported: `items.StillContended`

# The statuses and the shown title, from item_lists (re-exported: `items.RETRACTED`).
from chalicelib.store.item_lists import PUBLISHED as PUBLISHED
from chalicelib.store.item_lists import RETRACTED as RETRACTED
from chalicelib.store.item_lists import RETRACTED_TITLE as RETRACTED_TITLE
from chalicelib.store.item_lists import UPDATED as UPDATED
from chalicelib.store.item_lists import shown_title as shown_title

if TYPE_CHECKING:
    from chalicelib.store.outbox import Notice
    from chalicelib.store.work import WorkEntry

DUE_SHARD = "due"
# A lab result held back from its patient (until a provider reviews it, at most RESULT_HOLD_DAYS):
# `held_at` is set, and `due_shard` is this, `due_at` when the hold runs out; the same sparse
# `follow_up_due` index then finds the holds that are due, under a key of their own.
HELD_SHARD = "held"
# An unread item escalated to the office (no more notices; the office calls): `due_shard` is
# this and `due_at` when it was escalated, until it is read (or retracted), or a new round puts it
# back in follow-up. The sweep never reads this key; the office's unread list does.
ESCALATED_SHARD = "escalated"
READ_SHARD_PREFIX = "read#"


class Comment(NamedMap):
    author = UnicodeAttribute()
    text = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    role = UnicodeAttribute(null=True)  # "provider" or "office" (unset on older rows: the office's)


class Version(NamedMap):
    """One file a document has had: the current one and every earlier one (staff only)."""

    version = NumberAttribute()
    published_at = UTCDateTimeAttribute()
    s3_key = UnicodeAttribute()
    content_type = NullableText()
    size_bytes = NumberAttribute(null=True)
    source_key = NullableText()  # the upload that brought it (a repeated delivery files it once)
    uploaded_by = NullableText()
    comment = NullableText()


class PatientIndex(GlobalSecondaryIndex["Item"]):
    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class DueIndex(GlobalSecondaryIndex["Item"]):
    class Meta:
        index_name = "follow_up_due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class ReadDayIndex(GlobalSecondaryIndex["Item"]):
    """Sparse, keys only: items by the day their current read receipt was written, so the office
    digest counts the reads since the last digest without touching the rest of the table."""

    class Meta:
        index_name = "read_by_day"
        projection = KeysOnlyProjection()

    read_shard = UnicodeAttribute(hash_key=True)
    read_at = UTCDateTimeAttribute(range_key=True)


@table
class Item(PortalModel):
    Meta = meta("items")

    id = UnicodeAttribute(hash_key=True)
    patient_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # document | message
    title = UnicodeAttribute()
    category = NullableText()
    provider = NullableText()
    comments = ListAttribute(of=Comment, default=list)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    s3_key = NullableText()
    content_type = NullableText()
    size_bytes = NumberAttribute(null=True)
    source: MapAttribute[str, Any] = MapAttribute(null=True)
    # Reading: the first receipt is never overwritten; read_at is cleared when new content
    # (a provider comment, an office reply) makes the item unread again.
    first_read_at = UTCDateTimeAttribute(null=True)
    read_at = UTCDateTimeAttribute(null=True)
    open_count = NumberAttribute(default=0)
    # Follow-up of the current round (a round starts at publication and at each new comment).
    round = NumberAttribute(default=0)
    notices_sent = NumberAttribute(default=0)
    last_notice_at = UTCDateTimeAttribute(null=True)
    escalated = BooleanAttribute(default=False)
    escalated_at = UTCDateTimeAttribute(null=True)
    due_shard = NullableText()
    due_at = UTCDateTimeAttribute(null=True)
    read_shard = NullableText()  # read#<YYYY-MM-DD> of read_at: the sparse `read_by_day` index
    # Who wrote the first receipt: their role (patient, proxy) and account id (the name is theirs).
    first_read_role = NullableText()
    first_read_by = NullableText()
    # Corrections: a document's status and its files, newest last (absent: published, version 1).
    status = NullableText()
    version = NumberAttribute(null=True)
    versions = ListAttribute(of=Version, null=True)
    retracted_at = UTCDateTimeAttribute(null=True)
    retracted_by = NullableText()
    retraction_reason = NullableText()
    # Release (lab results): `held_at` is set exactly while the result is held from its patient
    # (absent from their list, 404 to them, no notice yet); `released_at` is when a held result was
    # released (absent: released on arrival, at `created_at`).
    held_at = UTCDateTimeAttribute(null=True)
    released_at = UTCDateTimeAttribute(null=True)

    by_patient = PatientIndex()
    follow_up_due = DueIndex()
    read_by_day = ReadDayIndex()


def get(item_id: str) -> Item | None:
    try:
        return Item.get(item_id, consistent_read=True)
    except DoesNotExist:
        return None


def for_patient(patient_id: str, limit: int = 200) -> Iterable[Item]:
    """Newest first."""
    return Item.by_patient.query(patient_id, scan_index_forward=False, limit=limit)


def status_of(item: Item) -> str:
    return item.status or PUBLISHED


def record_open(item: Item, now: datetime, reader: tuple[str, str] | None = None) -> bool:
    """Count an open; the first open of unread content writes the receipt (and the patient's list
    entry, in the same transaction). True if it did. `reader` (role, account id) is kept with the
    very first receipt only."""
    if item.read_at is None:
        actions = [
            Item.read_at.set(now),
            Item.first_read_at.set(Item.first_read_at | now),
            Item.open_count.add(1),
            Item.due_shard.remove(),
            Item.due_at.remove(),
            Item.read_shard.set(read_shard(now)),
        ]
        if reader is not None:
            actions += [Item.first_read_role.set(Item.first_read_role | reader[0]),
                        Item.first_read_by.set(Item.first_read_by | reader[1])]
        if _transact_item(item, actions, Item.read_at.does_not_exist(), list_read_at=now):
            return True
    item.update(actions=[Item.open_count.add(1)])
    return False


def read_shard(moment: datetime) -> str:
    return READ_SHARD_PREFIX + moment.strftime("%Y-%m-%d")


class _Unchanged(Enum):
    UNCHANGED = "unchanged"


_UNCHANGED = _Unchanged.UNCHANGED
_Put = tuple["Notice | WorkEntry", Condition]


def _transact_item(item: Item, actions: list[Action], condition: Condition, puts: tuple[_Put, ...] = (),
                   list_read_at: datetime | None | Literal[_Unchanged.UNCHANGED] = _UNCHANGED) -> bool:
    """The item update and the rows that belong with it (a notice, a work entry, the patient's
    list entry when what the list shows changes) in one transaction: all or nothing, so a crash
    never leaves a claimed attempt without its notice. False when the item's condition no longer
    holds (another sweep won, or it was read)."""
    def write(tx: TransactWrite) -> None:
        tx.update(item, actions=actions, condition=condition)
        for row, row_condition in puts:
            tx.save(row, condition=row_condition)
        if list_read_at is not _UNCHANGED:
            item_lists.write_entry(tx, item, read_at=list_read_at)

    return transact(write)


def _transact_once(item: Item, actions: list[Action], condition: Condition, puts: tuple[_Put, ...]) -> bool:
    """As `_transact_item`, for the sweep: a claim still contended after the retries is left to
    the next sweep, as a lost one is."""
    try:
        return _transact_item(item, actions, condition, puts)
    except StillContended:
        return False


def claim_notice(item: Item, now: datetime, next_due: datetime, notice: Notice | None = None) -> bool:
    """Claim the next notice of this round: only one sweep or sender wins a given attempt.
    With `notice` (its outbox row), the row is written in the same transaction as the claim."""
    expected = item.notices_sent
    actions: list[Action] = [
        Item.notices_sent.add(1),
        Item.last_notice_at.set(now),
        Item.due_at.set(next_due),
    ]
    condition = ((Item.notices_sent == expected) & Item.read_at.does_not_exist() & (Item.round == item.round)
                 & (Item.status.does_not_exist() | (Item.status != RETRACTED)))
    if notice is not None:
        won = _transact_once(item, actions, condition, ((notice, type(notice).id.does_not_exist()),))
        if won:
            item.notices_sent, item.last_notice_at, item.due_at = int(expected or 0) + 1, now, next_due
        return won
    return conditional(lambda: item.update(actions=actions, condition=condition))


def escalate(item: Item, now: datetime, work_entry: WorkEntry | None = None) -> bool:
    """Stop emailing: the item leaves follow-up for the index's escalated key (still unread, as the
    office's unread list reads it); True for the one caller that did it. With `work_entry` (the
    staff follow-up entry), it is written in the same transaction."""
    actions: list[Action] = [
        Item.escalated.set(True),
        Item.escalated_at.set(now),
        Item.due_shard.set(ESCALATED_SHARD),
        Item.due_at.set(now),
    ]
    condition = Item.read_at.does_not_exist() & (Item.due_shard == DUE_SHARD) & (Item.round == item.round)
    if work_entry is not None:
        won = _transact_once(item, actions, condition, ((work_entry, type(work_entry).id.does_not_exist()),))
        if won:
            item.escalated, item.escalated_at, item.due_shard, item.due_at = True, now, ESCALATED_SHARD, now
        return won
    return conditional(lambda: item.update(actions=actions, condition=condition))


def stop_follow_up(item: Item) -> bool:
    """Take an item out of follow-up without a read receipt or a call for the office (a retracted
    result, a patient whose portal access is closed): it leaves the `follow_up_due` index (under
    whichever key), so no sweep mails or escalates it and the unread list no longer shows it. False
    when it was not in the index (read, or stopped)."""
    return conditional(lambda: item.update(actions=[Item.due_shard.remove(), Item.due_at.remove()],
                                           condition=Item.due_shard.exists()))


def escalated_unread(limit: int | None = None) -> Iterable[Item]:
    """Every unread item escalated to the office, oldest escalation first (the index's escalated key)."""
    return Item.follow_up_due.query(ESCALATED_SHARD, limit=limit)


def in_follow_up(limit: int | None = None) -> Iterable[Item]:
    """Every item still in follow-up, whatever its next follow-up time, oldest due first."""
    return Item.follow_up_due.query(DUE_SHARD, limit=limit)


def round_actions(now: datetime, due_at: datetime, notices_sent: int = 0) -> list[Action]:
    """The update actions that start a new round, for a caller that writes the item in a
    transaction with other rows. `notices_sent=1` when the round's first notice is queued in
    that same transaction."""
    actions = [
        Item.read_at.remove(),
        Item.round.add(1),
        Item.notices_sent.set(notices_sent),
        Item.escalated.set(False),
        Item.due_shard.set(DUE_SHARD),
        Item.due_at.set(due_at),
        Item.updated_at.set(now),
    ]
    if notices_sent:
        actions.append(Item.last_notice_at.set(now))
    return actions


def count_in_follow_up() -> int:
    """Unread items still in follow-up (not escalated): a count over the sparse index only."""
    return Item.follow_up_due.count(DUE_SHARD)


def count_read_between(since: datetime, until: datetime) -> int:
    """Items whose read receipt was written in (since, until]: one keys-only count per day."""
    after = since + timedelta(microseconds=1)  # `between` includes both ends
    total, day = 0, since.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= until:
        total += Item.read_by_day.count(read_shard(day), Item.read_at.between(after, until))
        day += timedelta(days=1)
    return total


def create_with_notice(item: Item, notice: Notice) -> bool:
    """Write a new item, the outbox row of its first notice and the patient's list entry in ONE
    transaction. False when the item already exists (the same upload was published before):
    then nothing is written."""
    def write(tx: TransactWrite) -> None:
        tx.save(item, condition=Item.id.does_not_exist())
        tx.save(notice, condition=type(notice).id.does_not_exist())
        item_lists.write_entry(tx, item, read_at=None)

    return transact(write)


def add_comment_with_notice(item: Item, comment: Comment, now: datetime, due_at: datetime, notice: Notice,
                            expected_round: int) -> bool:
    """Append a comment and start a new round (unread again, on the patient's list too) whose first
    notice is queued in the same transaction. False when another writer started a round meanwhile
    (the caller reads again and retries)."""
    actions = [*round_actions(now, due_at, notices_sent=1), Item.comments.set((Item.comments | []).append([comment]))]
    condition = (Item.id.exists() & (Item.round == expected_round)
                 & (Item.status.does_not_exist() | (Item.status != RETRACTED)))
    return _transact_item(item, actions, condition, ((notice, type(notice).id.does_not_exist()),), list_read_at=None)


def is_held(item: Item) -> bool:
    """Held from its patient (a lab result waiting for review): not theirs to see yet."""
    return item.held_at is not None


def held_due(now: datetime, limit: int = 100, last_evaluated_key: dict[str, Any] | None = None
             ) -> ResultIterator[Item]:
    """Held results whose hold has run out by `now`, oldest first, one page at a time: a query of
    the sparse index under the holds' own key, so it reads only what is due."""
    return Item.follow_up_due.query(HELD_SHARD, Item.due_at <= now, limit=limit, last_evaluated_key=last_evaluated_key)


def held(limit: int | None = None) -> Iterable[Item]:
    """Every held result, whenever its hold runs out."""
    return Item.follow_up_due.query(HELD_SHARD, limit=limit)


def due(now: datetime, limit: int = 100, last_evaluated_key: dict[str, Any] | None = None) -> ResultIterator[Item]:
    """Unread items whose next follow-up time has come, oldest first, one page at a time."""
    return Item.follow_up_due.query(
        DUE_SHARD,
        Item.due_at <= now,
        limit=limit,
        last_evaluated_key=last_evaluated_key,
    )


def retract_actions(now: datetime, by: str, reason: str) -> list[Action]:
    """The update actions that retract a document (for a caller that writes it in a transaction
    with other rows, as a refile does)."""
    return [
        Item.status.set(RETRACTED),
        Item.retracted_at.set(now),
        Item.retracted_by.set(by),
        Item.retraction_reason.set(reason),
        Item.due_shard.remove(),
        Item.due_at.remove(),
        Item.updated_at.set(now),
    ]


def retract(item: Item, now: datetime, by: str, reason: str) -> bool:
    """Take a document back: it leaves follow-up and its list entry turns neutral (no title), in
    ONE transaction. The file and the item stay, for the record. False when it was retracted
    already."""
    actions = retract_actions(now, by, reason)
    condition = Item.id.exists() & (Item.status.does_not_exist() | (Item.status != RETRACTED))
    item.status = RETRACTED  # what the list entry shows once the transaction commits
    return _transact_item(item, actions, condition, list_read_at=item.read_at)


def first_version(item: Item) -> Version:
    """The version a document published before any replacement had (or its first one)."""
    source = item.source.as_dict() if item.source is not None else {}
    return Version(version=1, published_at=item.created_at, s3_key=item.s3_key or "", content_type=item.content_type,
                   size_bytes=item.size_bytes, source_key=source.get("key"), uploaded_by=source.get("uploaded_by"))


def replace_with_notice(item: Item, version: Version, now: datetime, due_at: datetime, notice: Notice,
                        expected_round: int, comment: Comment | None = None) -> bool:
    """A corrected file becomes the document's current version: the file fields, the version list,
    status `updated`, a new follow-up round (unread again, on the patient's list too) and its first
    notice, in ONE transaction. False when the document changed meanwhile (another version, a
    retraction): the caller reads it again."""
    expected = int(item.version or 1)
    history = list(item.versions or []) or [first_version(item)]
    actions = [
        *round_actions(now, due_at, notices_sent=1),
        Item.version.set(int(version.version)),
        Item.versions.set([*history, version]),
        Item.status.set(UPDATED),
        Item.s3_key.set(version.s3_key),
        Item.content_type.set(version.content_type),
        Item.size_bytes.set(version.size_bytes),
    ]
    if comment is not None:
        actions.append(Item.comments.set((Item.comments | []).append([comment])))
    condition = (Item.id.exists() & (Item.round == expected_round)
                 & (Item.status.does_not_exist() | (Item.status != RETRACTED))
                 & (Item.version.does_not_exist() if expected == 1 and item.version is None
                    else Item.version == expected))
    item.status = UPDATED
    return _transact_item(item, actions, condition, ((notice, type(notice).id.does_not_exist()),), list_read_at=None)
