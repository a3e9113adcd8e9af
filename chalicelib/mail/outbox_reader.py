"""Reads back every mail the local SES stand-in (moto) accepted: the local stage's mailbox.

moto keeps raw MIME messages and serves them at `/moto-api/data.json`, so any process (the
portal, the tests, a person with curl) sees the same mailbox.
"""

from __future__ import annotations

import json
import urllib.request
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.settings import get_settings


def _parts(raw: str) -> dict[str, Any]:
    message = message_from_bytes(raw.encode("utf-8", "surrogateescape"), policy=policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    date = message.get("Date")
    return {
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
        "text": text.get_content() if text is not None else "",
        "html": html.get_content() if html is not None else "",
        # the portal dates each mail by its own clock when it builds it
        "sent_at": iso(parsedate_to_datetime(str(date))) if date else None,
    }


def _raw() -> list[str]:
    endpoint = get_settings().ses_endpoint.rstrip("/")
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as answer:  # noqa: S310 - local stack
        data = json.load(answer)
    return [found.get("raw_data") or found.get("RawData") or ""
            for found in data.get("ses", {}).get("RawMessage", []) or []]


def messages() -> list[dict[str, Any]]:
    """Every mail accepted so far, oldest first: {to, subject, text, html, sent_at}."""
    return [_parts(raw) for raw in _raw()]


def headers(to: str) -> list[dict[str, str]]:
    """The headers of every mail accepted so far for one address, oldest first (what a mail
    client reads before the parts: the language, the content type)."""
    found = []
    for raw in _raw():
        message = message_from_bytes(raw.encode("utf-8", "surrogateescape"), policy=policy.default)
        if str(message.get("To", "")).casefold() == to.casefold():
            found.append({name: str(value) for name, value in message.items()})
    return found
