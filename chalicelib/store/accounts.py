"""Accounts (patients, staff, admins) and the uniqueness items that guard usernames and MRNs.

A username or MRN is claimed by writing `username#<lower-case name>` / `mrn#<MRN>` into the
uniques table in the same transaction as the account, with `attribute_not_exists`: two people
racing for one name leave exactly one winner, without a scan or a read-then-write.

The staff search finds a patient by any word of their name: each word, folded (lower case, no
accents), is a `NameWord` row written in the transaction that creates the patient, so a Query
with `begins_with` finds "garc" in "María García" without a scan. Names never change after
registration, so the rows never go stale.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.transactions import TransactWrite

from chalicelib.store.base import (
    NamedMap,
    NullableText,
    PortalModel,
    RowRead,
    conditional,
    connection,
    meta,
    read_together,
    set_nullable,
    table,
)
from chalicelib.vocabulary import OFFICE_ROLES, Role

PATIENT_SHARD = "patient"
# Staff and admins share the name index under a shard of their own: the admin's staff list is one Query.
STAFF_SHARD = "staff"
# How many temporary passwords of an account work at once (the newest ones, while unexpired).
MAX_TEMPORARY_PASSWORDS = 3
BAD_EMAIL_SHARD = "bad"
# A name's first words are indexed, at most this many: the bulk import's transactions count on it.
MAX_NAME_WORDS = 6
# How many name matches a search reads (to order them by name) before it stops looking.
MAX_NAME_MATCHES = 1000


class NameIndex(GlobalSecondaryIndex["Account"]):
    """Patients by lower-case name, for the staff search box."""

    class Meta:
        index_name = "by_name"
        projection = AllProjection()

    search_shard = UnicodeAttribute(hash_key=True)
    name_lower = UnicodeAttribute(range_key=True)


class BadEmailIndex(GlobalSecondaryIndex["Account"]):
    """Sparse: only accounts whose email on file bounced or complained."""

    class Meta:
        index_name = "bad_email"
        projection = AllProjection()

    bad_email_shard = UnicodeAttribute(hash_key=True)
    email_bad_at = UTCDateTimeAttribute(range_key=True)


class RoleIndex(GlobalSecondaryIndex["Account"]):
    """Accounts by role: the office's accounts without reading the patients'. Every account has
    its role from the first release on, so DynamoDB fills the index for the rows written before it
    (what `bin/portal migrate` reads them by). The name and the name keys ride along, so a reader
    filters on them; a sign-in's writes touch none of them."""

    class Meta:
        index_name = "by_role"
        projection = IncludeProjection(["name", "search_shard"])

    role = UnicodeAttribute(hash_key=True)


class EmailIndex(GlobalSecondaryIndex["Account"]):
    """Accounts by lower-case email on file: how a bounce or complaint finds its account."""

    class Meta:
        index_name = "by_email"
        projection = KeysOnlyProjection()

    email_lower = UnicodeAttribute(hash_key=True)


class BirthDateIndex(GlobalSecondaryIndex["Account"]):
    """Sparse: patients by date of birth (staff accounts have none), with the name to order them by."""

    class Meta:
        index_name = "by_birth_date"
        projection = IncludeProjection(["name", "role"])

    date_of_birth = UnicodeAttribute(hash_key=True)


class TemporaryPassword(NamedMap):
    """One temporary password that still works: its tag (its first group, which picks the one hash
    a sign-in checks), its Argon2id hash and when it expires."""

    tag = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()


