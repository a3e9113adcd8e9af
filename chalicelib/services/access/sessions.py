"""Opaque session tokens, stored only as a SHA-256, revocable at once.

A token is the account id and 256 random bits (`<account id>.<random>`). The id lets a request
read the session together with one of the account's own rows in a single round trip
(`authenticate_with`); the hash covers the whole token, so the id cannot be swapped for another.

A session ends after `session_idle_minutes` without a request and after `session_max_hours` in all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.errors import Unauthenticated
from chalicelib.i18n import N_
from chalicelib.services.access.answers import Device
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import sessions as session_store
from chalicelib.store.base import RowRead, StillContended
from chalicelib.vocabulary import OFFICE_ROLES

# A sign-in waits out other writes holding its account's row this many times (each a few tries).
_CONTENDED_TRIES = 4
# Don't write on every request: a minute of slack on a 15-minute idle limit saves a write per call.
_TOUCH_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is making the request, as the session says."""

    account_id: str
    role: str
    must_change_password: bool
    token_hash: str
    csrf_token: str
    temp_password_hash: str | None = None
    # The second factor still owed: "enroll", "verify", or "none" (the session is whole).
    mfa: str = "none"
    # The account's `session_version` the session was opened at (and, as it was just checked, still holds).
    account_version: int = 0

    @property
    def is_staff(self) -> bool:
        return self.role in OFFICE_ROLES

    @property
    def owes_factor(self) -> bool:
        return self.mfa != "none"


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime
    must_change_password: bool
    role: str
    mfa: str = "none"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_id(digest: str) -> str:
    """The id a session is shown and ended by (on My Profile, in `/api/me/sessions`): a hash of the
    token's hash, so it can be neither the token nor the row's key, and leads back to neither."""
    return hashlib.sha256(b"session-id:" + digest.encode()).hexdigest()[:32]


def try_create(account_id: str, role: str, *, version: int, must_change_password: bool, client_ip: str | None,
               temp_password_hash: str | None = None, mfa: str = "none",
               user_agent: str | None = None) -> NewSession | None:
    """A new session of an account checked as enabled, with `role`, at session `version`: written
    only if the account is still so (one transaction), else None (it was disabled or its role
    changed meanwhile). Other writes holding the account's row are waited out a little."""
    settings = get_settings()
    now = clock.now()
    token = f"{account_id}.{secrets.token_urlsafe(32)}"
    csrf = secrets.token_urlsafe(24)
    expires_at = now + timedelta(hours=settings.session_max_hours)
    row = session_store.Session(
        token_hash(token),
        account_id=account_id,
        role=role,
        must_change_password=must_change_password,
        temp_password_hash=temp_password_hash,
        mfa=mfa,
        csrf_token=csrf,
        client_ip=client_ip,
        user_agent=(user_agent or None) and user_agent[:200],
        account_version=version,
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
        ttl=min(expires_at, now + timedelta(minutes=settings.session_idle_minutes)),
    )
    condition = account_store.still_as_checked(role, version)
    for attempt in range(_CONTENDED_TRIES):
        try:
            if not session_store.put_if_account(row, condition):
                return None
            return NewSession(token, csrf, expires_at, must_change_password, role, mfa)
        except StillContended:
            if attempt == _CONTENDED_TRIES - 1:
                raise
            time.sleep(secrets.randbelow(50) / 1000)  # many sign-ins of one account at once: spread them
    return None


def create(account_id: str, role: str, *, version: int, must_change_password: bool, client_ip: str | None,
           temp_password_hash: str | None = None, mfa: str = "none", user_agent: str | None = None) -> NewSession:
    """As `try_create`; Unauthenticated when the account is no longer enabled with `role` at
    `version` (the version it was read with: `store.accounts.session_version`)."""
    session = try_create(account_id, role, version=version, must_change_password=must_change_password,
                         client_ip=client_ip, temp_password_hash=temp_password_hash, mfa=mfa, user_agent=user_agent)
    if session is None:
        raise Unauthenticated()
    return session


def authenticate(token: str | None) -> Principal:
    """The principal behind a token, or Unauthenticated when it is unknown, idle or too old, or
    its account has been disabled or given another role since it was opened."""
    return authenticate_with(token, lambda account_id: ())[0]


