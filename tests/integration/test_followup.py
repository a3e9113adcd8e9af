"""Follow-up of unread items, with explicit days: re-notify every FOLLOW_UP_DAYS, escalate after
MAX_NOTICES, stop at once when the item is read, never send a notice twice."""

from __future__ import annotations

import threading

from chalicelib.clock import iso
from chalicelib.localstack import pump
from chalicelib.services.followup import sweep as followup
from chalicelib.store import items as item_store
from tests.support.followup import (
    day,
    follow_up_entries,
    fresh_day0,
    notices_to,
    patient_now,
    publish_item,
    staff_item,
    staff_now,
    sweep,
)


def test_unread_item_is_renotified_on_day_3_and_6_then_escalated_on_day_9_without_email(portal, clock):
    # Given a patient and a document published on day 0 (first notice sent)
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))
    item = publish_item(patient.id, day0)
    assert len(notices_to(portal, patient.email)) == 1

    # When the sweep runs on day 2, nothing is due yet
    sweep(portal, clock, day(day0, 2))
    # Then no notice went out
    assert len(notices_to(portal, patient.email)) == 1

    # When the scheduled handler runs on day 3 (the event's time is "now")
    clock.travel_to(day(day0, 3))
    pump.run_schedules(iso(day(day0, 3)))
    # Then the second notice went out, without a temporary password (the patient has signed in)
    second = notices_to(portal, patient.email)
    assert len(second) == 2
    assert "Temporary password" not in second[-1]["text"]
    assert staff_item(staff_now(portal), patient.id, item.id)["notices_sent"] == 2

    # When the sweep runs twice more on day 3, and on day 6
    sweep(portal, clock, day(day0, 3, hours=1))
    sweep(portal, clock, day(day0, 3, hours=2))
    sweep(portal, clock, day(day0, 6))
    # Then exactly one more notice (the third) went out
    assert len(notices_to(portal, patient.email)) == 3
    assert staff_item(staff_now(portal), patient.id, item.id)["notices_sent"] == 3
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))

    # When the sweep runs on day 9
    summary = sweep(portal, clock, day(day0, 9))

    # Then the item is escalated to the staff follow-up queue and no email went out
    assert summary["escalated"] >= 1
    assert len(notices_to(portal, patient.email)) == 3
    shown = staff_item(staff_now(portal), patient.id, item.id)
    assert shown["escalated"] is True and shown["notices_sent"] == 3
    entries = [e for e in follow_up_entries(staff_now(portal)) if e["item_id"] == item.id]
    assert len(entries) == 1 and entries[0]["patient_id"] == patient.id and entries[0]["reason"] == "not_read"
    # and it left follow-up for the index's escalated key (the unread list's): later sweeps never mail it again
    assert item_store.get(item.id).due_shard == item_store.ESCALATED_SHARD
    sweep(portal, clock, day(day0, 12))
    assert len(notices_to(portal, patient.email)) == 3


def test_item_read_on_day_4_gets_nothing_more(portal, clock):
    # Given an item published on day 0 and re-notified on day 3
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))
    item = publish_item(patient.id, day0)
    sweep(portal, clock, day(day0, 3))
    assert len(notices_to(portal, patient.email)) == 2

    # When the patient opens it on day 4
    clock.travel_to(day(day0, 4))
    opened = patient_now(portal, patient).get(f"/api/documents/{item.id}")
    assert opened.status_code == 200, opened.text

    # Then it leaves the follow-up index at once, and no later sweep mails or escalates it
    assert item_store.get(item.id).due_at is None
    for n in (6, 9, 12):
        sweep(portal, clock, day(day0, n))
    assert len(notices_to(portal, patient.email)) == 2
    shown = staff_item(staff_now(portal), patient.id, item.id)
    assert shown["escalated"] is False and shown["read_at"] == iso(day(day0, 4))
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))


