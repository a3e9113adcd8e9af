"""Documents: the files in the results bucket and what the patient sees of them.

The bucket holds `incoming/<MRN>/<file name>` (uploads waiting for the publisher),
`documents/<patient id>/<item id>` (filed documents, encrypted at rest) and `quarantine/<id>`
(uploads that could not be published). A patient opens only their own documents: anyone
else's answer exactly like an id that does not exist. Every view and every file link is audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.errors import NotFound
from chalicelib.services import audit, followup
from chalicelib.services.identity import Caller
from chalicelib.settings import get_settings
from chalicelib.store import bucket
from chalicelib.store import items as item_store

DOCUMENT = "document"
MAX_LINK_SECONDS = 300  # file links never outlive five minutes, whatever the setting says


def filed_key(patient_id: str, item_id: str) -> str:
    """Where a published document is filed: ids only, nothing a person could read."""
    return f"documents/{patient_id}/{item_id}"


# ---------------------------------------------------------------- what the patient sees

def comment_json(comment: item_store.Comment) -> dict[str, Any]:
    return {"author": comment.author, "text": comment.text, "created_at": iso(comment.created_at)}


def document_json(item: item_store.Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "title": item.title,
        "category": item.category,
        "provider": item.provider,
        "published_at": iso(item.created_at),
        "read_at": iso(item.read_at),
        "content_type": item.content_type,
        "size_bytes": int(item.size_bytes) if item.size_bytes is not None else None,
        "comments": [comment_json(c) for c in item.comments or []],
    }


def _own_document(caller: Caller, document_id: str, action: str) -> item_store.Item:
    """The caller's own document, or the same 404 for another patient's id and an unknown one."""
    item = item_store.get(document_id) if document_id else None
    if item is None or item.kind != DOCUMENT or item.patient_id != caller.actor_id:
        audit.record_for(caller, action, outcome="not_found", target_id=document_id[:100])
        raise NotFound("No document with that id.")
    return item


def open_document(caller: Caller, document_id: str) -> dict[str, Any]:
    """The document as the patient sees it. The first open writes the read receipt (a
    conditional write, never overwritten); later opens are counted."""
    item = _own_document(caller, document_id, "document.view")
    now = clock.now()
    first = followup.record_read(item, now)
    if first:
        item.read_at = now
    audit.record_for(caller, "document.view", patient_id=item.patient_id, target_id=item.id,
                     detail={"first_open": first})
    return document_json(item)


def file_link(caller: Caller, document_id: str) -> dict[str, Any]:
    """A presigned GET for the patient's own file, valid for at most five minutes."""
    item = _own_document(caller, document_id, "document.file_link")
    seconds = max(1, min(get_settings().file_link_seconds, MAX_LINK_SECONDS))
    url = bucket.file_link(get_settings().results_bucket, item.s3_key,
                           item.content_type or "application/octet-stream", seconds)
    # A client that goes straight to the file has read it too; its receipt is audited like an open's.
    first = followup.record_read(item, clock.now()) if item.read_at is None else False
    audit.record_for(caller, "document.file_link", patient_id=item.patient_id, target_id=item.id,
                     detail={"first_open": first})
    return {"url": url, "expires_at": iso(clock.now() + timedelta(seconds=seconds))}
