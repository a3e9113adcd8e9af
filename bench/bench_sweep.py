"""The follow-up sweep's cost tracks the items that are due, not the size of the items table.

Tables of 10,000 and then 100,000 items (most read, some unread but not yet due, 5% lab results
held for a provider's review whose hold has not run out, 1% due) are loaded with BatchWriteItem
through the store's model; the 100,000-item run also holds 100 results whose hold ran out, which
the sweep releases. What is measured is `followup.sweep()`: the query of the holds that are due
and each release (its transaction and notice), the due-index query, the claim transaction and the
notice send for every due item. The send
goes to the local SES with the send-rate bucket raised for the run, so the production 14/s limit
does not hide the sweep's own cost.

- `sweep_items_read_per_due_*`: items the sweep read (the `ScannedCount` of its Queries on the
  items table, plus any item GetItem) ÷ items due (to follow up or to release). Floor: each due
  item has to be read once; the held results not yet due must cost nothing.
- `sweep_time_100k_over_10k`: sweep time on the 100k table ÷ on the 10k table, with the same
  100 items due in both. Floor: the 10k run.
"""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from botocore.client import BaseClient

from bench.figures import Figure
from chalicelib.clock import clock
from chalicelib.mail import sender
from chalicelib.services.followup import sweep as followup
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from chalicelib.store import results as results_store

PATIENTS = 20
SAME_DUE = 100
HELD_PERCENT = 5  # of the table: results held for review, their hold not yet run out
HELD_DUE = 100  # in the 100,000-item run: held results whose hold ran out (the sweep releases them)
LOADERS = 4


@contextmanager
def items_read():
    """Counts the items DynamoDB read for the items table: Query ScannedCount and GetItem hits."""
    original = BaseClient._make_api_call
    table = item_store.Item.Meta.table_name
    tally = {"items": 0, "queries": 0}
    lock = threading.Lock()

    def counting(self, operation_name, api_params):
        answer = original(self, operation_name, api_params)
        if (api_params or {}).get("TableName") == table:
            with lock:
                if operation_name == "Query":
                    tally["items"] += int(answer.get("ScannedCount", answer.get("Count", 0)))
                    tally["queries"] += 1
                elif operation_name == "GetItem" and "Item" in answer:
                    tally["items"] += 1
        return answer

    BaseClient._make_api_call = counting
    try:
        yield tally
    finally:
        BaseClient._make_api_call = original


def _patients(now) -> list[str]:
    ids = []
    for n in range(PATIENTS):
        tag = secrets.token_hex(4)
        account = account_store.Account(
            f"p_bench{tag}{n}", role="patient", username=f"bench.{tag}.{n}@example.com", name=f"Bench Patient {n}",
            email=f"bench.{tag}.{n}@example.com", email_status="ok", has_signed_in=True, failed_logins=0,
            lock_count=0, created_at=now, updated_at=now,
        )
        account_store.create(account)
        ids.append(account.id)
    return ids


def _item(patient_id: str, now, *, due_at=None, read=False, held=False) -> item_store.Item:
    item = item_store.Item(
        "bench_" + secrets.token_hex(8), patient_id=patient_id, kind="document", title="Bench document",
        created_at=now, updated_at=now, round=0, notices_sent=1, last_notice_at=now, open_count=0, escalated=False,
    )
    if held:  # a lab result held from its patient until `due_at` (as publication leaves it)
        item.kind, item.title, item.version, item.notices_sent, item.last_notice_at = "result", "Bench result", 1, 0, None
        item.held_at, item.due_shard, item.due_at = now, item_store.HELD_SHARD, due_at
    elif read:
        item.read_at = item.first_read_at = now
        item.read_shard = item_store.read_shard(now)
        item.open_count = 1
    else:
        item.due_shard, item.due_at = item_store.DUE_SHARD, due_at
    return item


def _version(item: item_store.Item) -> results_store.ResultVersion:
    """The held result's version row (what its release marks released)."""
    return results_store.ResultVersion(
        item.id, 1, patient_id=item.patient_id, current_patient_id=item.patient_id, sort_at=item.created_at,
        status="final", title=item.title, content="{}", fingerprint=item.id, order_key=item.id,
        received_at=item.created_at, released_at=None)


