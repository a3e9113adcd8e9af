"""Enrolment letters: how a patient without an email (or who prefers paper) joins the portal.

The office prints a letter (a PDF made with fpdf2, in the patient's language) holding the clinic's
name, address and phone, the portal's address, the patient's username and a one-time enrolment
code that expires after ENROLMENT_CODE_DAYS. The patient enrols at "I have an enrolment code"
(`services/access/enrolment.py`) with the code and their date of birth, and chooses a username and
a password. No password is ever printed.

- The code is 12 characters of an alphabet without look-alikes (`ABCD-EFGH-JKMN`, 60 bits); only
  its SHA-256 is kept (`store/enrolment.py`). Typed codes are read case-insensitively, dashes and
  spaces ignored.
- A new letter voids the old code at once; a patient who has signed in gets no letter (409).
- The PDF waits in the results bucket under `letters/` for the office to print it; the staff's
  link to it is short-lived. Locally, every letter's words are kept for `GET /dev/letters`.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from typing_extensions import TypedDict

from chalicelib import i18n
from chalicelib.clock import clock, iso, local_text
from chalicelib.errors import Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import phone as phone_number
from chalicelib.services.accounts import registry
from chalicelib.settings import get_settings
from chalicelib.store import bucket
from chalicelib.store import enrolment as enrolment_store
from chalicelib.store.accounts import Account

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0 or 1
CODE_LENGTH = 12
LETTER_PREFIX = "letters/"
LINK_SECONDS = 300
BOLD_LINES = (0, 11, 12)  # the clinic's name, the code and the username (see `letter_lines`)


class LetterMade(TypedDict):
    """`POST /api/staff/patients/{id}/enrolment-letter`: when the new code stops working."""

    code_expires_at: str


class LocalLetter(TypedDict):
    """A letter's words as printed (the local stage's `GET /dev/letters`)."""

    patient_id: str
    text: str
    created_at: str


# Every letter made by this process, on the local stage only (for `GET /dev/letters`).
LOCAL_LETTERS: list[LocalLetter] = []


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def shown_code(code: str) -> str:
    """As printed: three groups of four (`ABCD-EFGH-JKMN`)."""
    return "-".join(code[start:start + 4] for start in range(0, len(code), 4))


def normalized(typed: str) -> str | None:
    """A typed code as issued (upper case, without dashes or spaces), or None when it cannot be one."""
    code = "".join(char for char in typed.upper() if char not in "- \t")
    return code if len(code) == CODE_LENGTH and all(char in CODE_ALPHABET for char in code) else None


def code_hash(code: str) -> str:
    return hashlib.sha256(f"enrolment:{code}".encode()).hexdigest()


def letter_key(patient_id: str, letter_id: str) -> str:
    return f"{LETTER_PREFIX}{patient_id}/{letter_id}.pdf"


def enrol_url() -> str:
    return f"{get_settings().portal_url}/enrol"


# ---------------------------------------------------------------- the letter's words

def letter_lines(account: Account, code: str, expires_at: datetime, now: datetime) -> list[str]:
    """What the letter says, line by line, in the patient's language ("" is a blank line)."""
    settings = get_settings()
    language = i18n.of(account.language)

    def _(text: str, **values: Any) -> str:
        return i18n.gettext(text, language).format(**values)

    phone = phone_number.shown(settings.clinic_phone) or settings.clinic_phone
    zone = settings.clinic_time_zone
    return [
        settings.clinic_name,
        settings.clinic_address,
        _(N_("Phone: {phone}"), phone=phone) if phone else "",
        local_text(now, zone, with_time=False, language=language),
        "",
        _(N_("Dear {name},"), name=account.name),
        "",
        _(N_("{clinic} has opened a patient portal account for you. In the portal you can read your test results "
             "and your providers' comments, and write to the office."), clinic=settings.clinic_name),
        "",
        _(N_("To join, go to {url} (\"I have an enrolment code\") and enter your enrolment code and your date of "
             "birth. Then choose a username and a password of your own."), url=enrol_url()),
        "",
        _(N_("Your enrolment code: {code}"), code=shown_code(code)),
        _(N_("Your username: {username} (you may choose another as you join)"), username=account.username),
        _(N_("Portal address: {url}"), url=settings.portal_url),
        "",
        _(N_("The code works once, until {date}. Keep this letter private: with the code and your date of birth, "
             "anyone could join as you."), date=local_text(expires_at, zone, with_time=False, language=language)),
        "",
        _(N_("We never ask for your password, by letter, email or phone. Questions? Call us at {phone}."),
          phone=phone or settings.clinic_name),
    ]


