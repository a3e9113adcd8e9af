"""The mails about an account (invitation, lock, changes), sent without failing the request."""

from __future__ import annotations

from typing import Any

from chalicelib.mail import sender
from chalicelib.observability import failure, logger


def send(account: Any, template: str, to: str | None = None, **context: Any) -> str:
    """Send an account mail, in the account's language; "sent" or "failed". A failed mail is logged and audited by the caller
    and never turns the answer into an error: a sign-in refusal must look the same either way.
    An account without an email (a patient registered with a phone only, or neither) is mailed
    nothing: "none"."""
    if not (to or account.email):
        return "none"
    try:
        sender.send(to or account.email, template, language=getattr(account, "language", None), **context)
        return "sent"
    except sender.MailError as err:
        logger.warning("account mail failed", extra={"account_id": account.id, "template": template, "error_code": err.code})
    except Exception as exc:  # noqa: BLE001 - see the docstring
        logger.error("account mail failed", extra={"account_id": account.id, "template": template, **failure(exc)})
    return "failed"
