"""Lab results: every version of every report, beside the item (kind `result`) the patient's list,
the read receipts and the follow-up work on.

One row per version (`id` = the result's id, the same as its item's; `version` 1, 2, ...): the
patient reads the current one, staff every one. The current version alone carries
`current_patient_id`, which puts it in the sparse `current_by_patient` index (a patient's results,
by when they were collected): trends read that index once.

Every write that publishes a version is ONE transaction with the item, the patient's list entry,
the notice's outbox row and, for a critical value, the office's work-queue entry and its mail's
outbox row; the item's conditions (no such item yet; the version and round it had when read)
make two deliveries at once publish one result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.store import item_lists
from chalicelib.store.accounts import Account, mrn_key, owner_read
from chalicelib.store.base import NullableText, PortalModel, RowRead, meta, read_together, table, transact
from chalicelib.store.items import DUE_SHARD, RETRACTED, UPDATED, Comment, Item, round_actions
from chalicelib.store.outbox import Notice
from chalicelib.store.work import WorkEntry

RESULT = "result"  # the item kind
_BATCH_KEYS = 100  # BatchGetItem takes at most 100 keys


class CurrentByPatient(GlobalSecondaryIndex["ResultVersion"]):
    """Sparse: each result's current version, by patient, in the order the samples were taken."""

    class Meta:
        index_name = "current_by_patient"
        projection = AllProjection()

    current_patient_id = UnicodeAttribute(hash_key=True)
    sort_at = UTCDateTimeAttribute(range_key=True)


@table
class ResultVersion(PortalModel):
    Meta = meta("results")

    id = UnicodeAttribute(hash_key=True)  # the result's id (its item's)
    version = NumberAttribute(range_key=True)
    patient_id = UnicodeAttribute()
    current_patient_id = NullableText()  # the current version only: the sparse `current_by_patient` index
    sort_at = UTCDateTimeAttribute()  # collected, else reported, else received
    status = UnicodeAttribute()  # preliminary | final | corrected
    title = UnicodeAttribute()
    content = UnicodeAttribute()  # the report as the lab sent it, read into values (JSON: services/results/model.py)
    fingerprint = UnicodeAttribute()  # the same report delivered again has the same one
    order_key = UnicodeAttribute()  # sending facility + filler (else placer) order number
    received_at = UTCDateTimeAttribute()
    released_at = UTCDateTimeAttribute(null=True)  # when the patient may see it: unset while held
    critical = BooleanAttribute(default=False)
    # Who ordered it (OBR-16, else ORC-12), kept apart so results can be routed to their provider.
    ordered_by_npi = NullableText()
    ordered_by_name = NullableText()
    source: MapAttribute[str, Any] = MapAttribute(null=True)  # the file it came in: bucket, key, ETag, message number, control id

    current_by_patient = CurrentByPatient()

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.content)
        return report


def versions(result_id: str) -> list[ResultVersion]:
    """Every version, oldest first (one query)."""
    return list(ResultVersion.query(result_id, consistent_read=True))


def current(result_id: str, version: int) -> ResultVersion | None:
    try:
        return ResultVersion.get(result_id, version, consistent_read=True)
    except ResultVersion.DoesNotExist:
        return None


def current_for_patient(patient_id: str) -> Iterator[ResultVersion]:
    """The current version of each of the patient's results, oldest sample first (every page)."""
    return iter(ResultVersion.current_by_patient.query(patient_id, scan_index_forward=True))


def _account(raw: dict[str, Any] | None) -> Account | None:
    return Account.from_raw_data(raw) if raw else None


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _BATCH_KEYS):
        yield keys[start:start + _BATCH_KEYS]


def accounts_by_mrn(mrns: Iterable[str]) -> dict[str, Account]:
    """The accounts that hold these MRNs (any role: the caller checks), in two consistent batched
    reads for up to 100 MRNs; an MRN nobody holds is left out."""
    wanted = sorted(set(mrns))
    owners: dict[str, str] = {}
    for chunk in _chunks(wanted):
        for mrn, owner in zip(chunk, read_together(*(owner_read(mrn_key(m)) for m in chunk)), strict=True):
            if owner:
                owners[mrn] = owner
    accounts: dict[str, Account] = {}
    for chunk in _chunks(sorted(set(owners.values()))):
        accounts.update({a.id: a for a in read_together(*(RowRead(Account, i, _account) for i in chunk)) if a})
    return {mrn: accounts[owner] for mrn, owner in owners.items() if owner in accounts}


Extra = WorkEntry | Notice  # rows a result's transaction may add: a critical value's entry and office mail


def _extras(tx: TransactWrite, rows: Iterable[Extra]) -> None:
    for row in rows:
        if isinstance(row, WorkEntry):
            tx.save(row, condition=WorkEntry.id.does_not_exist())
        else:
            tx.save(row, condition=Notice.id.does_not_exist())


def create(item: Item, row: ResultVersion, notice: Notice | None, extras: Iterable[Extra] = ()) -> bool:
    """A new result: its item, its first version, the patient's list entry, the notice's outbox
    row and any work entries, in ONE transaction. False when the result exists already (another
    delivery of the same order got there first): nothing is written. A held result (`item.held_at`
    set, no notice) gets no list entry: the patient's list learns of it at its release."""
    row.current_patient_id = row.patient_id

    def write(tx: TransactWrite) -> None:
        tx.save(item, condition=Item.id.does_not_exist())
        tx.save(row, condition=ResultVersion.id.does_not_exist())
        if notice is not None:
            tx.save(notice, condition=Notice.id.does_not_exist())
        _extras(tx, extras)
        if item.held_at is None:
            item_lists.write_entry(tx, item, read_at=None)

    return transact(write)


