"""Notices by text message (Amazon SNS SMS; moto locally, read back through `GET /dev/texts`), over
HTTP on the local stack: the patient (or the office) chooses email, texts or both; a text names
the clinic and the portal and nothing medical; re-notices use the same channels; a number that
replied STOP (SNS's opted-out list) turns texts off on the record; a text SNS refuses goes on the
staff queue; texts are limited per patient per day and by the month's spend. Phone numbers are
stored in E.164, and bad ones are refused naming the field."""

from __future__ import annotations

import secrets
from datetime import timedelta

from chalicelib.mail import texts
from chalicelib.services.followup import notices
from chalicelib.settings import get_settings
from chalicelib.store import counters, outbox
from tests.support.faults import aws_refuses
from tests.support.followup import day, fresh_day0, notices_to, publish_item, queue_list, staff_now, sweep
from tests.support.http import unique_mrn

TITLE = "Lipid panel for Rosalind Vega"  # never in a text


def _mobile(ending: str | None = None) -> str:
    """A US mobile number of its own (moto's SNS says a number ending in 99 replied STOP)."""
    return f"(919) 555-{ending or f'{secrets.randbelow(90) + 10:02d}{secrets.randbelow(10)}1'}"


def _e164(typed: str) -> str:
    return "+1" + "".join(char for char in typed if char.isdigit())


def texts_to(portal, number: str) -> list[dict]:
    answer = portal.public.get("/dev/texts", params={"to": number})
    assert answer.status_code == 200, answer.text
    return answer.json()["messages"]


def _patient_choosing(portal, clock, email: bool, sms: bool, phone: str | None = None):
    """A patient who has signed in, with a mobile number, who chose how notices reach them."""
    clock.travel_to(fresh_day0())
    patient = portal.new_patient(staff_now(portal), phone=phone or _mobile())
    chosen = patient.api.put("/api/me/notifications", json={"email": email, "sms": sms})
    assert chosen.status_code == 200 and chosen.json() == {"email": email, "sms": sms}, chosen.text
    patient.phone = patient.api.get("/api/me").json()["phone"]  # as stored: E.164
    return patient


def test_a_patient_who_chose_texts_gets_one_per_notice_and_a_reminder_by_text(portal, clock):
    # Given a patient who chose text messages only
    patient = _patient_choosing(portal, clock, email=False, sms=True)
    number, day0 = patient.phone, clock.now()

    # When a document is published for them, and they leave it unread until its follow-up
    publish_item(patient.id, day0, title=TITLE)
    summary = sweep(portal, clock, day(day0, get_settings().follow_up_days, hours=1))

    # Then they got a text for each, no mail, the second one a reminder
    sent = texts_to(portal, number)
    assert summary["notified"] >= 1 and [m["to"] for m in sent] == [number, number]
    assert notices_to(portal, patient.email) == []
    first, reminder = (m["text"] for m in sent)
    settings = get_settings()
    for text in (first, reminder):
        # naming the clinic and the portal, nothing medical, in one SMS segment, STOP honoured
        assert text.startswith(settings.clinic_name) and settings.portal_url in text and "STOP" in text
        assert "Lipid" not in text and "Rosalind" not in text and texts.segments(text) == 1
    assert "new document" in first and "reminder" in reminder
    assert sent[0]["sent_at"] is not None


def test_texts_off_means_mail_only_and_both_means_both(portal, clock):
    # Given a patient with a mobile number who keeps email only, and one who chose both
    email_only = _patient_choosing(portal, clock, email=True, sms=False)
    both = _patient_choosing(portal, clock, email=True, sms=True)

    # When a document is published for each
    for patient in (email_only, both):
        publish_item(patient.id, clock.now())

    # Then the first gets a mail and no text, the second a mail and a text
    assert len(notices_to(portal, email_only.email)) == 1
    assert texts_to(portal, email_only.phone) == []
    assert len(notices_to(portal, both.email)) == 1
    assert len(texts_to(portal, both.phone)) == 1


def test_a_number_that_replied_stop_turns_texts_off_on_the_record_and_mail_still_goes(portal, clock):
    # Given a patient who chose both, whose number is on SNS's opted-out list (they replied STOP)
    patient = _patient_choosing(portal, clock, email=True, sms=True, phone=_mobile(ending="0199"))

    # When a document is published for them
    publish_item(patient.id, clock.now())

    # Then no text goes out, the mail does, and texts are off with the opt-out on their record
    assert texts_to(portal, "+19195550199") == []
    assert len(notices_to(portal, patient.email)) == 1
    me = patient.api.get("/api/me").json()
    record = staff_now(portal).get(f"/api/staff/patients/{patient.id}").json()
    assert me["notifications"] == {"email": True, "sms": False}
    assert record["notifications"]["sms"] is False and record["sms_opted_out_at"] is not None


