"""Sign-in and lockout rules without AWS: the account store, rate limits, sessions, mail and the
audit trail are fakes; the rules in services/sign_in.py are the real ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from chalicelib.clock import FixedClock
from chalicelib.errors import InvalidCredentials, RateLimited
from chalicelib.services.access import passwords, sign_in
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
CALLER = Caller(None, "203.0.113.7")


class FakeAccountStore:
    """The account store's named writes, applied to in-memory accounts, conditions included."""

    def __init__(self):
        self.accounts: dict[str, SimpleNamespace] = {}
        self.owners: dict[str, str] = {}

    def add(self, username: str, **fields) -> SimpleNamespace:
        account = SimpleNamespace(id=f"p_{len(self.accounts)}", role="patient", username=username,
                                  email=f"{username}@example.com", password_hash=None, temp_password_hash=None,
                                  temp_password_expires_at=None, failed_logins=0, lock_count=0, locked_until=None,
                                  updated_at=None, mfa_secret=None, disabled_at=None, temp_passwords=None)
        vars(account).update(fields)
        self.accounts[account.id] = account
        self.owners[self.username_key(username)] = account.id
        return account

    @staticmethod
    def username_key(username):
        return f"username#{username.casefold()}"

    def owner_read(self, key):
        return ("owner", key)

    def get(self, account_id):
        return self.accounts.get(account_id)

    def record_failed_sign_in(self, account):
        account.failed_logins += 1
        return account.failed_logins

    def lock(self, account, until, now, threshold):
        if account.failed_logins < threshold or (account.locked_until and account.locked_until > now):
            return False
        account.failed_logins, account.lock_count, account.locked_until = 0, account.lock_count + 1, until
        return True

    def clear_failures(self, account):
        account.failed_logins, account.lock_count, account.locked_until = 0, 0, None

    def consume_temporary_password(self, account, temp_hash, now):
        if account.temp_password_hash != temp_hash:
            return False
        account.temp_password_hash = account.temp_password_expires_at = account.password_hash = None
        account.failed_logins, account.updated_at = 0, now
        return True


@pytest.fixture
def world(monkeypatch):
    """A fake store, a clock stopped at NOW, and records of mails, audit events and sessions."""
    store = FakeAccountStore()
    clock = FixedClock(NOW)
    seen = SimpleNamespace(store=store, clock=clock, mails=[], events=[], sessions=[], client_failures=0)

    def read_together(*reads):
        return [store.owners.get(read[1]) if read[0] == "owner" else seen.client_failures for read in reads]

    def hit(key, limit, window):
        if not key.startswith("login-failures-ip#"):  # the refused-username counter: the same work, no limit
            return True, 60
        seen.client_failures += 1
        return seen.client_failures <= limit, 60

    monkeypatch.setattr(sign_in, "account_store", store)
    monkeypatch.setattr(sign_in, "clock", clock)
    monkeypatch.setattr(sign_in, "read_together", read_together)
    monkeypatch.setattr(sign_in, "ratelimit", SimpleNamespace(hit=hit, count_read=lambda key, window: ("count", key),
                                                              seconds_left=lambda window: 60))
    monkeypatch.setattr(sign_in, "passwords", SimpleNamespace(
        verify=lambda stored, typed: stored is not None and stored == f"hash:{typed}",
        looks_temporary=passwords.looks_temporary))
    monkeypatch.setattr(sign_in, "account_mail", SimpleNamespace(
        send=lambda account, template, **context: seen.mails.append((account.id, template, context)) or "sent"))
    monkeypatch.setattr(sign_in, "audit", SimpleNamespace(
        record_for=lambda caller, action, **kw: seen.events.append((action, kw.get("outcome", "ok"))),
        record_about=lambda caller, action, account, **kw: seen.events.append((action, kw.get("outcome", "ok")))))
    monkeypatch.setattr(sign_in, "sessions", SimpleNamespace(
        create=lambda account_id, role, **kw: seen.sessions.append((account_id, kw["must_change_password"])) or "session",
        end=lambda principal: None))
    return seen


def _fail(times: int, username: str = "ann") -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentials):
            sign_in.login(CALLER, username, "not-the-password-1")


def test_four_failures_count_and_the_fifth_locks_for_fifteen_minutes(world):
    # Given an account with a chosen password
    ann = world.store.add("ann", password_hash="hash:right-horse-battery-7")

    # When four wrong passwords are tried
    _fail(4)

    # Then they are counted, and nothing is locked or mailed yet
    assert (ann.failed_logins, ann.locked_until, world.mails) == (4, None, [])

    # When the fifth is tried
    _fail(1)

    # Then the account is locked for 15 minutes, the count starts again, and the owner is mailed once
    assert ann.locked_until == NOW + timedelta(minutes=15)
    assert (ann.failed_logins, ann.lock_count) == (0, 1)
    assert [template for _, template, _ in world.mails] == ["account_locked"]
    assert ("account.locked", "ok") in world.events


