"""Publication: an upload in the results bucket becomes a document the patient is told about.

S3 tells the publish queue about each object created under `incoming/`. For each one the
publisher checks the key (`incoming/<MRN>/<file name>`), the size, the type by its content
(magic bytes, never the name), the metadata (`title`, `category`, `provider`, optional
`comment`) and that the MRN is a patient's. Then it files the object under the patient, writes
the item (unread) and its first notice in ONE transaction, and sends the notice.

- What can never publish is moved to `quarantine/` with its reason and put on the staff queue.
- What fails for a passing reason raises, so SQS delivers it again and, after the queue's
  maxReceiveCount, keeps it in the dead-letter queue: nothing is dropped.
- The same bucket/key/ETag publishes once: Powertools idempotency in front, and the item's id
  derived from bucket/key/ETag behind it (the transaction refuses a second item).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import unicodedata
from datetime import timedelta
from email.header import decode_header, make_header
from functools import cache
from typing import Any
from urllib.parse import unquote, unquote_plus

from chalicelib import aws
from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.observability import logger, metrics
from chalicelib.services import audit, documents, notices, queue
from chalicelib.services.accounts import get_patient
from chalicelib.services.identity import Caller
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store
from chalicelib.store.idempotency import IdempotencyRecord

INCOMING = "incoming/"
SNIFF_BYTES = 1024
IDEMPOTENCY_DAYS = 7
ALLOWED_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain")
_MRN = r"[A-Za-z0-9-]{1,40}"
_FILE_NAME = r"[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}"
_KEY_RE = re.compile(rf"^incoming/({_MRN})/({_FILE_NAME})$")
_FIELD_LIMITS = {"title": 200, "category": 100, "provider": 200, "comment": 4000}
REQUIRED_FIELDS = ("title", "category", "provider")


class Unpublishable(Exception):
    """An upload that can never publish as it is: it goes to quarantine with this reason."""

    def __init__(self, reason: str, message: str, patient_id: str | None = None):
        super().__init__(reason)
        self.reason, self.message, self.patient_id = reason, message, patient_id


class UploadVanished(Exception):
    """The object is gone and was neither published nor quarantined: retried, then dead-lettered."""


# ---------------------------------------------------------------- checks

def parse_key(key: str) -> tuple[str, str]:
    """(MRN, file name) of `incoming/<MRN>/<file name>`; anything else is quarantined."""
    found = _KEY_RE.match(key)
    if not found or ".." in found.group(2):
        raise Unpublishable("bad_key", "The key must be incoming/<MRN>/<file name>, with letters, digits, "
                            "spaces and . _ ( ) + - in the file name.")
    return found.group(1), found.group(2)


def sniff(first_bytes: bytes) -> str | None:
    """The file's type from its first bytes (never from its name); None when not allowed."""
    if first_bytes.startswith(b"%PDF-"):
        return "application/pdf"
    if first_bytes.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if first_bytes.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return "text/plain" if _plain_text(first_bytes) else None


def _plain_text(first_bytes: bytes) -> bool:
    try:
        text = first_bytes.decode("utf-8")
    except UnicodeDecodeError as err:
        # The sample may end inside a multi-byte character; anything earlier is not UTF-8.
        if err.start < len(first_bytes) - 3:
            return False
        text = first_bytes[: err.start].decode("utf-8")
    if not text.strip() or text.lstrip().startswith("<"):  # markup (HTML, SVG, XML) is not plain text
        return False
    return all(ch in "\t\n\r\f" or unicodedata.category(ch)[0] != "C" for ch in text)


def _decoded(value: str) -> str:
    """S3 gives non-ASCII metadata back RFC 2047-encoded (`=?UTF-8?B?...?=`)."""
    if "=?" in value:
        try:
            return str(make_header(decode_header(value)))
        except (ValueError, LookupError):
            return value
    return value


