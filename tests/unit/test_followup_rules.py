"""Follow-up rules without AWS: which due item is escalated or re-notified, paging and the
deadline, the send-rate bucket, and which SES notifications name a bad address."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.mail.sender import TokenBucket
from chalicelib.services.followup import mail_feedback
from chalicelib.services.followup import sweep as followup
from chalicelib.store.accounts import Account

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


class Page(list):
    def __init__(self, items, last_evaluated_key):
        super().__init__(items)
        self.last_evaluated_key = last_evaluated_key


@pytest.fixture
def fake_stores(monkeypatch):
    """Due items in pages of two; records what the sweep claimed and escalated."""
    items = [SimpleNamespace(id=f"i{n}", patient_id="p_bad" if n == 4 else "p1", notices_sent=3 if n == 2 else 1,
                             round=0, kind="document") for n in range(5)]
    calls = {"claimed": [], "escalated": [], "delivered": [], "pages": []}

    def due(now, limit, last_evaluated_key=None):
        start = last_evaluated_key or 0
        calls["pages"].append(start)
        end = start + limit
        return Page(items[start:end], end if end < len(items) else None)

    def claim_notice(item, now, next_due, notice=None):
        calls["claimed"].append(item.id)
        return True

    def escalate(item, now, work_entry=None):
        calls["escalated"].append((item.id, work_entry.reason))
        return True

    accounts = {"p1": Account("p1", role="patient", email="p1@example.com", email_status="ok"),
                "p_bad": Account("p_bad", role="patient", email="bad@example.com", email_status="bad")}
    monkeypatch.setattr(followup.item_store, "due", due)
    monkeypatch.setattr(followup.item_store, "held_due", lambda now, limit, last_evaluated_key=None: Page([], None))
    monkeypatch.setattr(followup.item_store, "claim_notice", claim_notice)
    monkeypatch.setattr(followup.item_store, "escalate", escalate)
    monkeypatch.setattr(followup.account_store, "get", accounts.get)
    monkeypatch.setattr(followup.notices, "new_leased_item_notice", lambda item, number, now: (item.id, number))
    monkeypatch.setattr(followup.notices, "deliver",
                        lambda notice, account, leased: calls["delivered"].append(notice) or "sent")
    return calls


def test_sweep_renotifies_escalates_after_max_notices_and_for_bad_addresses(fake_stores):
    # When the sweep runs over five due items in pages of two
    summary = followup.sweep(NOW, page_size=2)

    # Then it paged through all of them, sent the next notice where allowed, and escalated the
    # item at MAX_NOTICES and the one whose address is bad
    assert fake_stores["pages"] == [0, 2, 4]
    assert fake_stores["delivered"] == [("i0", 2), ("i1", 2), ("i3", 2)]
    assert fake_stores["escalated"] == [("i2", "not_read"), ("i4", "bad_email")]
    assert (summary.due, summary.notified, summary.escalated, summary.escalated_bad_email) == (5, 3, 2, 1)
    assert summary.complete is True


def test_sweep_stops_before_the_deadline_and_says_so(fake_stores):
    # Given a Lambda with time for three items only (the sweep also looks between pages)
    budget = iter([60_000] * 4 + [5_000] * 10)

    # When the sweep runs
    summary = followup.sweep(NOW, remaining_ms=lambda: next(budget), page_size=2)

    # Then it handled three items and reported that it did not finish
    assert summary.due == 3 and summary.complete is False
    assert len(fake_stores["claimed"]) + len(fake_stores["escalated"]) == 3


def test_token_bucket_spaces_sends_beyond_one_seconds_worth(monkeypatch):
    # Given a bucket of 5 sends per second and a clock that only moves when the bucket sleeps
    moments = {"now": 100.0}
    slept = []
    monkeypatch.setattr("chalicelib.mail.sender.time.monotonic", lambda: moments["now"])

    def sleep(seconds):
        slept.append(seconds)
        moments["now"] += seconds

    monkeypatch.setattr("chalicelib.mail.sender.time.sleep", sleep)
    bucket = TokenBucket(5)

    # When eight sends are taken at once
    waits = [bucket.take() for _ in range(8)]

    # Then the first five go at once and the rest wait a fifth of a second each
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.2, 0.2, 0.2])


@pytest.mark.parametrize(
    ("notification", "expected"),
    [
        ({"eventType": "Bounce", "bounce": {"bounceType": "Permanent",
                                            "bouncedRecipients": [{"emailAddress": "Ann <ann@example.com>"}]}},
         ("hard_bounce", ["ann@example.com"])),
        ({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "bo@example.com"}]}},
         ("complaint", ["bo@example.com"])),
        ({"eventType": "Bounce", "bounce": {"bounceType": "Transient",
                                            "bouncedRecipients": [{"emailAddress": "cy@example.com"}]}},
         (None, [])),
        ({"eventType": "Delivery", "delivery": {"recipients": ["di@example.com"]}}, (None, [])),
    ],
)
def test_only_hard_bounces_and_complaints_name_bad_addresses(notification, expected):
    # When an SES notification is read / Then only a hard bounce or complaint names addresses
    assert mail_feedback.bad_addresses(notification) == expected
