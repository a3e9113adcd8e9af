"""The envelopes only a route builds around what its service returns (`{"items": [...]}`), and the
answers no service returns (the sign-in's, health). Every other answer is declared beside the
service that returns it (`services/<capability>/answers.py`; see chalicelib/services/answers.py for
how an answer is declared). Each is declared once; the routes name them (`response=Items`).

TypedDicts: importing this module costs nothing at a cold start, and it loads no pydantic.
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from chalicelib.mail import Mail
from chalicelib.mail.texts import Text
from chalicelib.services.access.answers import Device
from chalicelib.services.accounts.answers import Patient, StaffMember
from chalicelib.services.accounts.letters import LocalLetter
from chalicelib.services.answers import LanguageCode, Time
from chalicelib.services.audit import AuditEvent
from chalicelib.services.caregivers.answers import Proxy
from chalicelib.services.publication.answers import ItemSummary
from chalicelib.vocabulary import Role


class Health(TypedDict):
    status: Literal["ok"]


class OpenApiDocument(TypedDict):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


class Message(TypedDict):
    """A sentence for the person, the same whatever happened (forgot password, forgot username)."""

    message: str


class Session(TypedDict):
    """A sign-in: the bearer token, and what the session still owes (a password change, a second
    factor: `mfa` is `none`, `verify` or `enroll`)."""

    token: str
    expires_at: Time
    must_change_password: bool
    role: Role
    mfa: Literal["none", "verify", "enroll"]


class MfaEnrollment(TypedDict):
    secret: str
    otpauth_uri: str


class RecoveryCodes(TypedDict):
    recovery_codes: list[str]


class Registered(TypedDict):
    id: str
    username: str


class Username(TypedDict):
    username: str


class Email(TypedDict):
    email: str


class Language(TypedDict):
    language: LanguageCode


class Items(TypedDict):
    items: list[ItemSummary]


class Patients(TypedDict):
    patients: list[Patient]


class StaffList(TypedDict):
    staff: list[StaffMember]


class Devices(TypedDict):
    sessions: list[Device]


class Proxies(TypedDict):
    proxies: list[Proxy]


class AuditTrail(TypedDict):
    events: list[AuditEvent]
    next_cursor: str | None  # the next (older) page's cursor; null on the last page


# ---------------------------------------------------------------- the local stage's /dev routes


class Outbox(TypedDict):
    messages: list[Mail]


class Texts(TypedDict):
    messages: list[Text]


class Letters(TypedDict):
    letters: list[LocalLetter]
