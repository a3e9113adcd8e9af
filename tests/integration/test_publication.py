"""Publication end to end: an upload in the results bucket -> S3 event -> SQS -> publisher ->
a document the patient is told about (without anything medical), opens, and leaves a receipt for.

Real wiring: moto's S3 delivers the event to its SQS queue, `pump.drain()` hands it to the
publisher as Lambda would, DynamoDB Local holds the items."""

from __future__ import annotations

import json
import time

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.support.followup import queue_list

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
META = {"title": "Hemoglobin A1c panel", "category": "lab result", "provider": "Dr. Quentin Oyelaran",
        "comment": "Your A1c is elevated; please book a visit"}


def bucket() -> str:
    return get_settings().results_bucket


def queue_url(name: str | None = None) -> str:
    return aws.client("sqs").get_queue_url(QueueName=name or get_settings().publish_queue_name)["QueueUrl"]


def put_direct(key: str, body: bytes, metadata: dict | None = None) -> None:
    aws.client("s3").put_object(Bucket=bucket(), Key=key, Body=body, Metadata=metadata if metadata is not None else META)


def upload_form(staff, patient, filename="a1c.pdf", content_type="application/pdf", **overrides):
    answer = staff.post(f"/api/staff/patients/{patient.id}/uploads",
                        json={**META, "filename": filename, "content_type": content_type, **overrides})
    assert answer.status_code == 201, answer.text
    return answer.json()


def post_file(form: dict, body: bytes, filename: str = "a1c.pdf") -> requests.Response:
    return requests.post(form["url"], data=form["fields"], files={"file": (filename, body)}, timeout=30)


