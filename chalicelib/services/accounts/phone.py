"""Whether a text is a phone number the office can dial, checked loosely: digits with the usual
separators (spaces, +, -, parentheses, dots), 7 to 20 digits. The one check behind every place
the portal takes a phone number (registration, the CSV import, the patient page)."""

from __future__ import annotations

import re

from chalicelib.errors import BadRequest

MAX_LENGTH = 40
MIN_DIGITS, MAX_DIGITS = 7, 20
_ALLOWED = re.compile(r"^[0-9+()\-. ]+$")


def problem(text: str) -> str | None:
    """What is wrong with `text` as a phone number (a sentence), or None when it is one."""
    if len(text) > MAX_LENGTH or not _ALLOWED.match(text):
        return "use digits, spaces, +, - and parentheses only, for example (555) 010-2030."
    digits = sum(char.isdigit() for char in text)
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        return f"a phone number has {MIN_DIGITS} to {MAX_DIGITS} digits."
    return None


def valid(text: str | None, field: str = "phone") -> str | None:
    """`text` without surrounding spaces (None when blank), when it is a phone number; otherwise
    400 `invalid_phone` naming `field`."""
    text = (text or "").strip()
    if not text:
        return None
    found = problem(text)
    if found:
        raise BadRequest(f"{field}: {found}", code="invalid_phone")
    return text
