"""Documents: the files in the results bucket and what the patient sees of them.

The bucket holds `incoming/<MRN>/<file name>` (uploads waiting for the publisher),
`documents/<patient id>/<item id>` (filed documents, encrypted at rest) and `quarantine/<id>`
(uploads that could not be published). A patient opens only their own documents: anyone
else's answer exactly like an id that does not exist. Every view and every file link is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.clock import clock, iso
from chalicelib.errors import NotFound
from chalicelib.services import audit, followup
from chalicelib.services.identity import Caller
from chalicelib.settings import get_settings
from chalicelib.store import items as item_store

DOCUMENT = "document"
MAX_LINK_SECONDS = 300  # file links never outlive five minutes, whatever the setting says
SSE = "AES256"


class UploadMissing(Exception):
    """The uploaded object is not (or no longer) in the bucket."""


@dataclass(frozen=True)
class UploadHead:
    """What one ranged GET tells about an upload: its metadata, first bytes, size and ETag."""

    metadata: dict[str, str]
    first_bytes: bytes
    size: int
    etag: str


def filed_key(patient_id: str, item_id: str) -> str:
    return f"documents/{patient_id}/{item_id}"


def _missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


def read_upload(bucket: str, key: str, first_bytes: int) -> UploadHead:
    """Metadata, magic bytes and total size in ONE ranged GetObject (no HeadObject, no full read)."""
    try:
        answer = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{first_bytes - 1}")
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(key) from err
        if err.response.get("Error", {}).get("Code") == "InvalidRange":  # an empty object has no byte 0
            return UploadHead({}, b"", 0, "")
        raise
    with answer["Body"] as body:
        head = body.read()
    content_range = answer.get("ContentRange") or ""
    size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else int(answer.get("ContentLength", len(head)))
    return UploadHead(dict(answer.get("Metadata") or {}), head, size, (answer.get("ETag") or "").strip('"'))


def _copy(bucket: str, key: str, etag: str, destination: str, **extra: Any) -> None:
    """Copy exactly the version that was checked (If-Match), encrypted at rest."""
    source: dict[str, str] = {"Bucket": bucket, "Key": key}
    conditions = {"CopySourceIfMatch": f'"{etag}"'} if etag else {}
    try:
        aws.client("s3").copy_object(Bucket=bucket, Key=destination, CopySource=source, ServerSideEncryption=SSE,
                                     **conditions, **extra)
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(key) from err
        raise


def file_upload(bucket: str, key: str, etag: str, destination: str, content_type: str) -> None:
    """File the upload under the patient with the type found in its content, and without its
    metadata: the item holds the title and comments, the file needs none of them."""
    _copy(bucket, key, etag, destination, MetadataDirective="REPLACE", ContentType=content_type,
          ContentDisposition="inline")


def move_to_quarantine(bucket: str, key: str, etag: str, destination: str) -> None:
    """Keep the upload, metadata and all, where staff can look at it; then clear `incoming/`."""
    _copy(bucket, key, etag, destination, MetadataDirective="COPY")
    remove_upload(bucket, key)


def send_back_from_quarantine(bucket: str, quarantine_key: str, destination: str) -> None:
    """Copy a quarantined upload, metadata and all, back under `incoming/` so the publisher takes
    it again; the quarantined copy stays where it is."""
    _copy(bucket, quarantine_key, "", destination, MetadataDirective="COPY")


def remove_upload(bucket: str, key: str) -> None:
    aws.client("s3").delete_object(Bucket=bucket, Key=key)


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
    url = aws.client("s3").generate_presigned_url(
        "get_object",
        Params={"Bucket": get_settings().results_bucket, "Key": item.s3_key,
                "ResponseContentType": item.content_type or "application/octet-stream",
                "ResponseCacheControl": "no-store"},
        ExpiresIn=seconds,
    )
    # A client that goes straight to the file has read it too; its receipt is audited like an open's.
    first = followup.record_read(item, clock.now()) if item.read_at is None else False
    audit.record_for(caller, "document.file_link", patient_id=item.patient_id, target_id=item.id,
                     detail={"first_open": first})
    return {"url": url, "expires_at": iso(clock.now() + timedelta(seconds=seconds))}
