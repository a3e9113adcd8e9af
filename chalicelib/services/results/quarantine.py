"""The office and quarantined lab messages: each one read as it came (the raw message, shown as
text and escaped where it is shown), and sent again once the cause is fixed (the patient is
registered, the record's birth date corrected): a copy goes back under `lab/`, where the intake
reads it like any file, publishing it or quarantining it again with the new reason. Closing one
without publishing is the work queue's `resolve` (a note says why)."""

from __future__ import annotations

import secrets
from urllib.parse import unquote

from chalicelib.clock import clock, iso
from chalicelib.errors import Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.results import intake
from chalicelib.services.results.answers import LabQuarantineEntry, SentAgain
from chalicelib.store import lab_files
from chalicelib.store import work as work_store
from chalicelib.store.bucket import UploadMissing

SHOWN_BYTES = 64 * 1024
RETRY_PREFIX = "lab/retry/"
SENT_AGAIN = "sent_again"


def lab_entry(entry_id: str) -> work_store.WorkEntry:
    """A quarantined lab message's entry (a percent-encoded `#` is read as one), or 404."""
    entry = work_store.get(unquote(entry_id)) if 0 < len(entry_id) <= 200 else None
    data = entry.data.as_dict() if entry is not None and entry.data is not None else {}
    if entry is None or entry.kind != intake.QUARANTINE or data.get("source") != intake.SOURCE:
        raise NotFound(N_("No quarantined lab message with that id."))
    return entry


def entry_view(caller: Caller, entry_id: str) -> LabQuarantineEntry:
    """The entry with the message's first 64 KB as text (audited: it holds a patient's data)."""
    entry = lab_entry(entry_id)
    data = entry.data.as_dict() if entry.data is not None else {}
    raw = lab_files.read_start(str(data.get("bucket") or ""), str(data.get("quarantine_key") or ""), SHOWN_BYTES + 1)
    audit.record_for(caller, "quarantine.view", patient_id=entry.patient_id, target_id=entry.id)
    return {
        "id": entry.id, "reason": entry.reason, "message": data.get("message"), "key": data.get("key"),
        "quarantine_key": data.get("quarantine_key"), "created_at": iso(entry.created_at) or "",
        "open": bool(entry.open_kind), "resolution": entry.resolution or (None if entry.open_kind else "closed"),
        "resolved_by": entry.resolved_by, "resolved_at": iso(entry.resolved_at),
        "republished_key": entry.republished_key, "patient_id": entry.patient_id,
        "raw": raw[:SHOWN_BYTES].decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n"),
        "raw_truncated": len(raw) > SHOWN_BYTES,
    }


def retry(caller: Caller, entry_id: str, note: str | None = None) -> SentAgain:
    """Send the quarantined message again: a copy under `lab/retry/`, read by the intake as any lab
    file (its new key gives it new quarantine ids, should it fail again). The entry is closed,
    audited; 409 when it was dealt with already."""
    entry = lab_entry(entry_id)
    data = entry.data.as_dict() if entry.data is not None else {}
    if not entry.open_kind:
        raise Conflict(N_("This entry has already been resolved."), code="already_resolved")
    bucket, source = str(data.get("bucket") or ""), str(data.get("quarantine_key") or "")
    key = f"{RETRY_PREFIX}{entry.id.rsplit('#', 1)[-1]}.{secrets.token_hex(4)}"
    if not work_store.resolve(entry, caller.actor_id or "", note, clock.now(), resolution=SENT_AGAIN,
                              republished_key=key):
        raise Conflict(N_("This entry has already been resolved."), code="already_resolved")
    try:
        lab_files.copy(bucket, source, key)
    except UploadMissing:
        work_store.reopen(entry)
        raise NotFound(N_("The quarantined message is no longer in the bucket.")) from None
    except Exception:
        work_store.reopen(entry)  # the office can send it again
        raise
    audit.record_for(caller, "quarantine.retry", patient_id=entry.patient_id, target_id=entry.id,
                     detail={"reason": entry.reason})
    return {"id": entry.id, "status": "resolved", "resolution": "sent_again", "key": key}
