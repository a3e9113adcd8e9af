"""Bulk patient import: batched reads of the uniqueness claims, and many new accounts in one
transaction (each with its username and MRN claims, its name's search rows and its audit row), so a
10,000-row file takes about a thousand round trips instead of tens of thousands."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.store import accounts as account_store
from chalicelib.store.accounts import Account, Unique, UniqueTaken
from chalicelib.store.audit import AuditEvent
from chalicelib.store.base import connection

# DynamoDB's limit is 100 writes per transaction; each new patient is four of them, plus the
# search rows of the words of their name.
WRITES_PER_PATIENT = 4 + account_store.MAX_NAME_WORDS
PATIENTS_PER_TRANSACTION = 100 // WRITES_PER_PATIENT


def owners(keys: Iterable[str]) -> dict[str, str]:
    """Which of these uniqueness keys (`account_store.mrn_key`, `username_key`) are claimed, by whom."""
    return {row.key: row.owner_id for row in Unique.batch_get(list(dict.fromkeys(keys)), consistent_read=True)}


def accounts_by_id(ids: Iterable[str]) -> dict[str, Account]:
    return {row.id: row for row in Account.batch_get(list(dict.fromkeys(ids)), consistent_read=True)}


def create_patients(new: list[tuple[Account, AuditEvent]]) -> None:
    """All or none: the accounts, their username and MRN claims, their names' search rows and their audit rows.
    Raises UniqueTaken when any claim was taken meanwhile (nothing is written then)."""
    if len(new) > PATIENTS_PER_TRANSACTION:
        raise ValueError(f"at most {PATIENTS_PER_TRANSACTION} patients per transaction")
    try:
        with TransactWrite(connection=connection()) as tx:
            for account, event in new:
                account.email_lower = account_store.email_lower(account.email)
                tx.save(account, condition=Account.id.does_not_exist())
                for key in (account_store.username_key(account.username), account_store.mrn_key(account.mrn)):
                    tx.save(Unique(key, owner_id=account.id), condition=Unique.key.does_not_exist())
                for row in account_store.name_word_rows(account):
                    tx.save(row)
                tx.save(event, condition=AuditEvent.id.does_not_exist())
    except TransactWriteError as err:
        raise UniqueTaken("username or mrn") from err