def authenticate_with(token: str | None, other: Callable[[str], RowRead | tuple[RowRead, ...]]) -> tuple[Principal, Any]:
    """As `authenticate`, reading `other(account id)` (a row the token's account id names, or a
    tuple of such rows) in the same round trip. Its answer (a tuple for a tuple) is returned only
    once the session proves the token is that account's. The account's state is read in that
    round trip too, and the session is checked against it."""
    digest = _digest(token)
    account_id, dot, _ = (token or "").partition(".")
    if not (account_id and dot):  # not a token this portal issued; DynamoDB refuses an empty key
        raise Unauthenticated()
    wanted = other(account_id)
    several = isinstance(wanted, tuple)
    asked: tuple[RowRead, ...] = wanted if isinstance(wanted, tuple) else (wanted,)
    session, rows = session_store.get_with(digest, account_store.state_read(account_id), *asked)
    state, rows = rows[0], rows[1:]
    principal = _principal(digest, session, state, clock.now())
    if principal.account_id != account_id:  # the hash matched, so this cannot happen; never trust it
        raise Unauthenticated()
    return principal, (tuple(rows) if several else rows[0])


def _digest(token: str | None) -> str:
    if not token or len(token) > 200:
        raise Unauthenticated()
    return token_hash(token)


def current(session: session_store.Session, state: account_store.AccountState | None) -> bool:
    """Whether the session's account is still as it was when the session was opened: enabled,
    with the session's role, at its version (disabling and role changes move the version on)."""
    return (state is not None and not state.disabled and state.role == session.role
            and state.session_version == int(session.account_version or 0))


def _principal(digest: str, session: session_store.Session | None,
               state: account_store.AccountState | None, now: datetime) -> Principal:
    if session is None:
        raise Unauthenticated()
    if not current(session, state):
        session_store.delete(digest)  # opened before its account was disabled or its role changed
        raise Unauthenticated()
    settings = get_settings()
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    if now >= session.expires_at or now - session.last_seen_at >= idle_limit:
        session_store.delete(digest)
        raise Unauthenticated(N_("The session has ended; sign in again."))
    if now - session.last_seen_at >= _TOUCH_AFTER:
        session_store.touch(session, now, min(session.expires_at, now + idle_limit))
    return Principal(
        account_id=session.account_id,
        role=session.role,
        must_change_password=session.must_change_password,
        token_hash=digest,
        csrf_token=session.csrf_token,
        temp_password_hash=session.temp_password_hash,
        mfa=session.mfa or "none",
        account_version=int(session.account_version or 0),
    )


def csrf_matches(principal: Principal, supplied: str | None) -> bool:
    if not supplied:
        return False
    return hmac.compare_digest(principal.csrf_token, supplied)


def end(principal: Principal) -> None:
    session_store.delete(principal.token_hash)


def end_others(account_id: str, keep: str | None) -> int:
    return session_store.delete_for_account(account_id, keep=keep)


def end_all(account_id: str) -> int:
    """End every session of an account at once (it is disabled, its access closed, its role changed)."""
    return session_store.delete_for_account(account_id)


def _live(session: session_store.Session, now: datetime) -> bool:
    idle_limit = timedelta(minutes=get_settings().session_idle_minutes)
    return now < session.expires_at and now - session.last_seen_at < idle_limit


def _alike(session: session_store.Session, principal: Principal) -> bool:
    """Whether another session of the asking account is current (see `current`): the asking one
    was checked against the account's state in this request, so one opened with its role at its
    version is; the account is not read again."""
    return session.role == principal.role and int(session.account_version or 0) == principal.account_version


def listed(principal: Principal) -> list[Device]:
    """The account's live sessions (its signed-in devices), newest first; `current` marks the
    one asking."""
    now = clock.now()
    rows = [row for row in session_store.for_account(principal.account_id) if _live(row, now) and _alike(row, principal)]
    rows.sort(key=lambda row: row.created_at, reverse=True)
    return [{"id": public_id(row.token_hash), "created_at": iso(row.created_at), "last_seen_at": iso(row.last_seen_at),
             "client_ip": row.client_ip, "user_agent": row.user_agent, "current": row.token_hash == principal.token_hash}
            for row in rows]


def end_listed(principal: Principal, session_id: str) -> bool:
    """End the account's own session shown as `session_id`; False when it has none by that id (or
    it had ended already): another account's session is never found here."""
    for row in session_store.for_account(principal.account_id):
        if hmac.compare_digest(public_id(row.token_hash), session_id):
            session_store.delete(row.token_hash)
            return True
    return False


def upgrade(principal: Principal) -> None:
    """After the forced password change the same session carries on as a normal one."""
    session_store.clear_password_change(principal.token_hash)


def factor_done(principal: Principal) -> None:
    """After the second factor (enrolled or verified) the same session carries on as a whole one."""
    session_store.clear_factor_owed(principal.token_hash)
