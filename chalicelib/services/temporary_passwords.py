"""Temporary passwords: single use, short-lived, mailed in the one mail that carries them."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.clock import clock
from chalicelib.services import passwords
from chalicelib.store import accounts as account_store


def new(hours: int) -> tuple[str, str, datetime]:
    """A fresh temporary password: its plain text, its hash and when it expires."""
    temporary = passwords.new_temporary_password()
    return temporary, passwords.hash_password(temporary), clock.now() + timedelta(hours=hours)


def issue(account: account_store.Account, hours: int) -> str:
    """A fresh single-use temporary password; it voids any older one. Returns the plain text,
    which only ever goes into the one mail that carries it."""
    temporary, password_hash, expires_at = new(hours)
    account_store.set_temporary_password(account, password_hash, expires_at)
    return temporary
