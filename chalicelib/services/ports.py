"""What the services' rules ask of the parts below them, as small Protocols: the clock, the mailer,
and each store a rule reads or writes (only the operations the services call).

The real parts satisfy them, which the type checker proves below (a module is an implementation
of a Protocol when its functions match). The fast unit tests hand the services in-memory fakes of
the same shapes (`tests/support/fakes.py`, checked by the type checker too), so a service's rules
are tested without AWS and a fake cannot drift from what it stands in for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.store.accounts import Account
    from chalicelib.store.audit import AuditEvent
    from chalicelib.store.base import RowRead
    from chalicelib.store.bucket import UploadHead
    from chalicelib.store.grants import Grant
    from chalicelib.store.items import Comment, Item, Version
    from chalicelib.store.messages import ItemWrite, Thread, ThreadMessage
    from chalicelib.store.outbox import Notice, OfficeAlert
    from chalicelib.store.uploads import PendingUpload
    from chalicelib.store.work import WorkEntry

# ---------------------------------------------------------------- the clock and the mailer


class Clock(Protocol):
    """The one clock (chalicelib.clock.clock)."""

    def now(self) -> datetime: ...


class Mailer(Protocol):
    """Sends one mail from a template (chalicelib.mail.sender); its message id."""

    def send(self, to: str, template: str, language: str | None = None, **context: Any) -> str: ...


# ---------------------------------------------------------------- the stores


class RowReader(Protocol):
    """Several rows in one round trip (chalicelib.store.base.read_together)."""

    def __call__(self, *reads: RowRead) -> list[Any]: ...


class AuditLog(Protocol):
    """The append-only audit trail (chalicelib.store.audit)."""

    def append(self, event: AuditEvent) -> None: ...


class Counters(Protocol):
    """Fixed-window counters (chalicelib.store.counters), under the rate limits."""

    def increment(self, key: str, expires_at: datetime) -> int: ...

    def read(self, key: str) -> RowRead: ...


class AccountStore(Protocol):
    """Accounts (chalicelib.store.accounts): finding, creating, and the sign-in's counted writes."""

    def get(self, account_id: str) -> Account | None: ...

    def find_by_username(self, username: str) -> Account | None: ...

    def create(self, account: Account) -> None: ...

    def username_key(self, username: str) -> str: ...

    def owner_read(self, key: str) -> RowRead: ...

    def record_failed_sign_in(self, account: Account) -> int: ...

    def lock(self, account: Account, until: datetime, now: datetime, threshold: int) -> bool: ...

    def clear_failures(self, account: Account) -> None: ...

    def consume_temporary_password(self, account: Account, temp_hash: str, now: datetime) -> bool: ...


class AccountDirectory(Protocol):
    """Accounts by id, many at once (chalicelib.store.imports)."""

    def accounts_by_id(self, ids: Iterable[str]) -> dict[str, Account]: ...


class GrantStore(Protocol):
    """Caregivers' grants (chalicelib.store.grants)."""

    def grant_id(self, patient_id: str, caregiver_id: str) -> str: ...

    def read(self, patient_id: str, caregiver_id: str) -> RowRead: ...

    def get(self, grant_key: str) -> Grant | None: ...

    def put(self, grant: Grant) -> None: ...

    def revoke(self, grant: Grant, now: datetime) -> bool: ...

    def for_patient(self, patient_id: str) -> Iterable[Grant]: ...

    def for_caregiver(self, caregiver_id: str) -> Iterable[Grant]: ...