def _latin1(text: str) -> str:
    """The PDF's built-in fonts write Latin-1: other characters lose their accent, or become '?'."""
    out = []
    for char in text:
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(plain if plain and plain.isascii() else "?")
    return "".join(out)


def render_pdf(lines: list[str], language: str) -> bytes:
    """The letter as a one-page A4/Letter-friendly PDF (fpdf2, the built-in Helvetica)."""
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.set_title(_latin1(lines[0]))
    pdf.set_lang(language)
    pdf.set_margins(22, 22, 22)
    pdf.add_page()
    for number, line in enumerate(lines):
        bold = number in BOLD_LINES
        pdf.set_font("helvetica", style="B" if bold else "", size=15 if number == 0 else 11.5)
        if line:
            pdf.multi_cell(0, 6.5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(4)
    return bytes(pdf.output())


# ---------------------------------------------------------------- the office's side

def _letter_patient(caller: Caller, patient_id: str, action: str) -> Account:
    account = registry.get_patient(patient_id)
    if account.has_signed_in:
        audit.record_about(caller, action, account, outcome="already_signed_in")
        raise Conflict(N_("This patient has already signed in: they need no enrolment letter."),
                       code="already_signed_in")
    if account.disabled_at is not None:
        audit.record_about(caller, action, account, outcome="access_closed")
        raise Conflict(N_("The patient's portal access is closed; reopen it first."), code="access_closed")
    return account


def make_letter(caller: Caller, patient_id: str) -> LetterMade:
    """A new letter with a new code (the previous code stops working at once). 409 for a patient
    who has signed in already, or whose access is closed."""
    account = _letter_patient(caller, patient_id, "patient.enrolment_letter")
    settings = get_settings()
    now = clock.now()
    code, letter_id = new_code(), secrets.token_hex(8)
    expires_at = now + timedelta(days=settings.enrolment_code_days)
    lines = letter_lines(account, code, expires_at, now)
    language = i18n.of(account.language)
    bucket.put_bytes(settings.results_bucket, letter_key(account.id, letter_id), render_pdf(lines, language),
                     "application/pdf")
    if not enrolment_store.issue(account, code_hash(code), expires_at, letter_id, now):
        audit.record_about(caller, "patient.enrolment_letter", account, outcome="conflict")
        raise Conflict(N_("This patient has already signed in: they need no enrolment letter."),
                       code="already_signed_in")
    if settings.dev_routes:
        LOCAL_LETTERS.append({"patient_id": account.id, "text": "\n".join(lines), "created_at": iso(now)})
    audit.record_about(caller, "patient.enrolment_letter", account,
                       detail={"letter_id": letter_id, "expires_at": iso(expires_at)})
    return {"code_expires_at": iso(expires_at)}


def letter_link(caller: Caller, patient_id: str) -> str:
    """A short-lived link to the patient's current letter, to print; 404 when there is none (never
    made, or the code was used)."""
    account = registry.get_patient(patient_id)
    if not account.enrolment_letter_id or account.has_signed_in:
        raise NotFound(N_("There is no enrolment letter to print for this patient."))
    audit.record_about(caller, "patient.enrolment_letter_view", account, detail={"letter_id": account.enrolment_letter_id})
    return bucket.file_link(get_settings().results_bucket, letter_key(account.id, account.enrolment_letter_id),
                            "application/pdf", LINK_SECONDS, 'inline; filename="enrolment-letter.pdf"')


def require_email(caller: Caller, account: Account, action: str) -> None:
    """409 `no_email_address` for a patient without an email: mail cannot reach them (print a letter)."""
    if not account.email:
        audit.record_about(caller, action, account, outcome="no_email_address")
        raise Conflict(N_("There is no email on file: print an enrolment letter instead."), code="no_email_address")


def local_letters() -> list[LocalLetter]:
    """Every letter this process made, oldest first (the local stage's `GET /dev/letters`)."""
    return list(LOCAL_LETTERS)


class LetterStatus(TypedDict):
    """Whether the patient has a letter whose code still works, and until when."""

    code_expires_at: str | None


def status(patient_id: str) -> LetterStatus:
    account = registry.get_patient(patient_id)
    live = (account.enrolment_letter_id and account.enrolment_expires_at is not None
            and account.enrolment_expires_at > clock.now() and not account.has_signed_in)
    return {"code_expires_at": iso(account.enrolment_expires_at) if live else None}
