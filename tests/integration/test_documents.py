"""Reading documents: only the owner opens a document or its file, the first open is the read
receipt (later opens are counted), file links are short-lived, provider comments make the
document unread again, and every view and link is audited."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import requests

from chalicelib.clock import parse_iso
from chalicelib.localstack import pump
from tests.integration.test_publication import META, PDF, documents_of, post_file, upload_form


def published(portal, staff, patient=None, body: bytes = PDF):
    """A patient with one published document; returns (patient, document id)."""
    patient = patient or portal.new_patient(staff)
    assert post_file(upload_form(staff, patient), body).ok
    pump.drain()
    [doc] = documents_of(staff, patient)
    return patient, doc["id"]


def test_another_patients_document_answers_exactly_like_an_unknown_id(portal, staff):
    # Given two patients, one with a document
    owner, doc_id = published(portal, staff)
    other = portal.new_patient(staff)

    # When the other patient asks for it, its file, and an id that does not exist
    theirs = other.api.get(f"/api/documents/{doc_id}")
    their_file = other.api.get(f"/api/documents/{doc_id}/file")
    unknown = other.api.get("/api/documents/d_000000000000000000000000")
    unknown_file = other.api.get("/api/documents/d_000000000000000000000000/file")

    # Then all answer the same 404, and the owner's document stays unread
    assert theirs.status_code == their_file.status_code == unknown.status_code == unknown_file.status_code == 404
    assert theirs.json() == unknown.json() and their_file.json() == unknown_file.json()
    assert documents_of(staff, owner)[0]["read_at"] is None


def test_staff_cannot_use_the_patient_document_routes(portal, staff):
    # Given a published document
    _, doc_id = published(portal, staff)

    # When staff call the patient routes
    answers = [staff.get(f"/api/documents/{doc_id}"), staff.get(f"/api/documents/{doc_id}/file")]

    # Then they are refused
    assert [a.status_code for a in answers] == [403, 403]


def test_first_open_is_the_receipt_and_later_opens_are_counted(portal, staff, clock):
    # Given a published document
    patient, doc_id = published(portal, staff)

    # When the patient opens it, and again ten minutes later
    first = patient.api.get(f"/api/documents/{doc_id}").json()
    clock.advance(timedelta(minutes=10))
    again = patient.api.get(f"/api/documents/{doc_id}").json()

    # Then the receipt keeps the first time, and staff see both opens
    assert first["read_at"] is not None and again["read_at"] == first["read_at"]
    [seen] = documents_of(staff, patient)
    assert seen["read_at"] == first["read_at"] and seen["open_count"] == 2
    assert patient.api.get("/api/items").json()["items"][0]["read_at"] == first["read_at"]


def test_file_link_is_short_lived_and_serves_the_patients_file(portal, staff):
    # Given a published document
    patient, doc_id = published(portal, staff)

    # When the patient asks for its file
    answer = patient.api.get(f"/api/documents/{doc_id}/file")

    # Then the link is signed for at most five minutes and serves exactly the uploaded bytes as a PDF
    assert answer.status_code == 200, answer.text
    link = answer.json()
    query = parse_qs(urlparse(link["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and 0 < int(query["X-Amz-Expires"][0]) <= 300
    fetched = requests.get(link["url"], timeout=30)
    assert fetched.status_code == 200 and fetched.content == PDF
    assert fetched.headers["Content-Type"] == "application/pdf"


def test_file_link_expiry_is_within_five_minutes_of_now(portal, staff, clock):
    # Given a published document and the portal's clock at a known moment
    patient, doc_id = published(portal, staff)
    before = clock.now()

    # When the patient asks for the file link
    link = patient.api.get(f"/api/documents/{doc_id}/file").json()

    # Then it expires no later than five minutes from now
    expires = parse_iso(link["expires_at"])
    assert before < expires <= clock.now() + timedelta(minutes=5)


def test_a_provider_comment_makes_the_document_unread_and_notifies_again(portal, staff):
    # Given a document the patient has read
    patient, doc_id = published(portal, staff)
    patient.api.get(f"/api/documents/{doc_id}")
    mails_before = len(portal.outbox(patient.email))
    comment = "Your A1c is up, please book a visit with Dr. Oyelaran"

    # When staff add a comment
    answer = staff.post(f"/api/staff/documents/{doc_id}/comments", json={"text": comment})

    # Then it is unread again, a new round has its first notice, and the patient got one email without the comment
    assert answer.status_code == 201, answer.text
    [doc] = documents_of(staff, patient)
    assert doc["read_at"] is None and doc["notices_sent"] == 1 and doc["escalated"] is False
    [mail] = portal.outbox(patient.email)[mails_before:]
    for part in (mail["subject"], mail["text"], mail["html"]):
        assert "A1c" not in part and "Oyelaran" not in part

    # And the patient sees the comment under the staff member's name
    opened = patient.api.get(f"/api/documents/{doc_id}").json()
    assert [(c["author"], c["role"], c["text"]) for c in opened["comments"]] == [
        ("Front Desk", "office", META["comment"]), ("Front Desk", "office", comment)]
    assert opened["read_at"] is not None


def test_comment_on_unknown_document_is_404_and_empty_comment_400(portal, staff):
    # Given a published document
    _, doc_id = published(portal, staff)

    # When staff comment on an unknown id, or send an empty comment
    unknown = staff.post("/api/staff/documents/d_000000000000000000000000/comments", json={"text": "Please call"})
    empty = staff.post(f"/api/staff/documents/{doc_id}/comments", json={"text": ""})

    # Then the answers name the problem
    assert unknown.status_code == 404
    assert empty.status_code == 400 and "text" in empty.json()["message"]


def test_upload_form_refuses_what_the_publisher_would_not_accept(portal, staff):
    # Given a registered patient
    patient = portal.new_patient(staff)
    good = {**META, "filename": "x.pdf", "content_type": "application/pdf"}

    # When staff ask for forms with a wrong type, no title, for nobody, or a patient asks
    wrong_type = staff.post(f"/api/staff/patients/{patient.id}/uploads", json={**good, "content_type": "text/html"})
    no_title = staff.post(f"/api/staff/patients/{patient.id}/uploads", json={k: v for k, v in good.items() if k != "title"})
    nobody = staff.post("/api/staff/patients/p_nobody/uploads", json=good)
    as_patient = patient.api.post(f"/api/staff/patients/{patient.id}/uploads", json=good)

    # Then each is refused with the field or reason named
    assert wrong_type.status_code == 400 and "content_type" in wrong_type.json()["message"]
    assert no_title.status_code == 400 and "title" in no_title.json()["message"]
    assert nobody.status_code == 404
    assert as_patient.status_code == 403


def test_presigned_post_policy_locks_an_opaque_key_type_upload_id_and_size(portal, staff):
    # Given a patient
    patient = portal.new_patient(staff)

    # When staff ask for an upload form
    form = upload_form(staff, patient, filename="../../Lab Results/A1c (final).pdf")

    # Then the signed policy pins an opaque key, the content type, the upload id (the only metadata)
    # and the size limit; nothing about the patient or the document is in the key or the fields
    fields = form["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    upload_id = fields["x-amz-meta-upload-id"]
    assert re.fullmatch(r"u_[0-9a-f]{32}", upload_id) and fields["key"] == f"incoming/{upload_id}"
    assert {"key": fields["key"]} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"x-amz-meta-upload-id": upload_id} in conditions
    assert [name for name in fields if name.startswith("x-amz-meta-")] == ["x-amz-meta-upload-id"]
    for value in (patient.mrn, *META.values(), "A1c"):
        assert value not in json.dumps(fields) and value not in json.dumps(conditions)
    assert ["content-length-range", 1, 25 * 1024 * 1024] in conditions
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"


def test_every_view_link_upload_and_comment_is_audited(portal, staff, admin):
    # Given a published document that the patient opens and downloads, and staff comment on
    patient, doc_id = published(portal, staff)
    patient.api.get(f"/api/documents/{doc_id}")
    patient.api.get(f"/api/documents/{doc_id}/file")
    staff.post(f"/api/staff/documents/{doc_id}/comments", json={"text": "Please call the office"})

    # When an admin reads the patient's audit trail
    events = admin.get(f"/api/staff/audit?patient_id={patient.id}").json()["events"]

    # Then each of those is there, with who did it
    actions = {(e["action"], e["actor_role"]) for e in events}
    assert {("document.upload_link", "staff"), ("document.view", "patient"), ("document.file_link", "patient"),
            ("document.comment", "staff")} <= actions
    assert all(e["target_id"] == doc_id for e in events if e["action"] in ("document.view", "document.file_link"))
