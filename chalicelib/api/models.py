"""Request bodies shared by more than one blueprint, and the field types every body uses."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field

from chalicelib.api.http import Text
from chalicelib.clock import clock


def _past_date(value: str) -> str:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date like 1980-04-30") from None
    if parsed > clock.now().date() or parsed.year < 1900:
        raise ValueError("must be a real date of birth")
    return value


Name = Annotated[Text, Field(min_length=1, max_length=200)]
EmailText = Annotated[Text, Field(min_length=3, max_length=254)]
UsernameText = Annotated[Text, Field(min_length=1, max_length=254)]
PasswordText = Annotated[Text, Field(min_length=1, max_length=1024)]
DateOfBirth = Annotated[Text, Field(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_past_date)]
Mrn = Annotated[Text, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]
