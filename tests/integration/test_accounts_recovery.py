"""Forgot password and forgot username, over HTTP on the local stack.

The forgot-password request only queues a recovery job; `pump.drain()` runs the jobs (as Lambda
does from the recovery queue), which send the mails.
"""

import json
import secrets
from datetime import UTC, datetime, timedelta

from chalicelib import aws
from chalicelib.clock import iso
from chalicelib.localstack import pump
from chalicelib.localstack.calls import Recorder, recording
from chalicelib.settings import get_settings
from tests.support.faults import ses_refuses_the_next_send_to
from tests.support.followup import queue_list
from tests.support.http import strong_password


def forgot_password(portal, username: str):
    return portal.public.post("/api/auth/forgot-password", json={"username": username})


def recovery_queue_url() -> str:
    return aws.client("sqs").get_queue_url(QueueName=get_settings().recovery_queue_name)["QueueUrl"]


class RecordingWithParams(Recorder):
    """The calls, and each call's parameters."""

    def __init__(self):
        super().__init__()
        self.params: list[dict] = []

    def add(self, call, params=None) -> None:
        super().add(call, params)
        self.params.append(params or {})


def reset_mails(portal, patient) -> list[dict]:
    return [m for m in portal.outbox(patient.email) if "temporary password" in m["subject"].lower()]


def test_the_old_password_keeps_working_until_the_temporary_one_is_used(portal, staff):
    # Given a patient with a password of their own who asks for a reset
    patient = portal.new_patient(staff)
    asked = forgot_password(portal, patient.username)
    pump.drain()
    temporary = portal.last_temporary_password(patient.email)

    # Then the old password still works while the temporary one is unused
    assert asked.status_code == 202
    assert portal.login(patient.username, patient.password).status_code == 200

    # When the temporary password is used
    limited = portal.public
    first = portal.login(patient.username, temporary)
    limited.token = first.json()["token"]

    # Then that session may only change the password, and the old password has stopped working
    assert first.status_code == 200 and first.json()["must_change_password"] is True
    assert limited.get("/api/me").json()["error"] == "password_change_required"
    assert portal.login(patient.username, patient.password).status_code == 401

    # When the new password is chosen, it is the one that works
    new_password = strong_password()
    assert limited.post("/api/auth/password", json={"current_password": temporary,
                                                    "new_password": new_password}).status_code == 204
    assert portal.login(patient.username, new_password).status_code == 200


def test_every_username_gets_the_same_answer_and_only_real_ones_a_mail(portal, staff):
    # Given a real patient and a username nobody has
    patient = portal.new_patient(staff)
    mails_before = len(portal.outbox())

    # When both ask for a reset, and the recovery jobs run
    real = forgot_password(portal, patient.username)
    unknown = forgot_password(portal, "nobody-" + secrets.token_hex(4) + "@example.com")
    pump.drain()

    # Then the answers are identical, and exactly one mail (to the real patient) went out
    assert (real.status_code, real.json()) == (unknown.status_code, unknown.json())
    assert real.status_code == 202 and real.json()["message"]
    outbox = portal.outbox()
    assert len(outbox) == mails_before + 1
    assert outbox[-1]["to"] == patient.email
    assert "Temporary password: " in outbox[-1]["text"]
    assert patient.password not in outbox[-1]["text"]


def test_a_reset_temporary_password_expires_after_24_hours(portal, staff, clock):
    # Given a patient who asked for a reset
    patient = portal.new_patient(staff)
    forgot_password(portal, patient.username)
    pump.drain()
    temporary = portal.last_temporary_password(patient.email)

    # When they use it a day and a minute later
    clock.advance(timedelta(hours=24, minutes=1))
    late = portal.login(patient.username, temporary)

    # Then it has expired, and their own password still works
    assert late.status_code == 401
    assert portal.login(patient.username, patient.password).status_code == 200


def test_per_account_limit_quietly_stops_the_mails(portal, staff):
    # Given a patient and the per-account limit
    patient = portal.new_patient(staff)
    limit = get_settings().forgot_password_per_account_per_hour

    # When more resets than the limit are asked for within the hour
    answers = [forgot_password(portal, patient.username) for _ in range(limit + 2)]
    pump.drain()

    # Then every answer is the same 202, but only `limit` mails went out
    assert {(a.status_code, a.json()["message"]) for a in answers} == {(202, answers[0].json()["message"])}
    assert len(reset_mails(portal, patient)) == limit


