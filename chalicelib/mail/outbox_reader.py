"""Reads back every mail the local SES stand-in (moto) accepted: the local stage's mailbox.

moto keeps raw MIME messages and serves them at `/moto-api/data.json`, so any process (the
portal, the tests, a person with curl) sees the same mailbox.
"""

from __future__ import annotations

import json
import urllib.request
from email import message_from_bytes, policy
from typing import Any

from chalicelib.settings import get_settings


def _parts(raw: str) -> tuple[str, str, str, str]:
    message = message_from_bytes(raw.encode("utf-8", "surrogateescape"), policy=policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (
        str(message.get("To", "")),
        str(message.get("Subject", "")),
        text.get_content() if text is not None else "",
        html.get_content() if html is not None else "",
    )


def messages() -> list[dict[str, Any]]:
    """Every mail accepted so far, oldest first: {to, subject, text, html, sent_at}."""
    endpoint = get_settings().ses_endpoint.rstrip("/")
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as answer:  # noqa: S310 - local stack
        data = json.load(answer)
    found = []
    for region_messages in data.get("ses", {}).get("RawMessage", []) or []:
        raw = region_messages.get("raw_data") or region_messages.get("RawData") or ""
        to, subject, text, html = _parts(raw)
        found.append({"to": to, "subject": subject, "text": text, "html": html,
                      "sent_at": region_messages.get("sent_at") or region_messages.get("timestamp")})
    return found