def objects(prefix: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=bucket(), Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def documents_of(staff, patient) -> list[dict]:
    return [i for i in staff.get(f"/api/staff/patients/{patient.id}").json()["items"] if i["kind"] == "document"]


def quarantined(staff) -> list[dict]:
    return queue_list(staff, "quarantine")


def test_presigned_upload_becomes_a_document_the_patient_is_told_about_and_reads(portal, staff):
    # Given a signed-in patient and a result the office uploads through the presigned POST
    patient = portal.new_patient(staff)
    mails_before = len(portal.outbox(patient.email))
    form = upload_form(staff, patient)
    assert form["fields"]["key"] == f"incoming/{form['fields']['x-amz-meta-upload-id']}" and patient.mrn not in form["key"]
    assert post_file(form, PDF).status_code in (200, 201, 204)

    # When the S3 event reaches the publisher
    pump.drain()

    # Then the document is filed under the patient, unread, with its first notice counted
    [doc] = documents_of(staff, patient)
    assert doc["title"] == META["title"] and doc["read_at"] is None
    assert doc["notices_sent"] == 1 and doc["last_notice_at"] is not None and doc["escalated"] is False
    assert objects(f"documents/{patient.id}/") == [f"documents/{patient.id}/{doc['id']}"]
    assert objects(form["fields"]["key"]) == []
    head = aws.client("s3").head_object(Bucket=bucket(), Key=f"documents/{patient.id}/{doc['id']}")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentType"] == "application/pdf"

    # And the patient got one email that says only "new document" and the link
    [notice] = portal.outbox(patient.email)[mails_before:]
    assert "new document" in notice["subject"].lower() and portal.base_url.split(":")[0] in notice["text"]
    for part in (notice["subject"], notice["text"], notice["html"]):
        for medical in META.values():
            assert medical.lower() not in part.lower()

    # When the patient opens it
    listed = patient.api.get("/api/items").json()["items"]
    opened = patient.api.get(f"/api/documents/{doc['id']}")

    # Then they see title, provider, category and the provider's comment, and the receipt is written
    assert [i["id"] for i in listed] == [doc["id"]] and listed[0]["read_at"] is None
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert (body["title"], body["category"], body["provider"]) == (META["title"], META["category"], META["provider"])
    assert [c["text"] for c in body["comments"]] == [META["comment"]]
    # (written by the office member who uploaded it: the provider field labels the document only)
    assert (body["comments"][0]["author"], body["comments"][0]["role"]) == ("Front Desk", "office")
    assert body["read_at"] is not None and body["published_at"] is not None

    # And staff see the read receipt
    [seen] = documents_of(staff, patient)
    assert seen["read_at"] == body["read_at"]


def test_direct_put_with_url_encoded_key_and_accented_metadata_publishes(portal, staff):
    # Given a lab system putting a file straight into the bucket, with a space in its name
    patient = portal.new_patient(staff)
    key = f"incoming/{patient.mrn}/CBC result (final).png"
    metadata = {**META, "provider": "=?UTF-8?B?" + __import__("base64").b64encode("Dr. Núñez".encode()).decode() + "?="}

    # When it is put and the event (key URL-encoded by S3) is handled
    put_direct(key, PNG, metadata)
    pump.drain()

    # Then it is published as a PNG, by its content, with the provider's name decoded
    [doc] = documents_of(staff, patient)
    opened = patient.api.get(f"/api/documents/{doc['id']}").json()
    assert opened["provider"] == "Dr. Núñez"
    assert opened["content_type"] == "image/png"
    assert objects(key) == []


def test_the_same_event_delivered_twice_publishes_once_and_mails_once(portal, staff):
    # Given an upload whose S3 event we hold back
    patient = portal.new_patient(staff)
    mails_before = len(portal.outbox(patient.email))
    key = f"incoming/{patient.mrn}/twice.pdf"
    put_direct(key, PDF)
    sqs = aws.client("sqs")
    body = None
    for _ in range(20):
        for message in sqs.receive_message(QueueUrl=queue_url(), MaxNumberOfMessages=10).get("Messages", []):
            if key in json.dumps(json.loads(message["Body"])).replace("%2F", "/"):
                body = message["Body"]
                sqs.delete_message(QueueUrl=queue_url(), ReceiptHandle=message["ReceiptHandle"])
        if body:
            break
    assert body is not None

    # When the same event arrives twice
    sqs.send_message(QueueUrl=queue_url(), MessageBody=body)
    sqs.send_message(QueueUrl=queue_url(), MessageBody=body)
    pump.drain()
    sqs.send_message(QueueUrl=queue_url(), MessageBody=body)
    pump.drain()

    # Then there is one document and one email
    assert len(documents_of(staff, patient)) == 1
    assert len(portal.outbox(patient.email)) == mails_before + 1


def test_s3_test_event_is_acknowledged_and_publishes_nothing(portal, staff):
    # Given the message S3 sends when the notification is first configured
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=queue_url(), MessageBody=json.dumps(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket(), "Time": "2026-11-25T19:00:00Z"}))

    # When the publisher gets it
    handled = pump.drain()

    # Then it is taken off the queue and nothing lands in the dead-letter queue
    assert handled >= 1
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url(), AttributeNames=["ApproximateNumberOfMessages",
                                                                            "ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"


BAD_UPLOADS = {
    "unknown_patient": lambda p: ("incoming/MRNNOBODY404/result.pdf", PDF, META),
    "missing_metadata": lambda p: (f"incoming/{p.mrn}/untitled.pdf", PDF, {k: v for k, v in META.items() if k != "title"}),
    "type_not_allowed": lambda p: (f"incoming/{p.mrn}/result.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, META),
    "too_large": lambda p: (f"incoming/{p.mrn}/huge.pdf", b"%PDF-1.7\n" + b"\x00" * (25 * 1024 * 1024), META),
    "bad_key": lambda p: (f"incoming/{p.mrn}/../../documents/x.pdf", PDF, META),
}


@pytest.mark.parametrize("reason", list(BAD_UPLOADS))
def test_an_upload_that_cannot_publish_is_quarantined_with_its_reason(portal, staff, reason):
    # Given a bad upload
    patient = portal.register_patient(staff)
    mails_before = len(portal.outbox(patient.email))
    key, body, metadata = BAD_UPLOADS[reason](patient)

    # When it is put into the bucket and the publisher handles its event
    put_direct(key, body, metadata)
    pump.drain()

    # Then it is moved to quarantine, staff see it with its reason, and nothing is published or mailed
    [entry] = [e for e in quarantined(staff) if e["data"]["key"] == key]
    assert entry["kind"] == "quarantine" and entry["reason"] == reason and entry["data"]["message"]
    assert objects(key) == [] and objects(entry["data"]["quarantine_key"]) == [entry["data"]["quarantine_key"]]
    assert documents_of(staff, patient) == []
    assert len(portal.outbox(patient.email)) == mails_before


def test_a_publish_that_keeps_failing_is_retried_and_ends_in_the_dead_letter_queue(portal, staff, monkeypatch):
    # Given DynamoDB refusing the publisher's transaction (an outage, in this process only)
    patient = portal.new_patient(staff)
    key = f"incoming/{patient.mrn}/during-outage.pdf"
    attempts = []
    original = BaseClient._make_api_call

    def failing(self, operation_name, api_params):
        if operation_name == "TransactWriteItems" and any("items" in json.dumps(op) for op in api_params["TransactItems"]):
            attempts.append(operation_name)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "outage"},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", failing)
    put_direct(key, PDF)

    # When the pump keeps handing it over (SQS redelivers after its visibility timeout)
    sqs, dlq = aws.client("sqs"), queue_url(f"{get_settings().publish_queue_name}-dlq")
    dead = []
    deadline = time.monotonic() + 30
    while not dead and time.monotonic() < deadline:
        pump.drain()
        received = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        dead = [m for m in received if key in json.dumps(json.loads(m["Body"])).replace("%2F", "/")]
        time.sleep(0.5)
    monkeypatch.undo()

    # Then it was tried maxReceiveCount times, kept in the dead-letter queue, and nothing was lost or published
    assert len(attempts) == 3
    assert len(dead) == 1 and key in json.dumps(json.loads(dead[0]["Body"])).replace("%2F", "/")
    assert objects(key) == [key]
    assert documents_of(staff, patient) == []
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=dead[0]["ReceiptHandle"])
