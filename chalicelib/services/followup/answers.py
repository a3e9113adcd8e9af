"""The office's follow-up answers: the work queue, the read report, the sweep's summary (see
chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from chalicelib.services.answers import Time
from chalicelib.services.results.answers import CriticalResultEntry


class WorkEntry(TypedDict):
    """One entry of the office's work queue (`work_queue.entry_json`)."""

    id: str
    kind: str
    created_at: Time
    patient_id: str | None
    item_id: str | None
    reason: str | None
    data: dict[str, Any] | None


class FollowUpEntry(WorkEntry):
    """A call to make, or a notice that could not be sent: who (name and phone on file) and about
    which item."""

    patient_name: str | None
    phone: str | None
    item_title: str | None


class BadEmail(TypedDict):
    """A patient whose address on file bounces or complained."""

    patient_id: str
    name: str | None
    reason: str | None
    since: Time | None


class Queue(TypedDict):
    """The office's work queue, every list (`work_queue.page`)."""

    follow_ups: list[FollowUpEntry]
    forms: list[WorkEntry]
    quarantine: list[WorkEntry]
    failed_notices: list[FollowUpEntry]
    critical_results: list[CriticalResultEntry]
    bad_emails: list[BadEmail]


class QueuePage(Queue):
    """A page of the work queue (`work_queue.page`): at most `limit` entries of each list, and the
    cursor of the next page (null on the last), which continues every list that has more (the
    others come empty; bad_emails comes whole, on the first page)."""

    next_cursor: str | None


class QueueCounts(TypedDict, total=False):
    """How many open entries each list of the work queue asked for holds (`work_queue.counts`)."""

    follow_ups: int
    forms: int
    quarantine: int
    failed_notices: int
    critical_results: int
    bad_emails: int


class Resolved(TypedDict):
    """A queue entry closed (`work_queue.resolve`)."""

    id: str
    status: Literal["resolved"]


class ResolvedEntry(Resolved):
    """A follow-up, failed notice or quarantined upload closed, with its kind (`sweep.resolve`)."""

    kind: str


class FollowUpCalled(TypedDict):
    """A follow-up call recorded (`sweep.record_call`): the item's open follow-up entries are closed."""

    item_id: str
    outcome: Literal["reached", "left_message", "no_answer", "wrong_number"]
    called_at: Time


class UnreadItem(TypedDict):
    """A released item its patient has not read (`unread.unread_json`)."""

    item_id: str
    patient_id: str
    patient_name: str | None
    title: str
    kind: str
    published_at: Time
    notices_sent: int


class UnreadItems(TypedDict):
    """Every released, unread item, oldest first (`unread.listed`)."""

    items: list[UnreadItem]


class FollowUpReport(TypedDict):
    """The office digest's figures, live (`digest.counts`)."""

    since: Time
    as_of: Time
    read_since_last: int
    unread_in_follow_up: int
    escalated_open: int
    escalated_since_last: int
    bad_emails: int


class SweepSummary(TypedDict):
    """What one run of the follow-up sweep did, counts only (`sweep.SweepSummary`)."""

    now: Time
    due: int
    notified: int
    escalated: int
    escalated_bad_email: int
    taken: int
    retry: int
    failed: int
    suppressed: int
    errors: int
    stopped: int
    released: int  # held lab results released because their hold ran out
    complete: bool
    retries: dict[str, int]
    critical_reminders: dict[str, int]
    digest: str | None
