"""Fixed-window rate limits kept in DynamoDB, shared by every Lambda instance."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.clock import clock
from chalicelib.store import counters


def hit(key: str, limit: int, window_seconds: int) -> tuple[bool, int]:
    """Count one request against `key`; (allowed, seconds until the window ends)."""
    now = clock.now()
    epoch = int(now.timestamp())
    window_start = epoch - epoch % window_seconds
    ends = window_start + window_seconds
    count = counters.increment(f"{key}#{window_start}", now + timedelta(seconds=ends - epoch + 60))
    return count <= limit, ends - epoch