def test_an_item_taken_out_of_follow_up_is_neither_mailed_again_nor_escalated(portal, clock):
    # Given an unread item published on day 0 (first notice sent)
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))
    item = publish_item(patient.id, day0)

    # When it is taken out of follow-up (as a retracted result is), and then again
    stopped, again = item_store.stop_follow_up(item), item_store.stop_follow_up(item)

    # Then only the first took it out, and no sweep mails or escalates it afterwards
    assert (stopped, again) == (True, False)
    assert item_store.get(item.id).due_at is None
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))
    assert len(notices_to(portal, patient.email)) == 1
    shown = staff_item(staff_now(portal), patient.id, item.id)
    assert shown["escalated"] is False and shown["notices_sent"] == 1 and shown["read_at"] is None
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))


def test_sweeps_running_at_once_send_each_notice_once(portal, clock):
    # Given two patients with three unread items each, all due on day 3
    day0 = fresh_day0()
    clock.travel_to(day0)
    patients = [portal.new_patient(staff_now(portal)) for _ in range(2)]
    for patient in patients:
        for _ in range(3):
            publish_item(patient.id, day0)
    due_at = day(day0, 3)
    clock.travel_to(due_at)

    # When three sweeps start at the same moment (threads, against DynamoDB Local)
    start = threading.Barrier(3)
    summaries, errors = [], []

    def run() -> None:
        try:
            start.wait()
            summaries.append(followup.sweep(due_at, page_size=2))
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then every notice went out exactly once: 3 at publication + 3 re-notices per patient
    assert errors == []
    assert len(summaries) == 3
    for patient in patients:
        assert len(notices_to(portal, patient.email)) == 6
    assert sum(s.taken for s in summaries) >= 1 or sum(s.notified for s in summaries) >= 6

    # and running it again on the same day sends nothing more
    sweep(portal, clock, day(day0, 3, hours=1))
    for patient in patients:
        assert len(notices_to(portal, patient.email)) == 6


def test_a_sweep_that_runs_out_of_time_stops_and_the_next_run_carries_on(portal, clock):
    # Given five unread items due on day 3
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))
    items = [publish_item(patient.id, day0) for _ in range(5)]
    due_at = day(day0, 3)
    clock.travel_to(due_at)

    # When a sweep's Lambda deadline comes after its first two items
    budget = iter([60_000, 60_000] + [1_000] * 1000)
    first = followup.sweep(due_at, remaining_ms=lambda: next(budget), page_size=2)

    # Then it stopped early, saying so
    assert first.complete is False
    assert first.due == 2

    # When the next run comes (small pages, so it pages through the index)
    second = followup.sweep(due_at, page_size=2)

    # Then every item got its second notice exactly once: none skipped, none twice
    assert second.complete is True
    assert len(notices_to(portal, patient.email)) == 5 + 5
    assert [int(item_store.get(i.id).notices_sent) for i in items] == [2] * 5


def escalated_item(portal, clock):
    """A patient's item, unread after its three notices (days 0, 3, 6), escalated by the day-9 sweep:
    (day 0, the patient, the item)."""
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))
    item = publish_item(patient.id, day0)
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))
    return day0, patient, item


def test_staff_resolve_a_follow_up_entry(portal, clock):
    # Given an item escalated after three unread notices
    day0, patient, item = escalated_item(portal, clock)
    entry = next(e for e in follow_up_entries(staff_now(portal)) if e["item_id"] == item.id)

    # When staff mark it done after calling the patient
    desk = staff_now(portal)
    answer = desk.post(f"/api/staff/queue/{entry['id']}/resolve", json={"note": "called, will read today"})

    # Then it leaves the follow-up queue; an unknown id answers 404
    assert answer.status_code == 200, answer.text
    assert not any(e["id"] == entry["id"] for e in follow_up_entries(staff_now(portal)))
    assert desk.post("/api/staff/queue/nope/resolve", json={}).status_code == 404


def test_reading_an_escalated_item_closes_the_office_call(portal, clock):
    # Given an item escalated to the staff follow-up queue after three unread notices
    day0, patient, item = escalated_item(portal, clock)
    assert any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))

    # When the patient reads it on day 10
    clock.travel_to(day(day0, 10))
    assert patient_now(portal, patient).get(f"/api/documents/{item.id}").status_code == 200

    # Then reading stopped all follow-up: the office has no call left to make for it
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))


