"""The secure messages' answers, as the patient (or their caregiver) and as the office see them
(see chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from chalicelib.services.answers import Time

# Who wrote a message, started a thread: the patient's side (the patient or their caregiver) or the office.
AuthorRole = Literal["patient", "office"]


class LinkedItem(TypedDict):
    """The patient's item a thread asks about; to its patient a retracted item is only "Removed by
    your clinic"."""

    id: str
    title: str


class OfficeLinkedItem(LinkedItem):
    """The item a thread asks about, as the office sees it: also its kind and status (unless the
    item is gone)."""

    kind: NotRequired[str]
    status: NotRequired[str]


class _SummaryFields(TypedDict):
    """What both sides' lists say of a thread (`unread`: what the reader has not read)."""

    id: str
    subject: str
    category: str | None
    created_at: Time
    updated_at: Time
    unread: int
    last_author_role: AuthorRole
    message_count: int


class ThreadSummary(_SummaryFields):
    """A thread in the patient's list (`threads._patient_thread_json`)."""

    item: LinkedItem | None


class OfficeThreadSummary(_SummaryFields):
    """A thread in the office's lists (`threads._office_thread_json`): `unread` counts what the
    office has not read, `patient_unread` what the patient has not, `waiting` whether the office
    owes an answer."""

    item: OfficeLinkedItem | None
    patient_id: str
    patient_name: str | None
    started_by: AuthorRole
    patient_unread: int
    waiting: bool


class ThreadMessage(TypedDict):
    """One message as the patient reads it. `author_name` is "the office" for office messages (or
    the staff member's name when the clinic chooses so), a caregiver's label for theirs, and null
    for the patient's own."""

    id: str
    author_role: AuthorRole
    author_name: str | None
    body: str
    sent_at: Time


class OfficeThreadMessage(ThreadMessage):
    """One message as the office reads it: who wrote it, by name and account id."""

    author_id: str


class Threads(TypedDict):
    """The patient's threads, newest first, a page at a time (`threads.threads_for_patient`)."""

    threads: list[ThreadSummary]
    unread_total: int
    next_cursor: str | None


class OfficeInbox(TypedDict):
    """The office's inbox: threads waiting for it first (`threads.office_inbox`)."""

    threads: list[OfficeThreadSummary]
    waiting_total: int
    unread_total: int
    next_cursor: str | None


class OfficeThreads(TypedDict):
    """One patient's threads as the office sees them (`threads.threads_of_patient`)."""

    threads: list[OfficeThreadSummary]
    next_cursor: str | None


class Thread(ThreadSummary):
    """A thread the patient opened, its messages oldest first, a page at a time."""

    messages: list[ThreadMessage]
    next_cursor: str | None


class OfficeThread(OfficeThreadSummary):
    """A thread the office opened, its messages oldest first, a page at a time."""

    messages: list[OfficeThreadMessage]
    next_cursor: str | None