class ThreadStore(Protocol):
    """Message threads (chalicelib.store.messages)."""

    def get(self, thread_id: str) -> Thread | None: ...

    def start(self, thread: Thread, message: ThreadMessage, item_write: ItemWrite | None = None,
              office_alerts: Sequence[OfficeAlert] = ()) -> None: ...

    def add_patient_message(self, thread_id: str, patient_id: str, message: ThreadMessage,
                            office_alerts: Sequence[OfficeAlert]) -> None: ...

    def add_office_message(self, thread: Thread, message: ThreadMessage, item_write: ItemWrite,
                           due_at: datetime) -> None: ...

    def mark_read(self, thread: Thread, side: str) -> bool: ...

    def for_patient(self, patient_id: str, limit: int, after: tuple[datetime, str] | None = None) -> list[Thread]: ...

    def waiting_for_office(self, limit: int, after: tuple[datetime, str] | None = None) -> list[Thread]: ...

    def recent(self, limit: int, after: tuple[datetime, str] | None = None) -> list[Thread]: ...

    def unread_by_patient(self, patient_id: str) -> Iterable[Thread]: ...

    def messages(self, thread_id: str, limit: int, after: str | None = None) -> list[ThreadMessage]: ...


class ItemStore(Protocol):
    """What the office sends a patient (chalicelib.store.items), as publication writes it."""

    def get(self, item_id: str) -> Item | None: ...

    def create_with_notice(self, item: Item, notice: Notice) -> bool: ...

    def replace_with_notice(self, item: Item, version: Version, now: datetime, due_at: datetime, notice: Notice,
                            expected_round: int, comment: Comment | None = None) -> bool: ...


class UploadBucket(Protocol):
    """The results bucket's uploads (chalicelib.store.bucket)."""

    def read_upload(self, bucket: str, key: str, first_bytes: int) -> UploadHead: ...

    def file_upload(self, bucket: str, key: str, etag: str, destination: str, content_type: str) -> None: ...

    def move_to_quarantine(self, bucket: str, key: str, etag: str, destination: str) -> None: ...

    def remove_uploads(self, bucket: str, keys: list[str]) -> set[str]: ...


class PendingUploads(Protocol):
    """The upload form's rows (chalicelib.store.uploads), and the patients a batch is for."""

    def get(self, upload_id: str) -> PendingUpload | None: ...

    def for_publication(self, mrns: Iterable[str], upload_ids: Iterable[str]
                        ) -> tuple[dict[str, Account], dict[str, PendingUpload], dict[str, Account]]: ...


class WorkQueue(Protocol):
    """The staff work queue (chalicelib.store.work)."""

    def add(self, entry: WorkEntry) -> bool: ...

    def get(self, entry_id: str) -> WorkEntry | None: ...


# ---------------------------------------------------------------- services other services call


class Notifier(Protocol):
    """A patient's notices (chalicelib.services.followup.notices): made with the write that needs
    them, then delivered."""

    def new_leased_item_notice(self, item: Item, number: int, now: datetime) -> Notice: ...

    def office_alerts(self, now: datetime, message_id: str) -> list[OfficeAlert]: ...

    def deliver(self, notice: Notice, account: Account | None = None, *, leased: bool = False) -> str: ...


if TYPE_CHECKING:  # the real parts have these shapes (checked by mypy, never run)
    from chalicelib import clock as _clock
    from chalicelib.mail import sender as _sender
    from chalicelib.services.followup import notices as _notices
    from chalicelib.store import accounts as _accounts
    from chalicelib.store import audit as _audit
    from chalicelib.store import base as _base
    from chalicelib.store import bucket as _bucket
    from chalicelib.store import counters as _counters
    from chalicelib.store import grants as _grants
    from chalicelib.store import imports as _imports
    from chalicelib.store import items as _items
    from chalicelib.store import messages as _messages
    from chalicelib.store import uploads as _uploads
    from chalicelib.store import work as _work

    _REAL: tuple[Clock, Mailer, RowReader, AuditLog, Counters, AccountStore, AccountDirectory, GrantStore, ThreadStore,
                 ItemStore, UploadBucket, PendingUploads, WorkQueue, Notifier] = (
        _clock.clock, _sender, _base.read_together, _audit, _counters, _accounts, _imports, _grants, _messages,
        _items, _bucket, _uploads, _work, _notices)
