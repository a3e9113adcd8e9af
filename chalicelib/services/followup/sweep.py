"""Follow-up of unread items: re-notify, then hand the item to the office.

The scheduler calls `run_schedule(now, ...)` (hourly by default). The sweep reads only the sparse
`follow_up_due` index (unread items keyed by their next follow-up time), page by page, so its cost
grows with the items that are due, not with the size of the tables. For each due item it either
claims the next notice (a conditional transaction with the notice's outbox row: two sweeps at
once never send a notice twice) or, after MAX_NOTICES notices or when the address on file is
bad, escalates it to the staff follow-up queue. It stops in time before the Lambda deadline;
what it did not reach is still due and the next run carries on.

First, it releases the held lab results whose hold ran out (`results.release`), read the same way
from the same sparse index under the holds' own key: their notices go out then, and their
follow-up counts from then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import unquote

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import failure, logger, metrics
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import contact
from chalicelib.services.followup import digest, notices
from chalicelib.services.followup import work_queue as queue
from chalicelib.services.followup.answers import FollowUpCalled, ResolvedEntry
from chalicelib.services.followup.answers import SweepSummary as SweepAnswer
from chalicelib.services.providers import review
from chalicelib.services.results import critical, release
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import audit as audit_store
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store

PAGE_SIZE = 100
# Stop this long before the Lambda deadline: one item (a claim and a send) takes far less.
DEADLINE_MARGIN_MS = 10_000
FOLLOW_UP = "follow_up"
QUARANTINE = "quarantine"
RESOLVABLE_KINDS = (FOLLOW_UP, "notice_failed", QUARANTINE)

RemainingMs = Callable[[], int]


@dataclass
class SweepSummary:
    """What one sweep did (counts only: nothing about any patient)."""

    now: str
    due: int = 0  # due items looked at
    notified: int = 0  # notices sent
    escalated: int = 0  # put on the staff follow-up queue
    escalated_bad_email: int = 0  # of those, because the address on file is bad
    taken: int = 0  # another sweep got there first, or the item was read meanwhile
    retry: int = 0  # SES was busy: the outbox tries again later
    failed: int = 0  # SES refused for good (shown in the staff queue)
    suppressed: int = 0  # not sent: the address on file is bad
    errors: int = 0  # an AWS call failed in passing: still due, tried again next run
    stopped: int = 0  # taken out of follow-up: the patient's portal access is closed
    released: int = 0  # held lab results released: their hold ran out (their notices are not in `notified`)
    complete: bool = True  # False when it stopped for the deadline; the next run carries on
    retries: dict[str, int] = field(default_factory=dict)
    critical_reminders: dict[str, int] = field(default_factory=dict)  # uncalled critical results: admins mailed
    digest: str | None = None

    def as_json(self) -> SweepAnswer:
        return cast(SweepAnswer, asdict(self))


def _out_of_time(remaining_ms: RemainingMs | None) -> bool:
    return remaining_ms is not None and remaining_ms() < DEADLINE_MARGIN_MS


def entry_id(item_id: str, round_: int) -> str:
    """The staff follow-up entry of an item's round (one call to make per round)."""
    return f"{FOLLOW_UP}-{item_id}-r{int(round_ or 0)}"


def record_read(item: item_store.Item, now: datetime, reader: tuple[str, str] | None = None) -> bool:
    """The patient opened the item: count it, write the read receipt on the first open of unread
    content, and, since reading stops all follow-up, close any call the office still had to make
    for it (this round's, and earlier rounds' left open when new content came). True for the
    receipt-writing open. `reader` (role, account id) is kept with the item's very first receipt."""
    try:
        first = item_store.record_open(item, now, reader)
    except item_store.StillContended:
        raise Conflict(N_("The item changed at the same moment; please open it again.")) from None
    if first and (item.escalated or item.round):
        ids = [entry_id(item.id, r) for r in range(int(item.round or 0) + 1)]
        for entry in work_store.open_among(ids):
            work_store.resolve(entry, item.patient_id, "read by the patient", now)
    return first


