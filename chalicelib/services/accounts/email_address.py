"""Whether a text is an email address, by its syntax (RFC 5322 / 6531 as `email-validator` reads
them), never by asking DNS: the one check behind every place the portal takes an address."""

from __future__ import annotations

from chalicelib.errors import BadRequest
from chalicelib.i18n import N_

MAX_LENGTH = 254


def problem(text: str) -> str | None:
    """What is wrong with `text` as an email address (a sentence), or None when it is one.
    Quoted local parts, IP-address domains and domains without a dot are refused: no mail
    service the clinic uses takes them, and they are how markup slips into an address."""
    from email_validator import EmailNotValidError, validate_email  # loaded with the first address checked

    if len(text) > MAX_LENGTH:
        return f"use at most {MAX_LENGTH} characters."
    try:
        validate_email(text, check_deliverability=False, allow_quoted_local=False, allow_domain_literal=False,
                       allow_display_name=False, globally_deliverable=True)
    except EmailNotValidError as err:
        return str(err).rstrip(".") + "."
    return None


def valid(text: str, field: str = "email") -> str:
    """`text` without surrounding spaces, when it is an email address; otherwise 400 `invalid_email`
    naming `field`."""
    text = text.strip()
    found = problem(text)
    if found:
        # email-validator's reason is English: another language says the catalog's general sentence.
        raise BadRequest(N_("Not a valid email address ({reason})"), field=field, code="invalid_email",
                         params={"reason": found[:1].lower() + found[1:]},
                         plain=N_("This is not a valid email address (it looks like name@example.com)."))
    return text
