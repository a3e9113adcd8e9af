"""The send-rate limit every instance shares (chalicelib/mail/sender.py SharedSendRate), with a
counter standing in for the DynamoDB one and a clock the test moves."""

from __future__ import annotations

import io
import json
from datetime import datetime

from chalicelib.mail.sender import SharedSendRate
from chalicelib.observability import logger


class Windows:
    """A shared fixed-window counter, as store/counters.take_places keeps it."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.calls = 0

    def take_places(self, key: str, wanted: int, limit: int, expires_at: datetime) -> int:
        self.calls += 1
        for count in (min(wanted, limit), 1):
            if self.counts.get(key, 0) + count <= limit:
                self.counts[key] = self.counts.get(key, 0) + count
                return count
        return 0


class Moment:
    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += seconds


def test_two_instances_share_each_seconds_places_and_wait_for_the_next_second():
    # Given two instances (two Lambda containers) counting in the same windows, at 3 mails a second
    windows, moment = Windows(), Moment(1_000.25)
    first, second = (SharedSendRate(3, take_places=windows.take_places, now=moment.now, sleep=moment.sleep)
                     for _ in range(2))

    # When they send four mails each, in turns
    waits = [instance.take() for _ in range(4) for instance in (first, second)]

    # Then no second holds more than 3 of the 8, and a sender that finds its second full waits for the next
    assert windows.counts == {"send-rate#ses#1000": 3, "send-rate#ses#1001": 3, "send-rate#ses#1002": 2}
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] == 0.75 and waits[6] == 1.0


def test_an_instance_takes_its_places_a_few_at_a_time_and_never_more_than_are_left():
    # Given an instance at 8 mails a second (it takes two places at a time), and a second in
    # which another instance has already taken 5 of the 8
    windows, moment = Windows(), Moment(2_000.5)
    windows.counts["send-rate#ses#2000"] = 5
    instance = SharedSendRate(8, take_places=windows.take_places, now=moment.now, sleep=moment.sleep)

    # When it sends four mails
    waits = [instance.take() for _ in range(4)]

    # Then the first update took two places for two mails, the next the one place left, and the
    # fourth mail, finding the second full, waited for the next one: no second went past its 8
    assert windows.counts == {"send-rate#ses#2000": 8, "send-rate#ses#2001": 2}
    assert waits == [0.0, 0.0, 0.0, 0.5] and windows.calls == 4


def test_an_unreachable_counter_leaves_each_instance_its_own_rate_and_is_logged_once():
    # Given a shared counter that fails (throttled, or not granted)
    calls = []

    def failing(key: str, wanted: int, limit: int, expires_at: datetime) -> int:
        calls.append(key)
        raise RuntimeError("table portal-x-counters refused")

    moment = Moment(50.0)
    instance = SharedSendRate(100, take_places=failing, now=moment.now, sleep=moment.sleep)

    # When it sends three mails
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        waits = [instance.take() for _ in range(3)]
    finally:
        logger.registered_handler.setStream(previous)

    # Then each goes at once under the instance's own bucket, the counter was tried only once,
    # and one warning names the failure by its type
    assert waits == [0.0, 0.0, 0.0] and len(calls) == 1
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["level"] == "WARNING" and "send-rate counter" in line["message"]
    assert line["error_type"] == "RuntimeError"
    assert "refused" not in json.dumps(line)  # a failure is logged by its type, never by its message