def _escalate(item: item_store.Item, now: datetime, reason: str) -> bool:
    entry = work_store.WorkEntry(
        entry_id(item.id, int(item.round or 0)),
        kind=FOLLOW_UP,
        open_kind=FOLLOW_UP,
        created_at=now,
        patient_id=item.patient_id,
        item_id=item.id,
        reason=reason,
        data={"item_kind": item.kind, "notices_sent": int(item.notices_sent or 0)},
    )
    return item_store.escalate(item, now, work_entry=entry)


def _notify(item: item_store.Item, account: account_store.Account, now: datetime, summary: SweepSummary) -> None:
    settings = get_settings()
    # The notice is written already leased to this sweep, in the same transaction as the claim:
    # if this process dies before sending, its lease runs out and `retry_due` sends it later.
    notice = notices.new_leased_item_notice(item, int(item.notices_sent or 0) + 1, now)
    if not item_store.claim_notice(item, now, now + timedelta(days=settings.follow_up_days), notice=notice):
        summary.taken += 1
        return
    outcome = notices.deliver(notice, account, leased=True)
    if outcome == "sent":
        summary.notified += 1
    elif outcome in ("retry", "failed", "suppressed", "taken"):
        setattr(summary, outcome, getattr(summary, outcome) + 1)


def follow_up_item(item: item_store.Item, now: datetime, summary: SweepSummary,
                   accounts: dict[str, account_store.Account | None]) -> None:
    """One due item: escalate it (enough notices, or nowhere to send them) or send the next notice."""
    if item.patient_id not in accounts:
        accounts[item.patient_id] = account_store.get(item.patient_id)
    account = accounts[item.patient_id]
    if account is not None and account.disabled_at is not None:
        # Portal access closed: follow-up stops (no notice, no call for the office); the item stays.
        summary.stopped += int(item_store.stop_follow_up(item))
        return
    # Nowhere to send a notice (the address bounced, no email chosen or on file, no texts): a call.
    unreachable = contact.why_unreachable(account) if account is None or not contact.channels(account).any else None
    if unreachable or int(item.notices_sent or 0) >= get_settings().max_notices:
        if _escalate(item, now, unreachable or "not_read"):
            summary.escalated += 1
            summary.escalated_bad_email += int(unreachable == "bad_email")
        else:
            summary.taken += 1
        return
    assert account is not None  # an unknown account is unreachable: escalated above
    _notify(item, account, now, summary)


def _release_held(now: datetime, remaining_ms: RemainingMs | None, summary: SweepSummary) -> None:
    """Release the held lab results whose hold ran out by `now` (reads only those)."""
    swept = release.release_due(now, lambda: _out_of_time(remaining_ms), review.mark_released)
    summary.released += swept.released
    summary.taken += swept.taken
    summary.errors += swept.errors
    summary.complete = summary.complete and swept.complete


def sweep(now: datetime, remaining_ms: RemainingMs | None = None, page_size: int = PAGE_SIZE) -> SweepSummary:
    """Release the held results that are due, then follow up every item due at `now`, oldest
    first, one page at a time."""
    summary = SweepSummary(now=iso(now))
    _release_held(now, remaining_ms, summary)
    if not summary.complete:
        return summary
    accounts: dict[str, account_store.Account | None] = {}
    last_key = None
    while True:
        page = item_store.due(now, limit=page_size, last_evaluated_key=last_key)
        for item in page:
            if _out_of_time(remaining_ms):
                summary.complete = False
                return summary
            summary.due += 1
            try:
                follow_up_item(item, now, summary, accounts)
            except Exception as exc:  # noqa: BLE001 - one item's passing failure must not stop the sweep
                # The item is still due (its claim was all or nothing): the next run tries it again.
                logger.error("follow-up of an item failed", extra={"item_id": item.id, **failure(exc)})
                summary.errors += 1
        last_key = page.last_evaluated_key
        if not last_key:
            return summary
        if _out_of_time(remaining_ms):
            summary.complete = False
            return summary


