"""Reads back every mail the local SES stand-in (moto) accepted: the local stage's mailbox.

moto keeps raw MIME messages and serves them at `/moto-api/data.json`, so any process (the
portal, the tests, a person with curl) sees the same mailbox. That dump serializes every model
moto holds (every S3 object and SQS message too), so a process that hosts moto itself (the local
stack runs moto's server in a thread) reads the SES backend's list directly. A mail never changes
once sent: each is parsed once and kept, so reading the mailbox costs the new mails only.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from chalicelib.clock import iso
from chalicelib.mail import Mail
from chalicelib.settings import get_settings

_PARSED: dict[str, tuple[EmailMessage, Mail]] = {}


def _parsed(raw: str) -> tuple[EmailMessage, Mail]:
    """The message and its parts, parsed the first time the mail is read."""
    found = _PARSED.get(raw)
    if found is None:
        message = message_from_bytes(raw.encode("utf-8", "surrogateescape"), policy=policy.default)
        found = _PARSED[raw] = (message, _parts(message))
    return found


def _parts(message: EmailMessage) -> Mail:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    date = message.get("Date")
    return {
        "to": str(message.get("To", "")),
        "from": str(message.get("From", "")),
        "kind": str(message.get("X-Portal-Mail", "")),
        "subject": str(message.get("Subject", "")),
        "text": text.get_content() if text is not None else "",
        "html": html.get_content() if html is not None else "",
        # the portal dates each mail by its own clock when it builds it
        "sent_at": iso(parsedate_to_datetime(str(date))) if date else None,
    }


def _raw() -> list[str]:
    hosted = _sent_in_this_process()
    return hosted if hosted is not None else _sent_over_http()


def _sent_in_this_process() -> list[str] | None:
    """The raw mails of the SES backend of the moto server this process runs, oldest first (None
    when this process runs no moto server)."""
    if "moto.server" not in sys.modules:
        return None
    from moto.ses.models import ses_backends

    return [message.raw_data for regions in list(ses_backends.values()) for backend in list(regions.values())
            for message in list(backend.sent_messages) if getattr(message, "raw_data", None)]


def _sent_over_http() -> list[str]:
    endpoint = get_settings().ses_endpoint.rstrip("/")
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as answer:  # noqa: S310 - local stack
        data = json.load(answer)
    return [found.get("raw_data") or found.get("RawData") or ""
            for found in data.get("ses", {}).get("RawMessage", []) or []]


def messages(to: str | None = None) -> list[Mail]:
    """Every mail accepted so far (or only those to `to`, in any case), oldest first:
    {to, from, kind, subject, text, html, sent_at} (`kind`: the template, X-Portal-Mail)."""
    parts = (_parsed(raw)[1] for raw in _raw())
    return [Mail(**part) for part in parts if to is None or part["to"].casefold() == to.casefold()]


def headers(to: str) -> list[dict[str, str]]:
    """The headers of every mail accepted so far for one address, oldest first (what a mail
    client reads before the parts: the language, the content type)."""
    found = []
    for raw in _raw():
        message = _parsed(raw)[0]
        if str(message.get("To", "")).casefold() == to.casefold():
            found.append({name: str(value) for name, value in message.items()})
    return found
