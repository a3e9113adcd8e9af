"""The notice outbox: one row per notice, written before it is sent, so a notice is never lost
and its deterministic id means it is never queued twice."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chalicelib.store.base import NullableText, PortalModel, conditional, meta, table

RETRY_SHARD = "retry"


class RetryIndex(GlobalSecondaryIndex["Notice"]):
    """Sparse: notices waiting for another try after SES throttled or failed."""

    class Meta:
        index_name = "retry_due"
        projection = AllProjection()

    retry_shard = UnicodeAttribute(hash_key=True)
    next_attempt_at = UTCDateTimeAttribute(range_key=True)


@table
class Notice(PortalModel):
    Meta = meta("outbox")

    id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    item_id = NullableText()
    status = UnicodeAttribute(default="pending")  # pending | sent | failed
    attempts = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    last_error = NullableText()
    ses_message_id = NullableText()
    retry_shard = NullableText()
    next_attempt_at = UTCDateTimeAttribute(null=True)
    # An item notice: the kind of item (its subject and text say so), and how its text message
    # went (sent | failed | opted_out | rate_limited | spend_limit), so a retry never texts twice.
    item_kind = NullableText()
    text_status = NullableText()
    text_message_id = NullableText()

    retry_due = RetryIndex()


def put_once(notice: Notice) -> bool:
    return conditional(lambda: notice.save(condition=Notice.id.does_not_exist()))


def get(notice_id: str) -> Notice | None:
    try:
        return Notice.get(notice_id, consistent_read=True)
    except DoesNotExist:
        return None


def sent_among(notice_ids: list[str]) -> list[Notice]:
    """Those of these notices that were sent, oldest first (batch reads of 100 keys)."""
    sent = [notice for notice in Notice.batch_get(notice_ids) if notice.sent_at is not None] if notice_ids else []
    return sorted(sent, key=lambda notice: notice.sent_at)


# DynamoDB's passing refusals, for the one write that must not give up after botocore's retries.
_PASSING_ERRORS = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                   "InternalServerError"}
_MARK_SENT_ATTEMPTS = 5


def mark_sent(notice: Notice, now: datetime, message_id: str) -> None:
    """Record a send that happened. A passing refusal is tried again: left unrecorded, the
    notice's lease would run out and the retry would mail the patient a second time."""
    actions: list[Action] = [
        Notice.status.set("sent"),
        Notice.sent_at.set(now),
        Notice.ses_message_id.set(message_id),
        Notice.retry_shard.remove(),
        Notice.next_attempt_at.remove(),
    ]
    for attempt in range(_MARK_SENT_ATTEMPTS):
        try:
            notice.update(actions=actions)
            return
        except UpdateError as err:
            if err.cause_response_code not in _PASSING_ERRORS or attempt == _MARK_SENT_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * 2**attempt)


def mark_text(notice: Notice, status: str, message_id: str | None = None) -> None:
    """Record how the notice's text message went (once it went, a retry of the mail skips it)."""
    actions: list[Action] = [Notice.text_status.set(status)]
    if message_id:
        actions.append(Notice.text_message_id.set(message_id))
    notice.update(actions=actions)


def mark_retry(notice: Notice, error: str, next_attempt_at: datetime) -> None:
    notice.update(
        actions=[
            Notice.last_error.set(error),
            Notice.retry_shard.set(RETRY_SHARD),
            Notice.next_attempt_at.set(next_attempt_at),
        ]
    )


def mark_failed(notice: Notice, error: str) -> None:
    notice.update(
        actions=[
            Notice.status.set("failed"),
            Notice.last_error.set(error),
            Notice.retry_shard.remove(),
            Notice.next_attempt_at.remove(),
        ]
    )


