"""Corrections: the office retracts a document (the patient keeps a neutral entry and never sees its
title again, the file answers 410, follow-up and notices stop, the file is kept, all audited) or
replaces its file with a corrected version (checked by the publisher like any upload; version 2,
unread again, one notice, earlier versions for staff only). And the office's view of a document."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlparse

import requests

from chalicelib.localstack import pump
from chalicelib.services.followup import notices
from chalicelib.store import items as item_store
from tests.integration.test_documents import published
from tests.integration.test_publication import PDF, PNG, objects, post_file, quarantined, upload_form
from tests.support.followup import (
    day,
    follow_up_entries,
    fresh_day0,
    notices_to,
    publish_item,
    staff_now,
    sweep,
)
from tests.support.pages import signed_in_pages

OLD_TITLE = "Pathology report for Ingrid Vasquez-Holloway"
NEUTRAL = "Removed by your clinic"


def _publish_titled(portal, staff, title: str = OLD_TITLE, body: bytes = PDF):
    patient = portal.new_patient(staff)
    assert post_file(upload_form(staff, patient, title=title), body).ok
    pump.drain()
    [doc] = [i for i in patient.api.get("/api/items").json()["items"] if i["kind"] == "document"]
    return patient, doc["id"]


def _retract(staff, doc_id: str, reason: str = "Posted to the wrong patient"):
    return staff.post(f"/api/staff/documents/{doc_id}/retract", json={"reason": reason})


def _replace(staff, doc_id: str, filename: str = "corrected.png", content_type: str = "image/png", **extra):
    answer = staff.post(f"/api/staff/documents/{doc_id}/replace",
                        json={"filename": filename, "content_type": content_type, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _everything_the_patient_is_answered(patient, doc_id: str) -> str:
    """Every patient answer that could name a document: the list, the document, its file, the
    message list and each thread."""
    answers = [patient.api.get("/api/items"), patient.api.get(f"/api/documents/{doc_id}"),
               patient.api.get(f"/api/documents/{doc_id}/file"), patient.api.get("/api/messages")]
    for thread in answers[-1].json().get("threads", []):
        answers.append(patient.api.get(f"/api/messages/{thread['id']}"))
    return "\n".join(a.text for a in answers)


# ---------------------------------------------------------------- retract

def test_a_retracted_document_stays_listed_without_its_title_and_its_file_answers_410(portal, staff, admin):
    # Given a patient who has opened a document, and asked the office about it
    patient, doc_id = _publish_titled(portal, staff)
    assert patient.api.get(f"/api/documents/{doc_id}").json()["title"] == OLD_TITLE
    asked = patient.api.post("/api/messages", json={"subject": "Question", "body": "Is this mine?", "item_id": doc_id})
    assert asked.status_code == 201, asked.text
    assert patient.api.get(f"/api/messages/{asked.json()['id']}").json()["item"]["title"] == OLD_TITLE
    filed = staff.get(f"/api/staff/documents/{doc_id}").json()

    # When the office retracts it
    answer = _retract(staff, doc_id)

    # Then the answer says so; the list keeps a neutral entry; the document says only that it is gone
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == doc_id and answer.json()["status"] == "retracted"
    [entry] = [i for i in patient.api.get("/api/items").json()["items"] if i["id"] == doc_id]
    assert entry["status"] == "retracted" and entry["title"] == NEUTRAL
    document = patient.api.get(f"/api/documents/{doc_id}")
    assert document.status_code == 200
    assert set(document.json()) == {"id", "status", "title", "retracted_at"}
    assert document.json()["status"] == "retracted" and document.json()["title"] == NEUTRAL
    # And the file answers 410, though it is kept in the bucket for the record
    file = patient.api.get(f"/api/documents/{doc_id}/file")
    assert file.status_code == 410 and file.json()["error"] == "retracted"
    assert objects(f"documents/{patient.id}/{doc_id}") == [f"documents/{patient.id}/{doc_id}"]
    assert filed["versions"] and filed["status"] == "published"
    # And the old title is in no patient answer at all (the question's thread links the neutral title)
    assert OLD_TITLE not in _everything_the_patient_is_answered(patient, doc_id)
    assert patient.api.get(f"/api/messages/{asked.json()['id']}").json()["item"] == {"id": doc_id, "title": NEUTRAL}
    # And the office still sees it whole, with who retracted it and why
    seen = staff.get(f"/api/staff/documents/{doc_id}").json()
    assert seen["status"] == "retracted" and seen["title"] == OLD_TITLE
    assert seen["retraction_reason"] == "Posted to the wrong patient" and seen["retracted_at"]
    # And it is audited: the retraction, and the patient's views of it afterwards
    events = admin.get("/api/staff/audit", params={"patient_id": patient.id}).json()["events"]
    assert any(e["action"] == "document.retract" and e["target_id"] == doc_id for e in events)
    assert any(e["action"] == "document.file_link" and e["outcome"] == "retracted" for e in events)


def test_retracting_twice_is_409_and_a_reason_is_required(portal, staff):
    # Given a published document
    _, doc_id = published(portal, staff)

    # When it is retracted without a reason, then with one, then again
    blank = _retract(staff, doc_id, reason="   ")
    first = _retract(staff, doc_id)
    second = _retract(staff, doc_id, reason="Again")

    # Then a reason is required, the first retracts it and the second is refused with 409
    assert blank.status_code == 400 and "reason" in blank.json()["message"]
    assert first.status_code == 200 and second.status_code == 409
    assert second.json()["error"] == "already_retracted"
    # And an unknown document is 404; a patient may not retract
    assert _retract(staff, "d_000000000000000000000000").status_code == 404


def test_patients_cannot_retract_replace_or_see_the_office_view(portal, staff):
    # Given a patient with a document
    patient, doc_id = published(portal, staff)

    # When the patient calls the office's routes
    answers = [patient.api.post(f"/api/staff/documents/{doc_id}/retract", json={"reason": "mine"}),
               patient.api.post(f"/api/staff/documents/{doc_id}/replace",
                                json={"filename": "x.pdf", "content_type": "application/pdf"}),
               patient.api.get(f"/api/staff/documents/{doc_id}")]

    # Then each is refused, and the document is as it was
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert patient.api.get(f"/api/documents/{doc_id}").json()["status"] == "published"


def test_the_sweep_sends_nothing_for_a_retracted_document_nor_a_notice_still_queued(portal, clock):
    # Given an unread document published on day 0, and a notice for it queued but not yet sent
    day0 = fresh_day0()
    clock.travel_to(day0)
    staff = staff_now(portal)
    patient = portal.new_patient(staff)
    item = publish_item(patient.id, day0, title=OLD_TITLE)
    queued = notices.queue_item_notice(item, 2)
    mails_before = len(notices_to(portal, patient.email))

    # When the office retracts it on day 1, then the sweep runs past every reminder day
    clock.travel_to(day(day0, 1))
    assert _retract(staff_now(portal), item.id).status_code == 200
    summaries = [sweep(portal, clock, day(day0, n)) for n in (3, 6, 9, 12)]
    outcome = notices.deliver(queued)

    # Then no sweep saw it, the queued notice was never sent, and no mail went out
    assert all(s["notified"] == 0 and s["escalated"] == 0 for s in summaries)
    assert outcome == "suppressed"
    assert len(notices_to(portal, patient.email)) == mails_before
    assert item_store.get(item.id).due_at is None
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))


def test_a_retracted_document_leaves_the_office_queue(portal, clock):
    # Given an unread document escalated to the office's follow-up queue on day 9
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal))
    item = publish_item(patient.id, day0, title=OLD_TITLE)
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))
    assert any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))

    # When the office retracts it
    assert _retract(staff_now(portal), item.id).status_code == 200

    # Then the queue no longer lists it, and a comment on it is refused
    assert not any(e["item_id"] == item.id for e in follow_up_entries(staff_now(portal)))
    comment = staff_now(portal).post(f"/api/staff/documents/{item.id}/comments", json={"text": "See me"})
    assert comment.status_code == 409


# ---------------------------------------------------------------- replace

def test_a_corrected_file_becomes_version_2_unread_again_with_one_notice(portal, staff):
    # Given a patient who read their document
    patient, doc_id = _publish_titled(portal, staff, title="Thyroid panel")
    patient.api.get(f"/api/documents/{doc_id}")
    notices_before = len(notices_to(portal, patient.email))

    # When the office sends a corrected file
    form = _replace(staff, doc_id, comment="The TSH value was corrected")
    assert form["fields"]["key"] == form["key"] and "Thyroid" not in json.dumps(form)
    assert post_file(form, PNG, filename="corrected.png").ok
    pump.drain()

    # Then the patient's item is unread again and marked updated, and they got one notice
    [entry] = [i for i in patient.api.get("/api/items").json()["items"] if i["id"] == doc_id]
    assert entry["status"] == "updated" and entry["read_at"] is None and entry["title"] == "Thyroid panel"
    notices_after = notices_to(portal, patient.email)
    assert len(notices_after) == notices_before + 1
    # And the document is version 2, its file the corrected one, the comment added
    document = patient.api.get(f"/api/documents/{doc_id}").json()
    assert document["version"] == 2 and document["status"] == "updated"
    assert document["content_type"] == "image/png" and document["read_at"] is not None
    assert any(c["text"] == "The TSH value was corrected" for c in document["comments"])
    link = patient.api.get(f"/api/documents/{doc_id}/file").json()["url"]
    assert requests.get(link, timeout=30).content == PNG
    # And staff see both versions, the first file still filed; the patient never gets the first
    seen = staff.get(f"/api/staff/documents/{doc_id}").json()
    assert [v["version"] for v in seen["versions"]] == [1, 2] and seen["version"] == 2
    assert all(v["published_at"] for v in seen["versions"])
    assert len(seen["notices"]) == 2
    assert f"documents/{patient.id}/{doc_id}" in objects(f"documents/{patient.id}/{doc_id}")
    assert "versions" not in document


def test_a_comment_on_a_corrected_document_makes_it_unread_again(portal, staff):
    # Given a patient who read the corrected version (version 2) of their document
    patient, doc_id = _publish_titled(portal, staff, title="Thyroid panel")
    assert post_file(_replace(staff, doc_id), PNG).ok
    pump.drain()
    assert patient.api.get(f"/api/documents/{doc_id}").json()["version"] == 2
    [entry] = [i for i in patient.api.get("/api/items").json()["items"] if i["id"] == doc_id]
    assert entry["read_at"] is not None
    notices_before = len(notices_to(portal, patient.email))

    # When the office adds a provider comment to it
    answer = staff.post(f"/api/staff/documents/{doc_id}/comments", json={"text": "Please book a follow-up visit"})

    # Then the patient's item is unread again, still marked updated, and they got one more notice
    assert answer.status_code == 201, answer.text
    [entry] = [i for i in patient.api.get("/api/items").json()["items"] if i["id"] == doc_id]
    assert entry["read_at"] is None and entry["status"] == "updated"
    notices_after = notices_to(portal, patient.email)
    assert len(notices_after) == notices_before + 1
    # And the office sees version 2 unread, with the comment
    seen = staff.get(f"/api/staff/documents/{doc_id}").json()
    assert seen["version"] == 2 and seen["read_at"] is None
    assert seen["comments"][-1]["text"] == "Please book a follow-up visit"


def test_the_same_corrected_file_delivered_twice_is_one_version(portal, staff):
    # Given a corrected file the publisher has filed
    patient, doc_id = published(portal, staff)
    form = _replace(staff, doc_id)
    assert post_file(form, PNG).ok
    pump.drain()

    # When its upload comes back (a repeated event: the object has left incoming/)
    from chalicelib.services.publication import publisher
    from chalicelib.settings import get_settings
    outcome = publisher.publish([{"bucket": get_settings().results_bucket, "key": form["key"], "etag": "x"}])

    # Then nothing more is filed
    assert outcome[0]["outcome"] == "duplicate"
    assert staff.get(f"/api/staff/documents/{doc_id}").json()["version"] == 2


def test_a_bad_replacement_is_quarantined_and_the_document_stays_as_it_was(portal, staff):
    # Given a patient who read their document
    patient, doc_id = published(portal, staff)
    patient.api.get(f"/api/documents/{doc_id}")
    mails_before = len(portal.outbox(patient.email))

    # When the office's corrected file is not a file the portal takes
    form = _replace(staff, doc_id, filename="corrected.pdf", content_type="application/pdf")
    assert post_file(form, b"<html><script>alert(1)</script></html>", filename="corrected.pdf").ok
    pump.drain()

    # Then it is quarantined with a reason the office reads; the document is unchanged, no mail
    [entry] = [e for e in quarantined(staff) if e["data"]["key"] == form["key"]]
    assert entry["reason"] == "type_not_allowed" and "PDF" in entry["data"]["message"]
    seen = staff.get(f"/api/staff/documents/{doc_id}").json()
    assert seen["version"] == 1 and seen["status"] == "published" and seen["read_at"] is not None
    assert len(portal.outbox(patient.email)) == mails_before


def test_a_retracted_document_cannot_be_replaced(portal, staff):
    # Given a retracted document
    _, doc_id = published(portal, staff)
    assert _retract(staff, doc_id).status_code == 200

    # When the office asks to replace it
    answer = staff.post(f"/api/staff/documents/{doc_id}/replace",
                        json={"filename": "x.pdf", "content_type": "application/pdf"})

    # Then it is refused with 409
    assert answer.status_code == 409 and answer.json()["error"] == "already_retracted"


# ---------------------------------------------------------------- the office's view, the file's name

def test_the_office_view_names_the_patient_the_first_reader_notices_and_comments(portal, staff):
    # Given a document its patient opened twice
    patient, doc_id = published(portal, staff)
    patient.api.get(f"/api/documents/{doc_id}")
    patient.api.get(f"/api/documents/{doc_id}")

    # When the office looks at it
    answer = staff.get(f"/api/staff/documents/{doc_id}")

    # Then it has the contract's fields, who read it first, the notice sent and the comment
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert {"id", "patient_id", "patient_name", "title", "category", "provider", "status", "version",
            "published_at", "read_at", "read_by", "open_count", "notices", "comments", "versions"} <= set(seen)
    assert seen["patient_id"] == patient.id and seen["patient_name"] == "Test Patient"
    assert seen["read_by"] == {"role": "patient", "name": "Test Patient"} and seen["open_count"] == 2
    assert len(seen["notices"]) == 1 and seen["notices"][0]["sent_at"]
    assert seen["comments"][0]["text"] and seen["versions"] == [
        {**seen["versions"][0], "version": 1, "published_at": seen["published_at"]}]
    # And an unknown id is 404
    assert staff.get("/api/staff/documents/d_000000000000000000000000").status_code == 404


def test_the_file_link_names_the_download_after_the_title(portal, staff):
    # Given documents titled in plain ASCII and with accents and a slash
    patient, plain = _publish_titled(portal, staff, title="Lipid panel, 12 March")
    other, accented = _publish_titled(portal, staff, title="Résumé: TSH/T4 — März")

    # When each patient asks for the file link
    plain_url = patient.api.get(f"/api/documents/{plain}/file").json()["url"]
    accented_url = other.api.get(f"/api/documents/{accented}/file").json()["url"]

    # Then the link sets response-content-disposition with the title and the file's extension
    plain_header = parse_qs(urlparse(plain_url).query)["response-content-disposition"][0]
    assert plain_header == 'inline; filename="Lipid panel, 12 March.pdf"'
    accented_header = parse_qs(urlparse(accented_url).query)["response-content-disposition"][0]
    fallback, star = accented_header.split("; filename*=UTF-8''")
    assert fallback == 'inline; filename="Resume TSH-T4 Marz.pdf"'
    assert unquote(star) == "Résumé TSH-T4 — März.pdf"
    # And S3 serves the file with that header
    served = requests.get(accented_url, timeout=30)
    assert served.status_code == 200 and "filename*=UTF-8''R%C3%A9sum%C3%A9" in served.headers["Content-Disposition"]


def test_a_caregiver_sees_a_corrected_document_marked_updated_as_the_patient_does(portal, staff):
    # Given a patient's document, read, and the patient's caregiver
    from tests.integration.test_caregivers import PASSWORDS, caregiver_for

    patient, doc_id = _publish_titled(portal, staff, title="Lipid panel")
    patient.api.get(f"/api/documents/{doc_id}")
    caregiver, _, body = caregiver_for(portal, patient, scope="read")

    # When the office sends a corrected file
    assert post_file(_replace(staff, doc_id), PNG, filename="corrected.png").ok
    pump.drain()

    # Then the caregiver's list answers it updated and unread, and their page marks it "Updated"
    [entry] = [i for i in caregiver.get(f"/api/items?patient_id={patient.id}").json()["items"] if i["id"] == doc_id]
    assert entry["status"] == "updated" and entry["read_at"] is None
    pages = signed_in_pages(portal.base_url, body["email"], PASSWORDS[body["email"]])
    page = pages.get(f"{portal.base_url}/caregiver/patients/{patient.id}", timeout=30)
    assert page.status_code == 200
    row = page.text[page.text.index("Lipid panel"):]
    assert row[:row.index("</li>")].count(">Updated<") == 1
