"""Forgot-password rules without AWS: when a recovery job mails a temporary password and when it
refuses (unknown user, per-account limit, bad address, a job delivered twice), and the request's
per-client limit. The account store, outbox, queue, rate limits and audit trail are fakes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from chalicelib.errors import RateLimited
from chalicelib.services.access import recovery
from chalicelib.services.access.identity import Caller

CALLER = Caller(None, "203.0.113.7")


@pytest.fixture
def world(monkeypatch):
    """Accounts by username, an outbox, per-key counters and records of what happened."""
    seen = SimpleNamespace(accounts={}, outbox={}, counts={}, limits={}, events=[], delivered=[], queued=[])

    def hit(key, limit, window):
        seen.counts[key] = seen.counts.get(key, 0) + 1
        return seen.counts[key] <= limit, 42

    def put_once(notice):
        if notice.id in seen.outbox:
            return False
        seen.outbox[notice.id] = notice
        return True

    monkeypatch.setattr(recovery, "account_store", SimpleNamespace(find_by_username=seen.accounts.get))
    monkeypatch.setattr(recovery, "ratelimit", SimpleNamespace(hit=hit))
    monkeypatch.setattr(recovery, "outbox", SimpleNamespace(get=seen.outbox.get, put_once=put_once))
    monkeypatch.setattr(recovery, "notices", SimpleNamespace(
        PASSWORD_RESET="password_reset",
        new_leased_password_reset=lambda account_id, job_id, now: SimpleNamespace(
            id=f"password_reset#{job_id}", account_id=account_id),
        deliver=lambda notice, account, leased: seen.delivered.append((notice.id, account.id)) or "sent"))
    monkeypatch.setattr(recovery, "audit", SimpleNamespace(
        record_for=lambda caller, action, **kw: seen.events.append((action, kw.get("outcome", "ok"), None)),
        record_about=lambda caller, action, account, **kw: seen.events.append(
            (action, kw.get("outcome", "ok"), account.id))))
    monkeypatch.setattr(recovery, "enqueue", lambda caller, username: seen.queued.append((caller.client_ip, username)))
    return seen


def _account(world, username, **fields):
    account = SimpleNamespace(id=f"p_{username}", role="patient", email_status="ok", disabled_at=None)
    vars(account).update(fields)
    world.accounts[username] = account
    return account


def _job(username, job_id="job1"):
    return json.dumps({"id": job_id, "username": username, "client_ip": "203.0.113.7"})


def test_a_job_for_a_known_username_mails_a_temporary_password_once(world):
    # Given a patient with a good address
    _account(world, "ann")

    # When the recovery job runs
    outcome = recovery.handle(_job("ann"))

    # Then one reset mail goes out through the outbox, audited against the account
    assert outcome == "ok"
    assert world.delivered == [("password_reset#job1", "p_ann")]
    assert world.events == [("auth.forgot_password", "ok", "p_ann")]


def test_a_job_for_an_unknown_username_mails_nothing(world):
    # Given no account named "nobody"
    # When a job names it
    outcome = recovery.handle(_job("nobody"))

    # Then it is refused as unknown, nothing is sent, and the event names no account
    assert outcome == "unknown_user"
    assert world.delivered == [] and world.events == [("auth.forgot_password", "unknown_user", None)]


def test_a_blank_username_is_an_unknown_user(world):
    # When a job carries only spaces
    outcome = recovery.handle(_job("   "))

    # Then it is refused like an unknown username
    assert outcome == "unknown_user" and world.delivered == []


def test_an_address_that_bounced_gets_no_reset_mail(world):
    # Given a patient whose email on file bounced
    _account(world, "ann", email_status="bad")

    # When the recovery job runs
    outcome = recovery.handle(_job("ann"))

    # Then no mail goes out and the audit says why
    assert outcome == "bad_email"
    assert world.delivered == [] and world.events == [("auth.forgot_password", "bad_email", "p_ann")]


def test_more_jobs_for_one_account_than_its_hourly_limit_are_refused(world):
    # Given a patient and the per-account limit of 3 an hour
    _account(world, "ann")

    # When four jobs for that account run within the hour
    outcomes = [recovery.handle(_job("ann", job_id=f"job{n}")) for n in range(4)]

    # Then three mails go out and the fourth is refused
    assert outcomes == ["ok", "ok", "ok", "rate_limited_account"]
    assert len(world.delivered) == 3


def test_a_job_delivered_twice_sends_one_mail(world):
    # Given a job that has already run
    _account(world, "ann")
    recovery.handle(_job("ann"))

    # When SQS delivers it again
    outcome = recovery.handle(_job("ann"))

    # Then it is a duplicate and no second mail goes out
    assert outcome == "duplicate" and len(world.delivered) == 1


def test_the_request_queues_a_job_with_the_username_as_typed_and_answers_the_same_always(world):
    # When a visitor asks for a reset (spaces around the name)
    answer = recovery.forgot_password(CALLER, "  ann  ")

    # Then one job is queued for "ann" from that address, with the answer every username gets
    assert world.queued == [("203.0.113.7", "ann")]
    assert answer == recovery.FORGOT_PASSWORD_ANSWER


def test_a_client_over_its_request_limit_gets_429_and_queues_nothing(world, monkeypatch):
    # Given a per-client limit of 2 requests an hour
    monkeypatch.setenv("FORGOT_PASSWORD_PER_CLIENT_PER_HOUR", "2")
    recovery.get_settings.cache_clear()
    try:
        # When a third request comes from the same address
        recovery.forgot_password(CALLER, "ann")
        recovery.forgot_password(CALLER, "bob")
        with pytest.raises(RateLimited) as refused:
            recovery.forgot_password(CALLER, "cy")
    finally:
        recovery.get_settings.cache_clear()

    # Then it is refused with the window's remaining time, and only two jobs were queued
    assert refused.value.headers["Retry-After"] == "42"
    assert [username for _, username in world.queued] == ["ann", "bob"]
    assert world.events == [("auth.forgot_password", "rate_limited_client", None)]