def add_version(item: Item, row: ResultVersion, expected: tuple[int, int], now: datetime, due_at: datetime,
                notice: Notice, fingerprints: list[str], extras: Iterable[Extra] = (), releases: bool = False) -> bool:
    """A later version of a result (corrected, or final after preliminary): the item takes its
    title, version and status `updated` and starts a new follow-up round (unread again, on the
    patient's list too) with its notice; the new row becomes the current one. ONE transaction;
    False when the result changed meanwhile (the caller reads it again). `expected` is the
    (version, round) the item had when read; the caller has moved `item.round` on already (its
    notice belongs to the new round). `releases`: the result was held and this version is not
    (it is released with it, on condition that it is still held)."""
    expected_version, expected_round = expected
    row.current_patient_id = row.patient_id
    actions = [
        *round_actions(now, due_at, notices_sent=1),
        Item.version.set(int(row.version)),
        Item.title.set(row.title),
        Item.provider.set(row.ordered_by_name),
        Item.source.set({"fingerprints": fingerprints, "status": row.status}),
    ]
    condition = (Item.id.exists() & (Item.version == expected_version) & (Item.round == expected_round)
                 & (Item.status.does_not_exist() | (Item.status != RETRACTED)))
    if releases:  # its patient never saw an earlier version: new to them, not "Updated"
        actions += [Item.held_at.remove(), Item.released_at.set(now)]
        condition &= Item.held_at.exists()
        item.held_at, item.released_at = None, now
    else:
        actions.append(Item.status.set(UPDATED))
        condition &= Item.held_at.does_not_exist()
        item.status = UPDATED
    item.title, item.version = row.title, int(row.version)

    def write(tx: TransactWrite) -> None:
        tx.update(item, actions=actions, condition=condition)
        tx.save(row, condition=ResultVersion.id.does_not_exist())
        tx.update(ResultVersion(row.id, expected_version), actions=[ResultVersion.current_patient_id.remove()],
                  condition=ResultVersion.id.exists())
        tx.save(notice, condition=Notice.id.does_not_exist())
        _extras(tx, extras)
        item_lists.write_entry(tx, item, read_at=None)

    return transact(write)


def add_held_version(item: Item, row: ResultVersion, expected_version: int, fingerprints: list[str],
                     extras: Iterable[Extra] = ()) -> bool:
    """A later version of a result that is still held, and held too: the item takes its title and
    version, the new row becomes the current one; no round, no notice, no list entry (the patient
    learns of the result at its release, whose time this leaves as it was). ONE transaction; False
    when the result changed meanwhile (another version, its release)."""
    row.current_patient_id = row.patient_id
    actions: list[Action] = [
        Item.version.set(int(row.version)),
        Item.title.set(row.title),
        Item.provider.set(row.ordered_by_name),
        Item.source.set({"fingerprints": fingerprints, "status": row.status}),
    ]
    condition = (Item.id.exists() & (Item.version == expected_version) & Item.held_at.exists()
                 & (Item.status.does_not_exist() | (Item.status != RETRACTED)))

    def write(tx: TransactWrite) -> None:
        tx.update(item, actions=actions, condition=condition)
        tx.save(row, condition=ResultVersion.id.does_not_exist())
        tx.update(ResultVersion(row.id, expected_version), actions=[ResultVersion.current_patient_id.remove()],
                  condition=ResultVersion.id.exists())
        _extras(tx, extras)

    if not transact(write):
        return False
    item.title, item.version = row.title, int(row.version)
    return True


def release(item: Item, now: datetime, due_at: datetime, notice: Notice, comment: Comment | None = None) -> bool:
    """Release a held result to its patient: the item is no longer held (`held_at` removed,
    `released_at` set), its current version carries `released_at`, it goes on the patient's list
    (unread) and into follow-up from now (`due_at`, its first notice counted), and the notice's outbox
    row is written, with a provider's comment when the release is their review's. ONE transaction,
    on condition that it is still held: of two releasers (a review, the sweep) one wins; False for
    the other."""
    version = int(item.version or 1)
    actions: list[Action] = [
        Item.held_at.remove(),
        Item.released_at.set(now),
        Item.notices_sent.set(1),
        Item.last_notice_at.set(now),
        Item.due_shard.set(DUE_SHARD),
        Item.due_at.set(due_at),
    ]
    if comment is not None:
        actions.append(Item.comments.set((Item.comments | []).append([comment])))
    condition = (Item.held_at.exists() & (Item.version == version)
                 & (Item.status.does_not_exist() | (Item.status != RETRACTED)))
    held_at = item.held_at
    item.held_at, item.released_at = None, now

    def write(tx: TransactWrite) -> None:
        tx.update(item, actions=actions, condition=condition)
        tx.update(ResultVersion(item.id, version), actions=[ResultVersion.released_at.set(now)],
                  condition=ResultVersion.id.exists())
        tx.save(notice, condition=Notice.id.does_not_exist())
        item_lists.write_entry(tx, item, read_at=None)

    if not transact(write):
        item.held_at, item.released_at = held_at, None
        return False
    item.notices_sent, item.last_notice_at, item.due_shard, item.due_at = 1, now, DUE_SHARD, due_at
    return True