def test_per_client_limit_answers_429_with_retry_after(portal, clock):
    # Given an hour in which this client has asked for nothing yet
    clock.travel_to(datetime(2031, 3, 4, 10, 0, 5, tzinfo=UTC))
    limit = get_settings().forgot_password_per_client_per_hour

    # When the client asks for more resets than the limit (for usernames that do not exist)
    answers = [forgot_password(portal, f"someone-{n}@example.com") for n in range(limit + 1)]

    # Then the requests up to the limit are answered as usual and the next is 429 with Retry-After
    assert [a.status_code for a in answers[:limit]] == [202] * limit
    refused = answers[limit]
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited" and refused.json()["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 3600

    # And in the next hour the client may ask again
    clock.advance(timedelta(hours=1))
    assert forgot_password(portal, "someone@example.com").status_code == 202
    pump.drain()


def test_the_request_makes_the_same_aws_calls_for_a_known_and_an_unknown_username(portal, staff, clock):
    # Given a real patient, a username nobody has, and an hour in which this client has asked for nothing
    patient = portal.new_patient(staff)
    unknown = "nobody-" + secrets.token_hex(4) + "@example.com"
    clock.travel_to(datetime(2031, 5, 6, 9, 0, 5, tzinfo=UTC))
    forgot_password(portal, "warm-up@example.com")  # the first request finds the queue's URL, once per process
    mails_before = len(portal.outbox())

    # When each asks for a reset, recording the AWS calls of each request
    with recording(RecordingWithParams()) as for_real:
        real = forgot_password(portal, patient.username)
    with recording(RecordingWithParams()) as for_unknown:
        other = forgot_password(portal, unknown)

    # Then the answers, and the calls (services, operations and resources, in order), are the same
    assert (real.status_code, real.json()) == (other.status_code, other.json()) and real.status_code == 202
    assert for_real.calls == for_unknown.calls
    assert [f"{c.service}:{c.operation}" for c in for_real.calls] == ["dynamodb:UpdateItem", "sqs:SendMessage"]
    # And neither request mailed anything: the job carries what was typed and from where, no secret
    assert len(portal.outbox()) == mails_before
    job = json.loads(next(p["MessageBody"] for p in for_real.params if "MessageBody" in p))
    assert set(job) == {"id", "username", "client_ip"} and job["username"] == patient.username

    # When the jobs run, only the real patient gets a mail
    pump.drain()
    assert [m["to"] for m in portal.outbox()[mails_before:]] == [patient.email]


def test_a_recovery_job_delivered_twice_mails_once(portal, staff):
    # Given a patient's reset request whose job SQS delivers twice
    patient = portal.new_patient(staff)
    pump.drain()
    forgot_password(portal, patient.username)
    sqs, url = aws.client("sqs"), recovery_queue_url()
    message = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0)["Messages"][0]
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    # When the jobs run
    pump.drain()

    # Then one mail went out, and its temporary password works
    assert len(reset_mails(portal, patient)) == 1
    temporary = portal.last_temporary_password(patient.email)
    assert portal.login(patient.username, temporary).status_code == 200


def test_a_reset_mail_that_ses_refuses_is_sent_by_the_retry_schedule_once(portal, staff, clock):
    # Given a patient's reset request, and SES throttling when its job runs
    patient = portal.new_patient(staff)
    pump.drain()
    forgot_password(portal, patient.username)
    with ses_refuses_the_next_send_to(patient.email, "Throttling", 400) as refused:
        pump.drain()
    assert refused and reset_mails(portal, patient) == []

    # When the schedule runs after the backoff, and again later
    clock.advance(timedelta(minutes=5))
    pump.run_schedules(iso(clock.now()))
    clock.advance(timedelta(minutes=30))
    pump.run_schedules(iso(clock.now()))

    # Then the mail went out once, and the temporary password in it works
    assert len(reset_mails(portal, patient)) == 1
    temporary = portal.last_temporary_password(patient.email)
    assert portal.login(patient.username, temporary).status_code == 200


