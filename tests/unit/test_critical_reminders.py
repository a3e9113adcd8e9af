"""Who the hourly sweep reminds of a critical value still uncalled after an hour: every active
admin with an address, and the office's address when there is no such admin (the store, the
outbox and the mail are stood in for; the sweep's real run is in tests/integration/
test_office_day_round2.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.services.followup import notices
from chalicelib.services.results import critical
from chalicelib.settings import get_settings
from chalicelib.vocabulary import Role

NOW = datetime(2031, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def reminded(monkeypatch):
    """A critical entry due for its reminder; what was marked, and each mail as (to, kind, language)."""
    entry = SimpleNamespace(id="critical_result#r_1#v1")
    seen: dict[str, list] = {"marked": [], "mails": []}
    monkeypatch.setattr(critical.work_store, "open_unreminded", lambda kind, before: [entry])

    def mark(entry, now, reminders):
        seen["marked"].append([r.account_id for r in reminders])
        return True

    monkeypatch.setattr(critical.work_store, "mark_reminded", mark)
    monkeypatch.setattr(notices.sender, "send", lambda to, kind, language=None, **context:
                        seen["mails"].append((to, kind, language)) or "message-1")
    monkeypatch.setattr(notices.outbox, "mark_sent", lambda notice, now, message_id: None)
    return seen


def _account(account_id: str, role: Role, email: str | None, disabled: bool = False, language: str = "en"):
    return SimpleNamespace(id=account_id, role=role, email=email, language=language,
                           disabled_at=NOW if disabled else None)


def test_each_active_admin_with_an_address_is_reminded_in_their_language(monkeypatch, reminded):
    # Given two active admins (one reading Spanish), a disabled admin, an admin without an address and a staff member
    admins = [_account("a_1", Role.ADMIN, "one@clinic.example"),
              _account("a_2", Role.ADMIN, "two@clinic.example", language="es"),
              _account("a_3", Role.ADMIN, "gone@clinic.example", disabled=True),
              _account("a_4", Role.ADMIN, None), _account("s_1", Role.STAFF, "desk@clinic.example")]
    monkeypatch.setattr(critical.account_store, "list_staff", lambda: admins)

    # When the sweep's reminder step runs
    counts = critical.remind_admins(NOW)

    # Then the two active admins with an address are reminded, each once, and no one else
    assert reminded["marked"] == [["a_1", "a_2"]]
    assert reminded["mails"] == [("one@clinic.example", notices.ADMIN_CRITICAL_REMINDER, "en"),
                                 ("two@clinic.example", notices.ADMIN_CRITICAL_REMINDER, "es")]
    assert counts == {"reminded": 1, "sent": 2}


def test_with_no_admin_who_can_take_it_the_office_address_is_reminded(monkeypatch, reminded):
    # Given a clinic whose only admin is disabled, and a staff member
    staff = [_account("a_3", Role.ADMIN, "gone@clinic.example", disabled=True),
             _account("s_1", Role.STAFF, "desk@clinic.example")]
    monkeypatch.setattr(critical.account_store, "list_staff", lambda: staff)

    # When the sweep's reminder step runs
    counts = critical.remind_admins(NOW)

    # Then the reminder is written for the office and mailed to the office's address, once
    assert reminded["marked"] == [[notices.OFFICE_RECIPIENT]]
    assert reminded["mails"] == [(get_settings().office_email, notices.ADMIN_CRITICAL_REMINDER, None)]
    assert counts == {"reminded": 1, "sent": 1}


def test_the_office_reminder_retried_by_the_outbox_goes_to_the_office_address(monkeypatch, reminded):
    # Given the office's reminder left pending after a passing failure (no account has its id)
    notice = notices.new_leased_admin_reminder("critical_result#r_2#v1", notices.OFFICE_RECIPIENT, NOW)
    monkeypatch.setattr(notices.outbox, "claim_attempt", lambda notice, lease_until: True)
    monkeypatch.setattr(notices.account_store, "get", lambda account_id: pytest.fail("no account is read"))

    # When the outbox's retry delivers it
    outcome = notices.deliver(notice)

    # Then it is sent to the office's address
    assert outcome == "sent"
    assert reminded["mails"] == [(get_settings().office_email, notices.ADMIN_CRITICAL_REMINDER, None)]
