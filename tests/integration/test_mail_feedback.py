"""SES bounces and complaints, delivered as SES publishes them (configuration set -> SNS topic ->
handler): a hard bounce or a complaint flags the address on file, stops notices (the item
escalates instead), shows to staff and to the patient; changing the email clears it."""

from __future__ import annotations

import json
import secrets

from chalicelib import aws
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
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


def _mail(address: str) -> dict:
    settings = get_settings()
    return {
        "timestamp": "2026-11-25T19:00:00.000Z",
        "source": settings.mail_from,
        "sourceArn": f"arn:aws:ses:{settings.region}:123456789012:identity/{settings.mail_from}",
        "sendingAccountId": "123456789012",
        "messageId": "0100019a-" + secrets.token_hex(8),
        "destination": [address],
        "headersTruncated": False,
        "tags": {"ses:configuration-set": [settings.ses_configuration_set]},
    }


def bounce_event(address: str, bounce_type: str = "Permanent") -> dict:
    """An SES event-publishing Bounce record, as the configuration set sends it to SNS."""
    return {
        "eventType": "Bounce",
        "bounce": {
            "feedbackId": "0100019a-" + secrets.token_hex(8),
            "bounceType": bounce_type,
            "bounceSubType": "General" if bounce_type == "Permanent" else "MailboxFull",
            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1",
                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": "2026-11-25T19:00:01.000Z",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": _mail(address),
    }


def complaint_notification(address: str) -> dict:
    """An SES identity notification for a complaint (the `notificationType` format)."""
    return {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "ExampleCorp Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": address}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-11-25T19:00:02.000Z",
            "timestamp": "2026-11-25T19:00:02.000Z",
            "feedbackId": "0100019a-" + secrets.token_hex(8),
        },
        "mail": _mail(address),
    }


def deliver_feedback(event: dict) -> None:
    """Publish to the real topic; the pump hands it to the SNS handler as Lambda would."""
    sns = aws.client("sns")
    topic_arn = sns.create_topic(Name=get_settings().mail_feedback_topic)["TopicArn"]
    sns.publish(TopicArn=topic_arn, Message=json.dumps(event))
    pump.drain()


def bad_email_ids(portal) -> set[str]:
    return {b["patient_id"] for b in staff_now(portal).get("/api/staff/queue").json()["bad_emails"]}


def test_hard_bounce_flags_the_address_stops_notices_and_a_new_email_clears_it(portal, clock):
    # Given a signed-in patient with an unread item published on day 0
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))
    item = publish_item(patient.id, day0)
    assert len(notices_to(portal, patient.email)) == 1

    # When SES reports a hard bounce for the address (in other letter case)
    deliver_feedback(bounce_event(patient.email.upper()))

    # Then the patient sees the flag, and staff see "needs a valid email"
    me = patient_now(portal, patient).get("/api/me").json()
    assert me["email_status"] == "bad"
    assert patient.id in bad_email_ids(portal)

    # When the sweep runs on day 3
    summary = sweep(portal, clock, day(day0, 3))

    # Then no notice goes to the bad address: the item is escalated instead
    assert summary["escalated_bad_email"] >= 1
    assert len(notices_to(portal, patient.email)) == 1
    assert staff_item(staff_now(portal), patient.id, item.id)["escalated"] is True
    [entry] = [e for e in follow_up_entries(staff_now(portal)) if e["item_id"] == item.id]
    assert entry["reason"] == "bad_email"

    # When the patient changes the email on file
    api = patient_now(portal, patient)
    new_email = f"new.{secrets.token_hex(4)}@example.com"
    changed = api.put("/api/me/email", json={"email": new_email, "current_password": patient.password})

    # Then the flag is gone, the username stays, and new notices go to the new address
    assert changed.status_code == 200, changed.text
    me = api.get("/api/me").json()
    assert me["email_status"] == "ok" and me["email"] == new_email and me["username"] == patient.username
    assert patient.id not in bad_email_ids(portal)
    publish_item(patient.id, day(day0, 3, hours=1))
    assert len(notices_to(portal, new_email)) == 1

    # and a late bounce for the old address changes nothing
    deliver_feedback(bounce_event(patient.email))
    assert api.get("/api/me").json()["email_status"] == "ok"


def test_complaint_flags_the_address_and_staff_updating_the_email_clears_it(portal, clock):
    # Given a patient with an email on file
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))

    # When SES reports a complaint for it
    deliver_feedback(complaint_notification(patient.email))

    # Then the address is flagged for the patient and for staff
    assert patient_now(portal, patient).get("/api/me").json()["email_status"] == "bad"
    [flag] = [b for b in staff_now(portal).get("/api/staff/queue").json()["bad_emails"] if b["patient_id"] == patient.id]
    assert flag["reason"] == "complaint"

    # When staff update the email on file after the patient calls
    new_email = f"called.{secrets.token_hex(4)}@example.com"
    answer = staff_now(portal).put(f"/api/staff/patients/{patient.id}/email", json={"email": new_email})

    # Then the flag is cleared and the username is unchanged
    assert answer.status_code == 200, answer.text
    me = patient_now(portal, patient).get("/api/me").json()
    assert me["email_status"] == "ok" and me["username"] == patient.username
    assert patient.id not in bad_email_ids(portal)


def test_soft_bounce_and_other_events_change_nothing(portal, clock):
    # Given a patient with an email on file
    patient = portal.new_patient(staff_now(portal))

    # When SES reports a transient bounce, a delivery, and something that is not JSON
    deliver_feedback(bounce_event(patient.email, bounce_type="Transient"))
    deliver_feedback({"eventType": "Delivery", "mail": _mail(patient.email), "delivery": {}})
    sns = aws.client("sns")
    sns.publish(TopicArn=sns.create_topic(Name=get_settings().mail_feedback_topic)["TopicArn"], Message="not json")
    pump.drain()

    # Then the address stays good
    assert patient_now(portal, patient).get("/api/me").json()["email_status"] == "ok"
    assert patient.id not in bad_email_ids(portal)
