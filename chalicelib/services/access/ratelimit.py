"""Fixed-window rate limits kept in DynamoDB, shared by every Lambda instance."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.clock import clock
from chalicelib.store import counters
from chalicelib.store.base import RowRead


def _window(key: str, window_seconds: int, now: datetime) -> tuple[str, int]:
    """The counter of `key`'s window at `now`, and the seconds until that window ends."""
    epoch = int(now.timestamp())
    window_start = epoch - epoch % window_seconds
    return f"{key}#{window_start}", window_start + window_seconds - epoch


def hit(key: str, limit: int, window_seconds: int) -> tuple[bool, int]:
    """Count one request against `key`; (allowed, seconds until the window ends)."""
    now = clock.now()
    counter, seconds_left = _window(key, window_seconds, now)
    count = counters.increment(counter, now + timedelta(seconds=seconds_left + 60))
    return count <= limit, seconds_left


def count_read(key: str, window_seconds: int) -> RowRead:
    """What `key` has counted in this window, without counting: a read to make together with another."""
    return counters.read(_window(key, window_seconds, clock.now())[0])


def seconds_left(window_seconds: int) -> int:
    return _window("", window_seconds, clock.now())[1]
