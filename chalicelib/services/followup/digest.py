"""The office's daily read report: counts only, never a patient name or anything medical.

Every figure comes from a sparse index or a small row, so the cost does not grow with the size
of the tables: reads since the last digest (the keys-only `read_by_day` index, one count per
day), unread items still in follow-up (the `follow_up_due` index), open escalations (the work
queue's `open_queue` index) and bad addresses (the accounts' `bad_email` index).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.clock import clock, iso
from chalicelib.mail import sender
from chalicelib.observability import logger
from chalicelib.services.followup.answers import FollowUpReport
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from chalicelib.store import outbox
from chalicelib.store import work as work_store

TEMPLATE = "office_digest"
_SEND_LEASE = timedelta(minutes=15)
# Without a previous digest (or after a long gap) the report covers at most this far back.
_LONGEST_PERIOD = timedelta(days=31)


def _since(now: datetime) -> datetime:
    last = outbox.last_digest_at()
    if last is None or last >= now or now - last > _LONGEST_PERIOD:
        return now - timedelta(days=1)
    return last


def counts() -> FollowUpReport:
    """The digest's figures now, since the last digest went out (the office's home, the report)."""
    return figures(clock.now())


def figures(now: datetime) -> FollowUpReport:
    """The digest's figures as of `now`, since the last digest went out."""
    since = _since(now)
    return {
        "since": iso(since),
        "as_of": iso(now),
        "read_since_last": item_store.count_read_between(since, now),
        "unread_in_follow_up": item_store.count_in_follow_up(),
        "escalated_open": work_store.count_open("follow_up"),
        "escalated_since_last": work_store.count_open("follow_up", since),
        "bad_emails": account_store.count_bad_email(),
    }


def queue_url() -> str:
    return f"{get_settings().portal_url}/staff/queue"


def send_if_due(now: datetime) -> str:
    """Send today's digest if no sweep has yet: sent | already_sent | not_yet | failed."""
    settings = get_settings()
    if now.hour < settings.digest_hour_utc:
        return "not_yet"
    row = outbox.claim_digest(now.strftime("%Y-%m-%d"), now, now + _SEND_LEASE)
    if row is None:
        return "already_sent"
    shown = figures(now)
    try:
        message_id = sender.send(settings.office_email, TEMPLATE, queue_url=queue_url(), **shown)
    except sender.MailError as err:
        # The next hourly sweep tries again (a failed row can be claimed again).
        outbox.mark_failed(row, err.code)
        logger.warning("office digest not sent", extra={"error_code": err.code})
        return "failed"
    outbox.mark_digest_sent(row, now, message_id)
    return "sent"
