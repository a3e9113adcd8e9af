"""The audit trail a page at a time, past 500 events, in the order the events were written, on both
doors (`GET /api/staff/audit?limit=&cursor=` and the admin's audit page)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from chalicelib.services import audit
from chalicelib.store import audit as audit_store
from tests.conftest import ADMIN_PASSWORD
from tests.support.pages import signed_in_pages


def trail(admin, **query) -> list[list[dict]]:
    """Every page of a trail, following next_cursor."""
    pages, cursor = [], None
    while True:
        answer = admin.get("/api/staff/audit", params={**query, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()["events"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return pages


def test_a_trail_of_more_than_500_events_comes_in_pages_newest_first_with_nothing_lost(portal, admin):
    # Given a patient's trail of 505 events (as many looks at their records would leave)
    patient_id = f"p_paging_{secrets.token_hex(4)}"
    at = datetime.now(UTC)
    written = [audit_store.AuditEvent(audit_store.event_id(at), at=at, action="item.list", outcome="ok",
                                      actor_id="s_desk", actor_role="staff", patient_id=patient_id,
                                      detail={"n": n}) for n in range(505)]
    with audit_store.AuditEvent.batch_write() as batch:
        for event in written:
            batch.save(event)

    # When an admin reads it, with the default page, following each page's cursor
    pages = trail(admin, patient_id=patient_id)

    # Then the first page holds 500 events and the next the rest: every event once, newest first,
    # the 505 written at one moment in the reverse of the order they were written
    assert [len(page) for page in pages] == [500, 6]  # and the admin's own look at the first page
    events = [event for page in pages for event in page]
    assert len({event["id"] for event in events}) == len(events)
    steps = [event["detail"]["n"] for event in events if event["action"] == "item.list"]
    assert steps == list(reversed(range(505)))
    assert [event["action"] for event in pages[0][:1]] == ["audit.view"]


def test_events_of_one_second_are_listed_in_the_order_they_happened(portal, admin, clock):
    # Given a staff member's eight events written through the portal's audit service within one
    # second, the clock read for each jittering around the same moment (set again before each)
    actor_id = f"s_order_{secrets.token_hex(4)}"
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    for n in range(8):
        clock.travel_to(moment)
        audit.record("patient.view", actor_id=actor_id, actor_role="staff", detail={"n": n})
    clock.reset()

    # When an admin reads the staff member's trail, three events a page
    pages = trail(admin, actor_id=actor_id, limit="3")

    # Then the pages hold 3, 3 and 2, newest first in the order they happened, all in that second
    assert [len(page) for page in pages] == [3, 3, 2]
    events = [event for page in pages for event in page]
    assert [event["detail"]["n"] for event in events] == [7, 6, 5, 4, 3, 2, 1, 0]
    assert {event["at"] for event in events} == {moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_a_cursor_or_limit_the_trail_did_not_give_is_a_400_naming_it_and_records_nothing(portal, admin):
    # Given a patient's trail as it stands
    patient_id = f"p_bad_{secrets.token_hex(4)}"
    audit.record("item.list", actor_id="s_desk", actor_role="staff", patient_id=patient_id)

    # When an admin asks with a made-up cursor, and with limits out of range
    bad_cursor = admin.get("/api/staff/audit", params={"patient_id": patient_id, "cursor": "not-a-cursor"})
    too_many = admin.get("/api/staff/audit", params={"patient_id": patient_id, "limit": "501"})
    none = admin.get("/api/staff/audit", params={"patient_id": patient_id, "limit": "0"})

    # Then each is a 400 naming the parameter, and no look at the trail was recorded
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.json()["message"]
    assert too_many.status_code == 400 and "limit" in too_many.json()["message"]
    assert none.status_code == 400 and "limit" in none.json()["message"]
    assert [event["action"] for page in trail(admin, patient_id=patient_id) for event in page] \
        == ["audit.view", "item.list"]  # this look only


def test_the_audit_page_links_the_older_events_and_shows_them(portal, admin):
    # Given a staff member's trail of 502 events
    actor_id = f"s_page_{secrets.token_hex(4)}"
    at = datetime.now(UTC)
    with audit_store.AuditEvent.batch_write() as batch:
        for n in range(502):
            batch.save(audit_store.AuditEvent(audit_store.event_id(at), at=at, action=f"step.{n:03d}", outcome="ok",
                                              actor_id=actor_id, actor_role="staff"))
    pages = signed_in_pages(portal.base_url, "admin", ADMIN_PASSWORD)

    # When the admin opens the staff member's trail on the audit page
    first = pages.get(f"{portal.base_url}/admin/audit", params={"actor_id": actor_id}, timeout=30)

    # Then it shows the newest 500 and links the older ones, which the link shows
    assert first.status_code == 200 and "step.501" in first.text and "step.001" not in first.text
    older = first.text.split('href="/admin/audit?')[1].split('"')[0].replace("&amp;", "&")
    second = pages.get(f"{portal.base_url}/admin/audit?{older}", timeout=30)
    assert second.status_code == 200 and "step.001" in second.text and "step.000" in second.text
    assert "step.501" not in second.text
