"""Enrolment codes: the one-time code of a patient's enrolment letter, on the account row, and a
`enrolment#<SHA-256 of the code>` uniqueness row that finds the account from the code typed.

A new letter replaces the code (the old row is deleted in the same transaction, so the old code
stops working at once); enrolling consumes it (account, code row and username claims in one
transaction, conditional on the code still being the one read, unexpired and not locked).
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.store.accounts import Account, Unique, UniqueTaken, get, owner_of, username_key
from chalicelib.store.base import conditional, connection

PREFIX = "enrolment#"


def code_key(code_hash: str) -> str:
    return f"{PREFIX}{code_hash}"


def find(code_hash: str) -> Account | None:
    """The account a code belongs to (None for a code that is no one's)."""
    owner = owner_of(code_key(code_hash))
    return get(owner) if owner else None


def issue(account: Account, code_hash: str, expires_at: datetime, letter_id: str, now: datetime) -> bool:
    """Give the account a new code (the old one, if any, stops working), only while it has never
    signed in and its code is still the one read. False when that no longer holds."""
    old = account.enrolment_code_hash
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.save(Unique(code_key(code_hash), owner_id=account.id), condition=Unique.key.does_not_exist())
            if old:
                tx.delete(Unique(code_key(old)), condition=Unique.owner_id == account.id)
            same_code = (Account.enrolment_code_hash == old) if old else Account.enrolment_code_hash.does_not_exist()
            tx.update(account, actions=[
                Account.enrolment_code_hash.set(code_hash),
                Account.enrolment_expires_at.set(expires_at),
                Account.enrolment_failures.set(0),
                Account.enrolment_letter_id.set(letter_id),
                Account.updated_at.set(now),
            ], condition=(Account.has_signed_in == False) & same_code)  # noqa: E712 - a DynamoDB condition
    except TransactWriteError:
        return False
    account.enrolment_code_hash, account.enrolment_expires_at = code_hash, expires_at
    account.enrolment_failures, account.enrolment_letter_id = 0, letter_id
    return True


def record_failure(account: Account, code_hash: str) -> int:
    """One more wrong try with this code (a wrong date of birth); the new count (0 when the code
    has changed meanwhile)."""
    if not conditional(lambda: account.update(actions=[Account.enrolment_failures.add(1)],
                                              condition=Account.enrolment_code_hash == code_hash)):
        return 0
    return int(account.enrolment_failures or 0)


def enrol(account: Account, code_hash: str, username: str, password_hash: str, now: datetime,
          max_failures: int) -> bool:
    """Use the code: the username chosen (its claim moves), the password set, the account signed
    in, the code gone; all at once, only while the code is still this one, unexpired, not locked
    and never used. False when it no longer is; UniqueTaken when the username was taken meanwhile."""
    old_key, new_key = username_key(account.username), username_key(username)
    actions: list[Action] = [
        Account.username.set(username),
        Account.password_hash.set(password_hash),
        Account.has_signed_in.set(True),
        Account.failed_logins.set(0),
        Account.temp_password_hash.remove(),
        Account.temp_password_expires_at.remove(),
        Account.temp_passwords.remove(),
        Account.enrolment_code_hash.remove(),
        Account.enrolment_expires_at.remove(),
        Account.enrolment_failures.remove(),
        Account.enrolment_letter_id.remove(),
        Account.updated_at.set(now),
    ]
    condition = ((Account.enrolment_code_hash == code_hash) & (Account.enrolment_expires_at > now)
                 & (Account.enrolment_failures < max_failures) & (Account.has_signed_in == False)  # noqa: E712
                 & Account.disabled_at.does_not_exist() & (Account.username == account.username))
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.delete(Unique(code_key(code_hash)), condition=Unique.owner_id == account.id)
            if old_key != new_key:
                tx.save(Unique(new_key, owner_id=account.id), condition=Unique.key.does_not_exist())
                tx.delete(Unique(old_key), condition=Unique.owner_id == account.id)
            tx.update(account, actions=actions, condition=condition)
    except TransactWriteError as err:
        if old_key != new_key and owner_of(new_key) not in (None, account.id):
            raise UniqueTaken("username") from err
        return False
    account.username, account.has_signed_in = username, True
    return True
