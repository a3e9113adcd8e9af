"""Take-away records: a patient asks for everything the portal holds for them, as one zip.

- The request (`request_export`) only writes a pending export row and queues a job: the zip is
  built off the request path, by the export function (`build`, from the export queue).
- The job streams every document's current file from the bucket into a zip written to a
  temporary file (a chunk in memory at a time, never every file), hashing each file as it passes;
  then `bundle.json` (a FHIR R4 Bundle, `records_bundle`) and an offline `index.html` in the
  patient's language; the zip is then sent to S3 from that file. Retracted documents are left out;
  a replaced one gives its current version only. The zip's key is opaque (`exports/<random>.zip`)
  and the bucket's lifecycle expires it after 7 days; the patient is mailed (no PHI) through the
  outbox.
- The status (`export_status`) is the patient's own only (anyone else's id answers like an unknown
  one); once ready it carries a link valid for at most five minutes. Requests, builds and links are
  audited.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
import zipfile
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from chalicelib.clock import clock, iso
from chalicelib.errors import NotFound, RateLimited
from chalicelib.i18n import N_
from chalicelib.observability import logger, metrics
from chalicelib.services import audit
from chalicelib.services.access import ratelimit
from chalicelib.services.access.identity import Caller, require_role
from chalicelib.services.answers import Created
from chalicelib.services.followup import notices
from chalicelib.services.publication.documents import MAX_LINK_SECONDS, download_name
from chalicelib.services.records import bundle as records_bundle
from chalicelib.services.records.answers import ExportStatus
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import bucket, item_lists, outbox, queues
from chalicelib.store import exports as export_store
from chalicelib.store import items as item_store
from chalicelib.store.base import read_together
from chalicelib.vocabulary import Role

EXPORT_READY = "export_ready"  # the mail's kind names its template
KEEP_DAYS = 7  # the bucket's lifecycle rule for exports/ says the same
EXPORT_PREFIX = "exports/"
REQUESTS_PER_HOUR = 5
_HOUR = 3600
DOCUMENTS_FOLDER = "documents"


def request_export(caller: Caller) -> Created:
    """Queue the building of the caller's zip; answers its id (the job does the work)."""
    require_role(caller.signed_in, Role.PATIENT)
    allowed, retry_after = ratelimit.hit(f"export#{caller.actor_id}", REQUESTS_PER_HOUR, _HOUR)
    if not allowed:
        audit.record_for(caller, "export.request", outcome="rate_limited", patient_id=caller.actor_id)
        raise RateLimited(retry_after)
    now = clock.now()
    export = export_store.Export("exp_" + secrets.token_hex(16), patient_id=caller.actor_id, created_at=now,
                                 expires_at=now + timedelta(days=KEEP_DAYS))
    export_store.create(export)
    queues.enqueue_export_job({"id": export.id})
    audit.record_for(caller, "export.request", patient_id=caller.actor_id, target_id=export.id)
    return {"id": export.id}


def _own_export(caller: Caller, export_id: str, action: str, now: datetime) -> export_store.Export:
    """The caller's own export, or the same 404 for another patient's id, an unknown or an expired
    one. Read with the caller's item list (one round trip): a ready export holding an item the
    patient may no longer see is void, and built again (`_still_theirs`)."""
    export, entries = (read_together(export_store.read(export_id), item_lists.read(caller.actor_id or ""))
                       if export_id and caller.actor_id else (None, []))
    if (export is None or export.patient_id != caller.actor_id
            or now >= export.created_at + timedelta(days=KEEP_DAYS)):
        audit.record_for(caller, action, outcome="not_found", target_id=export_id[:100])
        raise NotFound(N_("No export with that id."))
    return _still_theirs(caller, export, entries, now)


# What a patient can no longer see in their list: a retracted document, a result held back.
WITHDRAWN = (item_lists.RETRACTED, "held")


def _still_theirs(caller: Caller, export: export_store.Export, entries: list[item_lists.Entry],
                  now: datetime) -> export_store.Export:
    """An export holds only what its patient may see when it is downloaded: a ready one built while
    an item was the patient's to see (every document it holds, and everything in their list as the
    build began: results too) that has left the list or been withdrawn from it since (retracted,
    filed to another patient, a result held back) is void. It turns pending and is built again; its old zip
    is handed out no more (the next build removes it)."""
    if export.status != export_store.READY or not export.item_ids:
        return export
    visible = {entry.id for entry in entries if entry.status not in WITHDRAWN}
    withdrawn = [item_id for item_id in export.item_ids if item_id not in visible]
    if not withdrawn:
        return export
    if export_store.make_void(export, now):
        queues.enqueue_export_job({"id": export.id})
        audit.record_for(caller, "export.void", patient_id=export.patient_id, target_id=export.id,
                         detail={"withdrawn": len(withdrawn)})
        logger.info("export void", extra={"export_id": export.id, "withdrawn": len(withdrawn)})
    fresh = export_store.get(export.id)
    return fresh if fresh is not None else export


def _summary(export: export_store.Export) -> dict[str, Any]:
    return {"id": export.id, "status": export.status, "created_at": iso(export.created_at),
            "ready_at": iso(export.ready_at), "expires_at": iso(export.created_at + timedelta(days=KEEP_DAYS)),
            "size_bytes": int(export.size_bytes) if export.size_bytes is not None else None}


def export_summary(caller: Caller, export_id: str) -> dict[str, Any]:
    """What the progress page shows: the caller's own export, pending or ready (no link)."""
    return _summary(_own_export(caller, export_id, "export.status", clock.now()))


