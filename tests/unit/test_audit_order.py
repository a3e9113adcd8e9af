"""The audit trail's sort key orders: event ids sort in the order the events were written, within
one second and one microsecond too, and after the first releases' ids of earlier seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.store.audit import event_id


def test_events_of_one_moment_sort_in_the_order_they_were_written():
    # Given one process writing fifty events at one and the same microsecond
    moment = datetime(2026, 12, 6, 9, 30, 15, 250_000, tzinfo=UTC)

    # When each gets its id
    ids = [event_id(moment) for _ in range(50)]

    # Then the ids are unique and sort in the order the events were written
    assert sorted(ids) == ids and len(set(ids)) == 50


def test_ids_sort_by_time_across_seconds_and_after_the_first_releases_ids_of_earlier_seconds():
    # Given an event of the first release (time to the second) and events of later moments
    first_release = "2026-12-06T09:30:14Z#101850cbe48f"
    later = [event_id(datetime(2026, 12, 6, 9, 30, 15, micro, tzinfo=UTC)) for micro in (999_999, 0, 1)]

    # When they are sorted as the indexes sort them
    ordered = sorted([*later, first_release])

    # Then time decides, to the microsecond, whatever the order the ids were made in
    assert ordered == [first_release, later[1], later[2], later[0]]
    assert later[0].startswith("2026-12-06T09:30:15.999999Z#")
