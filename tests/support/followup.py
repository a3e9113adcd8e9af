"""Helpers for the follow-up and mail-feedback tests: explicit days, items, sweeps, notices.

Each test runs in its own stretch of time, far from every other test's, and its sweeps see only
its own items: an item a test leaves in follow-up leaves the due index when that test ends
(`tests/conftest.py`), so a sweep's time tracks what the test itself made. Assertions still count
per patient and per item, never globally.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta

from chalicelib.clock import iso
from chalicelib.services.followup import notices
from chalicelib.settings import get_settings
from chalicelib.store import items as item_store

_stretches = itertools.count(1)
STAFF_USERNAME = "desk"
# Mails are told apart by their kind (the template: `X-Portal-Mail`, `kind` in /dev/outbox), as
# subjects name the clinic and what arrived.
NOTICE_KIND, DIGEST_KIND = "item_notice", "office_digest"


def is_notice(mail: dict) -> bool:
    """An item notice (a first notice or a reminder, of any kind of item)."""
    return mail["kind"] == NOTICE_KIND


def fresh_day0() -> datetime:
    """14:00 UTC on a day no other test has used, later than any used before."""
    base = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0)
    return base + timedelta(days=400 * next(_stretches))


def day(day0: datetime, n: float, hours: float = 0) -> datetime:
    return day0 + timedelta(days=n, hours=hours)


def publish_item(patient_id: str, now: datetime, title: str = "Hemoglobin A1c") -> item_store.Item:
    """An item as publication leaves it: unread, first notice sent, due FOLLOW_UP_DAYS later."""
    item = item_store.Item(
        "doc_" + secrets.token_hex(8), patient_id=patient_id, kind="document", title=title, category="lab",
        provider="Dr. Example", created_at=now, updated_at=now, round=0, notices_sent=1, last_notice_at=now,
        open_count=0, escalated=False, due_shard=item_store.DUE_SHARD,
        due_at=now + timedelta(days=get_settings().follow_up_days),
    )
    item.save()
    notice = notices.queue_item_notice(item, 1)
    assert notice is not None and notices.deliver(notice) == "sent"
    return item


def sweep(portal, clock, moment: datetime) -> dict:
    """The portal's clock set to `moment`, then the sweep as of that time through `/dev/sweep`."""
    clock.travel_to(moment)
    answer = portal.public.post("/dev/sweep", json={"now": iso(moment)})
    assert answer.status_code == 200, answer.text
    return answer.json()


def notices_to(portal, email: str) -> list[dict]:
    return [m for m in portal.outbox(email) if is_notice(m)]


def office_digests(portal) -> list[dict]:
    return [m for m in portal.outbox(get_settings().office_email) if m["kind"] == DIGEST_KIND]


def queue_list(staff, name: str) -> list[dict]:
    """Every open entry of one list of the staff queue (`follow_ups`, `forms`, `quarantine`,
    `failed_notices`, `critical_results`), page after page: the suite's stacks hold other tests'
    entries too, and a list is answered oldest first, a page at a time."""
    entries: list[dict] = []
    cursor = None
    while True:
        answer = staff.get("/api/staff/queue", params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        entries += answer.json()[name]
        cursor = answer.json()["next_cursor"]
        if not cursor:
            return entries


def follow_up_entries(staff) -> list[dict]:
    return queue_list(staff, "follow_ups")


def staff_item(staff, patient_id: str, item_id: str) -> dict:
    answer = staff.get(f"/api/staff/patients/{patient_id}")
    assert answer.status_code == 200, answer.text
    return next(i for i in answer.json()["items"] if i["id"] == item_id)


def staff_now(portal):
    """A live staff session at the clock's current time (moving the clock by days ends the idle
    ones): the shared one, signed in again when it has ended (`Portal.live`)."""
    from tests.conftest import STAFF_PASSWORD

    return portal.live(STAFF_USERNAME, STAFF_PASSWORD)


def patient_now(portal, patient):
    """The patient signed in again at the clock's current time."""
    return portal.signed_in(patient.username, patient.password)
