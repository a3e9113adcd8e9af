"""Builds each mail from our own text and HTML templates and sends it through SESv2 as raw MIME.

Templates get identifiers and links only: never a result, test name, diagnosis or comment. The
one secret a mail may carry is a temporary password, on its own line in the text part.

Every mail names the clinic (`CLINIC_NAME`): the From display name, the subject (which says what
kind of thing arrived, never what it holds), and the footer with the clinic's phone and address
and the line that the clinic never asks for a password by email. `X-Portal-Mail` names the
template (the kind of mail), for the local mailbox and SES's event records.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from functools import lru_cache
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, i18n
from chalicelib.clock import clock
from chalicelib.i18n import N_
from chalicelib.observability import failure, logger
from chalicelib.settings import get_settings
from chalicelib.store import counters

_TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=len(i18n.LANGUAGES))
def _env(language: str = i18n.DEFAULT):
    """The mail templates in one language (Jinja2's i18n extension over that language's catalog),
    loaded on the first mail rather than on every cold start."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = lambda value: _when(value, language)
    env.globals["lang"] = language
    return env


def _when(value: str | None, language: str = i18n.DEFAULT) -> str:
    """An ISO 8601 UTC time as the clinic reads it: in its own time zone, with the abbreviation."""
    from chalicelib.clock import local_text, parse_iso

    return local_text(parse_iso(value), get_settings().clinic_time_zone, language=language) if value else ""

# Each subject names the clinic and the kind of thing the mail is about, never what it holds.
SUBJECTS = {
    "invitation": N_("%(clinic)s: your patient portal account is ready"),
    "item_notice": N_("%(clinic)s: new item in your patient portal"),
    "password_reset": N_("%(clinic)s: your patient portal temporary password"),
    "account_locked": N_("%(clinic)s: your patient portal account was locked"),
    "username_changed": N_("%(clinic)s: your patient portal username was changed"),
    "email_changed": N_("%(clinic)s: the email address on your patient portal account was changed"),
    "password_changed": N_("%(clinic)s: your patient portal password was changed"),
    "staff_welcome": N_("%(clinic)s: your patient portal staff account"),
    "mfa_enabled": N_("%(clinic)s: a sign-in code app was set up on your patient portal account"),
    "mfa_removed": N_("%(clinic)s: the sign-in code app was removed from your patient portal account"),
    "mfa_reset": N_("%(clinic)s: your patient portal sign-in code app was reset"),
    "office_new_message": N_("%(clinic)s: a patient sent a secure message"),
    "office_digest": N_("%(clinic)s: patient portal daily read report"),
    "export_ready": N_("%(clinic)s: the copy of your patient portal records is ready"),
    "caregiver_invitation": N_("%(clinic)s: %(patient)s gave you caregiver access in the patient portal"),
    "caregiver_access": N_("%(clinic)s: %(patient)s gave you caregiver access in the patient portal"),
    "caregiver_changed": N_("%(clinic)s: caregiver access to your patient portal records changed"),
}
# An item notice's subject says what kind of item arrived; later notices of the same item remind.
ITEM_SUBJECTS = {
    ("document", False): N_("%(clinic)s: new document in your patient portal"),
    ("result", False): N_("%(clinic)s: new test result in your patient portal"),
    ("message", False): N_("New message from %(clinic)s in your patient portal"),
    ("document", True): N_("Reminder from %(clinic)s: a new document is waiting in your patient portal"),
    ("result", True): N_("Reminder from %(clinic)s: a new test result is waiting in your patient portal"),
    ("message", True): N_("Reminder from %(clinic)s: a new message is waiting in your patient portal"),
}

# The office's mail about a lab result with a critical value (services/results): a call is needed, nothing more.
SUBJECTS["office_critical_result"] = N_("%(clinic)s: a lab result needs a call to the patient")
# Its reminder to the admins, when no call was recorded within the hour (again nothing medical).
SUBJECTS["admin_critical_reminder"] = N_("%(clinic)s: a lab result still needs a call to the patient")

# SES answers these when it is busy or briefly failing: try again later.
TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "LimitExceededException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
}


class MailError(Exception):
    def __init__(self, code: str, transient: bool):
        super().__init__(code)
        self.code = code
        self.transient = transient


