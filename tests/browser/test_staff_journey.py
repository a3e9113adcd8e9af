"""The office in a browser: register a patient, upload a result, watch it being read, handle forms and messages."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.browser.conftest import Browser, signed_in
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD
from tests.support.http import Patient, unique_email, unique_mrn

pytestmark = pytest.mark.browser


def staff_signs_in(open_browser, username: str = "desk", password: str = STAFF_PASSWORD) -> Browser:
    browser = signed_in(open_browser, username, password)
    assert browser.path == "/staff"
    return browser


def test_register_upload_and_see_the_read_receipt(portal, open_browser):
    from chalicelib.localstack import pump

    # Given a staff member signed in
    browser = staff_signs_in(open_browser)

    # When they register a patient through the page
    email, mrn = unique_email("marcus"), unique_mrn()
    browser.page.get_by_role("link", name="Register a patient").click()
    browser.visited()
    browser.fill({"Legal name": "Marcus Bell", "Date of birth": "1969-07-21", "Email on file (optional)": email,
                  "MRN (clinic identifier)": mrn})
    browser.submit("Register the patient")

    # Then the patient's page shows them, and the invitation went out with a temporary password
    assert "invitation with a temporary password has been emailed" in browser.text()
    assert mrn in browser.text() and email in browser.text()
    patient_path = browser.path.split("?")[0]
    assert portal.last_temporary_password(email)

    # When they upload a result through the page: describe it, then post the file straight to S3
    browser.page.get_by_role("link", name="Upload a result").click()
    browser.visited()
    browser.fill({"Title": "Thyroid panel", "Category": "lab result", "Provider": "Dr. Lena Park",
                  "Comment or instructions for the patient (optional)": "All normal. No action needed."})
    browser.page.get_by_label("File type").select_option("text/plain")
    browser.submit("Next: choose the file")
    form_action = browser.page.locator("form[enctype='multipart/form-data']").get_attribute("action")
    browser.page.set_input_files("#file", files=[{"name": "thyroid.txt", "mimeType": "text/plain",
                                                  "buffer": b"TSH 2.1 mIU/L (normal)\n"}])
    with browser.page.expect_response(lambda r: r.url.startswith(form_action) and r.request.method == "POST") as posted, \
            browser.page.expect_navigation(url=re.compile(r"/uploaded\?")):
        browser.page.get_by_role("button", name="Send the file").click()

    # Then S3 stores it and sends the browser back to the portal, which says the file was received
    assert posted.value.status == 303, posted.value.status
    browser.visited()
    assert "has been received for Marcus Bell" in browser.text()
    pump.drain()

    # Then the document is on the patient's page, unread, with one notice sent
    browser.go(patient_path)
    row = browser.page.locator("tr", has_text="Thyroid panel")
    assert "Unread" in row.inner_text()
    assert row.locator("td.num").inner_text().strip().startswith("1")

    # When the patient signs in and opens it
    patient = portal.activate(Patient(patient_path.rsplit("/", 1)[1], email, mrn, "Marcus Bell", username=email))
    item_id = row.get_attribute("data-item-id")
    assert patient.api.get(f"/api/documents/{item_id}").status_code == 200

    # Then the office sees the read receipt
    browser.go(patient_path)
    assert "Read " in browser.page.locator("tr", has_text="Thyroid panel").inner_text()

    # When a provider adds a comment to it later
    browser.page.get_by_label("Document").select_option(item_id)
    browser.fill({"Comment or instructions": "Let's recheck in six months."})
    browser.submit("Add comment")

    # Then it is unread again until the patient reads the comment
    assert "The comment has been added" in browser.text()
    assert "Unread" in browser.page.locator("tr", has_text="Thyroid panel").inner_text()
    opened = patient.api.get(f"/api/documents/{item_id}").json()
    assert [c["text"] for c in opened["comments"]][-1] == "Let's recheck in six months."


def test_office_resolves_a_forgot_username_form(portal, open_browser):
    # Given a patient who sent the forgot-username form
    name = f"Ines Forgetful {secrets.token_hex(2)}"
    sent = portal.public.post("/api/forms/forgot-username", json={"name": name, "date_of_birth": "1981-03-09",
                                                                   "phone": "919-555-0142"})
    assert sent.status_code == 202
    browser = staff_signs_in(open_browser)

    # When the office opens the work queue
    browser.page.get_by_role("link", name="Work queue").click()
    browser.visited()

    # Then the form is there with what the patient wrote
    card = browser.page.locator("li.card", has_text=name)
    assert "(919) 555-0142" in card.inner_text()  # as the clinic writes it (stored in E.164)

    # When they mark it done with a note
    card.get_by_label("Note (optional)").fill("Called back, username given")
    with browser.page.expect_navigation():
        card.get_by_role("button", name="Mark done").click()
    browser.visited()

    # Then it leaves the queue
    assert "The form is marked as done" in browser.text()
    assert browser.page.locator("li.card", has_text=name).count() == 0


def test_office_answers_a_patient_message_from_the_inbox(portal, staff, open_browser):
    # Given a patient who wrote to the office
    patient = portal.new_patient(staff, name="Olu Ade")
    subject = f"Refill {secrets.token_hex(2)}"
    started = patient.api.post("/api/messages", json={"subject": subject, "body": "I need a refill of my inhaler."})
    assert started.status_code == 201
    browser = staff_signs_in(open_browser)

    # When the office opens the inbox and the thread, and replies
    browser.go("/staff/inbox")
    assert "Waiting for us" in browser.page.locator("tr", has_text=subject).inner_text()
    browser.page.get_by_role("link", name=subject).click()
    browser.visited()
    assert "I need a refill of my inhaler." in browser.text()
    browser.fill({"Your reply": "Sent to your pharmacy today."})
    browser.submit("Send reply")

    # Then the reply is in the thread, and the patient has it as an unread item
    assert "Sent to your pharmacy today." in browser.text()
    items = patient.api.get("/api/items").json()["items"]
    assert [i["read_at"] for i in items if i["id"] == started.json()["id"]] == [None]


def test_admin_creates_staff_and_reads_a_patients_audit_trail(portal, staff, open_browser):
    # Given an admin and a patient who has signed in
    patient = portal.new_patient(staff, name="Audit Subject")
    browser = staff_signs_in(open_browser, "admin", ADMIN_PASSWORD)

    # When the admin creates a staff account
    browser.page.get_by_role("link", name="Admin").click()
    browser.visited()
    username = f"nurse{secrets.token_hex(3)}"
    browser.fill({"Name": "Nia Nurse", "Username": username, "Email": f"{username}@clinic.example"})
    browser.submit("Create account")

    # Then it is created and a temporary password is mailed
    assert "The staff account is created" in browser.text()
    assert portal.last_temporary_password(f"{username}@clinic.example")

    # When they read the patient's audit trail
    browser.go(f"/admin/audit?patient_id={patient.id}")

    # Then the registration and the sign-ins are listed
    assert "patient.register" in browser.text()
    assert "auth.login" in browser.text()


def quarantined_text_upload(file_name: str, title: str) -> str:
    """A plain-text upload for an MRN nobody has, handled by the publisher (so quarantined); its MRN."""
    from chalicelib import aws
    from chalicelib.localstack import pump
    from chalicelib.settings import get_settings

    mrn = unique_mrn()
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=f"incoming/{mrn}/{file_name}",
                                Body=f"{title}: report\n".encode(), ContentType="text/plain",
                                Metadata={"title": title, "category": "imaging", "provider": "Dr. Park"})
    pump.drain()
    return mrn


def test_queue_shows_quarantined_uploads_and_addresses_that_bounced(portal, staff, open_browser):
    from tests.integration.test_mail_feedback import bounce_event, deliver_feedback

    # Given an upload for an MRN nobody has, and a patient whose address bounced
    unknown_mrn = quarantined_text_upload("scan.txt", "Scan")
    bounced = portal.new_patient(staff, name=f"Bounced Address {secrets.token_hex(2)}")
    deliver_feedback(bounce_event(bounced.email))
    browser = staff_signs_in(open_browser)

    # When the office opens the work queue
    browser.go("/staff/queue?limit=500")

    # Then the quarantined upload and the patient who needs a valid email are both listed
    quarantined = browser.page.get_by_role("region", name="Quarantined uploads table")
    assert f"incoming/{unknown_mrn}/scan.txt" in quarantined.inner_text()
    bad_rows = browser.page.get_by_role("region", name="Addresses that need fixing table")
    assert bounced.name in bad_rows.inner_text()


def test_office_publishes_a_quarantined_upload_again_once_the_patient_is_registered(portal, staff, open_browser):
    from chalicelib.localstack import pump

    # Given an upload quarantined for an MRN nobody had, whose patient the office has registered since
    mrn = quarantined_text_upload("echo.txt", "Echocardiogram")
    patient = portal.new_patient(staff, mrn=mrn, name=f"Late Registration {secrets.token_hex(2)}")
    browser = staff_signs_in(open_browser)

    # When the office opens it from the work queue and publishes it again
    browser.go("/staff/queue?limit=500")
    row = browser.page.get_by_role("region", name="Quarantined uploads table").locator("tr", has_text=f"incoming/{mrn}/")
    with browser.page.expect_navigation():
        row.get_by_role("link", name="Publish again or close").click()
    browser.visited()
    assert "No patient has this MRN" in browser.text()
    browser.submit("Publish again")
    pump.drain()

    # Then the page says it was sent again, and the patient has the document
    assert "Sent to be published again" in browser.text()
    browser.go(f"/staff/patients/{patient.id}")
    assert "Echocardiogram" in browser.text()


def test_an_item_unread_after_every_notice_is_a_call_the_office_closes(portal, staff, open_browser, clock):
    from tests.support.followup import day, fresh_day0, publish_item, sweep

    # Given an item its patient has not read after three notices
    patient = portal.new_patient(staff, name=f"Unreached Patient {secrets.token_hex(2)}")
    day0 = fresh_day0()
    clock.travel_to(day0)
    publish_item(patient.id, day0, title="Hemoglobin A1c")
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n, hours=1))

    # When the office looks at its start page and the work queue
    browser = staff_signs_in(open_browser)
    escalated = browser.page.get_by_text("escalated (").inner_text()
    browser.go("/staff/queue?limit=500")
    row = browser.page.get_by_role("region", name="Follow-up calls table").locator("tr", has=browser.page.locator(
        f"a[href='/staff/patients/{patient.id}']"))

    # Then the patient is there to call, and the live report counts the escalation
    assert "please call the patient" in row.inner_text()
    assert "3 notices sent" in row.inner_text()
    assert not escalated.startswith("0 ")

    # When they mark it called
    with browser.page.expect_navigation():
        row.get_by_role("button", name="Mark called").click()
    browser.visited()

    # Then it leaves the queue
    assert "The follow-up is closed" in browser.text()
    assert browser.page.locator(f"a[href='/staff/patients/{patient.id}']").count() == 0
