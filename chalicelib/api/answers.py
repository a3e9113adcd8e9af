"""The answers of the JSON API, one model each: a route names its answer's model
(`@route(..., response="Session")`) and the OpenAPI document is generated from them, so each
answer's shape is declared once, beside its route. The fields named are always present; others may
be added (the contract allows extensions: docs/contract.md). The fuzz tests check every answer against these models.

Only the OpenAPI document (and the tests) load this module: no request pays for it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, RootModel

Time = str  # ISO 8601 UTC, e.g. 2026-11-25T19:08:06Z


def check(route: str, model: str, answer: dict) -> None:
    """Raise when `answer` does not have the shape of its model (settings.check_answers: the tests).
    The mismatch is logged by field and kind of error, never by value."""
    from pydantic import ValidationError

    from chalicelib.observability import logger

    try:
        globals()[model].model_validate(answer)
    except ValidationError as mismatch:
        fields = [f"{'.'.join(str(part) for part in error['loc'])}: {error['type']}" for error in mismatch.errors()]
        logger.error("answer.mismatch", extra={"route": route, "model": model, "fields": fields[:20]})
        raise AnswerMismatch(f"{route}: the answer does not match {model}: {fields[:20]}") from None


class AnswerMismatch(Exception):
    """An answer that is not the shape its route declares."""


class Answer(BaseModel):
    """A JSON answer: the fields named here are always present; others may be added."""

    # Only the OpenAPI document uses these: build their schemas then, not on every cold start.
    model_config = ConfigDict(extra="allow", defer_build=True)



class Message(Answer):
    message: str


class Health(Answer):
    status: Literal["ok"]


class Created(Answer):
    id: str


class Session(Answer):
    token: str
    expires_at: Time
    must_change_password: bool
    role: Literal["patient", "staff", "admin", "proxy"]
    mfa: Literal["none", "verify", "enroll"]


class MfaEnrollment(Answer):
    secret: str
    otpauth_uri: str


class RecoveryCodes(Answer):
    recovery_codes: list[str]


class Account(Answer):
    id: str
    username: str
    email: str
    name: str
    role: Literal["patient", "staff", "admin", "proxy"]
    email_status: str | None
    # The language of the account's pages and mails.
    language: Literal["en", "es"] = "en"
    # A caregiver's: the patients they care for now.
    patients: list[CaredFor] | None = None


class Patient(Account):
    mrn: str | None
    date_of_birth: str | None
    phone: str | None
    language: Literal["en", "es"]
    has_signed_in: bool
    locked: bool
    created_at: Time | None


class StaffMember(Answer):
    id: str
    username: str
    name: str
    email: str
    role: Literal["staff", "admin"]
    active: bool
    mfa_enrolled: bool


class StaffList(Answer):
    staff: list[StaffMember]


class Device(Answer):
    id: str
    created_at: Time
    last_seen_at: Time
    client_ip: str | None
    user_agent: str | None
    current: bool


class Devices(Answer):
    sessions: list[Device]


class Username(Answer):
    username: str


class Registered(Username):
    id: str


class Email(Answer):
    email: str


class Language(Answer):
    language: Literal["en", "es"]


class ItemSummary(Answer):
    id: str
    kind: Literal["document", "message"]
    title: str
    created_at: Time
    read_at: Time | None
    status: Literal["published", "updated", "retracted"]


class Items(Answer):
    items: list[ItemSummary]


class StaffItem(ItemSummary):
    notices_sent: int
    last_notice_at: Time | None
    escalated: bool
    first_read_at: Time | None
    open_count: int


class PatientDetail(Patient):
    items: list[StaffItem]


class Patients(Answer):
    patients: list[Patient]


class Comment(Answer):
    author: str
    text: str
    created_at: Time


class Document(Answer):
    id: str
    status: Literal["published", "updated"]
    version: int
    title: str
    category: str | None
    provider: str | None
    published_at: Time
    read_at: Time | None
    comments: list[Comment]


class RetractedDocument(Answer):
    """All a patient sees of a document the office retracted (never its own title)."""

    id: str
    status: Literal["retracted"]
    title: Literal["Removed by your clinic"]
    retracted_at: Time


class PatientDocument(RootModel[Document | RetractedDocument]):
    """A document as its patient opens it: whole, or only the retracted stub."""


class Retracted(Answer):
    id: str
    status: Literal["retracted"]


class Reader(Answer):
    role: Literal["patient", "proxy"]
    name: str | None


class SentNotice(Answer):
    sent_at: Time


class DocumentVersion(Answer):
    version: int
    published_at: Time


class StaffDocument(Answer):
    id: str
    patient_id: str
    patient_name: str | None
    title: str
    category: str | None
    provider: str | None
    status: Literal["published", "updated", "retracted"]
    version: int
    published_at: Time
    read_at: Time | None
    read_by: Reader | None
    open_count: int
    notices: list[SentNotice]
    comments: list[Comment]
    versions: list[DocumentVersion]


class Commented(Answer):
    id: str
    comments: list[Comment]


class FileLink(Answer):
    url: str
    expires_at: Time


class ExportStatus(Answer):
    """A take-away records export: `pending`, or `ready` with a short-lived link to the zip."""

    status: Literal["pending", "ready"]
    url: str | None = None
    expires_at: Time | None = None


class UploadForm(Answer):
    url: str
    fields: dict[str, str]
    key: str


class LinkedItem(Answer):
    """The patient's item a thread asks about."""

    id: str
    title: str


