"""Secure messages between a patient and the office (one shared office inbox).

- A patient writes to the office: the office address gets an email saying only that a patient
  sent a secure message, with a link to the staff inbox (no name, no subject, no body). The alert
  is an outbox row written in the message's own transaction, one per window of
  OFFICE_ALERT_MINUTES, and the schedule sends it (see `notices`): never lost, never a flood,
  and the patient's request does not wait on SES.
- The office writes to a patient: the thread is then also the patient's item (`kind="message"`,
  same id), so each office message starts a new round of that item: unread again, a notice
  without content, a read receipt on open, and follow-up by the same sweep as documents.
- Every open of a thread and every message sent is audited.

Lists and thread histories come a page at a time: `limit` (1..200) and the opaque `cursor` that
the previous page answered as `next_cursor` (null on the last page).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from chalicelib.clock import clock, iso, parse_iso
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import logger
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts.registry import get_patient
from chalicelib.services.answers import Created
from chalicelib.services.caregivers import grants as caregivers
from chalicelib.services.followup import notices
from chalicelib.services.followup import sweep as followup
from chalicelib.services.messaging import answers
from chalicelib.services.paging import bad_cursor, encode, page_size, read
from chalicelib.settings import get_settings
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store
from chalicelib.store import messages as store
from chalicelib.store.messages import OFFICE, PATIENT, Thread, ThreadMessage
from chalicelib.vocabulary import MESSAGE_CATEGORIES

if TYPE_CHECKING:
    from chalicelib.store.accounts import Account
    from chalicelib.store.outbox import Notice

CATEGORIES = MESSAGE_CATEGORIES
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_OFFICE_REPLY_TRIES = 5


# ---------------------------------------------------------------- pages and cursors

@dataclass(frozen=True)
class Page:
    limit: int
    cursor: str | None


def paging(limit: str | None, cursor: str | None) -> Page:
    """A page request from the query string: `limit` 1..200 (default 50), `cursor` as given out."""
    return Page(page_size(limit, default=DEFAULT_LIMIT, maximum=MAX_LIMIT), cursor or None)


def _decode(cursor: str | None, kinds: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """(kind, parts) of a cursor this module gave out; anything else is a 400."""
    return read(cursor, kinds, parts=range(0, 3), longest=200)


def _thread_cursor(kind: str, thread: Thread) -> str:
    return encode(kind, thread.updated_at.isoformat(), thread.id)


def _thread_position(parts: list[str]) -> tuple[datetime, str] | None:
    """Where in an index a thread cursor points: (updated_at, id), or None for the start."""
    if not parts:
        return None
    try:
        if len(parts) == 2:
            return parse_iso(parts[0]), parts[1]
    except ValueError:
        pass
    raise bad_cursor()


def _page_of_threads(fetch: Callable[[int, tuple[datetime, str] | None], list[Thread]], kind: str,
                     request: Page) -> tuple[list[Thread], str | None]:
    """One page of an index, newest first: ask for one row more than shown to know if more exist."""
    decoded = _decode(request.cursor, (kind,))
    rows = fetch(request.limit + 1, _thread_position(decoded[1]) if decoded else None)
    shown = rows[: request.limit]
    more = len(rows) > request.limit
    return shown, _thread_cursor(kind, shown[-1]) if more else None


def _history(thread: Thread, request: Page) -> tuple[list[ThreadMessage], str | None]:
    decoded = _decode(request.cursor, ("m",))
    if decoded and len(decoded[1]) != 1:
        raise bad_cursor()
    rows = store.messages(thread.id, request.limit + 1, decoded[1][0] if decoded else None)
    shown = rows[: request.limit]
    return shown, encode("m", shown[-1].id) if len(rows) > request.limit else None


# ---------------------------------------------------------------- answers

def _author_name(message: ThreadMessage, names: Names, *, for_office: bool) -> str | None:
    """Who wrote a message, as the reader is told: to staff, the staff member's (or patient's)
    name; to the patient, "the office" for office messages (or the staff member's name, when the
    clinic's OFFICE_NAMES_TO_PATIENTS setting says so) and nothing for their own."""
    if message.author_role != OFFICE:
        if message.author_id in names.caregivers:  # a caregiver wrote for the patient: say so
            return names.caregivers[message.author_id]
        return names.name(message.author_id) if for_office else None
    if for_office or get_settings().office_names_to_patients:
        return names.name(message.author_id) or OFFICE_NAME
    return OFFICE_NAME


def _message_json(message: ThreadMessage, names: Names, *, for_office: bool = False) -> answers.ThreadMessage:
    return {"id": message.id, "author_role": cast(answers.AuthorRole, message.author_role), "body": message.body,
            "sent_at": iso(message.sent_at), "author_name": _author_name(message, names, for_office=for_office)}


def _office_message_json(message: ThreadMessage, names: Names) -> answers.OfficeThreadMessage:
    return {**_message_json(message, names, for_office=True), "author_id": message.author_id}


RETRACTED_TITLE = "Removed by your clinic"
OFFICE_NAME = "the office"


@dataclass
class Names:
    """What a thread's answer names besides the thread: its patient, the office authors of its
    messages and its linked item, read once for a page of threads or one thread's history."""

    accounts: dict[str, Any]
    items: dict[str, item_store.Item | None]
    # Messages a caregiver wrote for the patient: "Ana Ruiz, mother, for Leo Ruiz", by author id.
    caregivers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, threads: list[Thread], history: list[ThreadMessage] | None = None) -> Names:
        ids = {t.patient_id for t in threads} | {m.author_id for m in history or [] if m.author_role == OFFICE}
        items = {t.item_id: item_store.get(t.item_id) for t in threads if t.item_id}
        ids.discard("")
        patients = {t.patient_id for t in threads}
        helpers = {m.author_id for m in history or [] if m.author_role != OFFICE and m.author_id not in patients}
        accounts = import_store.accounts_by_id(ids) if ids else {}
        patient = accounts.get(threads[0].patient_id) if threads else None
        labels = (caregivers.author_labels(helpers, threads[0].patient_id, patient.name if patient else None)
                  if helpers else {})
        return cls(accounts, items, labels)

    def name(self, account_id: str | None) -> str | None:
        account = self.accounts.get(account_id or "")
        return account.name if account is not None else None

    def item(self, item_id: str | None, *, for_office: bool) -> answers.OfficeLinkedItem | None:
        """The linked item as `{id, title}`; to its patient, a retracted item is only the clinic's
        neutral title (its own may have been another patient's)."""
        if not item_id:
            return None
        item = self.items.get(item_id)
        if item is None:
            return {"id": item_id, "title": RETRACTED_TITLE}
        retracted = item_store.status_of(item) == "retracted"
        title = RETRACTED_TITLE if retracted and not for_office else item.title
        if for_office:
            return {"id": item.id, "title": title, "kind": item.kind, "status": item_store.status_of(item)}
        return {"id": item.id, "title": title}