def latest_export(caller: Caller) -> dict[str, Any] | None:
    """The caller's most recent export still kept, if any."""
    export = export_store.latest_of(caller.actor_id) if caller.actor_id else None
    now = clock.now()
    if export is None or now >= export.created_at + timedelta(days=KEEP_DAYS):
        return None
    return _summary(_own_export(caller, export.id, "export.status", now))


def export_status(caller: Caller, export_id: str) -> ExportStatus:
    """Pending, or ready with a short-lived link to the zip (each link handed out is audited)."""
    now = clock.now()
    export = _own_export(caller, export_id, "export.status", now)
    if export.status != export_store.READY:
        return {"status": cast(Literal["pending"], export.status)}
    seconds = max(1, min(get_settings().file_link_seconds, MAX_LINK_SECONDS))
    url = bucket.file_link(get_settings().results_bucket, export.s3_key, "application/zip", seconds,
                           f'attachment; filename="{zip_name(export)}"')
    audit.record_for(caller, "export.download", patient_id=export.patient_id, target_id=export.id)
    return {"status": "ready", "url": url, "expires_at": iso(now + timedelta(seconds=seconds))}


def zip_name(export: export_store.Export) -> str:
    """The name a saved zip gets: the date it was asked for, nothing about the patient."""
    return f"health-records-{export.created_at.strftime('%Y-%m-%d')}.zip"


# ---------------------------------------------------------------- the job

def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name (2)`, `name (3)`… before its extension, unused so far (case-insensitively)."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{stem} ({number})" + (f".{extension}" if extension else "")
    taken.add(candidate.casefold())
    return candidate


def _zip_entry(path: str, moment: datetime | None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=moment.timetuple()[:6] if moment else (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _add_document(archive: zipfile.ZipFile, item: item_store.Item, taken: set[str]) -> records_bundle.FiledDocument:
    """Stream the document's current file into the zip, hashing it on the way."""
    name = _unique(download_name(item.title, item.content_type)[1], taken)
    path = f"{DOCUMENTS_FOLDER}/{name}"
    sha1, size = hashlib.sha1(), 0  # noqa: S324 - FHIR's Attachment.hash is SHA-1 by definition
    with archive.open(_zip_entry(path, item.updated_at or item.created_at), "w") as out:
        for chunk in bucket.stream_object(get_settings().results_bucket, item.s3_key):
            sha1.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return records_bundle.FiledDocument(item, path, size, sha1.digest())


def _write_text(archive: zipfile.ZipFile, path: str, text: str, moment: datetime | None) -> None:
    archive.writestr(_zip_entry(path, moment), text.encode("utf-8"))


def build(export_id: str) -> str:
    """Build one export's zip; returns the outcome (ready | duplicate | missing)."""
    export = export_store.get(export_id)
    if export is None:
        return "missing"
    if export.status == export_store.READY:
        return "duplicate"  # a job delivered twice: the first zip stands
    account = account_store.get(export.patient_id)
    if account is None:
        return "missing"
    now = clock.now()
    # What the patient could see as the build began (read before anything the zip holds): if any of
    # it is withdrawn later, the zip is void (`_still_theirs`), whichever part of it holds it.
    visible = {entry.id for entry in item_lists.get(account.id) if entry.status not in WITHDRAWN}
    key = f"{EXPORT_PREFIX}{secrets.token_urlsafe(24)}.zip"
    # The zip is written to a temporary file (Lambda's /tmp), a file at a time, then sent from it.
    with tempfile.TemporaryFile() as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            taken: set[str] = set()
            filed = [_add_document(archive, item, taken) for item in records_bundle.current_documents(account.id)]
            conversations = records_bundle.conversations(account.id)
            written_by = records_bundle.authors(account.id, conversations)
            bundle = records_bundle.bundle(account, filed, conversations, now, written_by)
            _write_text(archive, "bundle.json", json.dumps(bundle, ensure_ascii=False, indent=1), now)
            _write_text(archive, "index.html",
                        records_bundle.index_html(account, filed, conversations, now, written_by), now)
        size = spool.tell()
        spool.seek(0)
        bucket.put_file(get_settings().results_bucket, key, spool, "application/zip")
    messages = sum(len(c.messages) for c in conversations)
    if not export_store.mark_ready(export, key, size, len(filed), messages, now,
                                   sorted(visible | {document.item.id for document in filed})):
        bucket.remove_upload(get_settings().results_bucket, key)  # another delivery finished first
        return "duplicate"
    if export.void_key:  # built again after a withdrawal: the void zip goes
        bucket.remove_upload(get_settings().results_bucket, export.void_key)
        export_store.forget_void_zip(export)
    mail = mail_ready(export, account)
    audit.record("export.build", actor_id=account.id, actor_role=Role.PATIENT, patient_id=account.id, target_id=export.id,
                 detail={"documents": len(filed), "messages": messages, "size_bytes": size, "mail": mail})
    metrics.add_metric(name="ExportBuilt", unit="Count", value=1)
    logger.info("export built", extra={"export_id": export.id, "documents": len(filed), "size_bytes": size})
    return "ready"


def mail_ready(export: export_store.Export, account: account_store.Account) -> str:
    """'Your records are ready' (a link to the portal, nothing else), once, through the outbox: a
    step of its own after the build (whose time is the zip's), with a lease from the moment it is sent."""
    now = clock.now()
    notice = outbox.Notice(f"{EXPORT_READY}#{export.id}", account_id=account.id, kind=EXPORT_READY,
                           status="pending", attempts=0, created_at=now)
    notice = outbox.leased(notice, now + timedelta(minutes=5))
    if not outbox.put_once(notice):
        return "duplicate"
    return notices.deliver(notice, account, leased=True)


def handle(body: str) -> str:
    """Run one export job from the queue."""
    return build(str(json.loads(body).get("id") or ""))
