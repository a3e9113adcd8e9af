"""The patient's item list as one row: what `GET /api/items` shows, kept beside the items.

One row per patient, with one attribute per item (`item:<id>`: kind, title, created, read, and
status when not simply published: a retracted document's entry carries a neutral title). Every
write that creates an item or changes what the list shows (a first read, new content making the
item unread again) rewrites that item's entry in the SAME transaction as the item, so the list
can never disagree with the items. The session check and the list are then one BatchGetItem
round trip (`sessions.get_with`), where a query of the items would be a second one.

A row is limited to 400 KB by DynamoDB: at about 150 bytes an entry, some 2,500 items per patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.clock import utc
from chalicelib.store.base import PortalModel, RowRead, meta, read_together, table

ENTRY_PREFIX = "item:"
# A document's status as its patient sees it: published, updated (a corrected file replaced it),
# or retracted (taken back by the office: its own title is never shown to the patient again).
PUBLISHED, UPDATED, RETRACTED = "published", "updated", "retracted"
RETRACTED_TITLE = "Removed by your clinic"


def shown_title(item: Any) -> str:
    """The title a patient may see of an item: a retracted document's own title never again."""
    return RETRACTED_TITLE if getattr(item, "status", None) == RETRACTED else item.title


@table
class ItemList(PortalModel):
    Meta = meta("item_lists")

    patient_id = UnicodeAttribute(hash_key=True)
    # The entries are attributes named `item:<id>`, written and read as raw maps (see below).


@dataclass(frozen=True)
class Entry:
    """An item as the list shows it."""

    id: str
    kind: str
    title: str
    created_at: datetime
    read_at: datetime | None
    status: str = PUBLISHED


def _stamp(moment: datetime) -> str:
    # Full precision, always UTC: the strings sort as the times do.
    return utc(moment).isoformat()


def entry_action(item: Any, read_at: datetime | None) -> Action:
    """The update action that writes `item`'s entry as it will be once the caller's transaction
    commits (read at `read_at`, or unread). A whole entry, never a part, so a write also repairs
    an entry that is missing."""
    entry = {"kind": {"S": item.kind}, "title": {"S": shown_title(item)}, "created": {"S": _stamp(item.created_at)}}
    if read_at is not None:
        entry["read"] = {"S": _stamp(read_at)}
    status = getattr(item, "status", None)
    if status and status != PUBLISHED:
        entry["status"] = {"S": status}
    return Path([ENTRY_PREFIX + item.id]).set({"M": entry})


def write_entry(tx: TransactWrite, item: Any, read_at: datetime | None) -> None:
    """Add the entry's write to the caller's transaction (the one that writes the item)."""
    tx.update(ItemList(item.patient_id), actions=[entry_action(item, read_at)])


def _entries(raw: dict[str, Any] | None) -> list[Entry]:
    if not raw:
        return []
    entries = []
    for name, value in raw.items():
        if not name.startswith(ENTRY_PREFIX):
            continue
        fields = value["M"]
        read = fields.get("read")
        status = fields.get("status")
        entries.append(Entry(
            id=name[len(ENTRY_PREFIX):],
            kind=fields["kind"]["S"],
            title=fields["title"]["S"],
            created_at=datetime.fromisoformat(fields["created"]["S"]),
            read_at=datetime.fromisoformat(read["S"]) if read else None,
            status=status["S"] if status else PUBLISHED,
        ))
    entries.sort(key=lambda entry: (entry.created_at, entry.id), reverse=True)
    return entries


def read(patient_id: str) -> RowRead:
    """The patient's list, newest first, as a read to make together with another (the session)."""
    return RowRead(ItemList, patient_id, _entries)


def get(patient_id: str) -> list[Entry]:
    """The patient's list on its own (when no session read comes with it)."""
    entries: list[Entry] = read_together(read(patient_id))[0]
    return entries
