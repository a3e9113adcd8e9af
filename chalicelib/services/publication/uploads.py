"""The office's side of publication: the upload form, provider comments added later, and
quarantined uploads looked at, closed or published again (the publisher itself is
`services/publisher.py`).

An upload made through the portal keeps PHI out of S3: its key (`incoming/<upload id>`) and its
only metadata name an opaque upload id; who it is for, title, category, provider and comment wait
in a pending-upload row (DynamoDB) until the publisher files the document."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import metrics
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts.registry import get_patient
from chalicelib.services.followup import notices
from chalicelib.services.followup import work_queue as queue
from chalicelib.services.publication import documents
from chalicelib.services.publication.answers import Commented, PublishedAgain, UploadForm
from chalicelib.services.publication.publisher import (
    ALLOWED_TYPES,
    INCOMING,
    MRN_PATTERN,
    UPLOAD_ID_PATTERN,
    Unpublishable,
    parse_key,
)
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import bucket as bucket_store
from chalicelib.store import items as item_store
from chalicelib.store import uploads as upload_store
from chalicelib.store import work as work_store
from chalicelib.vocabulary import Role

# A pending upload waits this long for its file, its retries and any replay of its dead letters.
PENDING_UPLOAD_DAYS = 30

# ---------------------------------------------------------------- staff: uploads and comments

def _key_safe(filename: str) -> str:
    base = re.split(r"[\\/]", filename)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name)
    return re.sub(r"\.{2,}", ".", cleaned).strip("._-")[:100] or "upload"  # ".." is refused in keys


def safe_file_name(filename: str) -> str:
    """A key-safe version of a file name, unique so two uploads never overwrite each other."""
    return f"{secrets.token_hex(4)}-{_key_safe(filename)}"


def new_upload_id() -> str:
    return f"u_{secrets.token_hex(16)}"


def carried_by_s3(value: str) -> bool:
    """Whether S3 can carry this text in an upload's form field and metadata: no control
    characters (line breaks, tabs included) and no lone surrogates."""
    return not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


def _refuse_what_s3_cannot_carry(**values: str | None) -> None:
    """400 naming the first of these fields (in the order given) that S3 cannot carry."""
    for name, value in values.items():
        if value and not carried_by_s3(value):
            raise BadRequest(N_("Contains a line break or another control character, which an upload cannot "
                                "carry; write it on one line."), field=name, code="invalid_request")


def _pending_upload_form(caller: Caller, content_type: str, received_path: str | None, *, patient_id: str,
                         title: str, category: str, provider: str, comment: str | None, filename: str,
                         replaces: str | None = None, now: datetime) -> UploadForm:
    """The pending-upload row under a new opaque key (`incoming/<upload id>`) and the presigned S3
    POST for it: the content type (checked here), the upload id as the only metadata, the size
    limit, and S3's redirect to `received_path` when a page asked for one."""
    if content_type not in ALLOWED_TYPES:
        raise BadRequest(N_("One of {types}."), field="content_type", params={"types": ", ".join(ALLOWED_TYPES)},
                         code="invalid_request")
    settings = get_settings()
    upload_id = new_upload_id()
    key = f"{INCOMING}{upload_id}"
    upload_store.add(upload_store.PendingUpload(
        upload_id, patient_id=patient_id, title=title, category=category, provider=provider,
        comment=(comment or "").strip() or None, file_name=_key_safe(filename), content_type=content_type,
        uploaded_by=caller.actor_id, replaces=replaces, created_at=now,
        expires_at=now + timedelta(days=PENDING_UPLOAD_DAYS)))
    fields = {"Content-Type": content_type, "x-amz-meta-upload-id": upload_id}
    if received_path:
        fields["success_action_redirect"] = f"{settings.portal_url}{received_path}"
    post = bucket_store.upload_form(settings.results_bucket, key, fields, settings.max_upload_bytes, 900)
    return {"url": post["url"], "fields": post["fields"], "key": key}


