"""Sign-in and lockout rules without AWS: the store, the mailer and the clock are the fakes of
tests/support/fakes.py (passwords hash as "hash:<password>", so no Argon2 either); the rules in
services/access/sign_in.py, and the rate limits, sessions, mails and audit trail it goes through,
are the real ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import InvalidCredentials, RateLimited
from chalicelib.services.access import passwords, sign_in
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from tests.support.fakes import Fakes

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
CALLER = Caller(None, "203.0.113.7")


@pytest.fixture
def world(monkeypatch) -> Fakes:
    """The fakes, with the clock stopped at NOW."""
    return Fakes(NOW).install(monkeypatch)


def _mails(world: Fakes) -> list[str]:
    return world.mail.templates()


def _events(world: Fakes) -> list[tuple[str, str]]:
    return world.audit.actions()


def _fail(times: int, username: str = "ann") -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentials):
            sign_in.login(CALLER, username, "not-the-password-1")


def test_four_failures_count_and_the_fifth_locks_for_fifteen_minutes(world):
    # Given an account with a chosen password
    ann = world.accounts.add("ann", password_hash="hash:right-horse-battery-7")

    # When four wrong passwords are tried
    _fail(4)

    # Then they are counted, and nothing is locked or mailed yet
    assert (ann.failed_logins, ann.locked_until, _mails(world)) == (4, None, [])

    # When the fifth is tried
    _fail(1)

    # Then the account is locked for 15 minutes, the count starts again, and the owner is mailed once
    assert ann.locked_until == NOW + timedelta(minutes=15)
    assert (ann.failed_logins, ann.lock_count) == (0, 1)
    assert _mails(world) == ["account_locked"]
    assert ("account.locked", "ok") in _events(world)


def test_a_locked_account_refuses_even_the_right_password_and_counts_nothing(world):
    # Given a locked account
    ann = world.accounts.add("ann", password_hash="hash:right-horse-battery-7",
                          locked_until=NOW + timedelta(minutes=10), lock_count=1)

    # When the right password is given
    with pytest.raises(InvalidCredentials):
        sign_in.login(CALLER, "ann", "right-horse-battery-7")

    # Then it is refused as "locked", no session starts, and the lock is not stretched
    assert _events(world)[-1] == ("auth.login", "locked")
    assert world.sessions.opened() == [] and ann.locked_until == NOW + timedelta(minutes=10)


def test_each_lock_since_the_last_good_sign_in_doubles_up_to_a_day(world):
    # Given an account that keeps being locked
    ann = world.accounts.add("ann", password_hash="hash:right-horse-battery-7")
    periods = []

    # When five failures follow each lock's end, eight times over
    for _ in range(8):
        _fail(5)
        periods.append(ann.locked_until - world.clock.now())
        world.clock.advance(periods[-1] + timedelta(seconds=1))

    # Then the lock lasts 15 minutes, then 30, 60, ... and never more than 24 hours
    assert [p // timedelta(minutes=1) for p in periods] == [15, 30, 60, 120, 240, 480, 960, 1440]


def test_a_good_sign_in_forgets_failures_and_earlier_locks(world):
    # Given an account with failures and a past lock
    ann = world.accounts.add("ann", password_hash="hash:right-horse-battery-7", failed_logins=3, lock_count=2,
                          locked_until=NOW - timedelta(minutes=1))

    # When the right password is given
    session = sign_in.login(CALLER, "ann", "right-horse-battery-7")

    # Then a session starts and the next lock would be the first again
    assert session.must_change_password is False and world.sessions.opened() == [(ann.id, False)]
    assert (ann.failed_logins, ann.lock_count, ann.locked_until) == (0, 0, None)
    assert sign_in.lock_period(ann.lock_count) == timedelta(minutes=15)


def test_a_lock_taken_by_a_concurrent_request_is_not_stretched_or_mailed_again(world):
    # Given an account another request locked a moment ago, and a failure counted before that lock
    ann = world.accounts.add("ann", password_hash="hash:x", failed_logins=5,
                          locked_until=NOW + timedelta(minutes=15), lock_count=1)

    # When the late request records its failure
    sign_in.record_failure(ann, CALLER)

    # Then the lock stays as it was and no second mail goes out
    assert ann.locked_until == NOW + timedelta(minutes=15) and ann.lock_count == 1
    assert _mails(world) == []


def test_an_unknown_username_is_refused_like_a_wrong_password(world):
    # Given no account named "nobody"
    # When someone signs in as it
    with pytest.raises(InvalidCredentials) as refused:
        sign_in.login(CALLER, "nobody", "whatever-it-is-9")

    # Then the answer is the usual refusal, audited as an unknown user
    assert type(refused.value) is InvalidCredentials
    assert _events(world) == [("auth.login", "unknown_user")]


def test_a_client_over_its_failure_limit_is_refused_before_any_account_is_read(world, monkeypatch):
    # Given a client address that has failed to sign in as many times this hour as allowed
    monkeypatch.setenv("LOGIN_FAILURES_PER_CLIENT_PER_HOUR", "3")
    sign_in.get_settings.cache_clear()
    try:
        world.accounts.add("ann", password_hash="hash:right-horse-battery-7")
        _fail(3, username="nobody")
        before = list(_events(world))

        # When it tries again, even with the right password
        with pytest.raises(RateLimited):
            sign_in.login(CALLER, "ann", "right-horse-battery-7")
    finally:
        sign_in.get_settings.cache_clear()

    # Then it gets 429, no session, and the audit says why
    assert world.sessions.opened() == [] and _events(world)[len(before):] == [("auth.login", "rate_limited_client")]


def test_a_temporary_password_signs_in_once(world):
    # Given an account with a valid temporary password (and an old chosen one)
    temporary = passwords.new_temporary_password()
    ann = world.accounts.add("ann", password_hash="hash:old-chosen-one-4", temp_password_hash=f"hash:{temporary}",
                          temp_password_expires_at=NOW + timedelta(hours=1))

    # When it is used twice
    sign_in.login(CALLER, "ann", temporary)
    with pytest.raises(InvalidCredentials):
        sign_in.login(CALLER, "ann", temporary)

    # Then the first use opens a session that must change the password, and the old password is gone
    assert world.sessions.opened() == [(ann.id, True)]
    assert ann.password_hash is None and ann.temp_password_hash is None


def test_an_expired_temporary_password_counts_as_a_failure(world):
    # Given a temporary password that expired a minute ago
    temporary = passwords.new_temporary_password()
    ann = world.accounts.add("ann", temp_password_hash=f"hash:{temporary}",
                          temp_password_expires_at=NOW - timedelta(minutes=1))

    # When it is used
    with pytest.raises(InvalidCredentials):
        sign_in.login(CALLER, "ann", temporary)

    # Then no session starts and the failure is counted
    assert world.sessions.opened() == [] and ann.failed_logins == 1


def test_wrong_current_passwords_in_a_session_count_towards_the_lockout(world):
    # Given a signed-in account
    ann = world.accounts.add("ann", password_hash="hash:right-horse-battery-7")
    caller = Caller(Principal(ann.id, "patient", False, "token-hash", "csrf"), "203.0.113.7")

    # When its current password is given wrongly five times (say, to change the email)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            sign_in.check_current_password(caller, ann, "guess-guess-guess-1", "account.email_change")

    # Then the account is locked, as after five failed sign-ins
    assert ann.locked_until == NOW + timedelta(minutes=15)
    assert _events(world).count(("account.email_change", "bad_password")) == 5