def test_the_office_registers_a_patient_with_a_phone_only_and_turns_texts_on(portal, clock):
    # Given a patient registered with a phone only (no email)
    clock.travel_to(fresh_day0())
    desk = staff_now(portal)
    typed = _mobile()
    registered = desk.post("/api/staff/patients", json={"name": "Tomas Arce", "date_of_birth": "1958-01-20",
                                                        "mrn": unique_mrn(), "phone": typed})
    assert registered.status_code == 201, registered.text
    patient_id = registered.json()["id"]

    # When the office turns texts on for them (and, first, tries email, which they have none of)
    no_email = desk.put(f"/api/staff/patients/{patient_id}/notifications", json={"email": True, "sms": True})
    chosen = desk.put(f"/api/staff/patients/{patient_id}/notifications", json={"email": False, "sms": True})
    publish_item(patient_id, clock.now())

    # Then email is refused naming it, texts are on, and the notice came by text in E.164
    assert no_email.status_code == 400 and no_email.json()["error"] == "no_email_address"
    assert chosen.status_code == 200 and chosen.json() == {"email": False, "sms": True}
    assert len(texts_to(portal, _e164(typed))) == 1


def test_texts_need_a_mobile_number_and_the_patients_phone_is_changed_with_the_password(portal, clock):
    # Given a patient with no phone on file
    clock.travel_to(fresh_day0())
    patient = portal.new_patient(staff_now(portal))

    # When they ask for texts / Then it is refused: no mobile number
    refused = patient.api.put("/api/me/notifications", json={"email": True, "sms": True})
    assert refused.status_code == 400 and refused.json()["error"] == "no_mobile_number"

    # When they give numbers as people write them, or that are not numbers a person has
    def change(phone: str, password: str | None = None):
        return patient.api.put("/api/me/phone", json={"phone": phone, "current_password": password or patient.password})

    bad = {typed: change(typed) for typed in ("12345", "(900) 555-0142", "+44 20 7946 0958", "call me")}
    wrong_password = change("(919) 555-0142", "not-my-password-at-all")
    toll_free = change("1-800-555-0100")
    texts_to_toll_free = patient.api.put("/api/me/notifications", json={"email": True, "sms": True})

    # Then short codes, premium-rate, foreign and malformed numbers are refused naming the field,
    # as is a wrong password; a toll-free number is kept in E.164 but takes no texts
    for typed, answer in bad.items():
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_phone", typed
        assert answer.json()["message"].startswith("phone"), answer.text
    assert wrong_password.status_code == 401
    assert toll_free.status_code == 200 and toll_free.json() == {"phone": "+18005550100"}
    assert texts_to_toll_free.status_code == 400 and texts_to_toll_free.json()["error"] == "no_mobile_number"

    # When they give a mobile number as people write it / Then it is stored in E.164 and takes texts
    good = change("919.555.0142")
    assert good.status_code == 200 and good.json() == {"phone": "+19195550142"}
    assert patient.api.put("/api/me/notifications", json={"email": True, "sms": True}).status_code == 200


def test_a_text_sns_refuses_for_good_goes_on_the_staff_queue_and_the_mail_still_goes(portal, clock):
    # Given a patient who chose both
    patient = _patient_choosing(portal, clock, email=True, sms=True)

    # When SNS refuses their notice's text for good
    def a_text(client, operation_name, api_params):
        return operation_name == "Publish" and "PhoneNumber" in api_params

    with aws_refuses(a_text, "InvalidParameter", 400, times=1):
        item = publish_item(patient.id, clock.now())

    # Then the staff queue says the text failed, naming the patient and the item, and the mail went
    failed = [e for e in queue_list(staff_now(portal), "failed_notices")
              if e["item_id"] == item.id]
    assert [(e["reason"], e["data"]["channel"], e["patient_id"]) for e in failed] == [
        ("text:InvalidParameter", "sms", patient.id)]
    assert len(notices_to(portal, patient.email)) == 1


def test_texts_stop_at_the_patients_daily_limit_and_the_months_spend_limit(portal, clock):
    # Given a patient who chose both, in a month of their own
    patient = _patient_choosing(portal, clock, email=True, sms=True)
    number = patient.phone

    # When more documents arrive in a day than the daily limit of texts
    limit = get_settings().texts_per_patient_per_day
    for _ in range(limit + 1):
        publish_item(patient.id, clock.now())

    # Then only the limit's worth of texts went, and every notice went by mail
    assert len(texts_to(portal, number)) == limit
    assert len(notices_to(portal, patient.email)) == limit + 1

    # When the month has spent its limit (the next day, so the daily limit does not stand in the way)
    clock.advance(timedelta(days=1))
    key, expires_at = notices._month_key(clock.now())
    settings = get_settings()
    counters.add(key, int(settings.sms_monthly_spend_limit_usd / settings.sms_price_usd), expires_at)
    item = publish_item(patient.id, clock.now())

    # Then no text goes, the mail does, and the notice says why
    assert len(texts_to(portal, number)) == limit
    assert len(notices_to(portal, patient.email)) == limit + 2
    assert outbox.get(notices.notice_id(item, 1)).text_status == "spend_limit"
