"""The office's "a patient wrote" alert: an outbox row written with the patient's message, one
per alert window, sent by the schedule (never on the patient's request), retried when SES fails."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import quote

from chalicelib.clock import iso
from chalicelib.localstack import pump
from chalicelib.localstack.calls import recording
from chalicelib.services.followup import notices
from chalicelib.settings import get_settings
from chalicelib.store import outbox
from tests.conftest import STAFF_PASSWORD
from tests.support.faults import ses_refuses_the_next_send_to
from tests.support.followup import queue_list
from tests.support.http import end_the_alert_window, into_a_fresh_alert_window, office_alert_mails
from tests.support.pages import page_csrf, signed_in_pages


def _window_end(clock):
    return notices.office_alert_window(clock.now()).due_at


def _run_schedule(clock) -> None:
    pump.run_schedules(iso(clock.now()))


def _patient(portal):
    """A signed-in patient, registered by a desk session live at the clock's current time."""
    return portal.new_patient(portal.live("desk", STAFF_PASSWORD))


def _ses_refuses_office_mail_once(code: str = "ServiceUnavailable", status: int = 503):
    return ses_refuses_the_next_send_to(get_settings().office_email, code, status)


def _a_message_whose_window_is_over(portal, clock) -> tuple[str, int]:
    """A patient's message in a fresh window, the clock at that window's end: (the window's alert
    id, the office alerts mailed so far)."""
    into_a_fresh_alert_window(clock)
    patient = _patient(portal)
    assert patient.api.post("/api/messages", json={"subject": "Refill", "body": "Please"}).status_code == 201
    alert_id = notices.office_alert_window(clock.now()).id
    clock.travel_to(_window_end(clock))
    return alert_id, len(office_alert_mails(portal))


def test_a_patient_message_queues_one_alert_the_schedule_sends_once(portal, clock):
    # Given a signed-in patient early in an alert window
    into_a_fresh_alert_window(clock)
    patient = _patient(portal)
    before = len(office_alert_mails(portal))

    # When the patient writes to the office
    subject, body = f"subject{secrets.token_hex(4)}", f"body{secrets.token_hex(4)}"
    with recording() as calls:
        sent = patient.api.post("/api/messages", json={"subject": subject, "body": body})

    # Then the message is stored, nothing was mailed on the patient's request, and no alert yet
    assert sent.status_code == 201, sent.text
    assert calls.count(service="email") == 0
    assert len(office_alert_mails(portal)) == before

    # When the window ends and the schedule runs (twice, as a retried schedule might)
    end_the_alert_window(clock)
    _run_schedule(clock)

    # Then the office got exactly one alert, with the inbox link and nothing about the patient
    alerts = office_alert_mails(portal)[before:]
    assert len(alerts) == 1
    assert "/staff/inbox" in alerts[0]["text"]
    for part in (alerts[0]["subject"], alerts[0]["text"], alerts[0]["html"]):
        assert subject not in part and body not in part and patient.name not in part


def test_many_messages_within_a_window_make_one_alert(portal, clock):
    # Given two signed-in patients early in an alert window
    into_a_fresh_alert_window(clock)
    first, second = _patient(portal), _patient(portal)
    before = len(office_alert_mails(portal))

    # When both write several messages within the window
    thread_id = first.api.post("/api/messages", json={"subject": "One", "body": "a"}).json()["id"]
    for body in ("b", "c"):
        assert first.api.post(f"/api/messages/{thread_id}", json={"body": body}).status_code == 201
    assert second.api.post("/api/messages", json={"subject": "Two", "body": "d"}).status_code == 201
    clock.advance(timedelta(minutes=5))
    assert second.api.post("/api/messages", json={"subject": "Three", "body": "e"}).status_code == 201

    # And the window ends and the schedule runs
    end_the_alert_window(clock)

    # Then the office got one alert for all five messages
    assert len(office_alert_mails(portal)) == before + 1


