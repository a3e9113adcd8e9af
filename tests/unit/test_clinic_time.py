"""Times on pages and in mails are in the clinic's own time zone, with its abbreviation, and
daylight saving time comes from the zone's rules (zoneinfo), not from a fixed offset."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.clock import local_text
from chalicelib.settings import get_settings


@pytest.mark.parametrize(("moment", "shown"), [
    # Spring forward in New York: 2 AM EST on 8 March 2026 becomes 3 AM EDT.
    (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), "8 Mar 2026, 1:59 AM EST"),
    (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "8 Mar 2026, 3:00 AM EDT"),
    # Fall back: 2 AM EDT on 1 November 2026 becomes 1 AM EST.
    (datetime(2026, 11, 1, 5, 59, tzinfo=UTC), "1 Nov 2026, 1:59 AM EDT"),
    (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), "1 Nov 2026, 1:00 AM EST"),
    # The example from the office: 23:32 UTC on 30 November is the same evening in New York.
    (datetime(2026, 11, 30, 23, 32, tzinfo=UTC), "30 Nov 2026, 6:32 PM EST"),
])
def test_new_york_times_follow_daylight_saving_time(moment, shown):
    # Given a moment in UTC / When it is shown in the clinic's zone / Then the local clock and abbreviation show
    assert local_text(moment, "America/New_York") == shown


def test_a_date_alone_is_the_local_date():
    # Given 03:00 UTC on 1 December, which is still 30 November in New York
    moment = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    # Then the date shown is the clinic's date
    assert local_text(moment, "America/New_York", with_time=False) == "30 Nov 2026"


def test_another_zone_has_its_own_rules():
    # Given a clinic in Los Angeles / When the same moment is shown / Then it is Pacific time
    assert local_text(datetime(2026, 7, 1, 19, 5, tzinfo=UTC), "America/Los_Angeles") == "1 Jul 2026, 12:05 PM PDT"


def test_pages_and_mails_use_the_clinic_time_zone_setting(monkeypatch):
    # Given a clinic whose CLINIC_TIME_ZONE is Chicago
    from chalicelib.mail import sender
    from chalicelib.web import rendering

    chicago = replace(get_settings(), clinic_time_zone="America/Chicago")
    monkeypatch.setattr(rendering, "get_settings", lambda: chicago)
    monkeypatch.setattr(sender, "get_settings", lambda: chicago)
    # When a page and a mail show a time from the API (UTC)
    # Then both show it in Chicago time, with the abbreviation, and never as UTC
    assert rendering.environment().filters["when"]("2026-01-15T18:30:00Z") == "15 Jan 2026, 12:30 PM CST"
    assert sender._env().filters["when"]("2026-07-15T18:30:00Z") == "15 Jul 2026, 1:30 PM CDT"


def test_the_default_zone_is_new_york():
    # Given no CLINIC_TIME_ZONE in the environment (the test settings set none) / Then New York is used
    assert get_settings().clinic_time_zone == "America/New_York"


def test_a_spanish_reader_gets_spanish_month_names_and_the_24_hour_clock():
    # Given the office's example moment / When it is shown to a Spanish reader (Babel's names)
    moment = datetime(2026, 11, 30, 23, 32, tzinfo=UTC)
    # Then the month is Spanish, the clock 24-hour, the zone the clinic's, and a date alone is the local date
    assert local_text(moment, "America/New_York", language="es") == "30 nov 2026, 18:32 EST"
    assert local_text(datetime(2026, 12, 1, 3, 0, tzinfo=UTC), "America/New_York", with_time=False,
                      language="es") == "30 nov 2026"
