"""Sign-in, sign-out and the lockout: failed attempts counted per account and per client address.

Five failures in a row lock an account for 15 minutes, then 30, 60, … (doubling with each lock
since the last good sign-in), 24 hours at most. A temporary password signs in once, into a
session that must choose a password.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from chalicelib.clock import clock, iso
from chalicelib.errors import InvalidCredentials, RateLimited
from chalicelib.i18n import N_
from chalicelib.observability import SIGN_IN_DURATION, logger, timed
from chalicelib.services import audit
from chalicelib.services.access import passwords, ratelimit, sessions, temporary_passwords
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.mfa_policy import owed_at_sign_in
from chalicelib.services.access.sessions import NewSession
from chalicelib.services.accounts import account_mail
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store.accounts import Account
from chalicelib.store.base import read_together

MAX_LOCK = timedelta(hours=24)
_HOUR = 3600


def lock_period(lock_count: int) -> timedelta:
    """15 minutes, then 30, 60, … (doubling with each lock since the last good sign-in), 24 h at most."""
    return min(timedelta(minutes=get_settings().lockout_base_minutes) * (1 << min(lock_count, 16)), MAX_LOCK)


def record_failure(account: Account, caller: Caller) -> None:
    """Count a failed sign-in atomically; the request that reaches the threshold locks the account.
    The lock is a conditional write, so concurrent failures lock (and mail) once, and a request
    that lost the race cannot stretch the lock."""
    threshold = get_settings().lockout_threshold
    if account_store.record_failed_sign_in(account) < threshold:
        return
    now = clock.now()
    locked_until = now + lock_period(int(account.lock_count or 0))
    if not account_store.lock(account, locked_until, now, threshold):
        return  # another request locked it a moment ago
    mail = account_mail.send(account, "account_locked", locked_until=iso(locked_until))
    audit.record_about(caller, "account.locked", account, detail={"until": iso(locked_until), "mail": mail})
    logger.warning("account locked", extra={"account_id": account.id, "until": iso(locked_until), "mail": mail})


def _refuse(caller: Caller, account: Account | None, outcome: str) -> InvalidCredentials:
    """A failed sign-in: counted against the client address, audited, answered like any other."""
    ratelimit.hit(_failures_key(caller), get_settings().login_failures_per_client_per_hour, _HOUR)
    if account is None:
        audit.record_for(caller, "auth.login", outcome=outcome)
    else:
        audit.record_about(caller, "auth.login", account, outcome=outcome, as_actor=True)
    return InvalidCredentials()


def _failures_key(caller: Caller) -> str:
    return f"login-failures-ip#{caller.client_ip}"


def client_failures_key(caller: Caller) -> str:
    """The counter of the client address's failed sign-ins, which wrong enrolment codes add to."""
    return _failures_key(caller)


def _username_digest(username: str) -> str:
    return hashlib.sha256(username.casefold().encode()).hexdigest()[:32]


def _count_refused(username: str) -> None:
    """A refusal that counts no failure on an account (unknown username, locked or disabled
    account) still makes one counter write, keyed by a hash of the username, as a wrong password
    makes its failure write: every refused sign-in does the same storage work and takes as long."""
    ratelimit.hit(f"login-refused#{_username_digest(username)}", 1 << 30, _HOUR)


def _find_for_sign_in(caller: Caller, username: str) -> Account | None:
    """The account behind `username`, once the client address is known not to be over its limit of
    failed sign-ins (across all usernames: the lockout guards each account, this stops one address
    trying passwords across many). The username's owner and the address's failures are read in one
    round trip; the limit is checked before any account is, so the 429 says nothing about one."""
    limit = get_settings().login_failures_per_client_per_hour
    failures = ratelimit.count_read(_failures_key(caller), _HOUR)
    owner_id = None
    if username:
        owner_id, failed = read_together(account_store.owner_read(account_store.username_key(username)), failures)
    else:
        [failed] = read_together(failures)
    if failed >= limit:
        audit.record_for(caller, "auth.login", outcome="rate_limited_client")
        raise RateLimited(ratelimit.seconds_left(_HOUR))
    # An unknown username reads an account that cannot exist, as a known one reads its account.
    return account_store.get(owner_id or f"none_{_username_digest(username)}")