def send_due(remaining_ms: RemainingMs | None = None) -> dict[str, int]:
    """Every outbox row whose time has come (notice retries, the office's alert), until the deadline."""
    return notices.retry_due(out_of_time=lambda: _out_of_time(remaining_ms))


def run_schedule(now: datetime, remaining_ms: RemainingMs | None = None) -> SweepAnswer:
    """The scheduled run: the sweep, the admins' reminders of critical results still uncalled, then
    notices whose retry time has come, then the daily digest."""
    summary = sweep(now, remaining_ms)
    if not _out_of_time(remaining_ms):
        summary.critical_reminders = critical.remind_admins(now)
    if not _out_of_time(remaining_ms):
        summary.retries = send_due(remaining_ms)
    if not _out_of_time(remaining_ms):
        summary.digest = digest.send_if_due(now)
    for name in ("due", "notified", "escalated", "failed"):
        metrics.add_metric(name=f"FollowUp{name.capitalize()}", unit="Count", value=getattr(summary, name))
    logger.info("follow-up sweep", extra={"summary": summary.as_json()})
    return summary.as_json()


def resolve(caller: Caller, entry_id: str, note: str | None) -> ResolvedEntry:
    """Staff close a follow-up (they called the patient), a failed notice, or a quarantined upload
    without publishing it (sent to the wrong clinic, say: the note says why; the file stays in
    quarantine, the portal does not delete it)."""
    # A quarantine id's '#' may come percent-encoded; no entry id is long (DynamoDB refuses keys over 2 KB).
    entry = work_store.get(unquote(entry_id)) if 0 < len(entry_id) <= 200 else None
    if entry is None or entry.kind not in RESOLVABLE_KINDS:
        raise NotFound(N_("No queue entry with that id."))
    if not entry.open_kind:
        raise Conflict(N_("This entry has already been resolved."), code="already_resolved")
    if entry.kind == QUARANTINE and not (note or "").strip():
        raise BadRequest(N_("Say why the upload is closed without publishing."), field="note", code="invalid_request")
    return {**queue.resolve(caller, entry.id, note, kind=entry.kind), "kind": entry.kind}


def record_call(caller: Caller, item_id: str, outcome: str, note: str | None) -> FollowUpCalled:
    """"Mark called": the office called the patient about an unread item; the outcome (reached,
    left_message, no_answer, wrong_number) and the note close the item's open follow-up entries
    (this round's and any earlier one's) and go in the patient's audit trail, which the patient's
    record shows as the history of calls. 404 when nothing of the item waits for a call."""
    item = item_store.get(item_id) if 0 < len(item_id) <= 100 else None
    if item is None:
        raise NotFound(N_("No follow-up call of that item is waiting."))
    rounds = range(0, int(item.round or 0) + 1)
    entries = work_store.open_among([entry_id(item.id, r) for r in rounds])
    if not entries:
        raise NotFound(N_("No follow-up call of that item is waiting."))
    now = clock.now()
    text = (note or "").strip() or None
    for entry in entries:
        work_store.resolve(entry, caller.signed_in.account_id, text, now, resolution=outcome)
    audit.record_for(caller, "followup.called", patient_id=item.patient_id, target_id=item.id,
                     detail={"outcome": outcome, "note": bool(text)})
    logger.info("follow-up called", extra={"item_id": item.id, "outcome": outcome})
    return {"item_id": item.id, "outcome": cast(Any, outcome), "called_at": iso(now)}


def call_history(patient_id: str) -> list[dict[str, str | None]]:
    """The office's calls to a patient (follow-ups and critical results), newest first, as the
    patient's record shows them: when, how it went, about which item (one query of the patient's
    audit events)."""
    events, _ = audit_store.views_of_patient(patient_id, ("followup.called", "result.critical_called"), limit=50)
    return [{"at": iso(e.at), "outcome": str((e.detail.as_dict() if e.detail is not None else {}).get("outcome") or ""),
             "kind": "critical" if e.action == "result.critical_called" else "follow_up", "item_id": e.target_id}
            for e in events]
