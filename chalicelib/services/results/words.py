"""What flags and statuses are called where people read them (pages, the take-away records), marked
for the catalog: a flag is always said in words, never by colour alone."""

from __future__ import annotations

from typing import Any

from chalicelib import i18n
from chalicelib.i18n import N_

FLAG_WORDS = {"low": N_("Low"), "high": N_("High"), "critical_low": N_("Critically low"),
              "critical_high": N_("Critically high"), "abnormal": N_("Abnormal")}
CRITICALLY_ABNORMAL = N_("Critically abnormal")
NOT_FLAGGED = N_("Not flagged")
STATUS_WORDS = {"preliminary": N_("Preliminary"), "final": N_("Final"), "corrected": N_("Corrected")}
OUTSIDE_FLAGS = ("low", "high", "critical_low", "critical_high", "abnormal")


def flag_words(observation: dict[str, Any], language: str) -> str:
    """The observation's flag in words, in `language` ("Critically low"; "Not flagged" for none)."""
    flag = observation.get("flag")
    if observation.get("critical") and flag == "abnormal":
        return i18n.gettext(CRITICALLY_ABNORMAL, language)
    return i18n.gettext(FLAG_WORDS[flag] if flag in FLAG_WORDS else NOT_FLAGGED, language)


def number(value: float) -> str:
    """A value as a person reads it: no trailing zeros, at most four significant decimals."""
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def value_text(observation: dict[str, Any]) -> str:
    """A value as shown: a number with its comparator (`< 0.5`), or the text as sent."""
    value = observation.get("value")
    if value is None:
        return "—"
    if observation.get("value_type") == "numeric" and isinstance(value, int | float):
        shown = number(float(value))
        return f"{observation['comparator']} {shown}" if observation.get("comparator") else shown
    return str(value)


def range_text(observation: dict[str, Any]) -> str:
    """The reference range as the lab wrote it, else from its bounds."""
    reference = observation.get("reference_range") or {}
    if reference.get("text"):
        return str(reference["text"])
    low, high = reference.get("low"), reference.get("high")
    if low is not None and high is not None:
        return f"{number(low)}–{number(high)}"
    if high is not None:
        return f"< {number(high)}"
    return f"> {number(low)}" if low is not None else ""
