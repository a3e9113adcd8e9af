"""The one clock, and how a moment is written (`iso`, as the HTTP contract has it) and shown
(`local_text`, in the clinic's time zone and the reader's language).

How the portal reads the time (one style; tests/unit/test_clock_style.py checks it): a function
that needs the time and is not handed it reads `clock.now()` once, at its start, and hands that
`now` down to its helpers and the store, so one operation sees one moment. A function handed `now`
never reads the clock, and the store never does; the mail reads it only to date a message as it
leaves (its `Date` header, the local stage's record of a text). The hourly
sweep is handed its scheduled event's time (`events/sweep.py`, `portal sweep --now`); a long job
reads the clock once for each of its steps (a migration's pages).

`clock` is the wall clock plus an offset that only the tests move (`advance`, `travel_to`,
`reset`): the portal runs as if it were another day, and a test never sleeps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import overload


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


@overload
def iso(dt: datetime) -> str: ...


@overload
def iso(dt: datetime | None) -> str | None: ...


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second, as the HTTP contract specifies (docs/contract.md); None
    for None."""
    if dt is None:
        return None
    return utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


@lru_cache(maxsize=4)
def zone(name: str) -> tzinfo:
    """An IANA time zone by name (zoneinfo: the system's database, or the `tzdata` package)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# How the clinic writes a date on pages, mails and letters (Babel's pattern): "30 Nov 2026".
DATE_PATTERN = "d MMM y"


def local_text(moment: datetime, zone_name: str, *, with_time: bool = True, language: str = "en") -> str:
    """How a person reads a moment in the clinic's zone: "30 Nov 2026, 6:32 PM EST" (daylight
    saving time by the zone's own rules), or the local date alone. In Spanish, Babel's names and
    the 24-hour clock: "30 nov 2026, 18:32 EST"."""
    from babel.dates import format_datetime

    local = utc(moment).astimezone(zone(zone_name))
    if not with_time:
        return format_datetime(local, DATE_PATTERN, locale=language)
    clock_pattern = "h:mm a" if language == "en" else "H:mm"  # the 12-hour clock in English, 24-hour in Spanish
    return format_datetime(local, f"{DATE_PATTERN}, {clock_pattern}", locale=language) + local.strftime(" %Z")


def date_text(value: str | None, language: str = "en") -> str:
    """A calendar date stored as YYYY-MM-DD (a date of birth) as the clinic writes dates, "14 Mar
    1962" (a date, not a moment: no time zone moves it); anything else as it is."""
    if not value:
        return ""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    from babel.dates import format_date

    return format_date(day, DATE_PATTERN, locale=language)


class Clock:
    """The wall clock (UTC) plus an offset, which only the tests move."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Move the time on by `delta` (it keeps running from there)."""
        self._offset += delta

    def travel_to(self, moment: datetime) -> None:
        """Make it `moment` now (it keeps running from there)."""
        self._offset = utc(moment) - datetime.now(UTC)

    def reset(self) -> None:
        """Back to the wall clock."""
        self._offset = timedelta(0)


clock = Clock()
