"""Sessions, stored by the SHA-256 of their token so a leaked table cannot be replayed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.transactions import TransactWrite

from chalicelib.store.accounts import Account
from chalicelib.store.base import NullableText, PortalModel, RowRead, conditional, meta, read_together, table, transact


class AccountIndex(GlobalSecondaryIndex["Session"]):
    class Meta:
        index_name = "by_account"
        projection = KeysOnlyProjection()

    account_id = UnicodeAttribute(hash_key=True)


@table
class Session(PortalModel):
    Meta = meta("sessions")

    token_hash = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    role = UnicodeAttribute()
    must_change_password = BooleanAttribute(default=False)
    csrf_token = UnicodeAttribute()
    # A temporary-password session keeps that password's hash: the forced change must repeat it.
    temp_password_hash = NullableText()
    # The second factor this session still owes: "enroll" or "verify"; none (or "none") when whole.
    mfa = NullableText()
    client_ip = NullableText()
    # The browser as it named itself at sign-in (cut short), for the account's list of devices.
    user_agent = NullableText()
    # The account's `session_version` when the session was opened: a request whose account has
    # moved on (disabled, its role changed) is refused (unset: 0).
    account_version = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    last_seen_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    # DynamoDB removes the row some time after this; reads still check the times themselves.
    ttl = TTLAttribute()

    by_account = AccountIndex()


def put(session: Session) -> None:
    session.save(condition=Session.token_hash.does_not_exist())


def put_if_account(session: Session, account_still: Condition) -> bool:
    """Write a new session only while its account still holds `account_still` (enabled, the role
    and version it was checked at: `store.accounts.still_as_checked`), in one transaction: a
    sign-in in flight when the account is disabled or its role changes opens nothing. False when
    the account had changed; StillContended when other writes kept holding the account's row."""

    def write(tx: TransactWrite) -> None:
        tx.save(session, condition=Session.token_hash.does_not_exist())
        tx.condition_check(Account, session.account_id, condition=account_still)

    return transact(write)


def get(token_hash: str) -> Session | None:
    try:
        return Session.get(token_hash, consistent_read=True)
    except DoesNotExist:
        return None


def get_with(token_hash: str, *others: RowRead) -> tuple[Session | None, list[Any]]:
    """The session and other rows (the account's item list; a caregiver's grant and the patient's
    list), in one consistent round trip: (the session, the others' answers in the order asked)."""
    session, *answers = read_together(RowRead(Session, token_hash, _session_or_none), *others)
    return session, answers


def _session_or_none(raw: dict[str, Any] | None) -> Session | None:
    return Session.from_raw_data(raw) if raw else None


def touch(session: Session, now: datetime, ttl: datetime) -> None:
    """The session was used now; a session ended meanwhile is not written back."""
    conditional(lambda: session.update(actions=[Session.last_seen_at.set(now), Session.ttl.set(ttl)],
                                       condition=Session.token_hash.exists()))


def delete(token_hash: str) -> None:
    try:
        Session(token_hash).delete()
    except DeleteError:
        pass


# One BatchGetItem reads at most this many rows: an account's list of devices shows this many.
MAX_LISTED = 100


def for_account(account_id: str) -> list[Session]:
    """The account's sessions (rows DynamoDB has not yet removed after their TTL included): the
    keys from the account index, then the rows in one consistent round trip."""
    hashes = [row.token_hash for row in Session.by_account.query(account_id, limit=MAX_LISTED)]
    if not hashes:
        return []
    rows = read_together(*(RowRead(Session, digest, _session_or_none) for digest in hashes))
    return [row for row in rows if row is not None and row.account_id == account_id]


def delete_for_account(account_id: str, keep: str | None = None) -> int:
    """End every session of an account except `keep` (the one making the change)."""
    ended = 0
    for row in Session.by_account.query(account_id):
        if row.token_hash != keep:
            delete(row.token_hash)
            ended += 1
    return ended


def clear_password_change(token_hash: str) -> None:
    Session(token_hash).update(
        actions=[Session.must_change_password.set(False), Session.temp_password_hash.remove()],
        condition=Session.token_hash.exists(),
    )


def clear_factor_owed(token_hash: str) -> None:
    """The second factor is done: the session is whole."""
    Session(token_hash).update(actions=[Session.mfa.set("none")], condition=Session.token_hash.exists())