def _patient_thread_json(thread: Thread, names: Names | None = None) -> answers.ThreadSummary:
    names = names or Names.read([thread])
    return {
        "id": thread.id,
        "subject": thread.subject,
        "category": thread.category,
        "created_at": iso(thread.created_at),
        "updated_at": iso(thread.updated_at),
        "unread": int(thread.patient_unread or 0),
        "last_author_role": cast(answers.AuthorRole, thread.last_author_role),
        "message_count": int(thread.message_count or 0),
        "item": names.item(thread.item_id, for_office=False),
    }


def _office_thread_json(thread: Thread, names: Names | None = None) -> answers.OfficeThreadSummary:
    names = names or Names.read([thread])
    return {
        **_patient_thread_json(thread, names),
        "item": names.item(thread.item_id, for_office=True),
        "patient_id": thread.patient_id,
        "patient_name": names.name(thread.patient_id),
        "started_by": cast(answers.AuthorRole, thread.started_by),
        "unread": int(thread.office_unread or 0),
        "patient_unread": int(thread.patient_unread or 0),
        "waiting": thread.waiting_shard is not None,
    }


def _opened_json(thread: Thread, history: list[ThreadMessage], next_cursor: str | None) -> answers.Thread:
    names = Names.read([thread], history)
    return {**_patient_thread_json(thread, names), "messages": [_message_json(m, names) for m in history],
            "next_cursor": next_cursor}


