"""The outbox's retries: every due row gets its turn in a run, so rows that keep failing (an
address SES keeps refusing) can never hold the others back, however many there are."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest

from chalicelib.clock import iso
from chalicelib.localstack import pump
from chalicelib.services.followup import notices
from chalicelib.store import outbox
from tests.support.faults import a_send_to, aws_refuses


def ses_refuses_every_send_to(address: str):
    """SES answers every send to `address` with a passing 503 (later tries may succeed, as far as
    the portal can tell), while the context is open."""
    return aws_refuses(a_send_to(address), "ServiceUnavailable", 503)


@pytest.fixture
def due_notice() -> Iterator:
    """Writes outbox rows due for another try; the ones still pending when the test ends are
    given up (as after SES's last refusal), so no later test's schedule mails them."""
    made: list[outbox.Notice] = []

    def write(patient_id: str, due_at) -> outbox.Notice:
        notice = outbox.Notice(f"test-retry#{secrets.token_hex(8)}", account_id=patient_id,
                               kind=notices.ITEM_NOTICE, status="pending", attempts=1, created_at=due_at,
                               last_error="Throttling", retry_shard=outbox.RETRY_SHARD, next_attempt_at=due_at)
        notice.save()
        made.append(notice)
        return notice

    yield write
    for notice in made:
        row = outbox.get(notice.id)
        if row is not None and row.status == "pending":
            outbox.mark_failed(row, "ServiceUnavailable")


def test_a_due_notice_is_sent_even_behind_more_than_a_page_of_rows_that_keep_failing(portal, staff, clock,
                                                                                     due_notice):
    # Given 150 due notices for a patient whose address SES keeps refusing, all due before one
    # due notice for another patient
    refused, other = portal.new_patient(staff), portal.new_patient(staff)
    now = clock.now()
    for n in range(150):
        due_notice(refused.id, now - timedelta(hours=2, seconds=n))
    waiting = due_notice(other.id, now - timedelta(hours=1))
    mails_before = len(portal.outbox(other.email))

    # When the outbox sender runs once
    with ses_refuses_every_send_to(refused.email):
        pump.run_schedules(iso(clock.now()), only="outbox-sender")

    # Then the other patient's notice went out, and the refused ones wait for their next try
    assert outbox.get(waiting.id).status == "sent"
    assert len(portal.outbox(other.email)) == mails_before + 1
    still_pending = [outbox.get(notice.id) for notice in outbox.Notice.retry_due.query(
        outbox.RETRY_SHARD, outbox.Notice.next_attempt_at > now) if notice.account_id == refused.id]
    assert len(still_pending) == 150 and all(n.status == "pending" and n.attempts == 2 for n in still_pending)