@table
class Account(PortalModel):
    Meta = meta("accounts")

    id = UnicodeAttribute(hash_key=True)
    role = UnicodeAttribute()  # patient | staff | admin
    username = UnicodeAttribute()
    name = UnicodeAttribute()
    email = NullableText()  # a patient may have none (registered with a phone only, or neither)
    email_status = UnicodeAttribute(default="ok")  # ok | bad
    email_bad_reason = NullableText()
    email_bad_at = UTCDateTimeAttribute(null=True)
    bad_email_shard = NullableText()
    email_lower = NullableText()  # kept equal to email.casefold() by create() and email changes
    date_of_birth = NullableText()
    mrn = NullableText()
    phone = NullableText()  # patients: the number the office calls for follow-up, in E.164
    # How notices reach a patient (store/contact.py): email (on when unset) and text messages (off
    # when unset); an SMS opt-out (STOP) turns texts off and is kept with when it was seen.
    notify_email = BooleanAttribute(null=True)
    notify_sms = BooleanAttribute(null=True)
    sms_opted_out_at = UTCDateTimeAttribute(null=True)
    # The enrolment letter's one-time code (store/enrolment.py): its SHA-256, when it expires, the
    # wrong dates of birth tried with it, and the letter that printed it.
    enrolment_code_hash = NullableText()
    enrolment_expires_at = UTCDateTimeAttribute(null=True)
    enrolment_failures = NumberAttribute(null=True)
    enrolment_letter_id = NullableText()
    language = NullableText()  # en | es: the language of the account's pages and mails (en when unset)
    # A patient's own choice of when their lab results are released to them: "after_review" (each
    # waits for a provider's review, at most RESULT_HOLD_DAYS); unset: immediately.
    result_release = NullableText()
    search_shard = NullableText()
    name_lower = NullableText()
    password_hash = NullableText()
    temp_password_hash = NullableText()
    temp_password_expires_at = UTCDateTimeAttribute(null=True)
    # Every temporary password that still works, newest first (the newest is also the one above).
    temp_passwords = ListAttribute(of=TemporaryPassword, null=True)
    has_signed_in = BooleanAttribute(default=False)
    failed_logins = NumberAttribute(default=0)
    lock_count = NumberAttribute(default=0)
    locked_until = UTCDateTimeAttribute(null=True)
    # The second factor (TOTP); its operations are in chalicelib/store/mfa.py.
    mfa_secret = NullableText()
    mfa_pending_secret = NullableText()
    mfa_used_steps = NullableText()
    mfa_recovery_codes: MapAttribute[str, Any] = MapAttribute(null=True)
    mfa_enrolled_at = UTCDateTimeAttribute(null=True)
    # Set while the account is disabled (staff) or its portal access closed (patients), with why.
    disabled_at = UTCDateTimeAttribute(null=True)
    disabled_reason = NullableText()
    npi = NullableText()  # a provider's National Provider Identifier (optional): results are routed by it
    # Goes up by one when the account is disabled or its role changes: every session carries the
    # version it was opened at, and a request whose session carries another is refused (unset: 0).
    session_version = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    by_name = NameIndex()
    bad_email = BadEmailIndex()
    by_email = EmailIndex()
    by_role = RoleIndex()
    by_birth_date = BirthDateIndex()


@table
class NameWord(PortalModel):
    """One word of a patient's name, folded: `<word>#<account id>` under one shard, so any word
    is found by its beginning. `words` holds every folded word of the name, so a search's other
    words are checked on the row itself, without reading the account."""

    Meta = meta("name_words")

    shard = UnicodeAttribute(hash_key=True)
    word_key = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute()
    words = UnicodeAttribute()


@table
class Unique(PortalModel):
    Meta = meta("uniques")

    key = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()


class UniqueTaken(Exception):
    """A username or MRN already belongs to someone; `field` says which."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


def username_key(username: str) -> str:
    return f"username#{username.casefold()}"


def mrn_key(mrn: str) -> str:
    return f"mrn#{mrn}"


def _taken_field(err: TransactWriteError, keys: list[str]) -> str:
    reasons = getattr(err, "cancellation_reasons", None) or []
    for key, reason in zip(keys, reasons[1:] if len(reasons) > len(keys) else reasons, strict=False):
        if reason is not None and getattr(reason, "code", "") == "ConditionalCheckFailed":
            return key.split("#", 1)[0]
    return keys[0].split("#", 1)[0]


def fold_words(text: str) -> list[str]:
    """The words of a name or a search, as the search compares them: lower case, accents and
    punctuation dropped ("María-José O'Neil" -> maria, jose, oneil), each once, in order."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    words = (re.sub(r"[\W_]", "", word)[:100] for word in re.split(r"[\s\-‐–—/,;.]+", plain))
    return list(dict.fromkeys(word for word in words if word))