def _office_opened_json(thread: Thread, history: list[ThreadMessage], next_cursor: str | None) -> answers.OfficeThread:
    names = Names.read([thread], history)
    return {**_office_thread_json(thread, names), "messages": [_office_message_json(m, names) for m in history],
            "next_cursor": next_cursor}


# ---------------------------------------------------------------- writing

def _new_message_id(now: datetime) -> str:
    """Sorts in the order sent (the table's sort key); the random tail keeps ids unique."""
    return f"{now:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def _message(thread_id: str, role: str, author_id: str, body: str, now: datetime) -> ThreadMessage:
    return ThreadMessage(thread_id, _new_message_id(now), author_role=role, author_id=author_id, body=body, sent_at=now)


def _new_thread(patient_id: str, subject: str, category: str | None, started_by: str, now: datetime,
                item_id: str | None = None) -> Thread:
    waiting = started_by == PATIENT
    return Thread(
        "thr_" + secrets.token_hex(10),
        patient_id=patient_id,
        subject=subject,
        category=category,
        started_by=started_by,
        created_at=now,
        updated_at=now,
        message_count=1,
        last_author_role=started_by,
        patient_unread=0 if waiting else 1,
        office_unread=1 if waiting else 0,
        has_item=not waiting,
        waiting_shard=store.WAITING_SHARD if waiting else None,
        unread_by_patient=None if waiting else patient_id,
        item_id=item_id,
    )


def _follow_up_due(now: datetime) -> datetime:
    return now + timedelta(days=get_settings().follow_up_days)


def _item_write(thread: Thread, existing: item_store.Item | None, now: datetime) -> store.ItemWrite:
    """The item side of an office message: the first notice of a new round (or of a new item)."""
    if existing is None:
        item = item_store.Item(
            thread.id, patient_id=thread.patient_id, kind="message", title=thread.subject,
            category=thread.category, created_at=now, updated_at=now, round=0, notices_sent=1,
            last_notice_at=now, open_count=0, escalated=False,
            due_shard=item_store.DUE_SHARD, due_at=_follow_up_due(now),
        )
        return store.ItemWrite(item, notices.new_leased_item_notice(item, 1, now), None)
    expected = int(existing.round or 0)
    existing.round = expected + 1  # the notice belongs to the round this write starts
    return store.ItemWrite(existing, notices.new_leased_item_notice(existing, 1, now), expected)


def _audit(caller: Caller, action: str, thread_id: str, patient_id: str | None, *, outcome: str = "ok",
           message_id: str | None = None) -> None:
    audit.record_for(caller, action, outcome=outcome, patient_id=patient_id, target_id=thread_id,
                     detail={"message_id": message_id} if message_id else None)


def _notify_patient(notice: Notice, account: Account | None = None) -> None:
    """Send the notice written (already taken for its first attempt) with the message; if this
    send fails, the outbox retries it on schedule."""
    outcome = notices.deliver(notice, account, leased=True)
    if outcome not in ("sent", "retry"):
        logger.info("message notice not sent", extra={"notice_id": notice.id, "outcome": outcome})


# ---------------------------------------------------------------- patient

def _patient_thread(caller: Caller, thread_id: str, action: str) -> Thread:
    """The caller's own thread; another patient's answers exactly like an unknown id."""
    thread = store.get(thread_id)
    if thread is None or thread.patient_id != caller.patient_id:
        _audit(caller, action, thread_id, thread.patient_id if thread else None, outcome="not_found")
        raise NotFound(N_("No message thread with that id."))
    return thread


