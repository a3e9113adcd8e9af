"""Builds each mail from our own text and HTML templates and sends it through SESv2 as raw MIME.

Templates get identifiers and links only: never a result, test name, diagnosis or comment. The
one secret a mail may carry is a temporary password, on its own line in the text part.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from chalicelib import aws
from chalicelib.observability import logger
from chalicelib.settings import get_settings

_TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(str(_TEMPLATES)),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SUBJECTS = {
    "invitation": "Your patient portal account",
    "item_notice": "You have a new item in your patient portal",
    "password_reset": "Your patient portal temporary password",
    "account_locked": "Your patient portal account was locked",
    "username_changed": "Your patient portal username was changed",
    "email_changed": "The email address on your patient portal account was changed",
    "password_changed": "Your patient portal password was changed",
    "staff_welcome": "Your patient portal staff account",
    "office_new_message": "A patient sent a secure message",
    "office_digest": "Patient portal daily read report",
}

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


def render(template: str, **context) -> tuple[str, str, str]:
    """(subject, text, html) for a template, with the portal link always available."""
    context.setdefault("portal_url", get_settings().portal_url)
    text = _env.get_template(f"{template}.txt").render(**context)
    html = _env.get_template(f"{template}.html").render(**context)
    return SUBJECTS[template], text, html


def build(to: str, template: str, **context) -> EmailMessage:
    subject, text, html = render(template, **context)
    settings = get_settings()
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rsplit("@", 1)[-1])
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(to: str, template: str, **context) -> str:
    """Send one mail; returns SES's message id. Raises MailError (transient or permanent)."""
    message = build(to, template, **context)
    settings = get_settings()
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
