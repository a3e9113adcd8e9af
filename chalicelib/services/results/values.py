"""The small readings both formats share: numbers, reference ranges (`70-105`, `70_105`, `<5`,
`>60`, `negative`), abnormal flags (L, H, LL, HH, A, AA, N, `<`, `>`), report statuses, HL7 times
and people's names."""

from __future__ import annotations

import math
import re
from datetime import datetime

from chalicelib.clock import utc, zone
from chalicelib.services.results.model import (
    ABNORMAL,
    CORRECTED,
    CRITICAL_HIGH,
    CRITICAL_LOW,
    FINAL,
    HIGH,
    LOW,
    PRELIMINARY,
    ReferenceRange,
)

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_NUMBER_RE = re.compile(rf"^\s*({_NUMBER})\s*$")
_BETWEEN_RE = re.compile(rf"^\s*({_NUMBER})\s*(?:-|_|–|to)\s*({_NUMBER})\s*$", re.IGNORECASE)
_BOUND_RE = re.compile(rf"^\s*(<=|>=|<|>|≤|≥)\s*({_NUMBER})\s*$")

# HL7 table 0078 (abnormal flags) -> (flag, critical). `<` and `>` say the value is beyond what the
# instrument measures, low or high. Flags of susceptibility (S, R, I) or trends (U, D, B, W) are
# not a flag the patient reads.
_FLAGS: dict[str, tuple[str | None, bool]] = {
    "L": (LOW, False), "H": (HIGH, False), "LL": (CRITICAL_LOW, True), "HH": (CRITICAL_HIGH, True),
    "A": (ABNORMAL, False), "AA": (ABNORMAL, True), "N": (None, False), "<": (LOW, False), ">": (HIGH, False),
    "LU": (LOW, False), "HU": (HIGH, False),
}
_STATUSES = {"F": FINAL, "C": CORRECTED, "P": PRELIMINARY, "A": PRELIMINARY, "R": PRELIMINARY, "I": PRELIMINARY,
             "S": PRELIMINARY, "D": CORRECTED}


def number(text: str | None) -> float | None:
    """A finite number written plainly (`182`, `5.4`, `-2`, `.5`), else None."""
    if text is None:
        return None
    found = _NUMBER_RE.match(text)
    if not found:
        return None
    value = float(found.group(1))
    return value if math.isfinite(value) and abs(value) < 1e15 else None


def reference_range(text: str | None) -> ReferenceRange | None:
    """`70-105`, `70_105`, `70 - 105`, `<5`, `<=5`, `>60`, `negative`: the bounds it gives (either
    may be missing) and the text as sent. None for no range at all."""
    text = (text or "").strip()
    if not text:
        return None
    between = _BETWEEN_RE.match(text)
    if between:
        low, high = number(between.group(1)), number(between.group(2))
        return ReferenceRange(low=low, high=high, text=text)
    bound = _BOUND_RE.match(text)
    if bound:
        value = number(bound.group(2))
        if bound.group(1) in ("<", "<=", "≤"):
            return ReferenceRange(high=value, text=text)
        return ReferenceRange(low=value, text=text)
    return ReferenceRange(text=text[:200])


def flag(code: str | None) -> tuple[str | None, bool]:
    """(flag, critical) of an HL7 abnormal flag (FHIR's interpretation codes are the same)."""
    return _FLAGS.get((code or "").strip().upper(), (None, False))


def status(code: str | None, default: str = FINAL) -> str:
    """A report or observation status from HL7's result status (F, C, P and kin)."""
    return _STATUSES.get((code or "").strip().upper()[:1], default)


_TS_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?\s*([+-]\d{4})?$")


def hl7_time(text: str | None, clinic_zone: str) -> datetime | None:
    """An HL7 timestamp (`YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]`) in UTC; one without an offset is in the
    clinic's own zone. None when absent or not a real time."""
    found = _TS_RE.match((text or "").strip())
    if not found:
        return None
    year, month, day, hour, minute, second, offset = found.groups()
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0))
    except ValueError:
        return None
    if offset:
        from datetime import timedelta, timezone

        sign = -1 if offset[0] == "-" else 1
        try:
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        except ValueError:
            return None
        return utc(moment.replace(tzinfo=tz))
    return utc(moment.replace(tzinfo=zone(clinic_zone)))


def hl7_date(text: str | None) -> str | None:
    """The date part of an HL7 date or timestamp (a birth date), as YYYY-MM-DD; None if absent or
    not a real date."""
    found = re.match(r"^(\d{4})(\d{2})(\d{2})", (text or "").strip())
    if not found:
        return None
    try:
        return datetime(int(found.group(1)), int(found.group(2)), int(found.group(3))).strftime("%Y-%m-%d")
    except ValueError:
        return None


def person_name(given: str | None, family: str | None, degree: str | None = None, prefix: str | None = None) -> str | None:
    """A person's name as pages show it: "Patricia P Primary, MD" (names sent in capitals are put in
    title case)."""
    def tidy(part: str | None) -> str:
        part = " ".join((part or "").split())
        return part.title() if part.isupper() else part

    words = " ".join(p for p in (tidy(prefix), tidy(given), tidy(family)) if p)
    if not words:
        return None
    return f"{words}, {degree.strip()}" if degree and degree.strip() else words