def test_a_message_after_the_alert_went_out_makes_another_alert(portal, clock):
    # Given a patient's message whose window's alert the schedule has sent
    into_a_fresh_alert_window(clock)
    patient = _patient(portal)
    thread_id = patient.api.post("/api/messages", json={"subject": "First", "body": "a"}).json()["id"]
    end_the_alert_window(clock)
    after_first = len(office_alert_mails(portal))

    # When the patient writes again, just after that alert was sent
    patient = portal.signed_in(patient.username, patient.password)
    assert patient.post(f"/api/messages/{thread_id}", json={"body": "b"}).status_code == 201

    # Then no alert goes before the new window ends, and one goes when it has
    _run_schedule(clock)
    assert len(office_alert_mails(portal)) == after_first
    end_the_alert_window(clock)
    assert len(office_alert_mails(portal)) == after_first + 1


def test_an_alert_ses_refused_is_sent_by_a_later_schedule_exactly_once(portal, clock):
    # Given a patient's message, its window over
    alert_id, before = _a_message_whose_window_is_over(portal, clock)

    # When the schedule runs while SES refuses the office's mail once
    with _ses_refuses_office_mail_once() as refused:
        _run_schedule(clock)

    # Then nothing went out, and the alert waits for another try
    assert refused and len(office_alert_mails(portal)) == before
    waiting = outbox.get(alert_id)
    assert waiting.status == "pending" and waiting.retry_shard == outbox.RETRY_SHARD

    # When the schedule runs again after the backoff (twice)
    clock.advance(timedelta(minutes=10))
    _run_schedule(clock)
    _run_schedule(clock)

    # Then the alert went out exactly once
    assert len(office_alert_mails(portal)) == before + 1
    sent = outbox.get(alert_id)
    assert sent.status == "sent" and sent.attempts == 2 and sent.retry_shard is None


def test_a_message_stored_as_its_window_alert_is_being_sent_is_alerted_by_the_next_run(portal, clock):
    # Given a message early in a window, and the window's alert already taken by a schedule run
    # (SES refused that attempt, so it waits for its retry)
    into_a_fresh_alert_window(clock)
    window_start = clock.now() - timedelta(minutes=1)
    patient = _patient(portal)
    thread_id = patient.api.post("/api/messages", json={"subject": "First", "body": "a"}).json()["id"]
    window_alert = notices.office_alert_window(clock.now())
    clock.travel_to(window_alert.due_at)
    with _ses_refuses_office_mail_once():
        _run_schedule(clock)
    before = len(office_alert_mails(portal))

    # When another message is stored stamped within that window (its request began before the end)
    clock.travel_to(window_start + timedelta(minutes=2))
    patient = portal.signed_in(patient.username, patient.password)
    reply = patient.post(f"/api/messages/{thread_id}", json={"body": "b"})

    # Then it is stored with an alert row of its own, due at once, not joined to the taken one
    assert reply.status_code == 201, reply.text
    own_alert = outbox.get(f"{window_alert.id}#{reply.json()['id']}")
    assert own_alert is not None and own_alert.status == "pending" and own_alert.attempts == 0

    # When the schedule next runs (after the refused attempt's backoff), and once more
    clock.travel_to(window_alert.due_at + timedelta(minutes=5))
    _run_schedule(clock)
    _run_schedule(clock)

    # Then one mail, sent after both messages were stored, covers both alert rows
    assert len(office_alert_mails(portal)) == before + 1
    first, second = outbox.get(window_alert.id), outbox.get(own_alert.id)
    assert first.status == second.status == "sent"
    assert first.ses_message_id == second.ses_message_id


