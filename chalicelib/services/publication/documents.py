"""Documents: the files in the results bucket and what the patient sees of them.

The bucket holds `incoming/<MRN>/<file name>` (uploads waiting for the publisher),
`documents/<patient id>/<item id>` (filed documents, encrypted at rest) and `quarantine/<id>`
(uploads that could not be published). A patient opens only their own documents: anyone
else's answer exactly like an id that does not exist. Every view and every file link is audited.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Literal, cast
from urllib.parse import quote

from chalicelib.clock import clock, iso
from chalicelib.errors import Gone, NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup import sweep as followup
from chalicelib.services.publication.answers import Comment, Document, FileLink, RetractedDocument, RetractedTitle
from chalicelib.settings import get_settings
from chalicelib.store import bucket
from chalicelib.store import items as item_store

DOCUMENT = "document"
MAX_LINK_SECONDS = 300  # file links never outlive five minutes, whatever the setting says


def filed_key(patient_id: str, item_id: str, version: int = 1) -> str:
    """Where a published document's file is filed: ids only, nothing a person could read. A
    corrected file (version 2 and up) gets a key of its own, so every earlier one is kept."""
    base = f"documents/{patient_id}/{item_id}"
    return base if version <= 1 else f"{base}/v{version}"


REFILED = "documents/refiled/"


def refiled_key(patient_id: str, item_id: str) -> str:
    """Where the copy of a document refiled to the right patient is filed: under a prefix of its own,
    the only one under documents/ the API may write (it never overwrites a filed upload)."""
    return f"{REFILED}{patient_id}/{item_id}"


# ---------------------------------------------------------------- the name of a saved copy

EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "text/plain": "txt"}
_NAME_LIMIT = 100
_NOT_IN_NAMES = re.compile(r'[\\/*?"<>|%]+')  # path separators, characters file systems refuse, escapes


def download_name(title: str, content_type: str | None) -> tuple[str, str]:
    """(ASCII fallback, full name) of the file a saved copy gets: the title, made safe for any
    file system (no separators, control characters or reserved characters, no leading dots), and
    the extension of the file's type."""
    text = unicodedata.normalize("NFC", title or "")
    text = "".join(" " if unicodedata.category(ch)[0] in ("C", "Z") else ch for ch in text)
    text = _NOT_IN_NAMES.sub("-", text.replace(":", " "))
    text = re.sub(r"\s+", " ", text).strip(" .-")[:_NAME_LIMIT].strip(" .-") or "document"
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = re.sub(r"[^A-Za-z0-9 .,'&_()+-]+", "_", ascii_text)
    ascii_text = re.sub(r"\s+", " ", ascii_text).strip(" ._-") or "document"
    extension = EXTENSIONS.get(content_type or "", "bin")
    return f"{ascii_text}.{extension}", f"{text}.{extension}"


def content_disposition(title: str, content_type: str | None) -> str:
    """RFC 6266: `inline` (the browser shows the file), named after the title; a non-ASCII name
    goes in `filename*` (RFC 8187, UTF-8) with an ASCII `filename` for older clients."""
    fallback, name = download_name(title, content_type)
    header = f'inline; filename="{fallback}"'
    if name != fallback:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


# ---------------------------------------------------------------- what the patient sees

def comment_json(comment: item_store.Comment) -> Comment:
    role: Literal["provider", "office"] = "provider" if comment.role == "provider" else "office"
    return {"author": comment.author, "role": role, "text": comment.text, "created_at": iso(comment.created_at)}


def retracted_json(item: item_store.Item) -> RetractedDocument:
    """All a patient sees of a retracted document: never its own title (it may be another
    patient's), its file or its comments."""
    return {"id": item.id, "status": "retracted", "title": cast(RetractedTitle, item_store.RETRACTED_TITLE),
            "retracted_at": iso(item.retracted_at)}


def document_json(item: item_store.Item) -> Document | RetractedDocument:
    if item_store.status_of(item) == item_store.RETRACTED:
        return retracted_json(item)
    return {
        "id": item.id,
        "status": cast(Literal["published", "updated"], item_store.status_of(item)),
        "version": int(item.version or 1),
        "title": item.title,
        "category": item.category,
        "provider": item.provider,
        "published_at": iso(item.created_at),
        "read_at": iso(item.read_at),
        "content_type": item.content_type,
        "size_bytes": int(item.size_bytes) if item.size_bytes is not None else None,
        "comments": [comment_json(c) for c in item.comments or []],
    }


def _reader(caller: Caller) -> tuple[str, str] | None:
    """Who an open is by, for the first receipt: their role and account id."""
    return (caller.actor_role, caller.actor_id) if caller.actor_role and caller.actor_id else None


def _own_document(caller: Caller, document_id: str, action: str) -> item_store.Item:
    """The caller's own document, or the same 404 for another patient's id and an unknown one."""
    item = item_store.get(document_id) if document_id else None
    if item is None or item.kind != DOCUMENT or item.patient_id != caller.patient_id:
        audit.record_for(caller, action, outcome="not_found", target_id=document_id[:100])
        raise NotFound(N_("No document with that id."))
    return item


def open_document(caller: Caller, document_id: str) -> Document | RetractedDocument:
    """The document as the patient sees it. The first open writes the read receipt (a
    conditional write, never overwritten); later opens are counted."""
    item = _own_document(caller, document_id, "document.view")
    if item_store.status_of(item) == item_store.RETRACTED:
        # Taken back by the office: nothing of it is read, and no receipt is written.
        audit.record_for(caller, "document.view", outcome="retracted", patient_id=item.patient_id, target_id=item.id)
        return retracted_json(item)
    now = clock.now()
    first = followup.record_read(item, now, reader=_reader(caller))
    if first:
        item.read_at = now
    audit.record_for(caller, "document.view", patient_id=item.patient_id, target_id=item.id,
                     detail={"first_open": first})
    return document_json(item)


def file_link(caller: Caller, document_id: str) -> FileLink:
    """A presigned GET for the patient's own file (its current version), valid for at most five
    minutes, that names a saved copy after the document's title. A retracted document's file
    answers 410: it is kept for the record, never handed out again."""
    item = _own_document(caller, document_id, "document.file_link")
    if item_store.status_of(item) == item_store.RETRACTED:
        audit.record_for(caller, "document.file_link", outcome="retracted", patient_id=item.patient_id,
                         target_id=item.id)
        raise Gone(N_("This document was removed by your clinic."), code="retracted")
    seconds, now = max(1, min(get_settings().file_link_seconds, MAX_LINK_SECONDS)), clock.now()
    url = bucket.file_link(get_settings().results_bucket, item.s3_key,
                           item.content_type or "application/octet-stream", seconds,
                           content_disposition(item.title, item.content_type))
    # A client that goes straight to the file has read it too; its receipt is audited like an open's.
    first = followup.record_read(item, now, reader=_reader(caller)) if item.read_at is None else False
    audit.record_for(caller, "document.file_link", patient_id=item.patient_id, target_id=item.id,
                     detail={"first_open": first})
    return {"url": url, "expires_at": iso(now + timedelta(seconds=seconds))}
