"""In-memory stand-ins for the store, the mailer and the clock (the Protocols of
chalicelib/services/ports.py), for fast unit tests of the services' rules: no AWS, no network.

    fakes = Fakes(NOW)
    fakes.install(monkeypatch)   # for this test: every service module sees the fakes

`install` puts each fake where the services look for the real part: every loaded module of
`chalicelib.services` that imported it (the store module, `clock`, `sender`, `read_together`, ...)
gets the fake instead, found by identity, whatever name the module gave it. A fake hands out its
real module's classes and constants, and the pure functions it names in PURE; any other operation
it does not implement is an error naming it, never a call to AWS. The fakes hold real model
objects (Account, Thread, Grant, ...), which PynamoDB builds without a connection.

The type checker checks the fakes against the Protocols (`python -m mypy` reads this file too).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import aws
from chalicelib import clock as clock_module
from chalicelib.mail import sender
from chalicelib.services.access import passwords
from chalicelib.services.followup import notices
from chalicelib.store import (
    accounts,
    audit,
    base,
    bucket,
    counters,
    grants,
    imports,
    items,
    messages,
    sessions,
    uploads,
    work,
)
from chalicelib.store.accounts import Account, UniqueTaken
from chalicelib.store.base import RowRead

if TYPE_CHECKING:
    from chalicelib.services import ports


class _Borrowing:
    """Hands out its real module's classes and constants, and the pure functions named in PURE;
    anything else it does not implement is an error, so a test never reaches AWS unnoticed."""

    REAL: ModuleType
    PURE: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.REAL, name)
        if isinstance(value, type) or not callable(value) or name in self.PURE:
            return value
        raise AttributeError(f"{type(self).__name__} does not fake {self.REAL.__name__}.{name}: add it to the fake")


# ---------------------------------------------------------------- reads in one round trip

_FAKE_PARSES: set[int] = set()


def fake_read(model: type[Any], key: str, answer: Callable[[], Any]) -> RowRead:
    """A read a fake store hands out: `FakeReader` answers it from the fake's memory."""

    def parse(_raw: dict[str, Any] | None) -> Any:
        return answer()

    _FAKE_PARSES.add(id(parse))
    return RowRead(model, key, parse)


class FakeReader:
    """`read_together` over fake reads only (a read of a store that is not faked is an error)."""

    def __call__(self, *reads: RowRead) -> list[Any]:
        for read in reads:
            if id(read.parse) not in _FAKE_PARSES:
                raise AssertionError(f"a read of {read.model.__name__} reached the fakes: fake its store")
        return [read.parse(None) for read in reads]


# ---------------------------------------------------------------- the clock and the mailer