def read_metadata(raw: dict[str, str]) -> dict[str, str | None]:
    fields: dict[str, str | None] = {}
    for name, limit in _FIELD_LIMITS.items():
        value = _decoded(raw.get(name, "")).strip()
        if not value and name in REQUIRED_FIELDS:
            raise Unpublishable("missing_metadata", f"{name}: missing from the upload's metadata.")
        if len(value) > limit:
            raise Unpublishable("bad_metadata", f"{name}: at most {limit} characters.")
        if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in value):
            raise Unpublishable("bad_metadata", f"{name}: contains characters that are not allowed.")
        fields[name] = value or None
    return fields


def check_upload(head: documents.UploadHead) -> tuple[str, dict[str, str | None]]:
    """(content type, metadata) of an upload that may publish; Unpublishable otherwise."""
    limit = get_settings().max_upload_bytes
    if head.size == 0:
        raise Unpublishable("empty_file", "The file is empty.")
    if head.size > limit:
        raise Unpublishable("too_large", f"The file is larger than {limit // (1024 * 1024)} MB.")
    content_type = sniff(head.first_bytes)
    if content_type is None:
        raise Unpublishable("type_not_allowed", "The file is not a PDF, PNG, JPEG or plain text (checked by its "
                            "content, not its name).")
    return content_type, read_metadata(head.metadata)


def find_patient(mrn: str) -> account_store.Account:
    account = account_store.find_by_mrn(mrn)
    if account is None or account.role != "patient":
        raise Unpublishable("unknown_patient", f"No patient has the MRN {mrn}.")
    return account


# ---------------------------------------------------------------- publishing one upload

def document_id(bucket: str, key: str, etag: str) -> str:
    """The same bucket/key/ETag always names the same document."""
    return "d_" + hashlib.sha256(f"{bucket}\n{key}\n{etag}".encode()).hexdigest()[:24]


def quarantine_entry_id(item_id: str) -> str:
    return f"quarantine#{item_id}"


def publish(upload: dict[str, str]) -> dict[str, Any]:
    """Publish or quarantine one upload ({bucket, key, etag}); raises on passing failures."""
    bucket, key, etag = upload["bucket"], upload["key"], upload["etag"]
    item_id = document_id(bucket, key, etag)
    try:
        mrn, file_name = parse_key(key)
        try:
            head = documents.read_upload(bucket, key, SNIFF_BYTES)
        except documents.UploadMissing:
            return _already_done(item_id)
        content_type, fields = check_upload(head)
        account = find_patient(mrn)
    except Unpublishable as bad:
        return _quarantine(bucket, key, etag, item_id, bad)

    now = clock.now()
    item = item_store.Item(
        item_id, patient_id=account.id, kind=documents.DOCUMENT, title=fields["title"], category=fields["category"],
        provider=fields["provider"], created_at=now, updated_at=now,
        comments=[item_store.Comment(author=fields["provider"], text=fields["comment"], created_at=now)]
        if fields["comment"] else [],
        s3_key=documents.filed_key(account.id, item_id), content_type=content_type, size_bytes=head.size,
        source={"bucket": bucket, "key": key, "etag": etag, "file_name": file_name,
                "uploaded_by": head.metadata.get("uploaded-by", "direct")},
        open_count=0, round=0, notices_sent=1, last_notice_at=now, escalated=False,
        due_shard=item_store.DUE_SHARD, due_at=now + timedelta(days=get_settings().follow_up_days),
    )
    notice = notices.new_leased_item_notice(item, 1, now)
    documents.file_upload(bucket, key, head.etag or etag, item.s3_key, content_type)
    created = item_store.create_with_notice(item, notice)
    # Only once the item is written may the upload leave `incoming/`: a retry before that
    # point still finds it there.
    documents.remove_upload(bucket, key)
    if not created:
        logger.info("upload already published", extra={"item_id": item_id})
        return {"outcome": "duplicate", "item_id": item_id}
    sent = notices.deliver(notice, account, leased=True)
    metrics.add_metric(name="DocumentPublished", unit="Count", value=1)
    logger.info("document published", extra={"item_id": item_id, "notice": sent})
    return {"outcome": "published", "item_id": item_id, "notice": sent}


