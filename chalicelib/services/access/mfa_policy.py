"""Who must have a second factor, and what a session opened by a password still owes.

Kept apart from `chalicelib.services.access.mfa` (the codes themselves), which builds on sign-in: sign-in
asks only this.
"""

from __future__ import annotations

from typing import Any

from chalicelib.vocabulary import OFFICE_ROLES

ENROLL, VERIFY, NONE = "enroll", "verify", "none"


def is_office(account: Any) -> bool:
    """Staff and admins see every chart: their second factor is mandatory, in every stage."""
    return account.role in OFFICE_ROLES


def enrolled(account: Any) -> bool:
    return bool(account.mfa_secret)


def owed_at_sign_in(account: Any) -> str:
    """What a session opened by a password still owes: a code when the account has a factor,
    enrolment for staff and admins without one, nothing otherwise."""
    if enrolled(account):
        return VERIFY
    return ENROLL if is_office(account) else NONE