def name_word_rows(account: Account) -> list[NameWord]:
    """The search rows of a patient's name (none for staff), written with the account."""
    if account.role != Role.PATIENT:
        return []
    words = fold_words(account.name)
    joined = " ".join(words)
    return [NameWord(PATIENT_SHARD, f"{word}#{account.id}", account_id=account.id, words=joined)
            for word in words[:MAX_NAME_WORDS]]


def create(account: Account) -> None:
    """Write the account, claim its username (and MRN) and index its name, in one transaction."""
    account.email_lower = email_lower(account.email)
    keys = [username_key(account.username)]
    if account.mrn:
        keys.append(mrn_key(account.mrn))
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.save(account, condition=Account.id.does_not_exist())
            for key in keys:
                tx.save(Unique(key, owner_id=account.id), condition=Unique.key.does_not_exist())
            for row in name_word_rows(account):
                tx.save(row)
    except TransactWriteError as err:
        raise UniqueTaken(_taken_field(err, keys)) from err


def get(account_id: str) -> Account | None:
    try:
        return Account.get(account_id, consistent_read=True)
    except DoesNotExist:
        return None


def owner_of(key: str) -> str | None:
    try:
        return Unique.get(key, consistent_read=True).owner_id
    except DoesNotExist:
        return None


def owner_read(key: str) -> RowRead:
    """Who holds a uniqueness key (a username, an MRN), as a read to make together with another."""
    return RowRead(Unique, key, lambda raw: raw["owner_id"]["S"] if raw else None)


def find_by_username(username: str) -> Account | None:
    owner = owner_of(username_key(username))
    return get(owner) if owner else None


def find_by_mrn(mrn: str) -> Account | None:
    owner = owner_of(mrn_key(mrn))
    return get(owner) if owner else None



def rename(account: Account, new_username: str, now: datetime) -> None:
    """Move the username claim to a new name: claim the new one, release the old, in one go."""
    old_key, new_key = username_key(account.username), username_key(new_username)
    try:
        with TransactWrite(connection=connection()) as tx:
            if old_key != new_key:
                tx.save(Unique(new_key, owner_id=account.id), condition=Unique.key.does_not_exist())
                tx.delete(Unique(old_key), condition=Unique.owner_id == account.id)
            tx.update(
                account,
                actions=[Account.username.set(new_username), Account.updated_at.set(now)],
                condition=Account.username == account.username,
            )
    except TransactWriteError as err:
        raise UniqueTaken("username") from err
    account.username = new_username


def change_username(account: Account, new_username: str, now: datetime) -> None:
    """Move the username claim to a new name: claim the new one, release the old, in one go."""
    rename(account, new_username, now)


# ---------------------------------------------------------------- credentials and lockout
# Each write below refreshes `account` with what the table holds afterwards.

def working_temporary_passwords(account: Account, now: datetime) -> list[TemporaryPassword]:
    """The account's temporary passwords that still work, newest first."""
    return [entry for entry in (account.temp_passwords or []) if entry.expires_at > now]


def first_temporary_password(account: Account, tag: str, password_hash: str, expires_at: datetime) -> None:
    """The temporary password of an account not yet saved (written with it by `create`)."""
    account.temp_password_hash, account.temp_password_expires_at = password_hash, expires_at
    account.temp_passwords = [TemporaryPassword(tag=tag, password_hash=password_hash, expires_at=expires_at)]


