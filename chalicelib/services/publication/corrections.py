"""Corrections and the office's view of one document.

- Retract: a document posted to the wrong patient or with an error is taken back, with a reason.
  The patient's list keeps a neutral entry ("Removed by your clinic"; its own title may be another
  patient's and is never shown to them again), the file answers 410, follow-up stops (it leaves
  the due index; a notice still queued is never sent; the office's open calls for it are closed),
  the file and the item stay for the record, and it is audited.
- Replace: a corrected file goes through the publisher like any upload (`uploads.replace_form`,
  then `publisher`), and becomes the document's next version.
- The office's view: everything about one document: its patient, receipts (who read first),
  opens, every notice sent, comments and versions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import metrics
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup import notices
from chalicelib.services.followup import sweep as followup
from chalicelib.services.publication import documents
from chalicelib.services.publication.answers import DocumentVersion, ItemStatus, Reader, Retracted, StaffDocument
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from chalicelib.store import outbox
from chalicelib.store import work as work_store

RETRACTED_NOTE = "The document was retracted."


def _document(document_id: str) -> item_store.Item:
    item = item_store.get(document_id) if document_id else None
    if item is None or item.kind != documents.DOCUMENT:
        raise NotFound(N_("No document with that id."))
    return item


def close_open_work(caller: Caller, item: item_store.Item, now: datetime) -> int:
    """Close the office's open calls and failed-notice entries for the item: nobody is to call a
    patient about a document they no longer have."""
    ids = [followup.entry_id(item.id, r) for r in range(int(item.round or 0) + 1)]
    ids += [f"notice_failed#{notice_id}" for notice_id in notices.item_notice_ids(item)]
    closed = 0
    for entry in work_store.open_among(ids):
        closed += int(work_store.resolve(entry, caller.actor_id or "office", RETRACTED_NOTE, now,
                                         resolution="retracted"))
    return closed


def retract(caller: Caller, document_id: str, reason: str) -> Retracted:
    """Take a document back from its patient (409 when it was retracted already)."""
    if not reason.strip():
        raise BadRequest(N_("Say why the document is retracted."), field="reason", code="invalid_request")
    item = _document(document_id)
    if item.status == item_store.RETRACTED:
        raise Conflict(N_("This document has already been retracted."), code="already_retracted")
    now = clock.now()
    if not item_store.retract(item, now, caller.actor_id or "", reason.strip()):
        raise Conflict(N_("This document has already been retracted."), code="already_retracted")
    closed = close_open_work(caller, item, now)
    audit.record_for(caller, "document.retract", patient_id=item.patient_id, target_id=item.id,
                     detail={"version": int(item.version or 1), "was_read": item.read_at is not None,
                             "queue_entries_closed": closed})
    metrics.add_metric(name="DocumentRetracted", unit="Count", value=1)
    return {"id": item.id, "status": "retracted", "retracted_at": iso(now)}


def _versions(item: item_store.Item) -> list[DocumentVersion]:
    current = int(item.version or 1)
    return [{"version": int(v.version), "published_at": iso(v.published_at), "content_type": v.content_type,
             "size_bytes": int(v.size_bytes) if v.size_bytes is not None else None, "comment": v.comment,
             "current": int(v.version) == current}
            for v in (item.versions or [item_store.first_version(item)])]


def office_document(document_id: str) -> item_store.Item:
    """A document the office asks for by id, whatever its status (404 for any other id): read once
    by a page that shows several things about it."""
    return _document(document_id)


def staff_document(caller: Caller, document_id: str) -> StaffDocument:
    """One document as the office sees it, whatever its status (audited as a view of the record)."""
    return staff_view(caller, _document(document_id))


def staff_view(caller: Caller, item: item_store.Item) -> StaffDocument:
    """`staff_document` of a document already read (`office_document`)."""
    patient = account_store.get(item.patient_id)
    reader = patient if item.first_read_by in (None, item.patient_id) else account_store.get(item.first_read_by)
    read_by: Reader | None = None
    if item.first_read_at is not None:
        read_by = {"role": cast(Literal["patient", "proxy"], item.first_read_role or "patient"),
                   "name": reader.name if reader else None}
    retracter = account_store.get(item.retracted_by) if item.retracted_by else None
    sent = outbox.sent_among(notices.item_notice_ids(item))
    audit.record_for(caller, "document.staff_view", patient_id=item.patient_id, target_id=item.id)
    return {
        "id": item.id,
        "patient_id": item.patient_id,
        "patient_name": patient.name if patient else None,
        "title": item.title,
        "category": item.category,
        "provider": item.provider,
        "status": cast(ItemStatus, item_store.status_of(item)),
        "version": int(item.version or 1),
        "published_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "read_at": iso(item.read_at),
        "first_read_at": iso(item.first_read_at),
        "read_by": read_by,
        "open_count": int(item.open_count or 0),
        "notices": [{"sent_at": iso(n.sent_at)} for n in sent],
        "comments": [documents.comment_json(c) for c in item.comments or []],
        "versions": _versions(item),
        "content_type": item.content_type,
        "size_bytes": int(item.size_bytes) if item.size_bytes is not None else None,
        "in_follow_up": item.due_shard == item_store.DUE_SHARD,
        "escalated": bool(item.escalated),
        "retracted_at": iso(item.retracted_at),
        "retracted_by": (retracter.name if retracter else item.retracted_by) if item.retracted_by else None,
        "retraction_reason": item.retraction_reason,
    }
