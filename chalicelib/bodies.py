"""Every request body of the API (and of the pages, which validate with the same models), and the
field types they use.

Routes name their body (`@route(..., body="LoginBody")`) and pages pass the name to `ctx.submit`;
`chalicelib.api.http.body_model` loads this module, and pydantic with it, on the first request that
has a body, so a cold start that serves only reads never pays for either.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from chalicelib.clock import clock
from chalicelib.i18n import N_
from chalicelib.vocabulary import CallOutcome, MessageCategory

# ---------------------------------------------------------------- field types


def _clean_text(value: str) -> str:
    """Refuse what cannot be stored or shown safely: lone surrogates and control characters."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or (category == "Cc" and char not in "\n\r\t"):
            raise ValueError("contains characters that are not allowed")
    return value


def _past_date(value: str) -> str:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date like 1980-04-30") from None
    if parsed > clock.now().date() or parsed.year < 1900:
        raise ValueError("must be a real date of birth")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_clean_text)]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
EmailText = Annotated[Text, Field(min_length=3, max_length=254)]
UsernameText = Annotated[Text, Field(min_length=1, max_length=254)]
PasswordText = Annotated[Text, Field(min_length=1, max_length=1024)]
DateOfBirth = Annotated[Text, Field(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_past_date)]
Mrn = Annotated[Text, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]
Note = Annotated[Text, Field(max_length=2000)]
# Plain text, kept exactly as written (HTML included): clients show it as text, never as markup.
MessageText = Annotated[Text, Field(max_length=10_000), AfterValidator(_not_blank)]
SubjectText = Annotated[Text, Field(max_length=200), AfterValidator(_not_blank)]
Category = MessageCategory
PhoneText = Annotated[Text, Field(max_length=40)]


class Body(BaseModel):
    """Base of every request body: strict types, unknown fields refused."""

    # defer_build: each model's validator is built on its first use, not when this module loads.
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=20_000, defer_build=True)


# ---------------------------------------------------------------- sign-in and profile


class LoginBody(Body):
    username: UsernameText
    password: PasswordText


class PasswordBody(Body):
    current_password: PasswordText
    new_password: PasswordText


class ForgotPasswordBody(Body):
    username: UsernameText


REACH_PATIENT = N_("Give a phone number or an email address, so the office can reach you.")


class ForgotUsernameBody(Body):
    """At least one way to reach the patient: a phone or an email (or both)."""

    name: Name
    date_of_birth: DateOfBirth
    email: EmailText | None = None
    phone: Annotated[Text, Field(max_length=40, pattern=r"^[0-9+()\-. ]*$")] | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _a_way_to_reach(self) -> ForgotUsernameBody:
        if not (self.email or "").strip() and not (self.phone or "").strip():
            raise ValueError(REACH_PATIENT)
        return self


class UsernameBody(Body):
    username: UsernameText
    current_password: PasswordText


# The signed-in account's own email, confirmed by the password (staff change a patient's without one).
class EmailBody(Body):
    email: EmailText
    current_password: PasswordText


class LanguageBody(Body):
    language: Literal["en", "es"]


# The patient's own phone (read by chalicelib/services/accounts/phone.py, stored in E.164), confirmed
# by the password; blank removes it.
class PhoneBody(Body):
    phone: PhoneText
    current_password: PasswordText


# How notices reach a patient: email, text messages (SMS), or both.
class NotificationsBody(Body):
    email: bool
    sms: bool


# When the patient's lab results are released to them: at once, or once a provider reviewed them.
class ResultReleaseBody(Body):
    when: Literal["immediately", "after_review"]


