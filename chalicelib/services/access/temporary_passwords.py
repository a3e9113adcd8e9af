"""Temporary passwords: single use, short-lived, mailed in the one mail that carries them.

Up to three (the newest, while unexpired) work at once, so a patient who opens the invitation
after a result notice brought a fresh one is not locked out; using any one of them voids the rest.
Each is stored as an Argon2id hash beside its tag (its first group of four characters), so a
sign-in checks the one hash the typed password names: every attempt costs one verification.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.clock import clock
from chalicelib.services.access import passwords
from chalicelib.store import accounts as account_store


def tag_of(temporary: str) -> str:
    """The part of a temporary password that picks its stored hash (its first group)."""
    return temporary.split("-", 1)[0]


def new(hours: int, *, avoid_tags: set[str] | frozenset[str] = frozenset()) -> tuple[str, str, datetime]:
    """A fresh temporary password whose tag is none of `avoid_tags`: its plain text, its hash and
    when it expires."""
    temporary = passwords.new_temporary_password()
    while tag_of(temporary) in avoid_tags:
        temporary = passwords.new_temporary_password()
    return temporary, passwords.hash_password(temporary), clock.now() + timedelta(hours=hours)


def first(account: account_store.Account, hours: int) -> str:
    """The temporary password of a new account, set on it before it is saved; the plain text."""
    temporary, password_hash, expires_at = new(hours)
    account_store.first_temporary_password(account, tag_of(temporary), password_hash, expires_at)
    return temporary


def issue(account: account_store.Account, hours: int) -> str:
    """A fresh single-use temporary password, added to those that still work (the newest three
    are kept). Returns the plain text, which only ever goes into the one mail that carries it."""
    now = clock.now()
    in_use = {entry.tag for entry in account_store.working_temporary_passwords(account, now)}
    temporary, password_hash, expires_at = new(hours, avoid_tags=in_use)
    account_store.add_temporary_password(account, tag_of(temporary), password_hash, expires_at, now)
    return temporary


def matching(account: account_store.Account, password: str, now: datetime) -> str | None:
    """The stored hash a typed temporary password is to be checked against (None: none can match).
    An account stored before temporary passwords had tags has only its newest, with no tag."""
    entries = account_store.working_temporary_passwords(account, now)
    if entries:
        tag = tag_of(password)
        return next((entry.password_hash for entry in entries if entry.tag == tag), None)
    if account.temp_passwords is None and account.temp_password_expires_at and account.temp_password_expires_at > now:
        return account.temp_password_hash
    return None