class TokenBucket:
    """Keeps this process under SES's maximum send rate: each send takes a token; tokens come
    back at `rate` per second, up to one second's worth. A caller without a token waits."""

    def __init__(self, rate: float):
        self._lock = threading.Lock()
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self.rate = max(float(rate), 0.001)
            self._tokens = self.rate
            self._stamp = time.monotonic()

    def take(self) -> float:
        """Wait for a token; returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait:
            time.sleep(wait)
        return wait


class SharedSendRate:
    """Keeps every instance of every function together under SES's maximum send rate (an
    account-wide limit): each send takes a place in the current second, counted in one DynamoDB
    counter they all share (`send-rate#<name>#<epoch second>`). An instance takes its places a few
    at a time (a quarter of the rate, with one conditional update; fewer when fewer are left) and
    uses them within that second, so a mail costs a fraction of a round trip. When the second's
    places are taken, the sender waits for the next second. Should the counter be unreachable,
    this process falls back to a bucket of its own (logged once), and SES's own throttling
    answers are retried from the outbox as before."""

    def __init__(self, rate: float, name: str = "ses", *,
                 take_places: Callable[[str, int, int, datetime], int] | None = None,
                 now: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self._take_places = take_places or counters.take_places
        self._now, self._sleep = now, sleep
        self._lock = threading.Lock()
        self._second, self._left = -1, 0  # the places this instance holds, and in which second
        self._fallback = TokenBucket(rate)
        self._counter_failed = False
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        self.rate = max(int(rate), 1)
        self._fallback.set_rate(self.rate)

    def _held(self, second: int) -> bool:
        """Use one of the places this instance holds in this second, if any."""
        with self._lock:
            if self._second == second and self._left > 0:
                self._left -= 1
                return True
            return False

    def _reserve(self, second: int) -> bool:
        """Take a few places of this second from the shared counter; use one of them."""
        got = self._take_places(f"send-rate#{self.name}#{second}", max(self.rate // 4, 1), self.rate,
                                datetime.fromtimestamp(second + 120, UTC))
        if got <= 0:
            return False
        with self._lock:
            self._second, self._left = second, got - 1
        return True

    def take(self) -> float:
        """Wait for a place in a second's window; returns the seconds waited."""
        waited = 0.0
        while not self._counter_failed:
            now = self._now()
            second = int(now)
            if self._held(second):
                return waited
            try:
                if self._reserve(second):
                    return waited
            except Exception as err:  # noqa: BLE001 - a mail must not fail for want of its rate counter
                self._counter_failed = True
                logger.warning("shared send-rate counter unavailable; this instance keeps its own rate",
                               extra=failure(err))
                break
            pause = max(second + 1 - now, 0.001)
            self._sleep(pause)
            waited += pause
        return waited + self._fallback.take()


_limiter: SharedSendRate | None = None


def limiter() -> SharedSendRate:
    """The send-rate limit every instance shares, at `settings.ses_send_rate` per second."""
    global _limiter
    if _limiter is None:
        _limiter = SharedSendRate(get_settings().ses_send_rate)
    return _limiter


# What a template's context holds when its caller says nothing of it.
DEFAULTS: dict[str, dict[str, object]] = {"item_notice": {"item_kind": None, "reminder": False}}


def subject(template: str, language: str | None = None, **context) -> str:
    """A mail's subject in a language: the clinic's name and the kind of thing it is about. An item
    notice's names the item's kind (`item_kind`: document, result, message) and reminds when it
    is not the item's first notice (`reminder`)."""
    text = SUBJECTS[template]
    if template == "item_notice":
        text = ITEM_SUBJECTS.get((context.get("item_kind") or "", bool(context.get("reminder"))), text)
    patient = str(context.get("patient_first_name") or "")
    return i18n.gettext(text, language) % {"clinic": get_settings().clinic_name, "patient": patient}


def clinic_context() -> dict[str, str]:
    """What every template may name about the clinic and the portal."""
    settings = get_settings()
    return {"clinic_name": settings.clinic_name, "clinic_phone": settings.clinic_phone,
            "clinic_address": settings.clinic_address, "portal_url": settings.portal_url}


def render(template: str, language: str | None = None, **context) -> tuple[str, str, str]:
    """(subject, text, html) for a template in a language (English when unset), with the portal
    link and the clinic's name, phone and address always available."""
    language = i18n.of(language)
    context = {**clinic_context(), **DEFAULTS.get(template, {}), **context}
    text = _env(language).get_template(f"{template}.txt").render(**context)
    html = _env(language).get_template(f"{template}.html").render(**context)
    return subject(template, language, **context), text, html


# Headers on one line (RFC 5322 allows 998 characters): Python folds a long subject holding an
# encoded word (a Spanish accent) with a space on both sides of the fold, which every reader then
# shows as two ("se  bloqueó"), and may fold an ASCII one before its first word.
_HEADERS_UNFOLDED = email_policy.default.clone(max_line_length=998)


def sender_address() -> str:
    """The From header: the clinic's name as the display name, then the sending address."""
    settings = get_settings()
    return formataddr((settings.clinic_name, settings.mail_from))


def build(to: str, template: str, language: str | None = None, **context) -> EmailMessage:
    subject_, text, html = render(template, language, **context)
    settings = get_settings()
    message = EmailMessage(policy=_HEADERS_UNFOLDED)
    message["From"] = sender_address()
    message["To"] = to
    message["Subject"] = subject_
    message["X-Portal-Mail"] = template
    message["Date"] = formatdate(clock.now().timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rsplit("@", 1)[-1])
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = i18n.of(language)  # after the parts: set_content clears Content-* headers
    return message


def send(to: str, template: str, language: str | None = None, **context) -> str:
    """Send one mail in the reader's language (English when unset); returns SES's message id.
    Raises MailError (transient or permanent)."""
    message = build(to, template, language, **context)
    settings = get_settings()
    limiter().take()
    try:
        answer = aws.client("sesv2").send_email(
            FromEmailAddress=settings.mail_from,
            Destination={"ToAddresses": [to]},
            Content={"Raw": {"Data": message.as_bytes()}},
            ConfigurationSetName=settings.ses_configuration_set,
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "Unknown")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        transient = code in TRANSIENT_CODES or status >= 500
        logger.warning("mail not sent", extra={"template": template, "error_code": code, "transient": transient})
        raise MailError(code, transient) from err
    except BotoCoreError as err:
        logger.warning("mail not sent", extra={"template": template, "error_code": type(err).__name__})
        raise MailError(type(err).__name__, True) from err
    logger.info("mail sent", extra={"template": template})
    return answer["MessageId"]