def claim_attempt(notice: Notice, lease_until: datetime) -> bool:
    """Take a pending notice for one sending attempt. Exactly one of several concurrent senders
    wins (the attempt count moves). The lease puts it back in the retry index, so a sender that
    dies mid-send leaves the notice to be retried, never lost."""
    expected = int(notice.attempts or 0)
    return conditional(lambda: notice.update(
        actions=[
            Notice.attempts.add(1),
            Notice.retry_shard.set(RETRY_SHARD),
            Notice.next_attempt_at.set(lease_until),
        ],
        condition=(Notice.status == "pending") & (Notice.attempts == expected),
    ))


def retries_due(now: datetime, page_size: int = 100) -> ResultIterator[Notice]:
    """Every notice whose retry time has come, oldest first, a page at a time as the caller reads
    on (not only the first page: rows that keep failing would otherwise hold it and starve the rest)."""
    return Notice.retry_due.query(RETRY_SHARD, Notice.next_attempt_at <= now, page_size=page_size)


def leased(notice: Notice, lease_until: datetime) -> Notice:
    """An unsaved notice already taken for its first attempt, as `claim_attempt` would leave it:
    written in the transaction that creates it, its writer sends it without another claim, and a
    writer that dies before sending leaves it in the retry index for the schedule."""
    notice.attempts = 1
    notice.retry_shard = RETRY_SHARD
    notice.next_attempt_at = lease_until
    return notice


# ---------------------------------------------------------------- the office digest
# One row per day (`digest#<date>`) decides which sweep sends that day's digest; `digest#last`
# remembers when the last one went out, so "read since the last digest" needs no scan.
DIGEST_KIND = "office_digest"
OFFICE = "office"
_LAST_DIGEST = "digest#last"


def claim_digest(day: str, now: datetime, lease_until: datetime) -> Notice | None:
    """Take today's digest for one sender: the row is new, or an earlier attempt failed, or its
    sender's lease ran out (it died mid-send). None when another sweep has it or it was sent."""
    row = Notice(f"digest#{day}", account_id=OFFICE, kind=DIGEST_KIND, status="sending", attempts=1,
                 created_at=now, next_attempt_at=lease_until)
    claimed = conditional(lambda: row.save(condition=Notice.id.does_not_exist() | (Notice.status == "failed")
                                           | ((Notice.status == "sending") & (Notice.next_attempt_at < now))))
    return row if claimed else None


def last_digest_at() -> datetime | None:
    row = get(_LAST_DIGEST)
    return row.sent_at if row else None


def mark_digest_sent(row: Notice, now: datetime, message_id: str) -> None:
    mark_sent(row, now, message_id)
    Notice(_LAST_DIGEST, account_id=OFFICE, kind=DIGEST_KIND, status="sent", created_at=now, sent_at=now,
           ses_message_id=message_id).save()


# ---------------------------------------------------------------- "a patient wrote" alerts
# One row per window (`office-alert#<window start>`), due at the window's end: every patient
# message in the window writes the same row in its own transaction, so the office gets one email
# per window and a message never exists without an alert still to come.
OFFICE_ALERT_PREFIX = "office-alert#"


@dataclass(frozen=True)
class OfficeAlert:
    id: str
    kind: str
    due_at: datetime


def queue_office_alert(tx: TransactWrite, alert: OfficeAlert, now: datetime) -> None:
    """Put an office alert in the transaction `tx`: new, or joined while no attempt to send it has
    begun. Once a sender took it, the condition fails: the message's transaction is cancelled and
    the caller tries again with a row of the message's own, so no message is covered by a mail
    that may have left before it existed."""
    tx.update(
        Notice(alert.id),
        actions=[
            Notice.account_id.set(OFFICE),
            Notice.kind.set(alert.kind),
            Notice.status.set("pending"),
            Notice.attempts.set(0),
            Notice.created_at.set(Notice.created_at | now),
            Notice.retry_shard.set(RETRY_SHARD),
            Notice.next_attempt_at.set(alert.due_at),
        ],
        condition=Notice.attempts.does_not_exist() | (Notice.attempts == 0),
    )