def add_temporary_password(account: Account, tag: str, password_hash: str, expires_at: datetime,
                           now: datetime) -> None:
    """Store a fresh temporary password beside the ones that still work, keeping the newest
    MAX_TEMPORARY_PASSWORDS (an older one with the same tag gives way). Conditional on the newest
    being what was read, re-read and tried again when another write came first."""
    for _ in range(5):
        kept = [entry for entry in working_temporary_passwords(account, now) if entry.tag != tag]
        entries = [TemporaryPassword(tag=tag, password_hash=password_hash, expires_at=expires_at),
                   *kept][:MAX_TEMPORARY_PASSWORDS]
        newest = account.temp_password_hash
        condition = (Account.temp_password_hash == newest) if newest else Account.temp_password_hash.does_not_exist()
        actions: list[Action] = [Account.temp_password_hash.set(password_hash),
                                 Account.temp_password_expires_at.set(expires_at),
                                 Account.temp_passwords.set(entries)]
        if conditional(partial(account.update, actions=actions, condition=condition)):
            return
        account.refresh(consistent_read=True)
    raise UpdateError("the temporary passwords kept changing")


def record_failed_sign_in(account: Account) -> int:
    """Count one failed sign-in atomically; the new count."""
    account.update(actions=[Account.failed_logins.add(1)])
    return int(account.failed_logins or 0)


def lock(account: Account, until: datetime, now: datetime, threshold: int) -> bool:
    """Lock the account until `until` (failures back to 0, one more lock counted), only while it
    has at least `threshold` failures and is not locked already: concurrent failures lock once,
    and a request that lost the race cannot stretch the lock. False when another request locked it."""
    return conditional(lambda: account.update(
        actions=[Account.failed_logins.set(0), Account.lock_count.add(1), Account.locked_until.set(until)],
        condition=(Account.failed_logins >= threshold)
        & (Account.locked_until.does_not_exist() | (Account.locked_until <= now)),
    ))


def clear_failures(account: Account) -> None:
    """A good sign-in: failures, lock count and any lock are forgotten."""
    account.update(actions=[Account.failed_logins.set(0), Account.lock_count.set(0), Account.locked_until.remove()])


def consume_temporary_password(account: Account, temp_hash: str, now: datetime) -> bool:
    """Single use: the temporary passwords (every one of them) leave the account, and so does the
    old password, only if the newest temporary password is still `temp_hash` (as read). False when
    a concurrent use (or a fresh one) got there first."""
    return conditional(lambda: account.update(
        actions=[Account.temp_password_hash.remove(), Account.temp_password_expires_at.remove(),
                 Account.temp_passwords.remove(),
                 Account.password_hash.remove(), Account.failed_logins.set(0), Account.updated_at.set(now)],
        condition=Account.temp_password_hash == temp_hash,
    ))


def set_password(account: Account, password_hash: str, now: datetime) -> None:
    """A chosen password replaces the old one; any pending temporary password is voided, the
    account counts as signed in and its failures are forgotten."""
    account.update(actions=[
        Account.password_hash.set(password_hash),
        Account.temp_password_hash.remove(),
        Account.temp_password_expires_at.remove(),
        Account.temp_passwords.remove(),
        Account.has_signed_in.set(True),
        Account.failed_logins.set(0),
        Account.updated_at.set(now),
    ])


def set_disabled(account: Account, disabled: bool, reason: str | None, now: datetime) -> None:
    """Disable the account (close a patient's portal access) with a reason, or enable it again."""
    reason_action = set_nullable(Account.disabled_reason, reason)
    if disabled:
        # Its sessions' version goes, and so do its temporary passwords: none works once it is enabled again.
        actions = [Account.disabled_at.set(now), reason_action, Account.updated_at.set(now),
                   Account.session_version.add(1), Account.temp_password_hash.remove(),
                   Account.temp_password_expires_at.remove(), Account.temp_passwords.remove()]
    else:
        actions = [Account.disabled_at.remove(), reason_action, Account.updated_at.set(now)]
    account.update(actions=actions)