# Enrolling with the code of an enrolment letter: case, dashes and spaces do not matter.
class EnrolBody(Body):
    code: Annotated[Text, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")]
    date_of_birth: DateOfBirth
    username: UsernameText
    password: PasswordText


# ---------------------------------------------------------------- the second factor

# A code as an authenticator app shows it: six digits, perhaps typed with a space in the middle.
MfaCode = Annotated[str, Field(min_length=6, max_length=12, pattern=r"^[0-9 ]+$")]
# A recovery code as it was shown (xxxx-xxxx-xxxx); case, spaces and dashes do not matter.
RecoveryCode = Annotated[str, Field(min_length=12, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")]


class MfaCodeBody(Body):
    code: MfaCode


class MfaVerifyBody(Body):
    """A code from the app or a recovery code: exactly one of them."""

    code: MfaCode | None = None
    recovery_code: RecoveryCode | None = None

    @model_validator(mode="after")
    def _one_of_them(self) -> MfaVerifyBody:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give either code or recovery_code")
        return self


# The sign-in page's second form: a recovery code alone.
class MfaRecoveryBody(Body):
    recovery_code: RecoveryCode


class MfaRemoveBody(Body):
    current_password: PasswordText
    code: MfaCode


# ---------------------------------------------------------------- messages


class NewThreadBody(Body):
    subject: SubjectText
    body: MessageText
    category: Category | None = None
    # The patient's own item the question is about (a result): the thread is linked to it.
    item_id: Annotated[Text, Field(min_length=1, max_length=200)] | None = None


class ReplyBody(Body):
    body: MessageText


class OfficeThreadBody(Body):
    subject: SubjectText
    body: MessageText
    category: Category | None = None


# ---------------------------------------------------------------- office staff and admins


class RegisterBody(Body):
    """`email` is optional: a patient may be registered with a phone only, or neither (the office
    then prints an enrolment letter)."""

    name: Name
    date_of_birth: DateOfBirth
    email: EmailText | None = None
    mrn: Mrn
    # Checked by chalicelib/services/accounts/phone.py (7 to 20 digits with the usual separators).
    phone: PhoneText | None = None
    language: Literal["en", "es"] = "en"


class PatientPhoneBody(Body):
    """The patient's phone on file; null or blank removes it."""

    phone: PhoneText | None = None


class PatientEmailBody(Body):
    email: EmailText


# The chart a forgot-username request is about.
class LinkChartBody(Body):
    patient_id: Annotated[Text, Field(min_length=1, max_length=200)]


# Closing a work-queue entry: a follow-up, a failed notice, a forgot-username form, or a
# quarantined upload without publishing it (a note is then required).
class ResolveBody(Body):
    note: Note | None = None


# Sending a quarantined upload back to the publisher, optionally under the right MRN.
class PublishAgainBody(Body):
    mrn: Mrn | None = None
    note: Note | None = None


class UploadBody(Body):
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    category: Annotated[Text, Field(min_length=1, max_length=100)]
    provider: Annotated[Text, Field(min_length=1, max_length=200)]
    comment: Annotated[Text, Field(max_length=4000)] | None = None
    filename: Annotated[Text, Field(min_length=1, max_length=255)]
    content_type: Literal["application/pdf", "image/png", "image/jpeg", "text/plain"]


class CommentBody(Body):
    text: Annotated[Text, Field(min_length=1, max_length=4000)]


class RetractBody(Body):
    reason: Annotated[Text, Field(min_length=1, max_length=1000)]


# A document posted to the wrong patient, filed to the right one (its portal id), and why.
class RefileBody(Body):
    patient_id: Annotated[Text, Field(min_length=1, max_length=100, description="the right patient's id")]
    reason: Annotated[Text, Field(min_length=1, max_length=1000)]


class ReplaceBody(Body):
    filename: Annotated[Text, Field(min_length=1, max_length=255)]
    content_type: Literal["application/pdf", "image/png", "image/jpeg", "text/plain"]
    comment: Annotated[Text, Field(max_length=4000)] | None = None


class StaffBody(Body):
    username: UsernameText
    email: EmailText
    name: Name
    role: Annotated[Literal["staff", "admin", "provider"], Field(description="staff, admin or provider")]
    npi: Annotated[str | None, Field(default=None, pattern=r"^(\d{10})?$",
                                     description="a provider's NPI: ten digits")] = None


# The office called a patient about a critical result: how it went, and a note.
class CriticalCallBody(Body):
    outcome: Annotated[CallOutcome, Field(description="reached, left_message, no_answer or wrong_number")]
    note: Note | None = None


# A provider marks a result reviewed, optionally with a comment the patient reads under their name.
class ProviderReviewBody(Body):
    comment: Annotated[Text, Field(max_length=2000, description="for the patient, at most 2,000 characters")] | None = None


# Disabling or enabling a staff member, or changing their role (admins).
class StaffUpdateBody(Body):
    active: bool | None = None
    role: Annotated[Literal["staff", "admin"], Field(description="staff or admin")] | None = None


# Closing or reopening a patient's portal access, and why.
class PatientAccessBody(Body):
    active: bool
    reason: Annotated[Text, Field(min_length=1, max_length=500)]


# ---------------------------------------------------------------- local stage only


class SweepBody(Body):
    now: str | None = None


# ---------------------------------------------------------------- query strings
# What the handlers read from `ctx.query`, named by their route (`@route(..., query="PagingQuery")`)
# so the OpenAPI document declares each parameter; every parameter is optional.


class Query(BaseModel):
    """Base of every query string model."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class PagingQuery(Query):
    limit: Annotated[str, Field(pattern=r"^(0*([1-9][0-9]?|1[0-9]{2}|200))?$", description="1 to 200")] = ""
    cursor: Annotated[str, Field(description="next_cursor of the page before")] = ""


class CursorQuery(Query):
    cursor: Annotated[str, Field(description="next_cursor of the page before")] = ""


class PatientRecordQuery(Query):
    patient_id: Annotated[str, Field(description="a caregiver: the patient whose records (a live grant)")] = ""


class PatientRecordPagingQuery(PagingQuery, PatientRecordQuery):
    pass


class ResultTrendQuery(PatientRecordQuery):
    code: Annotated[str, Field(description="the test's code, as its observations carry it (a LOINC code)")] = ""


class PatientSearchQuery(Query):
    q: Annotated[str, Field(description="MRN, username or the start of a name")] = ""


class OutboxQuery(Query):
    to: Annotated[str, Field(description="only the mails to this address (any case)")] = ""


class QueueQuery(Query):
    limit: Annotated[str, Field(pattern=r"^(0*([1-9][0-9]?|[1-4][0-9]{2}|500))?$",
                                description="entries of each list, 1 to 500 (every one when not given)")] = ""
    cursor: Annotated[str, Field(description="next_cursor of the page before")] = ""


class ProviderResultsQuery(Query):
    state: Annotated[str, Field(pattern=r"^(to_review)?$", description="to_review (the only list)")] = ""


class AuditQuery(Query):
    patient_id: str = ""
    actor_id: str = ""
    limit: Annotated[str, Field(pattern=r"^(0*([1-9][0-9]?|[1-4][0-9]{2}|500))?$", description="1 to 500 (500)")] = ""
    cursor: Annotated[str, Field(description="next_cursor of the page before")] = ""


# ---------------------------------------------------------------- caregivers


class ProxyBody(Body):
    name: Name
    email: EmailText
    relationship: Annotated[Text, Field(min_length=1, max_length=100)]
    scope: Literal["read", "read_and_message"]
    # The last day the grant works (YYYY-MM-DD); none: until revoked. A past date is refused.
    expires_on: Annotated[Text, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
