"""The publisher: an upload in the results bucket becomes a document the patient is told about.

S3 tells the publish queue about each object created under `incoming/`; Lambda hands the
publisher a batch of those messages. For each upload the publisher checks the key
(`incoming/<MRN>/<file name>`), the size, the type by its content (magic bytes, never the name),
the metadata (`title`, `category`, `provider`, optional `comment`) and that the MRN is a
patient's. Then it files the object under the patient, writes the item (unread) and its first
notice in ONE transaction, and sends the notice.

- What can never publish is moved to `quarantine/` with its reason and put on the staff queue.
- What fails for a passing reason raises, so SQS delivers it again and, after the queue's
  maxReceiveCount, keeps it in the dead-letter queue: nothing is dropped.
- The same bucket/key/ETag publishes once: the item's id is derived from bucket/key/ETag, and
  the transaction refuses a second item with that id.

A batch costs per upload one ranged GetObject, one CopyObject, one transaction and one email;
the patients of the whole batch are found together (two batched reads), and the uploads it
published leave `incoming/` together (one DeleteObjects), only once their items are written.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.clock import clock
from chalicelib.observability import failure, logger, metrics
from chalicelib.services import documents, notices
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import bucket as bucket_store
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store

INCOMING = "incoming/"
SNIFF_BYTES = 1024
ALLOWED_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain")
MRN_PATTERN = r"[A-Za-z0-9-]{1,40}"
_FILE_NAME = r"[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}"
_KEY_RE = re.compile(rf"^incoming/({MRN_PATTERN})/({_FILE_NAME})$")
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


def check_upload(head: bucket_store.UploadHead) -> tuple[str, dict[str, str | None]]:
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


def _patient(mrn: str, patients: dict[str, account_store.Account]) -> account_store.Account:
    account = patients.get(mrn)
    if account is None or account.role != "patient":
        raise Unpublishable("unknown_patient", f"No patient has the MRN {mrn}.")
    return account


# ---------------------------------------------------------------- publishing

def document_id(bucket: str, key: str, etag: str) -> str:
    """The same bucket/key/ETag always names the same document."""
    return "d_" + hashlib.sha256(f"{bucket}\n{key}\n{etag}".encode()).hexdigest()[:24]


def quarantine_entry_id(item_id: str) -> str:
    return f"quarantine#{item_id}"


@dataclass
class _Checked:
    """An upload that passed every check that needs no patient."""

    upload: dict[str, str]
    item_id: str
    mrn: str
    file_name: str
    head: bucket_store.UploadHead
    content_type: str
    fields: dict[str, str | None]


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


def publish_messages(message_bodies: list[str]) -> list[int]:
    """Everything a batch of SQS messages asks for. Returns the positions of the messages to be
    delivered again (an upload in them failed for a passing reason); the others are done."""
    failed: set[int] = set()
    uploads: list[tuple[int, dict[str, str]]] = []
    for position, body in enumerate(message_bodies):
        try:
            uploads.extend((position, upload) for upload in uploads_in(body))
        except (ValueError, AttributeError, TypeError):
            logger.exception("unreadable publish message", extra={"position": position})
            failed.add(position)
    for position, outcome in zip((p for p, _ in uploads), publish([u for _, u in uploads]), strict=True):
        if isinstance(outcome, Exception):
            failed.add(position)
    return sorted(failed)


def publish(uploads: list[dict[str, str]]) -> list[dict[str, Any] | Exception]:
    """Publish or quarantine each upload ({bucket, key, etag}); for each, its outcome, or the
    exception of a passing failure (that upload must be tried again)."""
    outcomes: list[dict[str, Any] | Exception | None] = [None] * len(uploads)
    checked: dict[int, _Checked] = {}
    for number, upload in enumerate(uploads):
        try:
            outcome = _check(upload)
        except Exception as err:  # noqa: BLE001 - a passing failure of one upload is that upload's only
            outcome = _passing(upload, err)
        if isinstance(outcome, _Checked):
            checked[number] = outcome
        else:
            outcomes[number] = outcome
    patients: dict[str, account_store.Account] = {}
    if checked:
        try:
            patients = account_store.find_many_by_mrn(c.mrn for c in checked.values())
        except Exception as err:  # noqa: BLE001 - every upload waiting on the look-up is tried again
            for number in checked:
                outcomes[number] = _passing(uploads[number], err)
            checked = {}
    leaving: dict[tuple[str, str], list[int]] = {}
    for number, upload in checked.items():
        try:
            outcomes[number] = _file(upload, patients)
            if outcomes[number]["outcome"] in ("published", "duplicate"):
                leaving.setdefault((upload.upload["bucket"], upload.upload["key"]), []).append(number)
        except Exception as err:  # noqa: BLE001
            outcomes[number] = _passing(upload.upload, err)
    _leave_incoming(leaving, outcomes, uploads)
    return outcomes  # type: ignore[return-value]


def _passing(upload: dict[str, str], err: Exception) -> Exception:
    item_id = document_id(upload["bucket"], upload["key"], upload["etag"])
    logger.warning("upload not published", extra={"item_id": item_id, "outcome": "retry", **failure(err)})
    return err


def _check(upload: dict[str, str]) -> _Checked | dict[str, Any]:
    bucket, key, etag = upload["bucket"], upload["key"], upload["etag"]
    item_id = document_id(bucket, key, etag)
    try:
        mrn, file_name = parse_key(key)
        try:
            head = bucket_store.read_upload(bucket, key, SNIFF_BYTES)
        except bucket_store.UploadMissing:
            return _already_done(item_id)
        content_type, fields = check_upload(head)
    except Unpublishable as bad:
        return _quarantine(upload, item_id, bad)
    return _Checked(upload, item_id, mrn, file_name, head, content_type, fields)


def _file(checked: _Checked, patients: dict[str, account_store.Account]) -> dict[str, Any]:
    """File one checked upload under its patient, write its item and first notice, send it."""
    upload, item_id, fields, head = checked.upload, checked.item_id, checked.fields, checked.head
    try:
        account = _patient(checked.mrn, patients)
    except Unpublishable as bad:
        return _quarantine(upload, item_id, bad)
    now = clock.now()
    item = item_store.Item(
        item_id, patient_id=account.id, kind=documents.DOCUMENT, title=fields["title"], category=fields["category"],
        provider=fields["provider"], created_at=now, updated_at=now,
        comments=[item_store.Comment(author=fields["provider"], text=fields["comment"], created_at=now)]
        if fields["comment"] else [],
        s3_key=documents.filed_key(account.id, item_id), content_type=checked.content_type, size_bytes=head.size,
        source={"bucket": upload["bucket"], "key": upload["key"], "etag": upload["etag"],
                "file_name": checked.file_name, "uploaded_by": head.metadata.get("uploaded-by", "direct")},
        open_count=0, round=0, notices_sent=1, last_notice_at=now, escalated=False,
        due_shard=item_store.DUE_SHARD, due_at=now + timedelta(days=get_settings().follow_up_days),
    )
    notice = notices.new_leased_item_notice(item, 1, now)
    bucket_store.file_upload(upload["bucket"], upload["key"], head.etag or upload["etag"], item.s3_key,
                             checked.content_type)
    if not item_store.create_with_notice(item, notice):
        logger.info("upload already published", extra={"item_id": item_id})
        return {"outcome": "duplicate", "item_id": item_id}
    sent = notices.deliver(notice, account, leased=True)
    metrics.add_metric(name="DocumentPublished", unit="Count", value=1)
    logger.info("document published", extra={"item_id": item_id, "notice": sent})
    return {"outcome": "published", "item_id": item_id, "notice": sent}


def _leave_incoming(leaving: dict[tuple[str, str], list[int]], outcomes: list, uploads: list) -> None:
    """Only once their items are written may uploads leave `incoming/` (a retry before that
    point still finds them there): all of the batch's in one call. One that could not be removed
    is tried again (the retry finds its item written, and removes it)."""
    by_bucket: dict[str, list[str]] = {}
    for bucket, key in leaving:
        by_bucket.setdefault(bucket, []).append(key)
    for bucket, keys in by_bucket.items():
        try:
            stuck = bucket_store.remove_uploads(bucket, keys)
        except Exception as err:  # noqa: BLE001
            stuck, error = set(keys), err
        else:
            error = UploadVanished("not removed from incoming/")
        for key in stuck:
            for number in leaving[(bucket, key)]:
                outcomes[number] = _passing(uploads[number], error)


def _already_done(item_id: str) -> dict[str, Any]:
    """The object left `incoming/`: fine if this upload was published or quarantined already
    (a repeated event); otherwise it vanished before publishing and must not be acked."""
    if item_store.get(item_id) is not None:
        return {"outcome": "duplicate", "item_id": item_id}
    if work_store.get(quarantine_entry_id(item_id)) is not None:
        return {"outcome": "quarantined", "item_id": item_id}
    raise UploadVanished(item_id)


def _quarantine(upload: dict[str, str], item_id: str, bad: Unpublishable) -> dict[str, Any]:
    bucket, key, etag = upload["bucket"], upload["key"], upload["etag"]
    destination = f"quarantine/{item_id}"
    # The work entry first: a crash after it leaves the upload in `incoming/` for the retry,
    # never a quarantined file that nobody is told about.
    work_store.add(work_store.WorkEntry(
        quarantine_entry_id(item_id), kind="quarantine", created_at=clock.now(), patient_id=bad.patient_id,
        item_id=None, reason=bad.reason,
        data={"message": bad.message, "key": key, "quarantine_key": destination, "bucket": bucket},
    ))
    try:
        bucket_store.move_to_quarantine(bucket, key, etag, destination)
    except bucket_store.UploadMissing:
        return _already_done(item_id)
    metrics.add_metric(name="UploadQuarantined", unit="Count", value=1)
    logger.warning("upload quarantined", extra={"quarantine_id": item_id, "reason": bad.reason})
    return {"outcome": "quarantined", "item_id": item_id, "reason": bad.reason}