def threads_for_patient(caller: Caller, request: Page) -> answers.Threads:
    patient_id = caller.own_patient_id
    if caller.acting_for:  # a caregiver's look at the patient's messages is a view the patient is shown
        audit.record_for(caller, "message.list", patient_id=patient_id)
    shown, next_cursor = _page_of_threads(lambda limit, after: store.for_patient(patient_id, limit, after), "p", request)
    unread_total = sum(int(t.patient_unread or 0) for t in store.unread_by_patient(patient_id))
    names = Names.read(shown)
    return {"threads": [_patient_thread_json(t, names) for t in shown], "unread_total": unread_total,
            "next_cursor": next_cursor}


def _own_item(caller: Caller, item_id: str) -> str:
    """The id of an item of the caller's own to ask about; any other id (unknown, another
    patient's, or a result held for review, which is not theirs to see yet) is the same 400,
    which tells nothing about it."""
    item = item_store.get(item_id) if len(item_id) <= 200 else None
    if item is None or item.patient_id != caller.patient_id or item_store.is_held(item):
        _audit(caller, "message.send", item_id, item.patient_id if item else None, outcome="item_not_found")
        raise BadRequest(N_("There is no item of yours with that id."), field="item_id", code="invalid_request")
    return item.id


def item_to_ask_about(caller: Caller, item_id: str) -> answers.LinkedItem | None:
    """`{id, title}` of an item of the caller's own, for the "ask about this" form."""
    item = item_store.get(_own_item(caller, item_id))
    return Names({}, {item_id: item}).item(item_id, for_office=False)


def start_by_patient(caller: Caller, subject: str, body: str, category: str | None,
                     item_id: str | None = None) -> Created:
    """A new thread to the office; with `item_id`, a question about that item of the patient's."""
    linked = _own_item(caller, item_id) if item_id else None
    now = clock.now()
    thread = _new_thread(caller.own_patient_id, subject, category or ("results_question" if linked else "other"), PATIENT,
                         now, item_id=linked)
    message = _message(thread.id, PATIENT, caller.signed_in.account_id, body, now)
    store.start(thread, message, office_alerts=notices.office_alerts(now, message.id))
    _audit(caller, "message.send", thread.id, thread.patient_id, message_id=message.id)
    return {"id": thread.id}


def reply_by_patient(caller: Caller, thread_id: str, body: str) -> Created:
    now = clock.now()
    message = _message(thread_id, PATIENT, caller.signed_in.account_id, body, now)
    try:
        # One transaction with the office's alert; its condition on the thread's owner is also
        # the access check.
        store.add_patient_message(thread_id, caller.own_patient_id, message, notices.office_alerts(now, message.id))
    except store.ThreadGone:
        _audit(caller, "message.send", thread_id, None, outcome="not_found")
        raise NotFound(N_("No message thread with that id.")) from None
    except store.ConcurrentChange:
        raise Conflict(N_("The thread changed at the same moment; please send again.")) from None
    _audit(caller, "message.send", thread_id, caller.patient_id, message_id=message.id)
    return {"id": message.id}


def open_for_patient(caller: Caller, thread_id: str, request: Page) -> answers.Thread:
    thread = _patient_thread(caller, thread_id, "message.open")
    history, next_cursor = _history(thread, request)
    if thread.patient_unread:
        store.mark_read(thread, PATIENT)
    if thread.has_item:
        item = item_store.get(thread.id)
        if item is not None:
            followup.record_read(item, clock.now(), reader=(caller.signed_in.role, caller.signed_in.account_id))
    _audit(caller, "message.open", thread.id, thread.patient_id)
    return _opened_json(thread, history, next_cursor)


# ---------------------------------------------------------------- office

def _office_thread(caller: Caller, thread_id: str, action: str) -> Thread:
    thread = store.get(thread_id)
    if thread is None:
        _audit(caller, action, thread_id, None, outcome="not_found")
        raise NotFound(N_("No message thread with that id."))
    return thread


