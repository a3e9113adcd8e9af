"""Mail: sending through SES (`sender`), and reading back what the local stage sent (`outbox_reader`)."""

from __future__ import annotations

from typing_extensions import TypedDict

# A mail the local SES accepted, as `outbox_reader.messages` reads it back (declared here, not
# there, so that naming it costs no parsing library at a cold start): `from` is the From header
# (the clinic's name and the address), `kind` the template (X-Portal-Mail). Declared by call, as
# `from` is a Python keyword.
Mail = TypedDict("Mail", {"to": str, "from": str, "kind": str, "subject": str, "text": str, "html": str,
                          "sent_at": "str | None"})