def test_a_comment_on_an_escalated_item_then_reading_it_leaves_no_call_open(portal, clock):
    # Given an escalated item on which the provider then comments (a new round of follow-up)
    day0, patient, item = escalated_item(portal, clock)
    clock.travel_to(day(day0, 10))
    commented = staff_now(portal).post(f"/api/staff/documents/{item.id}/comments", json={"text": "Please call us."})
    assert commented.status_code == 201, commented.text

    # When the patient reads it
    assert patient_now(portal, patient).get(f"/api/documents/{item.id}").status_code == 200

    # Then neither round's call stays on the office's queue
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))


def test_dev_sweep_refuses_a_time_that_is_not_iso(portal):
    # When the local sweep route gets a malformed time
    answer = portal.public.post("/dev/sweep", json={"now": "next tuesday"})

    # Then it answers 400 naming the field
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("now:")


def test_published_upload_to_a_patient_who_never_signed_in_is_renotified_with_a_fresh_temporary_password(portal, clock):
    # Given a registered patient who has never signed in, and a result uploaded on day 0 through
    # the real publication path (presigned POST -> S3 event -> SQS -> publisher)
    from tests.integration.test_publication import documents_of, post_file, upload_form

    day0 = fresh_day0()
    clock.travel_to(day0)
    desk = staff_now(portal)
    patient = portal.register_patient(desk)
    assert post_file(upload_form(desk, patient), b"%PDF-1.7\n%%EOF\n").ok
    pump.drain()
    [doc] = documents_of(desk, patient)
    first_password = portal.last_temporary_password(patient.email)
    assert len(notices_to(portal, patient.email)) == 1

    # When the sweep runs on day 3 (an hour after the upload's due time)
    sweep(portal, clock, day(day0, 3, hours=1))

    # Then the second notice carries a fresh temporary password, which signs in and, once used,
    # voids the older one (which worked until then: the three newest do)
    assert len(notices_to(portal, patient.email)) == 2
    fresh_password = portal.last_temporary_password(patient.email)
    assert fresh_password != first_password
    signed_in = portal.login(patient.username, fresh_password)
    assert signed_in.status_code == 200 and signed_in.json()["must_change_password"] is True
    assert portal.login(patient.username, first_password).status_code == 401
    assert staff_item(staff_now(portal), patient.id, doc["id"])["notices_sent"] == 2


def test_one_items_failed_write_does_not_stop_the_sweep_and_the_next_run_catches_up(portal, clock):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    # Given two patients with an unread item each, both due on day 3
    day0 = fresh_day0()
    clock.travel_to(day0)
    first, second = portal.new_patient(staff_now(portal)), portal.new_patient(staff_now(portal))
    items = [publish_item(first.id, day0), publish_item(second.id, day0)]
    original, refused = BaseClient._make_api_call, []

    def call(client, operation_name, api_params):
        # DynamoDB refuses the first item's follow-up claim (after botocore's own retries, as it may)
        if operation_name == "TransactWriteItems" and items[0].id in str(api_params) and not refused:
            refused.append(operation_name)
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, operation_name)
        return original(client, operation_name, api_params)

    # When the sweep runs on day 3 while that happens
    BaseClient._make_api_call = call
    try:
        summary = sweep(portal, clock, day(day0, 3))
    finally:
        BaseClient._make_api_call = original

    # Then the sweep went on: the second item was notified, the first counted as an error and still due
    assert refused and summary["errors"] == 1 and summary["notified"] >= 1
    assert [len(notices_to(portal, p.email)) for p in (first, second)] == [1, 2]

    # When the next run comes
    summary = sweep(portal, clock, day(day0, 3, hours=1))

    # Then the item left behind got its notice, and each item has exactly two notices
    assert [len(notices_to(portal, p.email)) for p in (first, second)] == [2, 2]
    assert [staff_item(staff_now(portal), p.id, i.id)["notices_sent"] for p, i in zip((first, second), items)] == [2, 2]
