"""Fixed-window counters for rate limits, expiring by TTL."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.store.base import PortalModel, RowRead, conditional, meta, table


@table
class Counter(PortalModel):
    Meta = meta("counters")

    key = UnicodeAttribute(hash_key=True)
    count = NumberAttribute(default=0)  # type: ignore[assignment]  # the column; Model.count() is never asked of it
    expires_at = TTLAttribute()


def increment(key: str, expires_at: datetime) -> int:
    """Add one to the counter of this window and return the new count, in one round trip."""
    counter = Counter(key)
    counter.update(actions=[Counter.count.add(1), Counter.expires_at.set(expires_at)])
    return int(counter.count)


def add(key: str, amount: int, expires_at: datetime) -> int:
    """Add `amount` to the counter and return the new total, in one round trip."""
    counter = Counter(key)
    counter.update(actions=[Counter.count.add(amount), Counter.expires_at.set(expires_at)])
    return int(counter.count)


def take_places(key: str, wanted: int, limit: int, expires_at: datetime) -> int:
    """Take up to `wanted` places of a window that holds `limit` at most, shared by every process
    counting under the same key: `wanted` when that many are left, else one when one is left, else
    none. Returns how many were taken (one conditional update each try; a refused one counts nothing)."""
    counter = Counter(key)

    def take(count: int) -> bool:
        return conditional(lambda: counter.update(
            actions=[Counter.count.add(count), Counter.expires_at.set(expires_at)],
            condition=Counter.count.does_not_exist() | (Counter.count <= limit - count)))

    for count in dict.fromkeys((min(wanted, limit), 1)):
        if take(count):
            return count
    return 0


def read(key: str) -> RowRead:
    """The counter's value (0 when it was never counted), as a read to make together with another."""
    return RowRead(Counter, key, lambda raw: int(raw["count"]["N"]) if raw and "count" in raw else 0)
