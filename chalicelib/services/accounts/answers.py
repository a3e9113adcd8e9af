"""The accounts' answers (see chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from chalicelib.services.answers import LanguageCode, Time
from chalicelib.vocabulary import Role


class Notifications(TypedDict):
    """How notices reach a patient (`contact.notifications_json`): email, text messages, or both."""

    email: bool
    sms: bool


# When a patient's lab results are released to them: at once, or once a provider reviewed them.
ResultReleaseChoice = Literal["immediately", "after_review"]


class ResultRelease(TypedDict):
    """The patient's own choice of when their results are released (`PUT /api/me/result-release`)."""

    when: ResultReleaseChoice


class Account(TypedDict):
    """An account as its owner (and an admin who made it) sees it (`registry.account_json`)."""

    id: str
    username: str
    email: str | None  # none for a patient registered with a phone only, or neither
    name: str
    role: Role
    email_status: str | None
    language: LanguageCode
    phone: str | None  # E.164
    notifications: Notifications
    result_release: ResultReleaseChoice  # a patient's choice ("immediately" for every other account)


class Patient(Account):
    """A patient as the office sees them (`registry.patient_json`), with their portal access:
    `active` is false while it is closed, `access_reason` says why it was last closed or reopened."""

    mrn: str | None
    date_of_birth: str | None
    sms_opted_out_at: Time | None  # the number replied STOP (texts stay off until chosen again)
    has_signed_in: bool
    locked: bool
    created_at: Time | None
    active: bool
    access_reason: str | None


class StaffMember(TypedDict):
    """A staff member or admin as admins see them (`lifecycle.staff_json`)."""

    id: str
    username: str
    email: str
    name: str
    role: Literal[Role.STAFF, Role.ADMIN, Role.PROVIDER]
    active: bool
    mfa_enrolled: bool
