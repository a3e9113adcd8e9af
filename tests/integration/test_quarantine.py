"""The office acts on quarantined uploads: it sends one back through the publisher once the cause
is fixed (publishing it once, with one notice), or closes it without publishing (the file stays in
quarantine). And the upload page: after the browser posts the file to S3, S3 sends it back to a
portal page saying the file was received."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, urlsplit

import requests

from chalicelib.localstack import pump
from tests.conftest import STAFF_PASSWORD
from tests.integration.test_publication import META, PDF, documents_of, objects, put_direct, quarantined
from tests.support.http import unique_mrn
from tests.support.pages import page_csrf, signed_in_pages


def quarantine_upload(staff, mrn: str, metadata: dict | None = None) -> dict:
    """An upload for `mrn`, handled by the publisher and quarantined; its queue entry."""
    key = f"incoming/{mrn}/result.pdf"
    put_direct(key, PDF, metadata if metadata is not None else META)
    pump.drain()
    [entry] = [e for e in quarantined(staff) if e["data"]["key"] == key]
    return entry


def entry_path(entry: dict, action: str) -> str:
    return f"/api/staff/queue/{quote(entry['id'], safe='')}/{action}"


def audit_actions(admin, patient_id: str) -> list[dict]:
    return admin.get("/api/staff/audit", params={"patient_id": patient_id}).json()["events"]


def test_an_upload_for_an_unknown_mrn_publishes_once_after_the_patient_is_registered(portal, staff, admin):
    # Given an upload quarantined because no patient had its MRN, and that patient registered since
    mrn = unique_mrn()
    entry = quarantine_upload(staff, mrn)
    assert entry["reason"] == "unknown_patient"
    patient = portal.new_patient(staff, mrn=mrn)
    mails_before = len(portal.outbox(patient.email))

    # When staff publish it again and the publisher handles it
    answer = staff.post(entry_path(entry, "publish"), json={"note": "patient registered today"})
    pump.drain()

    # Then the patient has exactly one document and one notice, and the entry left the queue
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "resolved" and answer.json()["patient_id"] == patient.id
    [doc] = documents_of(staff, patient)
    assert doc["title"] == META["title"] and doc["read_at"] is None
    assert len(portal.outbox(patient.email)) == mails_before + 1
    assert patient.api.get("/api/items").json()["items"][0]["id"] == doc["id"]
    assert not any(e["id"] == entry["id"] for e in quarantined(staff))
    # And the quarantined copy is still kept, the audit trail says who did it
    assert objects(entry["data"]["quarantine_key"]) == [entry["data"]["quarantine_key"]]
    [event] = [e for e in audit_actions(admin, patient.id) if e["action"] == "quarantine.publish_again"]
    assert event["actor_role"] == "staff" and event["target_id"] == entry["id"]

    # When staff try again, and the event is delivered once more
    again = staff.post(entry_path(entry, "publish"), json={})
    pump.drain()

    # Then it is refused as already dealt with, and still one document, one notice
    assert again.status_code == 409, again.text
    assert len(documents_of(staff, patient)) == 1
    assert len(portal.outbox(patient.email)) == mails_before + 1


def test_staff_give_the_right_mrn_and_an_unknown_one_is_refused(portal, staff):
    # Given an upload quarantined under a mistyped MRN, and the patient it was meant for
    entry = quarantine_upload(staff, unique_mrn())
    patient = portal.new_patient(staff)

    # When staff first give an MRN nobody has
    wrong = staff.post(entry_path(entry, "publish"), json={"mrn": unique_mrn()})

    # Then it is refused naming the MRN, and the entry stays open
    assert wrong.status_code == 400 and "mrn" in wrong.json()["message"]
    assert any(e["id"] == entry["id"] for e in quarantined(staff))

    # When they give the right one
    answer = staff.post(entry_path(entry, "publish"), json={"mrn": patient.mrn})
    pump.drain()

    # Then the document is the patient's
    assert answer.status_code == 200, answer.text
    assert answer.json()["key"].startswith(f"incoming/{patient.mrn}/")
    assert [d["title"] for d in documents_of(staff, patient)] == [META["title"]]


def test_an_upload_that_still_cannot_publish_comes_back_with_the_new_reason(portal, staff):
    # Given an upload with no title, quarantined because its patient was not registered yet
    mrn = unique_mrn()
    entry = quarantine_upload(staff, mrn, {k: v for k, v in META.items() if k != "title"})
    patient = portal.new_patient(staff, mrn=mrn)

    # When staff publish it again
    answer = staff.post(entry_path(entry, "publish"), json={})
    pump.drain()

    # Then it is back in quarantine with the new reason, and nothing is published
    assert answer.status_code == 200, answer.text
    [back] = [e for e in quarantined(staff) if e["data"]["key"] == answer.json()["key"]]
    assert back["reason"] == "missing_metadata" and back["id"] != entry["id"]
    assert documents_of(staff, patient) == []


def test_closing_without_publishing_keeps_the_file_and_closes_the_entry(portal, staff, admin):
    # Given an upload sent to the wrong clinic
    entry = quarantine_upload(staff, unique_mrn())

    # When staff close it without a note, then with one
    no_note = staff.post(entry_path(entry, "resolve"), json={})
    closed = staff.post(entry_path(entry, "resolve"), json={"note": "sent to us by mistake; lab told"})

    # Then a note is required; with it the entry is closed and the file stays in quarantine
    assert no_note.status_code == 400 and "note" in no_note.json()["message"]
    assert closed.status_code == 200, closed.text
    assert not any(e["id"] == entry["id"] for e in quarantined(staff))
    assert objects(entry["data"]["quarantine_key"]) == [entry["data"]["quarantine_key"]]
    events = admin.get("/api/staff/audit", params={"actor_id": staff.get("/api/me").json()["id"]}).json()["events"]
    assert any(e["action"] == "queue.resolve" and e["target_id"] == entry["id"] for e in events)

    # When staff close it again, or publish it after all
    assert staff.post(entry_path(entry, "resolve"), json={"note": "again"}).status_code == 409
    assert staff.post(entry_path(entry, "publish"), json={}).status_code == 409


def test_patients_and_anonymous_callers_cannot_act_on_quarantine(portal, staff):
    # Given a quarantined upload and a signed-in patient
    entry = quarantine_upload(staff, unique_mrn())
    patient = portal.new_patient(staff)

    # When the patient and an anonymous caller try to publish or close it
    answers = [caller.post(entry_path(entry, action), json={"note": "x"})
               for caller in (patient.api, portal.public) for action in ("publish", "resolve")]

    # Then they are refused and the entry stays open
    assert [a.status_code for a in answers] == [403, 403, 401, 401]
    assert any(e["id"] == entry["id"] for e in quarantined(staff))


def test_unknown_entries_answer_404(staff):
    # When staff act on ids that exist nowhere
    answers = [staff.post(f"/api/staff/queue/{quote('quarantine#d_000000000000', safe='')}/{action}", json={"note": "x"})
               for action in ("publish", "resolve")]

    # Then both are 404
    assert [a.status_code for a in answers] == [404, 404]


# ---------------------------------------------------------------- the pages

def test_after_the_upload_page_posts_the_file_s3_sends_the_browser_back_to_a_portal_page(portal, staff):
    # Given a patient and the office on the upload page, step 2 (the form that posts the file to S3)
    patient = portal.new_patient(staff)
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    upload_page = f"{portal.base_url}/staff/patients/{patient.id}/upload"
    step2 = pages.post(upload_page, timeout=30, data={
        "title": "Lipid panel", "category": "lab result", "provider": "Dr. Lena Park", "content_type": "application/pdf",
        "csrf_token": page_csrf(pages.get(upload_page, timeout=30).text)})
    assert step2.status_code == 200, step2.text
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)" enctype="multipart/form-data"', step2.text).group(1))
    fields = {html.unescape(n): html.unescape(v)
              for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', step2.text)}

    # When the browser posts the file there
    posted = requests.post(action, data=fields, files={"file": ("lipids.pdf", PDF)}, allow_redirects=False, timeout=30)

    # Then S3 sends it back to the portal's "received" page, an address the signed policy pins
    received = f"{portal.base_url}/staff/patients/{patient.id}/uploaded"
    assert fields["success_action_redirect"] == received
    assert {"success_action_redirect": received} in json.loads(base64.b64decode(fields["policy"]))["conditions"]
    assert posted.status_code == 303 and posted.headers["Location"].startswith(received + "?")
    page = pages.get(posted.headers["Location"], timeout=30)
    assert page.status_code == 200 and "has been received for" in page.text and "work queue" in page.text
    # And it names the file as staff described it (the S3 key itself is an opaque upload id)
    assert "Lipid_panel.pdf has been received for" in page.text and fields["key"].split("/")[-1] not in page.text

    # And the file publishes as any upload does
    pump.drain()
    assert [d["title"] for d in documents_of(staff, patient)] == ["Lipid panel"]


def test_the_office_publishes_a_quarantined_upload_again_from_its_page(portal, staff):
    # Given an upload quarantined for an MRN nobody had, whose patient is registered now
    mrn = unique_mrn()
    entry = quarantine_upload(staff, mrn)
    patient = portal.new_patient(staff, mrn=mrn)
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    entry_page = f"{portal.base_url}/staff/quarantine/{quote(entry['id'], safe='')}"
    assert f'href="/staff/quarantine/{quote(entry["id"], safe="")}"' in pages.get(f"{portal.base_url}/staff/queue?limit=500",
                                                                                 timeout=30).text

    # When staff open its page and publish it again
    form = pages.get(entry_page, timeout=30)
    done = pages.post(f"{entry_page}/publish", data={"mrn": "", "note": "registered", "csrf_token": page_csrf(form.text)},
                      timeout=30)
    pump.drain()

    # Then the page says it was sent again, and the patient has the document
    assert done.status_code == 200 and urlsplit(done.url).path == urlsplit(entry_page).path
    assert "Sent to be published again" in done.text and "Front Desk" in done.text
    assert [d["title"] for d in documents_of(staff, patient)] == [META["title"]]


def test_the_office_closes_a_quarantined_upload_from_its_page_with_a_note(portal, staff):
    # Given a quarantined upload and its page
    entry = quarantine_upload(staff, unique_mrn())
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    entry_page = f"{portal.base_url}/staff/quarantine/{quote(entry['id'], safe='')}"
    token = page_csrf(pages.get(entry_page, timeout=30).text)

    # When staff close it without a note, then with one
    no_note = pages.post(f"{entry_page}/close", data={"note": "", "csrf_token": token}, timeout=30)
    closed = pages.post(f"{entry_page}/close", data={"note": "meant for another clinic", "csrf_token": token},
                        timeout=30)

    # Then the note is asked for first; then the page says it is closed and the file kept in quarantine
    assert no_note.status_code == 400 and "Say why the upload is closed without publishing" in no_note.text
    assert closed.status_code == 200 and "Closed without publishing" in closed.text
    assert "meant for another clinic" in closed.text
    assert not any(e["id"] == entry["id"] for e in quarantined(staff))
    assert objects(entry["data"]["quarantine_key"]) == [entry["data"]["quarantine_key"]]
