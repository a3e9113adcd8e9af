"""What an upload may carry and where it can end: fields S3 cannot carry are refused at the
upload form; an upload that can never publish is quarantined for the office (never left in the
dead-letter queue); a published file carries nothing a person could read in its key or metadata."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests

from chalicelib import aws
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.conftest import STAFF_PASSWORD
from tests.integration.test_publication import META, PDF, bucket, objects, post_file, put_direct, quarantined, upload_form
from tests.support.pages import page_csrf, signed_in_pages


def dead_letters_about(key: str) -> list[dict]:
    sqs = aws.client("sqs")
    dlq = sqs.get_queue_url(QueueName=f"{get_settings().publish_queue_name}-dlq")["QueueUrl"]
    received = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [m for m in received if key in json.dumps(json.loads(m["Body"])).replace("%2F", "/")]


@pytest.mark.parametrize("field", ["comment", "title", "provider"])
def test_a_line_break_in_an_upload_field_is_refused_at_the_form(portal, staff, field):
    # Given a patient and an upload whose field holds a line break
    patient = portal.new_patient(staff)
    body = {**META, "filename": "a1c.pdf", "content_type": "application/pdf", field: "first line\nsecond line"}

    # When the office asks for the upload form
    answer = staff.post(f"/api/staff/patients/{patient.id}/uploads", json=body)

    # Then it is refused with 400 naming the field, and no form is signed
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request" and field in answer.json()["message"]
    assert "url" not in answer.json()


def test_a_control_character_in_the_upload_page_comment_is_refused_with_400(portal, staff):
    # Given the office on the upload page of a patient
    patient = portal.new_patient(staff)
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    upload_page = f"{portal.base_url}/staff/patients/{patient.id}/upload"

    # When it sends a comment holding a line break and a control character
    answer = pages.post(upload_page, timeout=30, data={
        "title": "Lipid panel", "category": "lab result", "provider": "Dr. Lena Park",
        "comment": "Call us.\r\nThen\x07 book", "content_type": "application/pdf",
        "csrf_token": page_csrf(pages.get(upload_page, timeout=30).text)})

    # Then the page answers 400 and offers no form to post a file to S3
    assert answer.status_code == 400, answer.text
    assert 'enctype="multipart/form-data"' not in answer.text


def test_an_upload_that_can_never_publish_is_quarantined_never_dead_lettered(portal, staff):
    # Given a file dropped straight into the bucket (not through the portal's form) whose comment
    # holds a line break: S3 takes it, but it can never be published
    patient = portal.new_patient(staff)
    key = f"incoming/{patient.mrn}/comment-with-newline.pdf"
    fields = {**{f"x-amz-meta-{k}": v for k, v in META.items()}, "x-amz-meta-comment": "Call us.\nThen book."}
    post = aws.client("s3").generate_presigned_post(bucket(), key, Fields=fields,
                                                    Conditions=[{k: v} for k, v in fields.items()], ExpiresIn=300)
    stored = requests.post(post["url"], data=post["fields"], files={"file": ("x.pdf", PDF)}, timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text

    # When the publisher has had every delivery SQS would give it
    for _ in range(5):
        pump.drain()

    # Then the office finds it in the staff queue's quarantine with a reason it can read
    [entry] = [e for e in quarantined(staff) if e["data"]["key"] == key]
    assert entry["reason"] and entry["data"]["message"]
    assert objects(key) == [] and objects(entry["data"]["quarantine_key"]) == [entry["data"]["quarantine_key"]]
    # And nothing about it waits in the dead-letter queue
    assert dead_letters_about(key) == []


def test_no_published_object_has_user_metadata_or_an_mrn_in_its_key(portal, staff):
    # Given one upload through the portal's form and one dropped by a lab system with metadata
    patient = portal.new_patient(staff)
    form = upload_form(staff, patient)
    assert post_file(form, PDF).status_code in (200, 201, 204)
    put_direct(f"incoming/{patient.mrn}/lab-drop.pdf", PDF + b"lab", {**META, "lab-reference": "R-1"})

    # When both are published
    pump.drain()

    # Then each filed object's key names no MRN, and none carries user metadata
    filed = objects(f"documents/{patient.id}/")
    assert len(filed) == 2
    s3 = aws.client("s3")
    for key in filed:
        assert patient.mrn not in key
        assert s3.head_object(Bucket=bucket(), Key=key)["Metadata"] == {}


def test_a_quarantined_portal_upload_goes_back_for_its_own_patient_only(portal, staff):
    # Given an upload made through the portal whose file turns out not to be an allowed type
    patient = portal.new_patient(staff)
    form = upload_form(staff, patient)
    assert post_file(form, b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100).status_code in (200, 201, 204)
    pump.drain()
    [entry] = [e for e in quarantined(staff) if e["data"]["key"] == form["fields"]["key"]]
    assert entry["reason"] == "type_not_allowed" and patient.mrn not in json.dumps(entry)
    path = f"/api/staff/queue/{quote(entry['id'], safe='')}/publish"

    # When staff try to send it to a patient by MRN
    to_other = staff.post(path, json={"mrn": patient.mrn})

    # Then it is refused: a portal upload belongs to the patient its form was made for
    assert to_other.status_code == 400 and "mrn" in to_other.json()["message"]

    # When they publish it again as it is
    again = staff.post(path, json={"note": "checked"})
    pump.drain()

    # Then it goes back under a new opaque key, is checked again, and comes back with its reason
    assert again.status_code == 200, again.text
    assert again.json()["key"].startswith(form["fields"]["key"] + ".") and again.json()["patient_id"] == patient.id
    [back] = [e for e in quarantined(staff) if e["data"]["key"] == again.json()["key"]]
    assert back["reason"] == "type_not_allowed"