def test_an_alert_ses_refuses_for_good_shows_in_the_staff_queue_without_a_patient(portal, clock):
    # Given a patient's message, its window over
    alert_id, before = _a_message_whose_window_is_over(portal, clock)

    # When the schedule runs and SES rejects the office's mail for good, and runs again later
    with _ses_refuses_office_mail_once("MessageRejected", 400):
        _run_schedule(clock)
    clock.advance(timedelta(hours=1))
    _run_schedule(clock)

    # Then the alert is failed, not retried, and the staff queue lists it as a failed notice that
    # names no patient
    assert len(office_alert_mails(portal)) == before
    assert outbox.get(alert_id).status == "failed"
    desk = portal.live("desk", STAFF_PASSWORD)
    failed = [e for e in queue_list(desk, "failed_notices") if e["id"] == f"notice_failed#{alert_id}"]
    assert len(failed) == 1
    assert failed[0]["patient_id"] is None and failed[0]["reason"] == "MessageRejected"
    assert failed[0]["data"] == {"notice": notices.OFFICE_NEW_MESSAGE}

    # And the staff queue page shows it, and "Mark done" closes it
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    queue_page = pages.get(f"{portal.base_url}/staff/queue?limit=500", timeout=30).text
    action = f'/staff/queue/{quote(failed[0]["id"])}/resolve'
    assert "a new-message alert; check the inbox" in queue_page and action in queue_page
    done = pages.post(portal.base_url + action, data={"csrf_token": page_csrf(queue_page)}, timeout=30)
    assert done.ok
    assert failed[0]["id"] not in [e["id"] for e in queue_list(desk, "failed_notices")]


def test_patients_writing_at_the_same_moment_all_get_through_with_one_alert(portal, clock):
    from concurrent.futures import ThreadPoolExecutor

    # Given eight signed-in patients early in an alert window
    into_a_fresh_alert_window(clock)
    desk = portal.live("desk", STAFF_PASSWORD)
    patients = [portal.new_patient(desk) for _ in range(8)]
    before = len(office_alert_mails(portal))

    # When they all write to the office at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda p: p.api.post("/api/messages", json={"subject": "Hi", "body": "x"}), patients))

    # Then every message is stored, and the window's end brings the office one alert
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    end_the_alert_window(clock)
    assert len(office_alert_mails(portal)) == before + 1


def test_a_message_finding_the_window_alert_held_by_other_transactions_takes_a_row_of_its_own(portal, clock):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    # Given a patient early in an alert window, and DynamoDB answering every transaction that
    # touches the window's alert row that another transaction holds it (a burst of messages)
    into_a_fresh_alert_window(clock)
    patient = _patient(portal)
    window = notices.office_alert_window(clock.now())
    before = len(office_alert_mails(portal))
    original, conflicts = BaseClient._make_api_call, []

    def call(client, operation_name, api_params):
        keys = [next(iter(op.values())).get("Key", {}).get("id", {}).get("S") for op in api_params.get("TransactItems", [])]
        if operation_name == "TransactWriteItems" and window.id in keys:
            conflicts.append(operation_name)
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "injected conflict"},
                               "CancellationReasons": [{"Code": "TransactionConflict"} for _ in keys]}, operation_name)
        return original(client, operation_name, api_params)

    # When the patient writes to the office
    BaseClient._make_api_call = call
    try:
        sent = patient.api.post("/api/messages", json={"subject": "Hi", "body": "x"})
    finally:
        BaseClient._make_api_call = original

    # Then the message is stored with an alert row of its own, and the window's end brings one alert
    assert sent.status_code == 201, sent.text
    assert conflicts
    messages = patient.api.get(f"/api/messages/{sent.json()['id']}").json()["messages"]
    assert outbox.get(f"{window.id}#{messages[0]['id']}").status == "pending"
    clock.travel_to(window.due_at)
    _run_schedule(clock)
    assert len(office_alert_mails(portal)) == before + 1


def test_the_five_minute_outbox_sender_sends_the_alert_without_waiting_for_the_hourly_sweep(portal, clock):
    from app import app

    # Given a patient's message whose alert window has just ended
    _, mailed = _a_message_whose_window_is_over(portal, clock)
    [sender] = [source for source in app.event_sources if getattr(source, "name", None) == "outbox-sender"]

    # When only the outbox sender runs (every five minutes), twice as a retried schedule might
    results = [pump.run_schedules(iso(clock.now()), only="outbox-sender") for _ in range(2)]

    # Then the office got exactly one alert, and that schedule does run every five minutes
    assert len(results[0]) == 1
    assert len(office_alert_mails(portal)) == mailed + 1
    assert sender.schedule_expression.value == 5 and sender.schedule_expression.unit == "MINUTES"