@timed(SIGN_IN_DURATION)
def login(caller: Caller, username: str, password: str) -> NewSession:
    """Unknown username, wrong password and locked account all answer InvalidCredentials, and
    every attempt pays for exactly one Argon2 verification: the password's shape says whether it
    is checked against the temporary password or the chosen one (no chosen password has that shape)."""
    username = username.strip()
    account = _find_for_sign_in(caller, username)
    now = clock.now()
    if account is None:
        passwords.verify(None, password)
        _count_refused(username)
        raise _refuse(caller, None, "unknown_user")
    if account.locked_until and account.locked_until > now:
        passwords.verify(None, password)
        _count_refused(username)
        raise _refuse(caller, account, "locked")
    if account.disabled_at:  # a disabled account (closed portal access) looks like any failed sign-in
        passwords.verify(None, password)
        _count_refused(username)
        raise _refuse(caller, account, "disabled")
    if passwords.looks_temporary(password):
        temp_hash = temporary_passwords.matching(account, password, now)
        if passwords.verify(temp_hash, password) and temp_hash is not None:
            return _temporary_sign_in(caller, account, temp_hash, now)
    elif passwords.verify(account.password_hash, password):
        owed = owed_at_sign_in(account)
        # With a second factor still to come, the failures are forgiven only once it is given
        # (services/mfa.py): the password alone must not reset the count of wrong codes.
        if owed == "none" and (account.failed_logins or account.lock_count or account.locked_until):
            account_store.clear_failures(account)
        session, account = _open_session(caller, account)
        audit.record_about(caller, "auth.login", account, as_actor=True)
        return session
    record_failure(account, caller)
    raise _refuse(caller, account, "bad_password")


def _temporary_sign_in(caller: Caller, account: Account, temp_hash: str, now: datetime) -> NewSession:
    """Single use: the temporary passwords leave the account, every one of them (only if they are
    still as read; a concurrent second use loses), and so does the old password, which works only
    until a temporary one is used. The one used lives on in this session alone, for the forced change."""
    if not account_store.consume_temporary_password(account, account.temp_password_hash, now):
        raise _refuse(caller, account, "temporary_password_used")
    session, account = _open_session(caller, account, temp_hash)
    audit.record_about(caller, "auth.login", account, detail={"temporary_password": True}, as_actor=True)
    return session


# A sign-in whose account keeps changing role under it gives up after this many tries.
_OPEN_TRIES = 3


def _open_session(caller: Caller, account: Account, temp_hash: str | None = None) -> tuple[NewSession, Account]:
    """The session of a sign-in whose password was right, written only if the account is still
    enabled with the role and session version it was read with (one transaction,
    `sessions.try_create`). A sign-in in flight when the account is disabled opens nothing and is
    refused as any other; one that crossed a role change is opened with the new role (and the
    second factor that role owes). Returns the session and the account as it was opened for."""
    for _ in range(_OPEN_TRIES):
        session = sessions.try_create(account.id, account.role, version=account_store.session_version(account),
                                      must_change_password=temp_hash is not None, client_ip=caller.client_ip,
                                      temp_password_hash=temp_hash, mfa=owed_at_sign_in(account),
                                      user_agent=caller.user_agent)
        if session is not None:
            return session, account
        fresh = account_store.get(account.id)
        if fresh is None or fresh.disabled_at:
            logger.info("sign-in crossed a disable", extra={"account_id": account.id})
            raise _refuse(caller, fresh or account, "disabled")
        account = fresh
    raise _refuse(caller, account, "account_changing")


def logout(caller: Caller) -> None:
    sessions.end(caller.signed_in)
    audit.record_for(caller, "auth.logout", target_id=caller.actor_id)


def check_current_password(caller: Caller, account: Account, current_password: str, action: str) -> None:
    """The current password (the temporary one in a forced-change session). Failures count towards
    the lockout like sign-in failures, so a borrowed session cannot guess it without limit."""
    principal = caller.signed_in
    locked = bool(account.locked_until and account.locked_until > clock.now())
    expected = principal.temp_password_hash if principal.must_change_password else account.password_hash
    if passwords.verify(None if locked else expected, current_password):
        return
    if not locked:
        record_failure(account, caller)
    audit.record_about(caller, action, account, outcome="locked" if locked else "bad_password")
    raise InvalidCredentials(N_("The current password is not correct."), field="current_password")