def test_forgot_username_form_lands_in_the_staff_queue_and_resolves(portal, staff):
    # Given a registered patient, and a note that marks this test's forms
    patient = portal.register_patient(staff, name="Odile Brandt")
    marker = secrets.token_hex(4)
    matching = {"name": "Odile Brandt", "date_of_birth": "1980-04-30", "email": patient.email,
                "phone": "+1 (919) 555-0120", "note": f"matching {marker}"}
    nothing = {"name": "No Such Person", "date_of_birth": "1955-01-01", "phone": "919-555-0121",
               "note": f"nothing {marker}"}

    # When a form that matches and one that matches nobody are sent
    first = portal.public.post("/api/forms/forgot-username", json=matching)
    second = portal.public.post("/api/forms/forgot-username", json=nothing)

    # Then the answers are identical, and both forms wait in the staff queue
    assert (first.status_code, first.json()) == (second.status_code, second.json())
    assert first.status_code == 202 and first.json()["message"]
    forms = [f for f in queue_list(staff, "forms") if marker in (f["data"] or {}).get("note", "")]
    assert len(forms) == 2
    sent = next(f for f in forms if f["data"]["note"].startswith("matching"))
    assert sent["data"]["email"] == patient.email and sent["data"]["phone"] == "+19195550120"
    # and the office is offered the chart that matches the name and date of birth
    matches = staff.get(f"/api/staff/forms/{sent['id']}/matches").json()["patients"]
    assert [m["patient_id"] for m in matches] == [patient.id]
    # and a form giving no way to reach the patient is refused, saying so
    unreachable = portal.public.post("/api/forms/forgot-username", json={"name": "Odile Brandt",
                                                                         "date_of_birth": "1980-04-30"})
    assert unreachable.status_code == 400 and "phone number or an email" in unreachable.json()["message"]

    # When staff resolve one
    resolved = staff.post(f"/api/staff/forms/{sent['id']}/resolve", json={"note": "called, username given"})

    # Then it leaves the queue; the other stays
    assert resolved.status_code == 200
    still_open = [f["id"] for f in queue_list(staff, "forms")]
    assert sent["id"] not in still_open
    assert len([f for f in forms if f["id"] in still_open]) == 1


def test_the_forgot_username_form_makes_the_same_aws_calls_whether_or_not_it_matches(portal, staff, clock):
    # Given a registered patient's details, someone else's, and an hour in which this client has sent no form
    patient = portal.register_patient(staff, name="Imke Vos")
    matching = {"name": "Imke Vos", "date_of_birth": "1980-04-30", "email": patient.email, "note": "mine"}
    nothing = {"name": "No Such Person", "date_of_birth": "1955-01-01", "email": "nobody-" + patient.email, "note": "mine"}
    clock.travel_to(datetime(2031, 5, 6, 11, 0, 5, tzinfo=UTC))

    # When each form is sent, recording the AWS calls of each request
    with recording() as for_matching:
        first = portal.public.post("/api/forms/forgot-username", json=matching)
    with recording() as for_nothing:
        second = portal.public.post("/api/forms/forgot-username", json=nothing)

    # Then the answers, and the calls (services, operations and resources, in order), are the same
    assert (first.status_code, first.json()) == (second.status_code, second.json()) and first.status_code == 202
    assert for_matching.calls == for_nothing.calls
    assert not any(call.service == "email" for call in for_matching.calls)


def test_resolving_an_unknown_form_is_404(staff):
    # When staff resolve a form id that does not exist
    answer = staff.post("/api/staff/forms/form_doesnotexist/resolve", json={})

    # Then the answer is 404 in the contract's shape
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_the_forms_queue_is_for_staff_only(portal, staff):
    # Given a signed-in patient
    patient = portal.new_patient(staff)

    # When they ask for the staff queue or try to resolve a form
    queue = patient.api.get("/api/staff/queue")
    resolve = patient.api.post("/api/staff/forms/form_x/resolve", json={})

    # Then both are forbidden
    assert queue.status_code == 403 and resolve.status_code == 403
    assert queue.json()["error"] == "forbidden"