def upload_form(caller: Caller, patient_id: str, *, title: str, category: str, provider: str, comment: str | None,
                filename: str, content_type: str, received_path: str | None = None) -> UploadForm:
    """A presigned S3 POST locked to a new opaque key (`incoming/<upload id>`), the content type,
    the upload id as its only metadata, and the size limit; the details wait in a pending-upload
    row until publication. The publisher still checks everything when the file arrives. With
    `received_path` (a portal page), S3 sends the browser there after the file is stored
    (`success_action_redirect`, signed like every other field) instead of answering an empty 204."""
    _refuse_what_s3_cannot_carry(title=title, category=category, provider=provider, comment=comment,
                                 filename=filename)
    account = get_patient(patient_id)
    form = _pending_upload_form(caller, content_type, received_path, now=clock.now(), patient_id=account.id,
                                title=title.strip(),
                                category=category.strip(), provider=provider.strip(), comment=comment,
                                filename=filename)
    audit.record_for(caller, "document.upload_link", patient_id=account.id, target_id=form["key"])
    return form


def replace_form(caller: Caller, document_id: str, *, filename: str, content_type: str, comment: str | None,
                 received_path: str | None = None) -> UploadForm:
    """A presigned S3 POST for a corrected file of a published document, as `upload_form` (an
    opaque key, the details in a pending-upload row that names the document it replaces). The
    publisher checks the file as any upload's; when it publishes, it becomes the document's next
    version. A retracted document is never replaced (409)."""
    _refuse_what_s3_cannot_carry(comment=comment, filename=filename)
    item = item_store.get(document_id) if document_id else None
    if item is None or item.kind != documents.DOCUMENT:
        raise NotFound(N_("No document with that id."))
    if item.status == item_store.RETRACTED:
        raise Conflict(N_("This document was retracted; upload the corrected file as a new document."),
                       code="already_retracted")
    form = _pending_upload_form(caller, content_type, received_path, now=clock.now(), patient_id=item.patient_id,
                                title=item.title,
                                category=item.category or "", provider=item.provider or "", comment=comment,
                                filename=filename, replaces=item.id)
    audit.record_for(caller, "document.replace_link", patient_id=item.patient_id, target_id=item.id,
                     detail={"upload": form["key"]})
    return form


def received_file_name(patient_id: str, key: str) -> str | None:
    """The file name staff gave an upload that S3 says it stored (`key` comes from the address S3
    sent the browser to): the pending upload's, when it was made for this patient."""
    found = re.fullmatch(rf"{INCOMING}({UPLOAD_ID_PATTERN})", key) if len(key) <= 100 else None
    pending = upload_store.get(found.group(1)) if found else None
    return pending.file_name if pending and pending.patient_id == patient_id else None


def _staff_name(caller: Caller) -> str:
    staff = account_store.get(caller.actor_id) if caller.actor_id else None
    return staff.name if staff else "Office"


def add_comment(caller: Caller, document_id: str, text: str) -> Commented:
    """A provider comment added later: the document is unread again, a new follow-up round
    starts, and the patient is told (the comment itself never goes into the email)."""
    author = _staff_name(caller)
    for _ in range(3):
        item = item_store.get(document_id)
        if item is None or item.kind != documents.DOCUMENT:
            raise NotFound(N_("No document with that id."))
        if item.status == item_store.RETRACTED:
            raise Conflict(N_("This document was retracted: its patient no longer sees it."), code="already_retracted")
        now = clock.now()
        expected_round = int(item.round or 0)
        comment = item_store.Comment(author=author, text=text, created_at=now, role="office")
        item.round = expected_round + 1  # the notice belongs to the round this write starts
        notice = notices.new_leased_item_notice(item, 1, now)
        due_at = now + timedelta(days=get_settings().follow_up_days)
        if item_store.add_comment_with_notice(item, comment, now, due_at, notice, expected_round):
            break
    else:
        raise Conflict(N_("The document changed while the comment was saved; please try again."))
    notices.deliver(notice, leased=True)
    audit.record_for(caller, "document.comment", patient_id=item.patient_id, target_id=item.id)
    item = item_store.get(document_id)
    if item is None:
        raise NotFound(N_("No document with that id."))
    return {"id": item.id, "comments": [documents.comment_json(c) for c in item.comments or []]}


# ---------------------------------------------------------------- staff: quarantined uploads

QUARANTINE = "quarantine"
PUBLISHED_AGAIN = "published_again"


def _data(entry: work_store.WorkEntry) -> dict[str, Any]:
    data: dict[str, Any] = entry.data.as_dict() if entry.data is not None else {}
    return data


