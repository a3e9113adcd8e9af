"""The office's calls: "Mark called" on a follow-up takes an outcome (reached, left_message,
no_answer, wrong_number) and a note, closes the follow-up, and is kept in the patient's audit trail."""

from __future__ import annotations

from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD
from tests.support.followup import day, follow_up_entries, fresh_day0, publish_item, staff_now, sweep
from tests.support.lifecycle import events
from tests.support.pages import page_csrf, signed_in_pages


def test_mark_called_takes_an_outcome_and_a_note_and_closes_the_follow_up(portal, clock):
    # Given a document left unread after every notice: a follow-up call on the office's queue
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal), name="Nora Calls", phone="919-555-0177")
    item = publish_item(patient.id, day0, title="Thyroid panel")
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))
    staff = staff_now(portal)
    assert any(e["item_id"] == item.id for e in follow_up_entries(staff))
    path = f"/api/staff/queue/follow-ups/{item.id}/called"

    # When the call is recorded with an unknown outcome or a note over 2,000 characters: 400, still open
    assert staff.post(path, json={"outcome": "maybe"}).status_code == 400
    assert staff.post(path, json={"outcome": "no_answer", "note": "x" * 2001}).status_code == 400
    assert any(e["item_id"] == item.id for e in follow_up_entries(staff))

    # When the office marks it called on the queue's page, with an outcome and a note
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    queue = pages.get(f"{portal.base_url}/staff/queue?limit=500", timeout=30)
    assert f'action="/staff/queue/follow-ups/{item.id}/called"' in queue.text
    done = pages.post(f"{portal.base_url}/staff/queue/follow-ups/{item.id}/called", timeout=30,
                      data={"outcome": "wrong_number", "note": "Number belongs to someone else",
                            "csrf_token": page_csrf(queue.text)})

    # Then the follow-up is closed, a second call on it is 404, and the call is in the patient's trail
    assert done.status_code == 200 and "/staff/queue" in done.url, done.url
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff))
    assert staff.post(path, json={"outcome": "reached"}).status_code == 404
    admin = portal.live("admin", ADMIN_PASSWORD)  # the shared admin session, live at the clock's time
    [event] = [e for e in events(admin, patient_id=patient.id) if e["action"] == "followup.called"]
    assert event["target_id"] == item.id and event["detail"]["outcome"] == "wrong_number"
    # And the patient's record shows the call
    record = pages.get(f"{portal.base_url}/staff/patients/{patient.id}", timeout=30).text
    assert "Calls from the office" in record and "Wrong number" in record