def test_a_locked_account_refuses_even_the_right_password_and_counts_nothing(world):
    # Given a locked account
    ann = world.store.add("ann", password_hash="hash:right-horse-battery-7",
                          locked_until=NOW + timedelta(minutes=10), lock_count=1)

    # When the right password is given
    with pytest.raises(InvalidCredentials):
        sign_in.login(CALLER, "ann", "right-horse-battery-7")

    # Then it is refused as "locked", no session starts, and the lock is not stretched
    assert world.events[-1] == ("auth.login", "locked")
    assert world.sessions == [] and ann.locked_until == NOW + timedelta(minutes=10)


def test_each_lock_since_the_last_good_sign_in_doubles_up_to_a_day(world):
    # Given an account that keeps being locked
    ann = world.store.add("ann", password_hash="hash:right-horse-battery-7")
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
    ann = world.store.add("ann", password_hash="hash:right-horse-battery-7", failed_logins=3, lock_count=2,
                          locked_until=NOW - timedelta(minutes=1))

    # When the right password is given
    session = sign_in.login(CALLER, "ann", "right-horse-battery-7")

    # Then a session starts and the next lock would be the first again
    assert session == "session" and world.sessions == [(ann.id, False)]
    assert (ann.failed_logins, ann.lock_count, ann.locked_until) == (0, 0, None)
    assert sign_in.lock_period(ann.lock_count) == timedelta(minutes=15)


def test_a_lock_taken_by_a_concurrent_request_is_not_stretched_or_mailed_again(world):
    # Given an account another request locked a moment ago, and a failure counted before that lock
    ann = world.store.add("ann", password_hash="hash:x", failed_logins=5,
                          locked_until=NOW + timedelta(minutes=15), lock_count=1)

    # When the late request records its failure
    sign_in.record_failure(ann, CALLER)

    # Then the lock stays as it was and no second mail goes out
    assert ann.locked_until == NOW + timedelta(minutes=15) and ann.lock_count == 1
    assert world.mails == []


def test_an_unknown_username_is_refused_like_a_wrong_password(world):
    # Given no account named "nobody"
    # When someone signs in as it
    with pytest.raises(InvalidCredentials) as refused:
        sign_in.login(CALLER, "nobody", "whatever-it-is-9")

    # Then the answer is the usual refusal, audited as an unknown user
    assert type(refused.value) is InvalidCredentials
    assert world.events == [("auth.login", "unknown_user")]


def test_a_client_over_its_failure_limit_is_refused_before_any_account_is_read(world, monkeypatch):
    # Given a client address with as many failures this hour as allowed
    monkeypatch.setenv("LOGIN_FAILURES_PER_CLIENT_PER_HOUR", "3")
    sign_in.get_settings.cache_clear()
    try:
        world.store.add("ann", password_hash="hash:right-horse-battery-7")
        world.client_failures = 3

        # When it tries again, even with the right password
        with pytest.raises(RateLimited):
            sign_in.login(CALLER, "ann", "right-horse-battery-7")
    finally:
        sign_in.get_settings.cache_clear()

    # Then it gets 429, no session, and the audit says why
    assert world.sessions == [] and world.events == [("auth.login", "rate_limited_client")]


def test_a_temporary_password_signs_in_once(world):
    # Given an account with a valid temporary password (and an old chosen one)
    temporary = passwords.new_temporary_password()
    ann = world.store.add("ann", password_hash="hash:old-chosen-one-4", temp_password_hash=f"hash:{temporary}",
                          temp_password_expires_at=NOW + timedelta(hours=1))

    # When it is used twice
    sign_in.login(CALLER, "ann", temporary)
    with pytest.raises(InvalidCredentials):
        sign_in.login(CALLER, "ann", temporary)

    # Then the first use opens a session that must change the password, and the old password is gone
    assert world.sessions == [(ann.id, True)]
    assert ann.password_hash is None and ann.temp_password_hash is None


def test_an_expired_temporary_password_counts_as_a_failure(world):
    # Given a temporary password that expired a minute ago
    temporary = passwords.new_temporary_password()
    ann = world.store.add("ann", temp_password_hash=f"hash:{temporary}",
                          temp_password_expires_at=NOW - timedelta(minutes=1))

    # When it is used
    with pytest.raises(InvalidCredentials):
        sign_in.login(CALLER, "ann", temporary)

    # Then no session starts and the failure is counted
    assert world.sessions == [] and ann.failed_logins == 1


def test_wrong_current_passwords_in_a_session_count_towards_the_lockout(world):
    # Given a signed-in account
    ann = world.store.add("ann", password_hash="hash:right-horse-battery-7")
    caller = Caller(Principal(ann.id, "patient", False, "token-hash", "csrf"), "203.0.113.7")

    # When its current password is given wrongly five times (say, to change the email)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            sign_in.check_current_password(caller, ann, "guess-guess-guess-1", "account.email_change")

    # Then the account is locked, as after five failed sign-ins
    assert ann.locked_until == NOW + timedelta(minutes=15)
    assert world.events.count(("account.email_change", "bad_password")) == 5
