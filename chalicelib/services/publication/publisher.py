"""The publisher: an upload in the results bucket becomes a document the patient is told about.

S3 tells the publish queue about each object created under `incoming/`; Lambda hands the
publisher a batch of those messages. An upload is one of two kinds, told apart by its key:

- made through the portal: `incoming/<upload id>`, an opaque id whose pending-upload row (written
  by the upload form) names the patient and holds title, category, provider and comment;
- dropped by a lab system: `incoming/<MRN>/<file name>` with the details in its S3 metadata
  (`title`, `category`, `provider`, optional `comment`), as docs/publication.md describes.

For each the publisher checks the size, the type by its content (magic bytes, never the name), the
details and the patient. Then it files the object under the patient (an opaque key, no user
metadata), writes the item (unread) and its first notice in ONE transaction, and sends the notice.
A portal upload whose pending row `replaces` a document is a corrected file: checked the same way,
it is filed under a key of its own and becomes that document's next version (`updated`, unread
again, a new follow-up round and its notice, in one transaction); earlier versions stay filed.

- What can never publish is moved to `quarantine/` with its reason and put on the staff queue:
  a failure that is the upload's own (not a refused, throttled or unreachable service) too.
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
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

from chalicelib.clock import clock
from chalicelib.observability import failure, logger, metrics
from chalicelib.services.followup import notices
from chalicelib.services.publication import documents
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import bucket as bucket_store
from chalicelib.store import items as item_store
from chalicelib.store import uploads as uploads_store
from chalicelib.store import work as work_store
from chalicelib.store.base import StillContended
from chalicelib.store.failures import refused_request
from chalicelib.vocabulary import Role

INCOMING = "incoming/"
SNIFF_BYTES = 1024
ALLOWED_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain")
MRN_PATTERN = r"[A-Za-z0-9-]{1,40}"
_FILE_NAME = r"[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}"
_KEY_RE = re.compile(rf"^incoming/({MRN_PATTERN})/({_FILE_NAME})$")
UPLOAD_ID_PATTERN = r"u_[0-9a-f]{32}"
_PORTAL_KEY_RE = re.compile(rf"^incoming/({UPLOAD_ID_PATTERN})(?:\.[0-9a-f]{{8}})?$")
_FIELD_LIMITS = {"title": 200, "category": 100, "provider": 200, "comment": 4000}
REQUIRED_FIELDS = ("title", "category", "provider")


class Unpublishable(Exception):
    """An upload that can never publish as it is: it goes to quarantine with this reason."""

    def __init__(self, reason: str, message: str, patient_id: str | None = None):
        super().__init__(reason)
        self.reason, self.message, self.patient_id = reason, message, patient_id


class UploadVanished(Exception):
    """The object is gone and was neither published nor quarantined: retried, then dead-lettered."""


# AWS refusals that are about the request the upload made (its metadata, its values), not about
# the service: the same upload meets them on every delivery.
_UPLOAD_REFUSALS = {"InvalidArgument", "InvalidRequest", "MetadataTooLarge", "KeyTooLongError", "ValidationException",
                    "InvalidParameterValue", "ItemCollectionSizeLimitExceededException"}
CANNOT_PUBLISH = "cannot_publish"


def passing(err: Exception) -> bool:
    """Whether a failure may pass (a refused, throttled or unreachable AWS service, a contended
    write, a vanished object: SQS delivers the upload again) or is the upload's own (any other
    error: every delivery would meet it again, so the upload goes to quarantine instead of the
    dead-letter queue, where nobody would see it)."""
    refused = refused_request(err, _UPLOAD_REFUSALS)
    if refused is not None:
        return not refused
    return isinstance(err, (ConnectionError, TimeoutError, UploadVanished, StillContended))


# ---------------------------------------------------------------- checks

@dataclass(frozen=True)
class Source:
    """Who an upload is for, as its key says: an upload id (made through the portal) or an MRN
    and file name (a lab system's drop)."""

    upload_id: str | None = None
    mrn: str | None = None
    file_name: str | None = None


def parse_key(key: str) -> Source:
    """The source of `incoming/<upload id>[.<tag>]` or `incoming/<MRN>/<file name>`; any other key
    is quarantined."""
    portal = _PORTAL_KEY_RE.match(key)
    if portal:
        return Source(upload_id=portal.group(1))
    found = _KEY_RE.match(key)
    if not found or ".." in found.group(2):
        raise Unpublishable("bad_key", "The key must be incoming/<MRN>/<file name>, with letters, digits, "
                            "spaces and . _ ( ) + - in the file name.")
    return Source(mrn=found.group(1), file_name=found.group(2))


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


def check_file(head: bucket_store.UploadHead) -> str:
    """The content type of a file that may publish; Unpublishable otherwise."""
    limit = get_settings().max_upload_bytes
    if head.size == 0:
        raise Unpublishable("empty_file", "The file is empty.")
    if head.size > limit:
        raise Unpublishable("too_large", f"The file is larger than {limit // (1024 * 1024)} MB.")
    content_type = sniff(head.first_bytes)
    if content_type is None:
        raise Unpublishable("type_not_allowed", "The file is not a PDF, PNG, JPEG or plain text (checked by its "
                            "content, not its name).")
    return content_type


@dataclass
class _Found:
    """What the batch's two reads found: accounts by MRN, pending uploads, accounts by id."""

    by_mrn: dict[str, account_store.Account]
    pending: dict[str, uploads_store.PendingUpload]
    by_id: dict[str, account_store.Account]


def _details(source: Source, head: bucket_store.UploadHead, found: _Found
             ) -> tuple[account_store.Account, dict[str, str | None], str, str]:
    """(patient, title/category/provider/comment, file name, uploaded by) of a checked upload."""
    if source.upload_id is None:
        account = found.by_mrn.get(source.mrn or "")
        if account is None or account.role != Role.PATIENT:
            raise Unpublishable("unknown_patient", f"No patient has the MRN {source.mrn}.")
        return account, read_metadata(head.metadata), source.file_name or "", "direct"
    pending = found.pending.get(source.upload_id)
    if pending is None:
        raise Unpublishable("unknown_upload", "No upload form of the portal made this upload (or its form is "
                            "too old): upload the file again from the patient's page.")
    account = found.by_id.get(pending.patient_id)
    if account is None or account.role != Role.PATIENT:
        raise Unpublishable("unknown_patient", "The patient this upload was made for has no account any more.",
                            patient_id=pending.patient_id)
    fields = read_metadata({"title": pending.title, "category": pending.category, "provider": pending.provider,
                            "comment": pending.comment or ""})
    return account, fields, pending.file_name, pending.uploaded_by or "portal"


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
    source: Source
    head: bucket_store.UploadHead
    content_type: str


def uploads_in(message_body: str) -> list[dict[str, str]]:
    """The uploads under `incoming/` that one S3 notification names (none for the `s3:TestEvent`,
    none for a folder marker: the notification filters on incoming/)."""
    return [{"bucket": o.bucket, "key": o.key, "etag": o.etag}
            for o in bucket_store.objects_created(message_body, INCOMING)]


def publish_messages(message_bodies: list[str]) -> list[int]:
    """Everything a batch of SQS messages asks for. Returns the positions of the messages to be
    delivered again (an upload in them failed for a passing reason); the others are done."""
    failed: set[int] = set()
    uploads: list[tuple[int, dict[str, str]]] = []
    for position, body in enumerate(message_bodies):
        try:
            uploads.extend((position, upload) for upload in uploads_in(body))
        except (ValueError, AttributeError, TypeError) as exc:
            logger.error("unreadable publish message", extra={"position": position, **failure(exc)})
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
    now = clock.now()
    outcome: _Checked | dict[str, Any] | Exception
    for number, upload in enumerate(uploads):
        try:
            outcome = _check(upload, now)
        except Exception as err:  # noqa: BLE001 - a passing failure of one upload is that upload's only
            outcome = _passing(upload, err, now)
        if isinstance(outcome, _Checked):
            checked[number] = outcome
        else:
            outcomes[number] = outcome
    found = _Found({}, {}, {})
    if checked:
        try:
            found = _Found(*uploads_store.for_publication(
                (c.source.mrn for c in checked.values() if c.source.mrn),
                (c.source.upload_id for c in checked.values() if c.source.upload_id)))
        except Exception as err:  # noqa: BLE001 - every upload waiting on the look-up is tried again
            for number in checked:
                outcomes[number] = _passing(uploads[number], err, now)
            checked = {}
    leaving: dict[tuple[str, str], list[int]] = {}
    for number, ready in checked.items():
        try:
            filed = outcomes[number] = _file(ready, found, now)
            if filed["outcome"] in ("published", "duplicate"):
                leaving.setdefault((ready.upload["bucket"], ready.upload["key"]), []).append(number)
        except Exception as err:  # noqa: BLE001
            outcomes[number] = _passing(ready.upload, err, now)
    _leave_incoming(leaving, outcomes, uploads)
    return outcomes  # type: ignore[return-value]


def _passing(upload: dict[str, str], err: Exception, now: datetime) -> dict[str, Any] | Exception:
    """A failure before the upload's item was written: tried again when it may pass; otherwise
    quarantined with a reason the office can read (tried again only if that fails too)."""
    item_id = document_id(upload["bucket"], upload["key"], upload["etag"])
    if not passing(err):
        logger.warning("upload cannot be published", extra={"item_id": item_id, **failure(err)})
        bad = Unpublishable(CANNOT_PUBLISH, "The portal could not read this upload's file or details as they are "
                            f"({type(err).__name__}), and would fail the same way every time. Ask the sender "
                            "to send it again, with plain one-line title, provider and comment.")
        try:
            return _quarantine(upload, item_id, bad, now)
        except Exception as again:  # noqa: BLE001 - then it is tried again, as a passing failure is
            err = again
    logger.warning("upload not published", extra={"item_id": item_id, "outcome": "retry", **failure(err)})
    return err


def _check(upload: dict[str, str], now: datetime) -> _Checked | dict[str, Any]:
    bucket, key, etag = upload["bucket"], upload["key"], upload["etag"]
    item_id = document_id(bucket, key, etag)
    try:
        source = parse_key(key)
        try:
            head = bucket_store.read_upload(bucket, key, SNIFF_BYTES)
        except bucket_store.UploadMissing:
            return _already_done(item_id, source, key)
        except bucket_store.UploadUnreadable:
            raise Unpublishable("unreadable_upload", "The bucket holds this upload but cannot hand it out: its "
                                "metadata holds a line break or another character S3 cannot send. Ask the sender "
                                "to upload it again with one-line title, provider and comment.") from None
        content_type = check_file(head)
        if source.upload_id is None:
            read_metadata(head.metadata)  # a lab system's details are checked before anything is looked up
    except Unpublishable as bad:
        return _quarantine(upload, item_id, bad, now)
    return _Checked(upload, item_id, source, head, content_type)


def _office_comment(uploaded_by: str | None, text: str, now: datetime) -> item_store.Comment:
    """An upload's comment, written by whoever uploaded it (the office, `role: "office"`): the
    upload's `provider` field labels the document and never becomes a comment's author. One read,
    only for an upload that carries a comment."""
    member = account_store.get(uploaded_by) if uploaded_by and uploaded_by != "portal" else None
    author = member.name if member is not None else get_settings().clinic_name
    return item_store.Comment(author=author, text=text, created_at=now, role="office")


def _file(checked: _Checked, found: _Found, now: datetime) -> dict[str, Any]:
    """File one checked upload under its patient, write its item and first notice, send it."""
    upload, item_id, head = checked.upload, checked.item_id, checked.head
    try:
        account, fields, file_name, uploaded_by = _details(checked.source, head, found)
    except Unpublishable as bad:
        return _quarantine(upload, item_id, bad, now)
    pending = found.pending.get(checked.source.upload_id or "")
    if pending is not None and pending.replaces:
        return _file_replacement(checked, account, pending, fields, now)
    item = item_store.Item(
        item_id, patient_id=account.id, kind=documents.DOCUMENT, title=fields["title"], category=fields["category"],
        provider=fields["provider"], created_at=now, updated_at=now,
        comments=[_office_comment(uploaded_by, fields["comment"], now)] if fields["comment"] else [],
        s3_key=documents.filed_key(account.id, item_id), content_type=checked.content_type, size_bytes=head.size,
        source={"bucket": upload["bucket"], "key": upload["key"], "etag": upload["etag"],
                "file_name": file_name, "uploaded_by": uploaded_by},
        open_count=0, round=0, notices_sent=1, last_notice_at=now, escalated=False,
        due_shard=item_store.DUE_SHARD, due_at=now + timedelta(days=get_settings().follow_up_days),
    )
    notice = notices.new_leased_item_notice(item, 1, now)
    bucket_store.file_upload(upload["bucket"], upload["key"], head.etag or upload["etag"], item.s3_key,
                             checked.content_type)
    if not item_store.create_with_notice(item, notice):
        logger.info("upload already published", extra={"item_id": item_id})
        return {"outcome": "duplicate", "item_id": item_id}
    sent = notices.deliver_written(notice, account, "publication", {"item_id": item_id})
    metrics.add_metric(name="DocumentPublished", unit="Count", value=1)
    logger.info("document published", extra={"item_id": item_id, "notice": sent})
    return {"outcome": "published", "item_id": item_id, "notice": sent}


def _replaced_by(item: item_store.Item | None, key: str) -> bool:
    """Whether this upload is already one of the document's versions (a repeated delivery)."""
    return item is not None and any(version.source_key == key for version in item.versions or [])


def _file_replacement(checked: _Checked, account: account_store.Account, pending: uploads_store.PendingUpload,
                      fields: dict[str, str | None], now: datetime) -> dict[str, Any]:
    """A corrected file that passed every check becomes the document's next version: filed under
    a key of its own (earlier versions stay), the item updated (unread again, `updated`, a new
    follow-up round) with its notice in one transaction, and the notice sent. A document retracted
    or gone meanwhile sends the file to quarantine, with a reason the office reads."""
    upload, head = checked.upload, checked.head
    for _ in range(3):
        item = item_store.get(pending.replaces or "")
        if item is None or item.kind != documents.DOCUMENT or item.patient_id != account.id:
            return _quarantine(upload, checked.item_id, Unpublishable(
                "unknown_document", "The document this corrected file was to replace is not in the portal.",
                patient_id=account.id), now)
        if _replaced_by(item, upload["key"]):
            return {"outcome": "duplicate", "item_id": item.id}
        if item.status == item_store.RETRACTED:
            return _quarantine(upload, checked.item_id, Unpublishable(
                "document_retracted", "The document this corrected file was to replace was retracted meanwhile: "
                "if the patient should have the file, upload it as a new document.", patient_id=account.id), now)
        number = int(item.version or 1) + 1
        version = item_store.Version(
            version=number, published_at=now, s3_key=documents.filed_key(account.id, item.id, number),
            content_type=checked.content_type, size_bytes=head.size, source_key=upload["key"],
            uploaded_by=pending.uploaded_by, comment=fields["comment"])
        bucket_store.file_upload(upload["bucket"], upload["key"], head.etag or upload["etag"], version.s3_key,
                                 checked.content_type)
        expected_round = int(item.round or 0)
        item.round = expected_round + 1  # the notice belongs to the round this write starts
        notice = notices.new_leased_item_notice(item, 1, now)
        comment = _office_comment(pending.uploaded_by, fields["comment"], now) if fields["comment"] else None
        if item_store.replace_with_notice(item, version, now, now + timedelta(days=get_settings().follow_up_days),
                                          notice, expected_round, comment):
            break
    else:
        raise StillContended()  # tried again by SQS; the next delivery finds the document as it is then
    sent = notices.deliver_written(notice, account, "replacement", {"item_id": item.id})
    metrics.add_metric(name="DocumentReplaced", unit="Count", value=1)
    logger.info("document replaced", extra={"item_id": item.id, "version": number, "notice": sent})
    return {"outcome": "published", "item_id": item.id, "version": number, "notice": sent}


def _leave_incoming(leaving: dict[tuple[str, str], list[int]], outcomes: list[dict[str, Any] | Exception | None],
                    uploads: list[dict[str, str]]) -> None:
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
            for number in leaving[(bucket, key)]:  # published already: only tried again, never quarantined
                logger.warning("upload not removed from incoming", extra={
                    "item_id": document_id(bucket, key, uploads[number]["etag"]), "outcome": "retry", **failure(error)})
                outcomes[number] = error


def _already_done(item_id: str, source: Source | None = None, key: str = "") -> dict[str, Any]:
    """The object left `incoming/`: fine if this upload was published (as a document or as a
    corrected version of one) or quarantined already (a repeated event); otherwise it vanished
    before publishing and must not be acked."""
    if item_store.get(item_id) is not None:
        return {"outcome": "duplicate", "item_id": item_id}
    pending = uploads_store.get(source.upload_id) if source is not None and source.upload_id else None
    if pending is not None and pending.replaces:
        replaced = item_store.get(pending.replaces)
        if replaced is not None and _replaced_by(replaced, key):
            return {"outcome": "duplicate", "item_id": replaced.id}
    if work_store.get(quarantine_entry_id(item_id)) is not None:
        return {"outcome": "quarantined", "item_id": item_id}
    raise UploadVanished(item_id)


def _quarantine(upload: dict[str, str], item_id: str, bad: Unpublishable, now: datetime) -> dict[str, Any]:
    bucket, key, etag = upload["bucket"], upload["key"], upload["etag"]
    destination = f"quarantine/{item_id}"
    # The work entry first: a crash after it leaves the upload in `incoming/` for the retry,
    # never a quarantined file that nobody is told about.
    work_store.add(work_store.WorkEntry(
        quarantine_entry_id(item_id), kind="quarantine", created_at=now, patient_id=bad.patient_id,
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
