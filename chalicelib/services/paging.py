"""Long lists a page at a time: `?limit=` (how many) and the opaque `cursor` that the page before
answered as `next_cursor` (null on the last page). A cursor is the list's own position, encoded;
one this list did not give out is a 400 naming `cursor`, a limit out of range a 400 naming `limit`."""

from __future__ import annotations

import base64
import binascii
import json

from chalicelib.errors import BadRequest
from chalicelib.i18n import N_


def page_size(limit: str | None, *, default: int, maximum: int) -> int:
    """The page size a query string asks for: `limit` 1..maximum, `default` when not given."""
    if limit is None or limit == "":
        return default
    if limit.isdigit() and 1 <= int(limit) <= maximum:
        return int(limit)
    raise BadRequest(N_("A whole number from 1 to {max}."), field="limit", params={"max": maximum},
                     code="invalid_request")


def encode(kind: str, *parts: str) -> str:
    """A cursor for the list `kind` at the position `parts`."""
    return base64.urlsafe_b64encode(json.dumps([kind, *parts]).encode()).decode().rstrip("=")


def decode(cursor: str | None, kind: str, *, parts: int, longest: int = 400) -> list[str] | None:
    """The position a cursor of the list `kind` holds (`parts` strings of at most `longest`
    characters), None for the first page."""
    found = read(cursor, (kind,), parts=range(parts, parts + 1), longest=longest)
    return found[1] if found else None


def read(cursor: str | None, kinds: tuple[str, ...], *, parts: range, longest: int = 400
         ) -> tuple[str, list[str]] | None:
    """(kind, position) of a cursor given out for one of `kinds`, its position a number of strings
    in `parts`; None for the first page (no cursor)."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if (not isinstance(data, list) or not data or data[0] not in kinds or len(data) - 1 not in parts
            or not all(isinstance(part, str) and 0 < len(part) <= longest for part in data[1:])):
        raise bad_cursor()
    return str(data[0]), [str(part) for part in data[1:]]


def bad_cursor() -> BadRequest:
    return BadRequest(N_("Not a cursor this list gave out."), field="cursor", code="invalid_request")