class FakeClock:
    """A clock stopped at one moment, moved only by the test."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@dataclass
class Mail:
    to: str
    template: str
    language: str | None
    context: dict[str, Any]


class FakeMailer(_Borrowing):
    """The mail sender: keeps each mail (to, template, language, the template's values); an
    address in `refuse` is refused as SES would refuse it."""

    REAL = sender

    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self.refuse: set[str] = set()

    def send(self, to: str, template: str, language: str | None = None, **context: Any) -> str:
        if to in self.refuse:
            raise sender.MailError("MessageRejected", transient=False)
        self.sent.append(Mail(to, template, language, context))
        return f"message-{len(self.sent)}"

    def templates(self, to: str | None = None) -> list[str]:
        return [mail.template for mail in self.sent if to is None or mail.to == to]


# ---------------------------------------------------------------- the stores


class FakeAuditLog(_Borrowing):
    REAL = audit
    PURE = frozenset({"event_id"})

    def __init__(self) -> None:
        self.events: list[audit.AuditEvent] = []

    def append(self, event: audit.AuditEvent) -> None:
        self.events.append(event)

    def actions(self) -> list[tuple[str, str]]:
        """(action, outcome) of every event, in order."""
        return [(event.action, event.outcome) for event in self.events]


class FakeCounters(_Borrowing):
    REAL = counters

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def increment(self, key: str, expires_at: datetime) -> int:
        return self.add(key, 1, expires_at)

    def add(self, key: str, amount: int, expires_at: datetime) -> int:
        self.counts[key] = self.counts.get(key, 0) + amount
        return self.counts[key]

    def read(self, key: str) -> RowRead:
        return fake_read(counters.Counter, key, lambda: self.counts.get(key, 0))

    def count_of(self, prefix: str) -> int:
        """The sum of every window's count whose key starts with `prefix`."""
        return sum(count for key, count in self.counts.items() if key.startswith(prefix))


class FakeAccounts(_Borrowing):
    """Accounts and their username claims, with the sign-in's counted writes and their conditions."""

    REAL = accounts
    PURE = frozenset({"username_key", "mrn_key", "working_temporary_passwords", "first_temporary_password",
                      "fold_words", "email_lower", "still_as_checked"})

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.accounts: dict[str, Account] = {}
        self.owners: dict[str, str] = {}
        self._ids = itertools.count(1)

    def add(self, username: str, role: str = "patient", **fields: Any) -> Account:
        """An account as the store holds it (test set-up)."""
        now = self._clock.now()
        account = Account(f"{role[0]}_{next(self._ids)}", role=role, username=username, name=f"{username.title()} Doe",
                          email=f"{username}@example.com", created_at=now, updated_at=now)
        for name, value in fields.items():
            setattr(account, name, value)
        self.create(account)
        return account

    def get(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def find_by_username(self, username: str) -> Account | None:
        owner = self.owners.get(accounts.username_key(username))
        return self.accounts.get(owner) if owner else None

    def create(self, account: Account) -> None:
        key = accounts.username_key(account.username)
        if key in self.owners:
            raise UniqueTaken("username")
        self.owners[key] = account.id
        self.accounts[account.id] = account

    def username_key(self, username: str) -> str:
        return accounts.username_key(username)

    def owner_read(self, key: str) -> RowRead:
        return fake_read(accounts.Unique, key, lambda: self.owners.get(key))

    def state_read(self, account_id: str) -> RowRead:
        def state() -> accounts.AccountState | None:
            account = self.accounts.get(account_id)
            if account is None:
                return None
            return accounts.AccountState(role=account.role, disabled=account.disabled_at is not None,
                                         session_version=self.session_version(account))
        return fake_read(Account, account_id, state)

    def session_version(self, account: Account) -> int:
        return int(getattr(account, "session_version", 0) or 0)

    def record_failed_sign_in(self, account: Account) -> int:
        account.failed_logins = int(account.failed_logins or 0) + 1
        return int(account.failed_logins)

    def lock(self, account: Account, until: datetime, now: datetime, threshold: int) -> bool:
        if int(account.failed_logins or 0) < threshold or (account.locked_until and account.locked_until > now):
            return False
        account.failed_logins, account.lock_count, account.locked_until = 0, int(account.lock_count or 0) + 1, until
        return True

    def clear_failures(self, account: Account) -> None:
        account.failed_logins, account.lock_count, account.locked_until = 0, 0, None

    def consume_temporary_password(self, account: Account, temp_hash: str, now: datetime) -> bool:
        if account.temp_password_hash != temp_hash:
            return False
        account.temp_password_hash = account.temp_password_expires_at = account.temp_passwords = None
        account.password_hash, account.failed_logins, account.updated_at = None, 0, now
        return True

    def accounts_by_id(self, ids: Iterable[str]) -> dict[str, Account]:
        """`store.imports.accounts_by_id`, over the same accounts."""
        return {i: self.accounts[i] for i in ids if i in self.accounts}


class FakeSessions(_Borrowing):
    """Sessions, written only while their account is still as the sign-in checked it."""

    REAL = sessions

    def __init__(self, accounts_: FakeAccounts) -> None:
        self._accounts = accounts_
        self.sessions: dict[str, sessions.Session] = {}

    def put(self, session: sessions.Session) -> None:
        self.sessions[session.token_hash] = session

    def put_if_account(self, session: sessions.Session, account_still: Any) -> bool:
        account = self._accounts.get(session.account_id)
        if (account is None or account.disabled_at is not None or account.role != session.role
                or self._accounts.session_version(account) != int(session.account_version or 0)):
            return False
        self.put(session)
        return True

    def delete(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    def opened(self) -> list[tuple[str, bool]]:
        """(account id, must change password) of every session written, in order."""
        return [(s.account_id, bool(s.must_change_password)) for s in self.sessions.values()]


class FakeDirectory(_Borrowing):
    """`store.imports` (accounts by id, many at once), over the fake accounts."""

    REAL = imports

    def __init__(self, accounts_: FakeAccounts) -> None:
        self._accounts = accounts_

    def accounts_by_id(self, ids: Iterable[str]) -> dict[str, Account]:
        return self._accounts.accounts_by_id(ids)


class FakeGrants(_Borrowing):
    REAL = grants
    PURE = frozenset({"grant_id"})

    def __init__(self) -> None:
        self.grants: dict[str, grants.Grant] = {}

    def grant_id(self, patient_id: str, caregiver_id: str) -> str:
        return grants.grant_id(patient_id, caregiver_id)

    def read(self, patient_id: str, caregiver_id: str) -> RowRead:
        return fake_read(grants.Grant, self.grant_id(patient_id, caregiver_id),
                         lambda: self.grants.get(self.grant_id(patient_id, caregiver_id)))

    def get(self, grant_key: str) -> grants.Grant | None:
        return self.grants.get(grant_key)

    def put(self, grant: grants.Grant) -> None:
        self.grants[grant.id] = grant

    def revoke(self, grant: grants.Grant, now: datetime) -> bool:
        if grant.status == grants.REVOKED:
            return False
        grant.status, grant.revoked_at = grants.REVOKED, now
        return True

    def for_patient(self, patient_id: str) -> Iterable[grants.Grant]:
        return [g for g in self.grants.values() if g.patient_id == patient_id]

    def for_caregiver(self, caregiver_id: str) -> Iterable[grants.Grant]:
        return [g for g in self.grants.values() if g.caregiver_id == caregiver_id]


class FakeThreads(_Borrowing):
    """Threads and their messages, with the writes' effects on the thread (counts, waiting)."""

    REAL = messages

    def __init__(self, items_: FakeItems) -> None:
        self._items = items_
        self.threads: dict[str, messages.Thread] = {}
        self.messages_of: dict[str, list[messages.ThreadMessage]] = {}
        self.office_alerts: list[Any] = []

    def get(self, thread_id: str) -> messages.Thread | None:
        return self.threads.get(thread_id)

    def start(self, thread: messages.Thread, message: messages.ThreadMessage, item_write: messages.ItemWrite | None = None,
              office_alerts: Sequence[Any] = ()) -> None:
        self.threads[thread.id] = thread
        self.messages_of[thread.id] = [message]
        self.office_alerts.extend(office_alerts)
        if item_write is not None:
            self._items.keep(item_write.item)

    def add_patient_message(self, thread_id: str, patient_id: str, message: messages.ThreadMessage,
                            office_alerts: Sequence[Any]) -> None:
        thread = self.threads.get(thread_id)
        if thread is None or thread.patient_id != patient_id:
            raise messages.ThreadGone()
        self.messages_of[thread_id].append(message)
        thread.updated_at, thread.last_author_role = message.sent_at, messages.PATIENT
        thread.message_count = int(thread.message_count or 0) + 1
        thread.office_unread = int(thread.office_unread or 0) + 1
        thread.waiting_shard = messages.WAITING_SHARD
        self.office_alerts.extend(office_alerts)

    def add_office_message(self, thread: messages.Thread, message: messages.ThreadMessage,
                           item_write: messages.ItemWrite, due_at: datetime) -> None:
        stored = self.threads[thread.id]
        # The round as last written (the caller's copy of the item already holds the next one).
        if item_write.expected_round is not None and self._items.rounds.get(item_write.item.id) != item_write.expected_round:
            raise messages.ConcurrentChange()
        self.messages_of[thread.id].append(message)
        stored.updated_at, stored.last_author_role = message.sent_at, messages.OFFICE
        stored.message_count = int(stored.message_count or 0) + 1
        stored.patient_unread = int(stored.patient_unread or 0) + 1
        stored.unread_by_patient, stored.office_unread, stored.waiting_shard = stored.patient_id, 0, None
        stored.has_item = True
        item_write.item.due_at = due_at
        self._items.keep(item_write.item)

    def mark_read(self, thread: messages.Thread, side: str) -> bool:
        stored = self.threads[thread.id]
        if side == messages.PATIENT:
            stored.patient_unread, stored.unread_by_patient = 0, None
        else:
            stored.office_unread = 0
        return True

    def _newest_first(self, threads: Iterable[messages.Thread], limit: int,
                      after: tuple[datetime, str] | None) -> list[messages.Thread]:
        ordered = sorted(threads, key=lambda t: (t.updated_at, t.id), reverse=True)
        if after is not None:
            ordered = [t for t in ordered if (t.updated_at, t.id) < after]
        return ordered[:limit]

    def for_patient(self, patient_id: str, limit: int, after: tuple[datetime, str] | None = None
                    ) -> list[messages.Thread]:
        return self._newest_first((t for t in self.threads.values() if t.patient_id == patient_id), limit, after)

    def waiting_for_office(self, limit: int, after: tuple[datetime, str] | None = None) -> list[messages.Thread]:
        return self._newest_first((t for t in self.threads.values() if t.waiting_shard is not None), limit, after)

    def recent(self, limit: int, after: tuple[datetime, str] | None = None) -> list[messages.Thread]:
        return self._newest_first(self.threads.values(), limit, after)

    def unread_by_patient(self, patient_id: str) -> Iterable[messages.Thread]:
        return [t for t in self.threads.values() if t.unread_by_patient == patient_id]

    def messages(self, thread_id: str, limit: int, after: str | None = None) -> list[messages.ThreadMessage]:
        shown = [m for m in self.messages_of.get(thread_id, []) if after is None or m.id > after]
        return shown[:limit]


class FakeItems(_Borrowing):
    """Items, written as publication writes them (with their first notice)."""

    REAL = items
    PURE = frozenset({"status_of", "first_version", "shown_title", "read_shard"})

    def __init__(self) -> None:
        self.items: dict[str, items.Item] = {}
        self.rounds: dict[str, int] = {}  # each item's round as last written
        self.notices: list[Any] = []

    def keep(self, item: items.Item) -> None:
        self.items[item.id] = item
        self.rounds[item.id] = int(item.round or 0)

    def get(self, item_id: str) -> items.Item | None:
        return self.items.get(item_id)

    def create_with_notice(self, item: items.Item, notice: Any) -> bool:
        if item.id in self.items:
            return False
        self.keep(item)
        self.notices.append(notice)
        return True

    def replace_with_notice(self, item: items.Item, version: items.Version, now: datetime, due_at: datetime,
                            notice: Any, expected_round: int, comment: items.Comment | None = None) -> bool:
        if self.rounds.get(item.id) != expected_round:
            return False
        stored = self.items[item.id]
        stored.versions = [*(stored.versions or []), version]
        stored.version, stored.updated_at, stored.due_at = version.version, now, due_at
        self.keep(stored)
        self.notices.append(notice)
        return True

    def record_open(self, item: items.Item, now: datetime, reader: tuple[str, str] | None = None) -> bool:
        first = item.read_at is None
        item.read_at = item.read_at or now
        item.open_count = int(item.open_count or 0) + 1
        return first


@dataclass
class Upload:
    """An object in the fake bucket."""

    body: bytes
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = "etag-1"


class FakeBucket(_Borrowing):
    """The results bucket: objects by (bucket, key)."""

    REAL = bucket
    PURE = frozenset({"objects_created"})  # reads an S3 notification: no call to S3

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Upload] = {}

    def read_upload(self, bucket_name: str, key: str, first_bytes: int) -> bucket.UploadHead:
        found = self.objects.get((bucket_name, key))
        if found is None:
            raise bucket.UploadMissing(key)
        return bucket.UploadHead(dict(found.metadata), found.body[:first_bytes], len(found.body), found.etag)

    def file_upload(self, bucket_name: str, key: str, etag: str, destination: str, content_type: str) -> None:
        self.objects[(bucket_name, destination)] = Upload(self.objects[(bucket_name, key)].body, {}, etag)

    def move_to_quarantine(self, bucket_name: str, key: str, etag: str, destination: str) -> None:
        found = self.objects.pop((bucket_name, key), None)
        if found is None:
            raise bucket.UploadMissing(key)
        self.objects[(bucket_name, destination)] = found

    def remove_uploads(self, bucket_name: str, keys: list[str]) -> set[str]:
        for key in keys:
            self.objects.pop((bucket_name, key), None)
        return set()

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(key for _, key in self.objects if key.startswith(prefix))


class FakePendingUploads(_Borrowing):
    REAL = uploads

    def __init__(self, accounts_: FakeAccounts) -> None:
        self._accounts = accounts_
        self.pending: dict[str, uploads.PendingUpload] = {}

    def get(self, upload_id: str) -> uploads.PendingUpload | None:
        return self.pending.get(upload_id)

    def for_publication(self, mrns: Iterable[str], upload_ids: Iterable[str]
                        ) -> tuple[dict[str, Account], dict[str, uploads.PendingUpload], dict[str, Account]]:
        by_mrn = {a.mrn: a for a in self._accounts.accounts.values() if a.mrn}
        pending = {u: self.pending[u] for u in upload_ids if u in self.pending}
        by_id = {p.patient_id: self._accounts.accounts[p.patient_id] for p in pending.values()
                 if p.patient_id in self._accounts.accounts}
        return {m: by_mrn[m] for m in mrns if m in by_mrn}, pending, by_id


class FakeWorkQueue(_Borrowing):
    REAL = work

    def __init__(self) -> None:
        self.entries: dict[str, work.WorkEntry] = {}

    def add(self, entry: work.WorkEntry) -> bool:
        if entry.id in self.entries:
            return False
        self.entries[entry.id] = entry
        return True

    def get(self, entry_id: str) -> work.WorkEntry | None:
        return self.entries.get(entry_id)


# ---------------------------------------------------------------- services other services call


class FakeNotifier(_Borrowing):
    """A patient's notices: made by the real (pure) functions, delivered into `delivered`."""

    REAL = notices
    PURE = frozenset({"new_leased_item_notice", "new_item_notice", "office_alerts", "office_alert_window", "notice_id"})

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str | None]] = []  # (notice id, account id)

    def new_leased_item_notice(self, item: items.Item, number: int, now: datetime) -> Any:
        return notices.new_leased_item_notice(item, number, now)

    def office_alerts(self, now: datetime, message_id: str) -> list[Any]:
        return notices.office_alerts(now, message_id)

    def deliver(self, notice: Any, account: Account | None = None, *, leased: bool = False) -> str:
        self.delivered.append((notice.id, account.id if account is not None else notice.account_id))
        return "sent"

    def deliver_written(self, notice: Any, account: Account | None, moment: str, ids: dict[str, str]) -> str:
        return self.deliver(notice, account, leased=True)


