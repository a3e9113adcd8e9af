"""The office's unread list: every released item its patient has not read yet, oldest first, with
how many notices went out (the home page's "unread" tile opens it).

It reads what it shows, from the sparse `follow_up_due` index the follow-up sweep and the read
report use, never the whole items table: the unread items still in follow-up (its `due` key, whole,
whatever their next notice time) and those escalated to the office (its `escalated` key: an item
leaves it only when it is read, retracted, stopped or back in follow-up).

A held lab result (not yet released to its patient) is never in either: it waits in the same index
under the holds' own key (`HELD_SHARD`), which this does not read, and carries `held_at` until its
release, which is checked as well. An item read or retracted meanwhile, or of a patient whose portal
access is closed (they cannot read it; follow-up stops for them), is left out. A result released
after a hold is dated by its release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.observability import logger
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup.answers import UnreadItem, UnreadItems
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store


@dataclass(frozen=True)
class Unread:
    """One unread item and its patient's name."""

    item: item_store.Item
    patient_name: str | None

    @property
    def published_at(self) -> datetime:
        """When it reached its patient: its release, for a lab result that was held first."""
        return self.item.released_at or self.item.created_at

    @property
    def unread_since(self) -> datetime:
        """When the patient was first told of what they have not read: publication, or the start
        of the item's current round (a comment or a new version made it unread again)."""
        if int(self.item.round or 0) and self.item.updated_at is not None:
            return max(self.item.updated_at, self.published_at)
        return self.published_at

    def days_unread(self, now: datetime) -> int:
        return max(0, (now - self.unread_since).days)


def _shown(item: item_store.Item) -> bool:
    """Released to the patient (not held for a provider's review), still unread, not taken back."""
    return (item.read_at is None and not item_store.is_held(item)
            and item_store.status_of(item) != item_store.RETRACTED)


def unread() -> list[Unread]:
    """Every released, unread item, oldest first (by publication, then id)."""
    found = {item.id: item for item in item_store.in_follow_up()}
    found.update((item.id, item) for item in item_store.escalated_unread())
    items = [item for item in found.values() if _shown(item)]
    patients = import_store.accounts_by_id({item.patient_id for item in items})
    listed = [Unread(item, patients[item.patient_id].name) for item in items
              if item.patient_id in patients and patients[item.patient_id].disabled_at is None]
    return sorted(listed, key=lambda entry: (entry.published_at, entry.item.id))


def unread_json(entry: Unread) -> UnreadItem:
    item = entry.item
    return {
        "item_id": item.id,
        "patient_id": item.patient_id,
        "patient_name": entry.patient_name,
        "title": item.title,
        "kind": item.kind,
        "published_at": iso(entry.published_at) or "",
        "notices_sent": int(item.notices_sent or 0),
    }


def listed(caller: Caller) -> list[Unread]:
    """The unread list as the office reads it; the look is audited (it names patients and their
    items), counts only."""
    entries = unread()
    audit.record_for(caller, "unread.list", detail={"count": len(entries)})
    logger.info("unread list read", extra={"count": len(entries)})
    return entries


def unread_items(caller: Caller) -> UnreadItems:
    """`GET /api/staff/unread`."""
    return {"items": [unread_json(entry) for entry in listed(caller)]}