def _load(count: int, patients: list[str], now, due: dict, held_due: dict | None = None) -> None:
    """`count` items: the `due` map's numbers due at its times, the `held_due` map's numbers of held
    results whose hold runs out at its times, HELD_PERCENT% held results whose hold runs out in three
    days, 9% unread but due in a month, the rest read. Written in parallel batches of 25 (BatchWriteItem)."""
    plan = [(t, False) for t, n in due.items() for _ in range(n)]
    plan += [(t, True) for t, n in (held_due or {}).items() for _ in range(n)]
    plan += [(now + timedelta(days=3), True)] * (count * HELD_PERCENT // 100)
    plan += [(now + timedelta(days=30), False)] * (count * 9 // 100)
    plan += [(None, False)] * (count - len(plan))

    def write(part: list) -> None:
        with item_store.Item.batch_write() as batch, results_store.ResultVersion.batch_write() as versions:
            for n, (due_at, held) in enumerate(part):
                item = _item(patients[n % len(patients)], now, due_at=due_at, read=due_at is None, held=held)
                batch.save(item)
                if held:
                    versions.save(_version(item))

    threads = [threading.Thread(target=write, args=(plan[k::LOADERS],)) for k in range(LOADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _sweep(at) -> tuple[followup.SweepSummary, int, float]:
    with items_read() as tally:
        started = time.perf_counter()
        summary = followup.sweep(at)
        elapsed = time.perf_counter() - started
    assert summary.complete and summary.taken == 0, summary
    return summary, tally["items"], elapsed


def run(portal) -> list[Figure]:
    limiter = sender.limiter()
    production_rate = limiter.rate
    limiter.set_rate(1000)
    try:
        t0 = clock.now() + timedelta(hours=1)
        patients = _patients(t0 - timedelta(days=1))
        # Anything already due (other benchmarks' items) is swept first, so each run counts its own;
        # a few items of its own warm the send path (clients, templates) before anything is timed.
        _load(20, patients, t0 - timedelta(days=1), {t0 - timedelta(minutes=40): 20})
        followup.sweep(t0 - timedelta(minutes=30))

        print(f"  loading 10,000 items (1% due, {HELD_PERCENT}% held) …", flush=True)
        _load(10_000, patients, t0 - timedelta(days=1), {t0 - timedelta(minutes=10): SAME_DUE})
        small, read_small, time_small = _sweep(t0)
        assert small.due == SAME_DUE, small

        print("  loading 90,000 more (100,000 items) …", flush=True)
        _load(90_000, patients, t0 - timedelta(days=1),
              {t0 + timedelta(minutes=20): SAME_DUE, t0 + timedelta(minutes=40): 1_000},
              {t0 + timedelta(minutes=40): HELD_DUE})
        same, _, time_large = _sweep(t0 + timedelta(minutes=30))
        assert same.due == SAME_DUE and same.released == 0, same
        large, read_large, _ = _sweep(t0 + timedelta(minutes=50))
        assert large.due == 1_000 and large.released == HELD_DUE, large
    finally:
        limiter.set_rate(production_rate)

    print(f"  10k: {small.due} due, {read_small} items read, {time_small:.2f}s; "
          f"100k: {same.due} due in {time_large:.2f}s, {large.due} due and {large.released} held released, "
          f"{read_large} items read", flush=True)
    floor_why = "each due item (to follow up or to release) has to be read once"
    return [
        Figure("sweep_items_read_per_due_10k", read_small, small.due + small.released, "<= 1.05", "items", floor_why),
        Figure("sweep_items_read_per_due_100k", read_large, large.due + large.released, "<= 1.05", "items",
               floor_why),
        Figure("sweep_time_100k_over_10k", round(time_large, 3), round(time_small, 3), "~ 1 (< 3)", "s",
               f"the same sweep with the same {SAME_DUE} items due, on the 10,000-item table"),
    ]
