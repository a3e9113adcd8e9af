"""What the services' answers share, and how an answer is declared.

Each answer the JSON API sends is declared once, as a `TypedDict` beside the service that returns
it (`services/<capability>/answers.py`), and the service function is annotated to return it. The
route names that declaration (`@route(..., response=Patient)`); the OpenAPI document is generated
from it (pydantic, when the document is first asked for) and the suite checks every answer
against it, strictly: a key the declaration lacks, or a required key missing, is a mismatch. A
key that is sometimes absent is `NotRequired`; one that is sometimes null is `X | None`.

A TypedDict is a plain class of the typing module: declaring one loads no pydantic (about a
millisecond per capability's answers at a cold start), and no request loads pydantic for it. They
come from `typing_extensions`, as pydantic asks on this Python; `NotRequired` from `typing`.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

# ISO 8601 UTC, e.g. 2026-11-25T19:08:06Z (`chalicelib.clock.iso`).
Time = str


class Created(TypedDict):
    """What was made: a thread, a message, a grant, an export."""

    id: str


# The languages of an account's pages and mails. (An account's role is `chalicelib.vocabulary.Role`.)
LanguageCode = Literal["en", "es"]