def _already_done(item_id: str) -> dict[str, Any]:
    """The object left `incoming/`: fine if this upload was published or quarantined already
    (a repeated event); otherwise it vanished before publishing and must not be acked."""
    if item_store.get(item_id) is not None:
        return {"outcome": "duplicate", "item_id": item_id}
    if work_store.get(quarantine_entry_id(item_id)) is not None:
        return {"outcome": "quarantined", "item_id": item_id}
    raise UploadVanished(item_id)


def _quarantine(bucket: str, key: str, etag: str, item_id: str, bad: Unpublishable) -> dict[str, Any]:
    destination = f"quarantine/{item_id}"
    # The work entry first: a crash after it leaves the upload in `incoming/` for the retry,
    # never a quarantined file that nobody is told about.
    work_store.add(work_store.WorkEntry(
        quarantine_entry_id(item_id), kind="quarantine", created_at=clock.now(), patient_id=bad.patient_id,
        item_id=None, reason=bad.reason,
        data={"message": bad.message, "key": key, "quarantine_key": destination, "bucket": bucket},
    ))
    try:
        documents.move_to_quarantine(bucket, key, etag, destination)
    except documents.UploadMissing:
        return _already_done(item_id)
    metrics.add_metric(name="UploadQuarantined", unit="Count", value=1)
    logger.warning("upload quarantined", extra={"quarantine_id": item_id, "reason": bad.reason})
    return {"outcome": "quarantined", "item_id": item_id, "reason": bad.reason}