class ThreadSummary(Answer):
    id: str
    subject: str
    category: str | None
    created_at: Time
    updated_at: Time
    unread: int
    item: LinkedItem | None


class Threads(Answer):
    threads: list[ThreadSummary]
    next_cursor: str | None


class ThreadMessage(Answer):
    id: str
    author_role: str
    # To staff, who wrote it; to the patient, "the office" for office messages (or the staff
    # member's name when the clinic chooses so) and null for their own.
    author_name: str | None
    body: str
    sent_at: Time


class Thread(ThreadSummary):
    messages: list[ThreadMessage]
    next_cursor: str | None


class WorkEntry(Answer):
    id: str
    kind: str
    created_at: Time
    patient_id: str | None
    item_id: str | None
    reason: str | None
    data: dict[str, Any] | None


class FollowUpEntry(WorkEntry):
    """A call to make: who (name and phone on file) and about which item."""

    patient_name: str | None
    phone: str | None
    item_title: str | None


class BadEmail(Answer):
    patient_id: str
    name: str | None
    reason: str | None
    since: Time | None


class Queue(Answer):
    follow_ups: list[FollowUpEntry]
    forms: list[WorkEntry]
    quarantine: list[WorkEntry]
    bad_emails: list[BadEmail]


class Resolved(Answer):
    id: str
    status: Literal["resolved"]


class PublishedAgain(Answer):
    id: str
    status: Literal["resolved"]
    resolution: Literal["published_again"]
    key: str
    patient_id: str


class FollowUpReport(Answer):
    since: Time
    as_of: Time
    read_since_last: int
    unread_in_follow_up: int
    escalated_open: int
    escalated_since_last: int
    bad_emails: int


class AuditEvent(Answer):
    id: str
    at: Time
    action: str
    outcome: str
    actor_id: str | None
    patient_id: str | None
    target_id: str | None


class AuditTrail(Answer):
    events: list[AuditEvent]


class OpenApiDocument(Answer):
    openapi: str
    paths: dict[str, Any]


class Mail(Answer):
    to: str
    subject: str
    text: str
    html: str


class Outbox(Answer):
    messages: list[Mail]


class SweepSummary(Answer):
    now: Time
    due: int
    notified: int
    escalated: int
    complete: bool


# ---------------------------------------------------------------- caregivers


class CaredFor(Answer):
    id: str
    name: str
    scope: Literal["read", "read_and_message"]


class Proxy(Answer):
    id: str
    name: str
    email: str
    relationship: str
    scope: Literal["read", "read_and_message"]
    status: Literal["active", "expired", "revoked"]
    expires_on: str | None


class Proxies(Answer):
    proxies: list[Proxy]


class AccessEvent(Answer):
    at: Time
    actor_name: str | None
    actor_role: str | None
    action: str
    item_title: str | None


class AccessLog(Answer):
    events: list[AccessEvent]
    next_cursor: str | None