def set_role(account: Account, role: str, now: datetime) -> None:
    """Staff become admins or admins staff (never a patient, never the other way); the sessions'
    version goes with the old role."""
    account.update(actions=[Account.role.set(role), Account.updated_at.set(now), Account.session_version.add(1)],
                   condition=Account.role.is_in(*OFFICE_ROLES))


# ---------------------------------------------------------------- what every session is checked against

@dataclass(frozen=True)
class AccountState:
    """What a session is checked against on every request: the account's role, whether it is
    disabled, and the version its sessions must carry."""

    role: str
    disabled: bool
    session_version: int


def _state(raw: dict[str, Any] | None) -> AccountState | None:
    if not raw:
        return None
    return AccountState(role=raw["role"]["S"], disabled="disabled_at" in raw and "NULL" not in raw["disabled_at"],
                        session_version=int(raw.get("session_version", {}).get("N", "0")))


def state_read(account_id: str) -> RowRead:
    """The account's state (AccountState, None when there is no such account), as a read to make
    in the same round trip as the session's."""
    return RowRead(Account, account_id, _state)


def session_version(account: Account) -> int:
    return int(account.session_version or 0)


def still_as_checked(role: str, version: int) -> Condition:
    """The condition a new session is written under: the account is still enabled, with `role`,
    at `version` (see `store.sessions.put_if_account`)."""
    same_version = (Account.session_version == version) if version else (
        Account.session_version.does_not_exist() | (Account.session_version == 0))
    still: Condition = Account.id.exists() & Account.disabled_at.does_not_exist() & (Account.role == role) & same_version
    return still


def list_staff() -> list[Account]:
    """Every staff member and admin, by name: one Query on the name index's staff shard."""
    return list(Account.by_name.query(STAFF_SHARD))


def change_email(account: Account, email: str, now: datetime) -> None:
    """A new email on file, presumed good (any bounce or complaint mark is dropped)."""
    account.update(actions=[
        Account.email.set(email),
        Account.email_lower.set(email.strip().casefold()),
        Account.email_status.set("ok"),
        Account.email_bad_reason.remove(),
        Account.email_bad_at.remove(),
        Account.bad_email_shard.remove(),
        Account.updated_at.set(now),
    ])


def change_phone(account: Account, phone: str | None, now: datetime) -> None:
    """The phone on file (None removes it)."""
    account.update(actions=[Account.phone.set(phone) if phone else Account.phone.remove(),
                            Account.updated_at.set(now)])


def set_result_release(account: Account, when: str | None, now: datetime) -> None:
    """When the patient's results are released to them: "after_review", or None (immediately)."""
    account.update(actions=[Account.result_release.set(when) if when else Account.result_release.remove(),
                            Account.updated_at.set(now)])


def set_language(account: Account, language: str, now: datetime) -> None:
    """The language of the account's pages and mails (en | es)."""
    account.update(actions=[Account.language.set(language), Account.updated_at.set(now)])


def taken_claims(username: str, mrn: str | None) -> list[str]:
    """Which of a username and an MRN already belong to someone ("username", "mrn"), in one read."""
    keys = {username_key(username): "username"}
    if mrn:
        keys[mrn_key(mrn)] = "mrn"
    found = Unique.batch_get(list(keys), consistent_read=True)
    return sorted({keys[row.key] for row in found}, key=["username", "mrn"].index)


def _matches(query_words: list[str], name_words: list[str]) -> bool:
    """Every word of the search begins some word of the name."""
    return all(any(word.startswith(query) for word in name_words) for query in query_words)


def _named(query_words: list[str]) -> dict[str, str]:
    """Patients whose name has every query word as the beginning of one of its words, each with
    its folded name: one Query on the longest word's rows, the others checked on those rows."""
    longest = max(query_words, key=len)
    found: dict[str, str] = {}
    for row in NameWord.query(PATIENT_SHARD, NameWord.word_key.startswith(longest)):
        if _matches(query_words, row.words.split()):
            found[row.account_id] = row.words
            if len(found) >= MAX_NAME_MATCHES:
                break
    return found


