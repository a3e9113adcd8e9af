"""Privacy incidents: a document that was filed to the wrong patient, and refiled to the right one.

One row per misfiled document (`kind` = `misfiled_document`, `document_id` = the misfiled one), so
the row's own condition makes a refile happen once however often it is asked for. It is written in
the SAME transaction as everything the refile changes: the misfiled document's retraction (and the
wrong patient's list entry), the right patient's new document, its first notice, their list entry
and the audit event. A crash before that transaction leaves nothing but the copied file (written
again, identical, by the retry); a crash after it leaves the incident, which the retry finds and
answers from, and a leased notice the outbox sends once its lease runs out.

Admins list the incidents with one Query of the `kind` partition (incidents are rare: a clinic has
a handful a year); who opened each document while it was misfiled is read from the audit trail
(`audit.reads_of`), never kept here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.store import item_lists
from chalicelib.store.audit import AuditEvent
from chalicelib.store.base import PortalModel, meta, table, transact
from chalicelib.store.items import Item
from chalicelib.store.items import retract_actions as item_retract_actions

if TYPE_CHECKING:
    from chalicelib.store.outbox import Notice

MISFILED_DOCUMENT = "misfiled_document"


@table
class Incident(PortalModel):
    Meta = meta("incidents")

    kind = UnicodeAttribute(hash_key=True)  # misfiled_document
    document_id = UnicodeAttribute(range_key=True)  # the misfiled document
    refiled_id = UnicodeAttribute()  # the right patient's new document
    from_patient_id = UnicodeAttribute()
    to_patient_id = UnicodeAttribute()
    reason = UnicodeAttribute()
    recorded_by = UnicodeAttribute()  # the office account that refiled it
    recorded_at = UTCDateTimeAttribute()
    # While misfiled: from its publication to its retraction (earlier, or by this refile).
    misfiled_from = UTCDateTimeAttribute()
    misfiled_until = UTCDateTimeAttribute()


def get(document_id: str) -> Incident | None:
    try:
        return Incident.get(MISFILED_DOCUMENT, document_id, consistent_read=True)
    except DoesNotExist:
        return None


def misfiled_documents(limit: int = 500) -> list[Incident]:
    """Every misfiled document's incident, newest first (one Query of one partition)."""
    rows = list(Incident.query(MISFILED_DOCUMENT, limit=limit))
    rows.sort(key=lambda row: (row.recorded_at, row.document_id), reverse=True)
    return rows


def refile(incident: Incident, misfiled: Item, new_item: Item, notice: Notice, events: list[AuditEvent]) -> bool:
    """Record the incident and refile, all in ONE transaction: the misfiled document retracted
    (unless it was already; its list entry then neutral), the new document with its first notice
    and list entry, and the audit events. False when the incident exists already (refiled before:
    the caller reads it) or the misfiled document was retracted or given a new file meanwhile (the
    caller reads it again): nothing is written then."""
    now = incident.recorded_at
    retracting = misfiled.status != item_lists.RETRACTED

    def write(tx: TransactWrite) -> None:
        tx.save(incident, condition=Incident.document_id.does_not_exist())
        if retracting:
            actions: list[Action] = item_retract_actions(now, incident.recorded_by, incident.reason)
            # Still not retracted, and still the file that was copied (no new version meanwhile).
            same_file = Item.version.does_not_exist() if misfiled.version is None else Item.version == misfiled.version
            tx.update(misfiled, actions=actions,
                      condition=Item.id.exists() & (Item.status.does_not_exist() | (Item.status != item_lists.RETRACTED))
                      & same_file)
            shown = Item(misfiled.id, patient_id=misfiled.patient_id, kind=misfiled.kind, title=misfiled.title,
                         created_at=misfiled.created_at, status=item_lists.RETRACTED)
            item_lists.write_entry(tx, shown, read_at=misfiled.read_at)
        else:
            tx.condition_check(Item, misfiled.id, condition=Item.status == item_lists.RETRACTED)
        tx.save(new_item, condition=Item.id.does_not_exist())
        tx.save(notice, condition=type(notice).id.does_not_exist())
        item_lists.write_entry(tx, new_item, read_at=None)
        for event in events:
            tx.save(event, condition=AuditEvent.id.does_not_exist())

    return transact(write)

