"""Secure messages between patients and the office, over HTTP on the local stack."""

from __future__ import annotations

import secrets
from datetime import timedelta

from chalicelib.clock import iso
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.conftest import STAFF_PASSWORD
from tests.support.http import end_the_alert_window, into_a_fresh_alert_window, office_alert_mails


def _table_names(resource: str) -> str:
    """`portal-local-messages,portal-local-threads` -> `messages,threads`."""
    return ",".join(name.rsplit("-", 1)[-1] for name in resource.split(","))


def _inbox(staff, **params) -> dict:
    answer = staff.get("/api/staff/inbox", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _whole_inbox(staff, limit: int = 50) -> list[dict]:
    threads, cursor = [], None
    while True:
        page = _inbox(staff, limit=limit, **({"cursor": cursor} if cursor else {}))
        threads += page["threads"]
        cursor = page["next_cursor"]
        if not cursor:
            return threads


def _thread_in_inbox(staff, thread_id: str) -> dict:
    found = [t for t in _whole_inbox(staff) if t["id"] == thread_id]
    assert len(found) == 1, f"{thread_id} listed {len(found)} times"
    return found[0]


def _patient_thread(patient, thread_id: str) -> dict:
    listed = patient.api.get("/api/messages").json()
    return next(t for t in listed["threads"] if t["id"] == thread_id)


def _item(patient, item_id: str) -> dict:
    return next(i for i in patient.api.get("/api/items").json()["items"] if i["id"] == item_id)


def _staff_item(staff, patient, item_id: str) -> dict:
    view = staff.get(f"/api/staff/patients/{patient.id}").json()
    return next(i for i in view["items"] if i["id"] == item_id)


def test_patient_writes_office_replies_patient_reads_with_receipt_and_unread_counts(portal, staff, admin, clock):
    # Given a signed-in patient
    patient = portal.new_patient(staff)
    office_mails_before = len(office_alert_mails(portal))

    # When the patient writes to the office
    sent = patient.api.post("/api/messages", json={"subject": "Question about my bill",
                                                   "body": "Why was I charged twice?", "category": "billing"})

    # Then the office inbox lists it among the threads waiting for the office, ahead of all others
    assert sent.status_code == 201, sent.text
    thread_id = sent.json()["id"]
    inbox = _whole_inbox(staff, limit=3)
    waiting_flags = [t["waiting"] for t in inbox]
    assert waiting_flags == sorted(waiting_flags, reverse=True), "a thread not waiting came before a waiting one"
    in_inbox = _thread_in_inbox(staff, thread_id)
    assert in_inbox["waiting"] is True and in_inbox["unread"] == 1 and in_inbox["patient_id"] == patient.id
    assert in_inbox["category"] == "billing"
    assert _inbox(staff)["unread_total"] >= 1

    # When the office opens the thread
    opened = staff.get(f"/api/staff/messages/{thread_id}")

    # Then it sees the patient's message and the thread is read for the office, yet still waiting
    assert opened.status_code == 200, opened.text
    assert [(m["author_role"], m["body"]) for m in opened.json()["messages"]] == [("patient", "Why was I charged twice?")]
    in_inbox = _thread_in_inbox(staff, thread_id)
    assert in_inbox["unread"] == 0 and in_inbox["waiting"] is True

    # When the office replies
    notices_before = len(portal.outbox(patient.email))
    reply = staff.post(f"/api/staff/messages/{thread_id}", json={"body": "It was a duplicate; we refunded it."})

    # Then the thread no longer waits for the office, and the patient has one unread message,
    # an unread `message` item with the thread's id, and one notice email
    assert reply.status_code == 201, reply.text
    assert _thread_in_inbox(staff, thread_id)["waiting"] is False
    listed = patient.api.get("/api/messages").json()
    assert _patient_thread(patient, thread_id)["unread"] == 1
    assert listed["unread_total"] == 1
    item = _item(patient, thread_id)
    assert item["kind"] == "message" and item["read_at"] is None
    assert len(portal.outbox(patient.email)) == notices_before + 1
    assert _staff_item(staff, patient, thread_id)["notices_sent"] == 1

    # When the patient opens the thread
    read = patient.api.get(f"/api/messages/{thread_id}")

    # Then both sides show in order with who wrote and when, the receipt is recorded, counts drop
    assert read.status_code == 200, read.text
    thread = read.json()
    assert thread["id"] == thread_id and thread["subject"] == "Question about my bill"
    assert [(m["author_role"], m["body"]) for m in thread["messages"]] == [
        ("patient", "Why was I charged twice?"),
        ("office", "It was a duplicate; we refunded it."),
    ]
    assert all(m["id"] and m["sent_at"].endswith("Z") for m in thread["messages"])
    assert _patient_thread(patient, thread_id)["unread"] == 0
    assert patient.api.get("/api/messages").json()["unread_total"] == 0
    assert _item(patient, thread_id)["read_at"] is not None
    staff_item = _staff_item(staff, patient, thread_id)
    assert staff_item["read_at"] is not None and staff_item["open_count"] == 1

    # And every open and every message sent is in the patient's audit trail
    events = admin.get("/api/staff/audit", params={"patient_id": patient.id}).json()["events"]
    actions = [(e["action"], e["actor_role"]) for e in events if e["target_id"] == thread_id]
    assert actions.count(("message.send", "patient")) == 1
    assert actions.count(("message.send", "staff")) == 1
    assert actions.count(("message.open", "staff")) == 1
    assert actions.count(("message.open", "patient")) == 1

    # And when the alert window ends, the schedule tells the office once that a patient wrote
    end_the_alert_window(clock)
    assert len(office_alert_mails(portal)) == office_mails_before + 1


def test_unread_counts_follow_each_message_on_both_sides(portal, staff):
    # Given a thread the office started with a patient
    patient = portal.new_patient(staff)
    started = staff.post(f"/api/staff/patients/{patient.id}/messages", json={"subject": "Your visit", "body": "One"})
    assert started.status_code == 201, started.text
    thread_id = started.json()["id"]

    # When the office writes again before the patient reads, and the patient then writes twice
    assert staff.post(f"/api/staff/messages/{thread_id}", json={"body": "Two"}).status_code == 201
    unread_by_patient = _patient_thread(patient, thread_id)["unread"]
    assert patient.api.get(f"/api/messages/{thread_id}").status_code == 200
    for body in ("Three", "Four"):
        assert patient.api.post(f"/api/messages/{thread_id}", json={"body": body}).status_code == 201

    # Then each side counts what the other wrote since it last looked
    assert unread_by_patient == 2
    assert _patient_thread(patient, thread_id)["unread"] == 0
    office_view = _thread_in_inbox(staff, thread_id)
    assert office_view["unread"] == 2 and office_view["waiting"] is True
    assert office_view["message_count"] == 4 and office_view["last_author_role"] == "patient"
    staff_list = staff.get(f"/api/staff/patients/{patient.id}/messages").json()["threads"]
    assert [t["id"] for t in staff_list] == [thread_id]


def test_office_started_thread_unread_for_three_days_is_noticed_again_by_the_sweep(portal, staff, clock):
    # Given a thread the office started with a patient, who got one notice and has not opened it
    patient = portal.new_patient(staff)
    notices_before = len(portal.outbox(patient.email))
    started = staff.post(f"/api/staff/patients/{patient.id}/messages",
                         json={"subject": "Please call us", "body": "We need to talk about your results."})
    assert started.status_code == 201, started.text
    thread_id = started.json()["id"]
    assert len(portal.outbox(patient.email)) == notices_before + 1
    assert _item(patient, thread_id)["read_at"] is None

    # When three days pass and the follow-up sweep runs (twice, as a retried schedule might)
    clock.advance(timedelta(days=get_settings().follow_up_days, minutes=1))
    pump.run_schedules(iso(clock.now()))
    pump.run_schedules(iso(clock.now()))

    # Then exactly one more notice went out, and the office sees two notices sent
    assert len(portal.outbox(patient.email)) == notices_before + 2
    desk = portal.live("desk", STAFF_PASSWORD)  # the clock moved past the old session's idle time
    assert _staff_item(desk, patient, thread_id)["notices_sent"] == 2

    # When the patient then reads it and three more days pass
    reader = portal.signed_in(patient.username, patient.password)
    assert reader.get(f"/api/messages/{thread_id}").status_code == 200
    clock.advance(timedelta(days=get_settings().follow_up_days, minutes=1))
    pump.run_schedules(iso(clock.now()))

    # Then follow-up has stopped: no further notice
    assert len(portal.outbox(patient.email)) == notices_before + 2


def test_another_patients_thread_answers_404_like_an_unknown_one(portal, staff):
    # Given two patients, one with a thread
    owner = portal.new_patient(staff)
    other = portal.new_patient(staff)
    thread_id = owner.api.post("/api/messages", json={"subject": "Mine", "body": "Private"}).json()["id"]

    # When the other patient reads or replies to it, and to an id that does not exist
    foreign_get = other.api.get(f"/api/messages/{thread_id}")
    foreign_post = other.api.post(f"/api/messages/{thread_id}", json={"body": "Let me in"})
    unknown_get = other.api.get("/api/messages/thr_doesnotexist")
    unknown_post = other.api.post("/api/messages/thr_doesnotexist", json={"body": "Hello"})

    # Then all four answer the same 404, and nothing was added to the owner's thread
    for answer in (foreign_get, foreign_post, unknown_get, unknown_post):
        assert answer.status_code == 404, answer.text
    assert foreign_get.json() == unknown_get.json()
    assert foreign_post.json() == unknown_post.json()
    assert [m["body"] for m in owner.api.get(f"/api/messages/{thread_id}").json()["messages"]] == ["Private"]
    assert all(t["id"] != thread_id for t in other.api.get("/api/messages").json()["threads"])


def test_staff_message_routes_refuse_patients(portal, staff):
    # Given a patient and one of their threads
    patient = portal.new_patient(staff)
    thread_id = patient.api.post("/api/messages", json={"subject": "Hi", "body": "Hello"}).json()["id"]

    # When the patient calls the office's routes
    answers = [
        patient.api.get("/api/staff/inbox"),
        patient.api.get(f"/api/staff/messages/{thread_id}"),
        patient.api.post(f"/api/staff/messages/{thread_id}", json={"body": "I am the office"}),
        patient.api.post(f"/api/staff/patients/{patient.id}/messages", json={"subject": "x", "body": "y"}),
    ]

    # Then each is 403 and the thread holds only the patient's own message
    assert [a.status_code for a in answers] == [403, 403, 403, 403]
    assert [m["author_role"] for m in patient.api.get(f"/api/messages/{thread_id}").json()["messages"]] == ["patient"]


def test_bodies_and_subjects_are_checked_and_html_is_kept_as_text(portal, staff):
    # Given a patient with one thread
    patient = portal.new_patient(staff)
    thread_id = patient.api.post("/api/messages", json={"subject": "Start", "body": "First"}).json()["id"]

    # When they send bodies and subjects that are too long, empty or blank
    refused = {
        "body too long": ("body", patient.api.post(f"/api/messages/{thread_id}", json={"body": "x" * 10_001})),
        "body empty": ("body", patient.api.post(f"/api/messages/{thread_id}", json={"body": ""})),
        "body blank": ("body", patient.api.post(f"/api/messages/{thread_id}", json={"body": " \n\t "})),
        "new body blank": ("body", patient.api.post("/api/messages", json={"subject": "Fine", "body": "   "})),
        "subject blank": ("subject", patient.api.post("/api/messages", json={"subject": "  ", "body": "Fine"})),
        "subject too long": ("subject", patient.api.post("/api/messages", json={"subject": "s" * 201, "body": "Fine"})),
        "unknown category": ("category", patient.api.post("/api/messages",
                                                          json={"subject": "a", "body": "b", "category": "gossip"})),
        "office body blank": ("body", staff.post(f"/api/staff/messages/{thread_id}", json={"body": "  "})),
    }

    # Then each is a 400 naming the field, and nothing was written
    for case, (field, answer) in refused.items():
        assert answer.status_code == 400, f"{case}: {answer.status_code} {answer.text}"
        assert answer.json()["message"].startswith(f"{field}:"), f"{case}: {answer.text}"
    listed = patient.api.get("/api/messages").json()["threads"]
    assert [t["id"] for t in listed] == [thread_id]
    assert len(patient.api.get(f"/api/messages/{thread_id}").json()["messages"]) == 1

    # When they send the longest body allowed, and HTML
    html = '<script>alert("hi")</script><b>bold</b> &amp; <img src=x onerror=alert(1)>'
    longest = patient.api.post(f"/api/messages/{thread_id}", json={"body": "y" * 10_000})
    with_html = patient.api.post("/api/messages", json={"subject": "<i>Subject</i>", "body": html})

    # Then both are stored, and the HTML comes back exactly as written, as text
    assert longest.status_code == 201 and with_html.status_code == 201
    opened = patient.api.get(f"/api/messages/{with_html.json()['id']}")
    assert opened.headers["Content-Type"].startswith("application/json")
    assert opened.json()["subject"] == "<i>Subject</i>"
    assert opened.json()["messages"][0]["body"] == html
    office_view = staff.get(f"/api/staff/messages/{with_html.json()['id']}").json()
    assert office_view["messages"][0]["body"] == html


def test_notice_emails_carry_no_subject_or_body(portal, staff, clock):
    # Given a patient, and words that appear only in one thread's subject and bodies
    patient = portal.new_patient(staff)
    words = {name: f"{name}{secrets.token_hex(4)}" for name in ("subject", "patientbody", "officebody", "officesubject")}
    office_before = len(office_alert_mails(portal))
    patient_before = len(portal.outbox(patient.email))

    # When the patient writes, the office replies and the office starts another thread
    thread_id = patient.api.post("/api/messages", json={"subject": words["subject"], "body": words["patientbody"]}).json()["id"]
    assert staff.post(f"/api/staff/messages/{thread_id}", json={"body": words["officebody"]}).status_code == 201
    assert staff.post(f"/api/staff/patients/{patient.id}/messages",
                      json={"subject": words["officesubject"], "body": words["officebody"]}).status_code == 201
    end_the_alert_window(clock)

    # Then the office got a bare alert with a link to the inbox, the patient two bare notices,
    # and none of them carries the patient's name, a subject or a body
    office_mails = office_alert_mails(portal)[office_before:]
    patient_mails = portal.outbox(patient.email)[patient_before:]
    assert len(office_mails) == 1 and len(patient_mails) == 2
    assert "/staff/inbox" in office_mails[0]["text"]
    for mail in office_mails + patient_mails:
        for part in (mail["subject"], mail["text"], mail["html"]):
            for word in words.values():
                assert word not in part
            assert patient.name not in part


def test_long_histories_and_lists_come_a_page_at_a_time(portal, staff):
    # Given a thread with five messages and a patient with three threads
    patient = portal.new_patient(staff)
    first = patient.api.post("/api/messages", json={"subject": "Long", "body": "m0"}).json()["id"]
    for n in range(1, 5):
        assert patient.api.post(f"/api/messages/{first}", json={"body": f"m{n}"}).status_code == 201
    for subject in ("Second", "Third"):
        assert patient.api.post("/api/messages", json={"subject": subject, "body": "x"}).status_code == 201

    # When the history is read two messages at a time, and the list one thread at a time
    bodies, pages, cursor = [], 0, None
    while True:
        answer = patient.api.get(f"/api/messages/{first}", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        bodies += [m["body"] for m in answer.json()["messages"]]
        pages += 1
        cursor = answer.json()["next_cursor"]
        if not cursor:
            break
    subjects, cursor = [], None
    while True:
        answer = patient.api.get("/api/messages", params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        subjects += [t["subject"] for t in answer.json()["threads"]]
        cursor = answer.json()["next_cursor"]
        if not cursor:
            break

    # Then every message comes once, oldest first, in three pages; threads newest first
    assert bodies == ["m0", "m1", "m2", "m3", "m4"] and pages == 3
    assert subjects == ["Third", "Second", "Long"]

    # And the office inbox, read two at a time, lists each thread once
    inbox_ids = [t["id"] for t in _whole_inbox(staff, limit=2)]
    assert len(inbox_ids) == len(set(inbox_ids))
    assert first in inbox_ids

    # And a limit or cursor the portal did not give out is a 400 naming it
    assert patient.api.get("/api/messages", params={"limit": 0}).json()["message"].startswith("limit:")
    assert patient.api.get("/api/messages", params={"limit": "201"}).status_code == 400
    bad = patient.api.get(f"/api/messages/{first}", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("cursor:")
    assert staff.get("/api/staff/inbox", params={"cursor": "eyJ4Ijox"}).status_code == 400


def test_a_message_send_writes_the_message_the_thread_and_the_office_alert_in_one_transaction(portal, clock):
    from chalicelib.localstack.calls import recording

    # Given a patient with a thread, in an alert window no message has used yet
    into_a_fresh_alert_window(clock)
    patient = portal.new_patient(portal.live("desk", STAFF_PASSWORD))
    thread_id = patient.api.post("/api/messages", json={"subject": "Refill", "body": "Please"}).json()["id"]
    assert patient.api.get("/api/me").status_code == 200  # the session is fresh: no touch during the send

    # When the patient replies
    with recording() as calls:
        answer = patient.api.post(f"/api/messages/{thread_id}", json={"body": "Thank you"})

    # Then DynamoDB saw the session lookup (the session and its account, read together), one
    # transaction for the message, the thread and the
    # office's alert in the outbox, one audit put; and nothing was mailed while the patient waited
    assert answer.status_code == 201, answer.text
    dynamodb = sorted(f"{c.operation} {_table_names(c.resource)}" for c in calls.calls if c.service == "dynamodb")
    assert dynamodb == ["BatchGetItem accounts,sessions", "PutItem audit", "TransactWriteItems messages,outbox,threads"]
    assert calls.count(service="email") == 0


def test_office_replies_sent_at_the_same_moment_each_start_their_own_round(portal, staff):
    from concurrent.futures import ThreadPoolExecutor

    # Given a thread the office started, so the patient already has its item
    patient = portal.new_patient(staff)
    thread_id = staff.post(f"/api/staff/patients/{patient.id}/messages", json={"subject": "Hi", "body": "First"}).json()["id"]
    notices_before = len(portal.outbox(patient.email))

    # When three staff replies arrive at once
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda n: staff.post(f"/api/staff/messages/{thread_id}", json={"body": f"Reply {n}"}),
                                range(3)))

    # Then all are stored, each started a round with its own notice, and the counts agree
    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    assert len(portal.outbox(patient.email)) == notices_before + 3
    assert _patient_thread(patient, thread_id)["unread"] == 4
    office_view = staff.get(f"/api/staff/messages/{thread_id}").json()
    assert sorted(m["body"] for m in office_view["messages"]) == ["First", "Reply 0", "Reply 1", "Reply 2"]
    assert _staff_item(staff, patient, thread_id)["notices_sent"] == 1