def _born_on(date_of_birth: str) -> dict[str, str]:
    return {row.id: " ".join(fold_words(row.name)) for row in Account.by_birth_date.query(date_of_birth)
            if row.role == Role.PATIENT}


def _account(raw: dict[str, Any] | None) -> Account | None:
    return Account.from_raw_data(raw) if raw else None


def search_patients(query: str, *, date_of_birth: str | None = None, named_like: str | None = None,
                    limit: int = 25) -> list[Account]:
    """Patients an office worker is looking for: the exact MRN or username first, then, ordered by
    name, those with this email on file, this date of birth (when the search is one), or every
    word of the search beginning a word of their name. An empty search lists patients by name.
    `named_like` keeps, among those born on `date_of_birth`, only the names that every one of its
    words begins a word of, before the limit is applied."""
    if not query:
        return list(Account.by_name.query(PATIENT_SHARD, limit=limit))
    exact = [owner for owner in read_together(owner_read(mrn_key(query)), owner_read(username_key(query))) if owner]
    by_email = [row.id for row in Account.by_email.query(email_lower(query) or "", limit=limit)] if "@" in query else []
    words = fold_words(query)
    named = _born_on(date_of_birth) if date_of_birth else _named(words) if words else {}  # id -> folded name
    if named_like is not None:
        typed = fold_words(named_like)
        named = {id_: name for id_, name in named.items()
                 if typed and all(any(word.startswith(part) for word in name.split()) for part in typed)}
    first_by_name = sorted(named, key=lambda id_: (named[id_], id_))[:limit]
    wanted = list(dict.fromkeys(exact + by_email + first_by_name))
    found = {account.id: account for account in read_together(*(RowRead(Account, id_, _account) for id_ in wanted))
             if account is not None and account.role == Role.PATIENT}
    first = [found.pop(id_) for id_ in dict.fromkeys(exact) if id_ in found]
    rest = sorted(found.values(), key=lambda account: (" ".join(fold_words(account.name)), account.id))
    return (first + rest)[:limit]


def with_bad_email(limit: int | None = None) -> Iterable[Account]:
    return Account.bad_email.query(BAD_EMAIL_SHARD, limit=limit)


def count_bad_email() -> int:
    return Account.bad_email.count(BAD_EMAIL_SHARD)


def email_lower(email: str | None) -> str | None:
    return email.strip().casefold() if email else None


def find_by_email(email: str) -> list[Account]:
    """Every account with this email on file (a Query on `by_email`, never a scan)."""
    found = []
    for key in Account.by_email.query(email_lower(email) or ""):
        account = get(key.id)
        if account is not None and email_lower(account.email) == email_lower(email):
            found.append(account)
    return found


def mark_email_bad(account: Account, reason: str, now: datetime) -> bool:
    """Flag the email on file as bad, only while it is still the address that failed; the first
    report's time is kept. False when the address has changed meanwhile or was already flagged."""
    return conditional(lambda: account.update(
        actions=[
            Account.email_status.set("bad"),
            Account.email_bad_reason.set(reason),
            Account.email_bad_at.set(now),
            Account.bad_email_shard.set(BAD_EMAIL_SHARD),
            Account.updated_at.set(now),
        ],
        condition=(Account.email == account.email) & (Account.email_status != "bad"),
    ))


__all__ = [
    "Account",
    "Unique",
    "UniqueTaken",
    "UpdateError",
    "create",
    "get",
    "find_by_username",
    "find_by_mrn",
    "username_key",
    "mrn_key",
    "owner_read",
    "rename",
    "change_username",
    "working_temporary_passwords",
    "first_temporary_password",
    "add_temporary_password",
    "set_disabled",
    "set_role",
    "list_staff",
    "record_failed_sign_in",
    "lock",
    "clear_failures",
    "consume_temporary_password",
    "set_password",
    "change_email",
    "search_patients",
    "NameWord",
    "fold_words",
    "name_word_rows",
    "with_bad_email",
    "count_bad_email",
    "find_by_email",
    "mark_email_bad",
]