@cache
def _idempotency() -> tuple[Any, Any]:
    """Powertools idempotency on the `idempotency` table, keyed by {bucket, key, etag}. Imported
    here, on the publisher's first upload, so the API's cold starts don't pay for it."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_DAYS * 24 * 3600)
    persistence = DynamoDBPersistenceLayer(table_name=IdempotencyRecord.Meta.table_name,
                                           boto3_client=aws.client("dynamodb"))
    once = idempotent_function(data_keyword_argument="upload", persistence_store=persistence, config=config)(publish)
    return config, once


def uploads_in(message_body: str) -> list[dict[str, str]]:
    """The object-created records of one S3 notification (keys URL-decoded as S3 sends them);
    none for the `s3:TestEvent` S3 sends when the notification is set up."""
    event = json.loads(message_body)
    uploads = []
    for record in event.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3") or {}
        key = unquote_plus(s3.get("object", {}).get("key", ""))
        if not key.startswith(INCOMING) or key.endswith("/"):
            continue  # the notification filters on incoming/; a folder marker is not an upload
        uploads.append({"bucket": s3.get("bucket", {}).get("name", ""), "key": key,
                        "etag": str(s3.get("object", {}).get("eTag", "")).strip('"')})
    return uploads


def publish_message(message_body: str, lambda_context: Any) -> list[dict[str, Any]]:
    """Everything one SQS message asks for. Raises when any upload must be tried again."""
    config, once = _idempotency()
    config.register_lambda_context(lambda_context)
    return [once(upload=upload) for upload in uploads_in(message_body)]


# ---------------------------------------------------------------- staff: uploads and comments

def _key_safe(filename: str) -> str:
    base = re.split(r"[\\/]", filename)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name)
    return re.sub(r"\.{2,}", ".", cleaned).strip("._-")[:100] or "upload"  # ".." is refused in keys


def safe_file_name(filename: str) -> str:
    """A key-safe version of a file name, unique so two uploads never overwrite each other."""
    return f"{secrets.token_hex(4)}-{_key_safe(filename)}"


def _header_value(value: str) -> str:
    """S3 metadata travels in HTTP headers: non-ASCII text goes RFC 2047-encoded, as S3 does."""
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="


def upload_form(caller: Caller, patient_id: str, *, title: str, category: str, provider: str, comment: str | None,
                filename: str, content_type: str, received_path: str | None = None) -> dict[str, Any]:
    """A presigned S3 POST locked to this patient's key, the content type, the metadata and
    the size limit. The publisher still checks everything when the file arrives. With
    `received_path` (a portal page), S3 sends the browser there after the file is stored
    (`success_action_redirect`, signed like every other field) instead of answering an empty 204."""
    account = get_patient(patient_id)
    if content_type not in ALLOWED_TYPES:
        raise BadRequest(f"content_type: one of {', '.join(ALLOWED_TYPES)}.", code="invalid_request")
    settings = get_settings()
    key = f"{INCOMING}{account.mrn}/{safe_file_name(filename)}"
    metadata = {"title": title, "category": category, "provider": provider, "uploaded-by": caller.actor_id or ""}
    if comment:
        metadata["comment"] = comment
    fields = {"Content-Type": content_type, **{f"x-amz-meta-{k}": _header_value(v) for k, v in metadata.items()}}
    if received_path:
        fields["success_action_redirect"] = f"{settings.portal_url}{received_path}"
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, settings.max_upload_bytes])
    post = aws.client("s3").generate_presigned_post(settings.results_bucket, key, Fields=fields,
                                                    Conditions=conditions, ExpiresIn=900)
    audit.record_for(caller, "document.upload_link", patient_id=account.id, target_id=key)
    return {"url": post["url"], "fields": post["fields"], "key": key}


def _staff_name(caller: Caller) -> str:
    staff = account_store.get(caller.actor_id) if caller.actor_id else None
    return staff.name if staff else "Office"


def add_comment(caller: Caller, document_id: str, text: str) -> dict[str, Any]:
    """A provider comment added later: the document is unread again, a new follow-up round
    starts, and the patient is told (the comment itself never goes into the email)."""
    author = _staff_name(caller)
    for _ in range(3):
        item = item_store.get(document_id)
        if item is None or item.kind != documents.DOCUMENT:
            raise NotFound("No document with that id.")
        now = clock.now()
        expected_round = int(item.round or 0)
        comment = item_store.Comment(author=author, text=text, created_at=now)
        item.round = expected_round + 1  # the notice belongs to the round this write starts
        notice = notices.new_leased_item_notice(item, 1, now)
        due_at = now + timedelta(days=get_settings().follow_up_days)
        if item_store.add_comment_with_notice(item, comment, now, due_at, notice, expected_round):
            break
    else:
        raise Conflict("The document changed while the comment was saved; please try again.")
    notices.deliver(notice, leased=True)
    audit.record_for(caller, "document.comment", patient_id=item.patient_id, target_id=item.id)
    item = item_store.get(document_id)
    return {"id": item.id, "comments": [documents.comment_json(c) for c in item.comments or []]}


# ---------------------------------------------------------------- staff: quarantined uploads

QUARANTINE = "quarantine"
PUBLISHED_AGAIN = "published_again"


def _data(entry: work_store.WorkEntry) -> dict[str, Any]:
    return entry.data.as_dict() if entry.data is not None else {}


def _quarantine_entry(entry_id: str) -> work_store.WorkEntry:
    # The id's '#' may come percent-encoded; no entry id is long (DynamoDB refuses keys over 2 KB).
    entry = work_store.get(unquote(entry_id)) if 0 < len(entry_id) <= 200 else None
    if entry is None or entry.kind != QUARANTINE:
        raise NotFound("No quarantined upload with that id.")
    return entry


def quarantine_entry(entry_id: str) -> dict[str, Any]:
    """One quarantine entry for the office, open or dealt with (who, when, how)."""
    entry = _quarantine_entry(entry_id)
    resolver = account_store.get(entry.resolved_by) if entry.resolved_by else None
    return {**queue.entry_json(entry), "open": bool(entry.open_kind), "resolved_at": iso(entry.resolved_at),
            "resolved_by": resolver.name if resolver else entry.resolved_by, "note": entry.note,
            "resolution": entry.resolution or (None if entry.open_kind else "closed"),
            "republished_key": entry.republished_key}


def _open_quarantine_entry(entry_id: str) -> work_store.WorkEntry:
    """An open quarantine entry; 404 for any other id, 409 once it has been dealt with."""
    entry = _quarantine_entry(entry_id)
    if not entry.open_kind:
        raise Conflict("This upload has already been dealt with.", code="already_resolved")
    return entry


def _republish_key(entry: work_store.WorkEntry, mrn: str | None) -> tuple[str, str, bool]:
    """(MRN, `incoming/<MRN>/<tag>-<file name>`, whether staff changed the MRN) for sending a
    quarantined upload back. The tag, derived from the entry, makes the key new: the publisher's
    idempotency remembers the old bucket/key/ETag as quarantined, and a copy keeps the ETag. The
    same entry always gets the same key, so an attempt repeated after a failed copy publishes once."""
    original = str(_data(entry).get("key") or "")
    try:
        original_mrn, file_name = parse_key(original)
    except Unpublishable:
        parts = original.split("/")
        original_mrn = parts[1] if len(parts) == 3 and re.fullmatch(_MRN, parts[1]) else None
        file_name = _key_safe(original)
    corrected = bool(mrn) and mrn != original_mrn
    mrn = mrn or original_mrn
    if not mrn:
        raise BadRequest("mrn: the upload's key names no MRN; give the patient's MRN.", code="invalid_request")
    tag = hashlib.sha256(entry.id.encode()).hexdigest()[:8]
    return mrn, f"{INCOMING}{mrn}/{tag}-{file_name}"[: len(INCOMING) + len(mrn) + 1 + 200], corrected


def publish_again(caller: Caller, entry_id: str, mrn: str | None, note: str | None) -> dict[str, Any]:
    """Send a quarantined upload back through the publisher, once its cause is fixed (the patient
    is registered now, or staff give the right MRN). The publisher checks it all again: it
    publishes and notifies, or quarantines it anew with the new reason."""
    entry = _open_quarantine_entry(entry_id)
    mrn, key, corrected = _republish_key(entry, mrn)
    account = account_store.find_by_mrn(mrn)
    if account is None or account.role != "patient":
        raise BadRequest(f"mrn: no patient has the MRN {mrn}; register the patient first or give the right MRN.",
                         code="unknown_patient")
    # Closed before the copy, conditionally: two staff at once (perhaps with different MRNs) never
    # send the same file to two patients.
    if not work_store.resolve(entry, caller.actor_id, note, clock.now(), resolution=PUBLISHED_AGAIN,
                              republished_key=key):
        raise Conflict("This upload has already been dealt with.", code="already_resolved")
    data = _data(entry)
    try:
        documents.send_back_from_quarantine(str(data.get("bucket") or get_settings().results_bucket),
                                            str(data.get("quarantine_key") or ""), key)
    except documents.UploadMissing:
        work_store.reopen(entry)
        raise Conflict("The quarantined file is not in the bucket (not moved there yet, or expired by the bucket's "
                       "lifecycle); try again in a minute, or ask the sender for the file again.",
                       code="not_in_quarantine") from None
    except Exception:
        work_store.reopen(entry)
        raise
    audit.record_for(caller, "quarantine.publish_again", patient_id=account.id, target_id=entry.id,
                     detail={"reason": entry.reason, "mrn_corrected": corrected})
    metrics.add_metric(name="UploadPublishedAgain", unit="Count", value=1)
    return {"id": entry.id, "status": "resolved", "resolution": PUBLISHED_AGAIN, "key": key, "patient_id": account.id}