class FakePasswords(_Borrowing):
    """Password hashes without Argon2: a password's hash is "hash:<password>"."""

    REAL = passwords
    PURE = frozenset({"looks_temporary", "new_temporary_password", "check_policy"})

    @staticmethod
    def hash_password(password: str) -> str:
        return f"hash:{password}"

    def verify(self, password_hash: str | None, password: str) -> bool:
        return password_hash is not None and password_hash == f"hash:{password}"


# ---------------------------------------------------------------- all of them


class Fakes:
    """One test's world: the clock at `now`, the mailer, and every faked store."""

    def __init__(self, now: datetime = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)) -> None:
        self.clock = FakeClock(now)
        self.mail = FakeMailer()
        self.reader = FakeReader()
        self.audit = FakeAuditLog()
        self.counters = FakeCounters()
        self.accounts = FakeAccounts(self.clock)
        self.sessions = FakeSessions(self.accounts)
        self.directory = FakeDirectory(self.accounts)
        self.grants = FakeGrants()
        self.items = FakeItems()
        self.threads = FakeThreads(self.items)
        self.bucket = FakeBucket()
        self.uploads = FakePendingUploads(self.accounts)
        self.work = FakeWorkQueue()
        self.notices = FakeNotifier()
        self.passwords = FakePasswords()

    def _replacing(self) -> dict[int, object]:
        """The fake of each real part, by the real part's identity."""
        pairs: list[tuple[object, object]] = [
            (clock_module.clock, self.clock), (sender, self.mail), (base.read_together, self.reader),
            (audit, self.audit), (counters, self.counters), (accounts, self.accounts), (imports, self.directory),
            (grants, self.grants), (items, self.items), (messages, self.threads), (bucket, self.bucket),
            (uploads, self.uploads), (work, self.work), (notices, self.notices), (passwords, self.passwords),
            (sessions, self.sessions),
        ]
        return {id(real): fake for real, fake in pairs}

    def install(self, monkeypatch: pytest.MonkeyPatch, *, keep: Iterable[ModuleType] = ()) -> Fakes:
        """Every loaded service module that imported a real part gets its fake, for this test.
        `keep` leaves those real parts in place (say, the real notices over the fake mailer).
        A part left real that would reach AWS (DynamoDB, S3, SQS, SES) fails the test instead."""
        replacing = self._replacing()
        for kept in keep:
            replacing.pop(id(kept), None)
        guards = {id(base.connection): _no_aws("DynamoDB"), id(aws.client): _no_aws("an AWS client")}
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith("chalicelib."):
                continue
            in_services = name.startswith("chalicelib.services.") and name != "chalicelib.services.ports"
            for attribute, value in list(vars(module).items()):
                fake = replacing.get(id(value)) if in_services else None
                if fake is None:
                    fake = guards.get(id(value))
                if fake is not None:
                    monkeypatch.setattr(module, attribute, fake)
        return self


def _no_aws(what: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(f"a test on the fakes reached {what}: fake the store that called it")
    return refuse


if TYPE_CHECKING:  # the fakes have the shapes of the parts they stand in for (checked by mypy, never run)
    _FAKES: tuple[ports.Clock, ports.Mailer, ports.RowReader, ports.AuditLog, ports.Counters, ports.AccountStore,
                  ports.AccountDirectory, ports.GrantStore, ports.ThreadStore, ports.ItemStore, ports.UploadBucket,
                  ports.PendingUploads, ports.WorkQueue, ports.Notifier] = (
        FakeClock(datetime.now(UTC)), FakeMailer(), FakeReader(), FakeAuditLog(), FakeCounters(),
        FakeAccounts(FakeClock(datetime.now(UTC))), FakeDirectory(FakeAccounts(FakeClock(datetime.now(UTC)))),
        FakeGrants(), FakeThreads(FakeItems()), FakeItems(), FakeBucket(), FakePendingUploads(
            FakeAccounts(FakeClock(datetime.now(UTC)))), FakeWorkQueue(), FakeNotifier())