def office_inbox(caller: Caller, request: Page) -> answers.OfficeInbox:
    """Threads waiting for the office first, then every other thread; newest first within each.
    The cursor says which of the two lists the next page continues, and where."""
    kind, parts = _decode(request.cursor, ("w", "r")) or ("w", [])
    after = _thread_position(parts)
    shown: list[Thread] = []
    if kind == "w":
        rows = store.waiting_for_office(request.limit + 1, after)
        shown = rows[: request.limit]
        if len(rows) > request.limit:
            return _inbox_answer(shown, _thread_cursor("w", shown[-1]))
        after = None
    room = request.limit - len(shown)
    # The recent list holds the waiting threads too: they were listed first, so skip them here.
    others: list[Thread] = []
    while True:
        rows = store.recent(request.limit + 1, after)
        others += [t for t in rows if t.waiting_shard is None]
        if len(rows) <= request.limit or len(others) > room:
            break
        after = (rows[-1].updated_at, rows[-1].id)
    next_cursor = None
    if len(others) > room:
        others = others[:room]
        next_cursor = _thread_cursor("r", others[-1]) if others else encode("r")
    return _inbox_answer(shown + others, next_cursor)


def _inbox_answer(shown: list[Thread], next_cursor: str | None) -> answers.OfficeInbox:
    waiting = list(store.waiting_for_office(MAX_LIMIT * 5))
    names = Names.read(shown)
    return {
        "threads": [_office_thread_json(t, names) for t in shown],
        "waiting_total": len(waiting),
        "unread_total": sum(int(t.office_unread or 0) for t in waiting),
        "next_cursor": next_cursor,
    }


def threads_of_patient(caller: Caller, patient_id: str, request: Page) -> answers.OfficeThreads:
    """A patient's threads as the office sees them (for the staff patient page)."""
    account = get_patient(patient_id)
    shown, next_cursor = _page_of_threads(lambda limit, after: store.for_patient(account.id, limit, after), "s", request)
    audit.record_for(caller, "message.list", patient_id=account.id, target_id=account.id)
    names = Names.read(shown)
    return {"threads": [_office_thread_json(t, names) for t in shown], "next_cursor": next_cursor}


def open_for_office(caller: Caller, thread_id: str, request: Page) -> answers.OfficeThread:
    thread = _office_thread(caller, thread_id, "message.open")
    history, next_cursor = _history(thread, request)
    if thread.office_unread:
        store.mark_read(thread, OFFICE)
    _audit(caller, "message.open", thread.id, thread.patient_id)
    return _office_opened_json(thread, history, next_cursor)


def start_by_office(caller: Caller, patient_id: str, subject: str, body: str, category: str | None) -> Created:
    account = get_patient(patient_id)
    now = clock.now()
    thread = _new_thread(account.id, subject, category, OFFICE, now)
    message = _message(thread.id, OFFICE, caller.signed_in.account_id, body, now)
    item_write = _item_write(thread, None, now)
    store.start(thread, message, item_write)
    _audit(caller, "message.send", thread.id, thread.patient_id, message_id=message.id)
    _notify_patient(item_write.notice, account)
    return {"id": thread.id}


def reply_by_office(caller: Caller, thread_id: str, body: str) -> Created:
    for _ in range(_OFFICE_REPLY_TRIES):
        thread = _office_thread(caller, thread_id, "message.send")
        now = clock.now()
        # Before the office first writes, the thread has no item: nothing to read.
        existing = item_store.get(thread.id) if thread.has_item else None
        message = _message(thread.id, OFFICE, caller.signed_in.account_id, body, now)
        item_write = _item_write(thread, existing, now)
        try:
            store.add_office_message(thread, message, item_write, _follow_up_due(now))
        except store.ConcurrentChange:
            continue  # another reply moved the item's round: read both again
        _audit(caller, "message.send", thread.id, thread.patient_id, message_id=message.id)
        _notify_patient(item_write.notice)
        return {"id": message.id}
    raise Conflict(N_("The thread changed at the same moment; please send again."))
