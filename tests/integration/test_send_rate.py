"""The send-rate limit is shared: two instances (two Lambda containers, each with its own limiter
object) sending at once never take more than the rate's places in any second between them, in the
counters table of the local stack."""

from __future__ import annotations

import secrets
import threading

from chalicelib.mail.sender import SharedSendRate
from chalicelib.store.counters import Counter


def test_two_instances_sending_at_once_stay_together_under_the_rate(stack):
    # Given two instances at 3 mails a second, counting under a name of this test's own
    name = f"test-{secrets.token_hex(3)}"
    instances = [SharedSendRate(3, name) for _ in range(2)]
    taken = []

    # When each sends five mails at the same time as the other
    def send(instance: SharedSendRate) -> None:
        for _ in range(5):
            instance.take()
            taken.append(instance)

    threads = [threading.Thread(target=send, args=(instance,)) for instance in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then all ten went, and no second's window counted more than 3 of them (two buckets of their
    # own would have let up to 6 go in one second)
    windows = {row.key: int(row.count) for row in Counter.scan(Counter.key.startswith(f"send-rate#{name}#"))}
    assert len(taken) == 10 and sum(windows.values()) == 10
    assert max(windows.values()) <= 3 and len(windows) >= 4