def _quarantine_entry(entry_id: str) -> work_store.WorkEntry:
    # The id's '#' may come percent-encoded; no entry id is long (DynamoDB refuses keys over 2 KB).
    entry = work_store.get(unquote(entry_id)) if 0 < len(entry_id) <= 200 else None
    if entry is None or entry.kind != QUARANTINE:
        raise NotFound(N_("No quarantined upload with that id."))
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
        raise Conflict(N_("This upload has already been dealt with."), code="already_resolved")
    return entry


def _republish_key(entry: work_store.WorkEntry, mrn: str | None) -> tuple[str | None, str, bool]:
    """(MRN, `incoming/<MRN>/<tag>-<file name>`, whether staff changed the MRN) for sending a
    quarantined upload back; for an upload made through the portal (MRN None: its pending row
    names the patient), `incoming/<upload id>.<tag>`. The tag, derived from the entry, makes the
    key new: the publisher's document id (from bucket/key/ETag) is the quarantined one's under the
    old key, and a copy keeps the ETag. The same entry always gets the same key, so an attempt
    repeated after a failed copy publishes once."""
    original = str(_data(entry).get("key") or "")
    tag = hashlib.sha256(entry.id.encode()).hexdigest()[:8]
    try:
        source = parse_key(original)
        if source.upload_id:
            if mrn:
                raise BadRequest(N_("This upload was made through the portal for one patient; it cannot be sent "
                                    "to another. Upload the file again from the right patient's page."),
                                 field="mrn", code="invalid_request")
            return None, f"{INCOMING}{source.upload_id}.{tag}", False
        original_mrn, file_name = source.mrn, source.file_name or ""
    except Unpublishable:
        parts = original.split("/")
        original_mrn = parts[1] if len(parts) == 3 and re.fullmatch(MRN_PATTERN, parts[1]) else None
        file_name = _key_safe(original)
    corrected = bool(mrn) and mrn != original_mrn
    mrn = mrn or original_mrn
    if not mrn:
        raise BadRequest(N_("The upload's key names no MRN; give the patient's MRN."), field="mrn", code="invalid_request")
    return mrn, f"{INCOMING}{mrn}/{tag}-{file_name}"[: len(INCOMING) + len(mrn) + 1 + 200], corrected


def publish_again(caller: Caller, entry_id: str, mrn: str | None, note: str | None) -> PublishedAgain:
    """Send a quarantined upload back through the publisher, once its cause is fixed (the patient
    is registered now, or staff give the right MRN). The publisher checks it all again: it
    publishes and notifies, or quarantines it anew with the new reason."""
    entry = _open_quarantine_entry(entry_id)
    mrn, key, corrected = _republish_key(entry, mrn)
    if mrn is None:
        pending = upload_store.get(key[len(INCOMING):].split(".", 1)[0])
        account = account_store.get(pending.patient_id) if pending else None
        if account is None or account.role != Role.PATIENT:
            raise BadRequest(N_("The patient this upload was made for has no account any more; upload the file "
                                "again from the right patient's page."), field="mrn", code="unknown_patient")
    else:
        account = account_store.find_by_mrn(mrn)
    if account is None or account.role != Role.PATIENT:
        raise BadRequest(N_("No patient has the MRN {mrn}; register the patient first or give the right MRN."),
                         field="mrn", params={"mrn": mrn}, code="unknown_patient")
    # Closed before the copy, conditionally: two staff at once (perhaps with different MRNs) never
    # send the same file to two patients.
    if not work_store.resolve(entry, caller.signed_in.account_id, note, clock.now(), resolution=PUBLISHED_AGAIN,
                              republished_key=key):
        raise Conflict(N_("This upload has already been dealt with."), code="already_resolved")
    data = _data(entry)
    try:
        bucket_store.send_back_from_quarantine(str(data.get("bucket") or get_settings().results_bucket),
                                            str(data.get("quarantine_key") or ""), key)
    except bucket_store.UploadMissing:
        work_store.reopen(entry)
        raise Conflict(N_("The quarantined file is not in the bucket (not moved there yet, or expired by the "
                          "bucket's lifecycle); try again in a minute, or ask the sender for the file again."),
                       code="not_in_quarantine") from None
    except Exception:
        work_store.reopen(entry)
        raise
    audit.record_for(caller, "quarantine.publish_again", patient_id=account.id, target_id=entry.id,
                     detail={"reason": entry.reason, "mrn_corrected": corrected})
    metrics.add_metric(name="UploadPublishedAgain", unit="Count", value=1)
    return {"id": entry.id, "status": "resolved", "resolution": "published_again", "key": key, "patient_id": account.id}
