"""The audit trail's sort key orders: event ids sort in the order the events were written, within
one second and one microsecond too (and when the clock steps back a little), by time otherwise, and
after the first releases' ids of earlier seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.store.audit import event_id


def test_events_of_one_moment_sort_in_the_order_they_were_written():
    # Given one process writing fifty events at one and the same microsecond
    moment = datetime(2031, 3, 6, 9, 30, 15, 250_000, tzinfo=UTC)

    # When each gets its id
    ids = [event_id(moment) for _ in range(50)]

    # Then the ids are unique, sort in the order the events were written, and stay in that second
    assert sorted(ids) == ids and len(set(ids)) == 50
    assert all(i.startswith("2031-03-06T09:30:15.2500") for i in ids)


def test_a_clock_that_steps_back_a_little_keeps_the_writing_order_and_one_set_back_keeps_time():
    # Given events written as the clock reads 10.5 s, then 10.2 s (a small step back), then, the
    # clock set back by a minute, 09:31:10
    base = datetime(2031, 3, 7, 9, 32, 10, 500_000, tzinfo=UTC)
    first, jittered = event_id(base), event_id(base - timedelta(milliseconds=300))
    set_back = event_id(base - timedelta(minutes=1))

    # Then the small step back still sorts after the event written before it, and the set-back
    # clock's event sorts by its own time
    assert sorted([set_back, jittered, first]) == [set_back, first, jittered]
    assert set_back.startswith("2031-03-07T09:31:10.500000Z#")


def test_ids_sort_by_time_across_seconds_and_after_the_first_releases_ids_of_earlier_seconds():
    # Given an event of the first release (time to the second) and events of the next seconds
    first_release = "2031-03-08T09:30:14Z#101850cbe48f"
    later = [event_id(datetime(2031, 3, 8, 9, 30, second, 0, tzinfo=UTC)) for second in (15, 16, 18)]

    # When they are sorted as the indexes sort them
    ordered = sorted([later[2], first_release, later[0], later[1]])

    # Then time decides
    assert ordered == [first_release, *later]
    assert later[0].startswith("2031-03-08T09:30:15.000000Z#")
