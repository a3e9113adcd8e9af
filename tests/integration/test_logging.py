"""The portal's logs as operations read them: one JSON object a line, written by the one Powertools
logger, for a request that fails inside the portal, a quarantined upload and a published one, with
the ids and the outcome, and nothing medical, no password, no token.

What is captured is what Powertools' own handler writes (its stream, swapped for the test), at the
level the deployed stages use (INFO)."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager

from chalicelib.localstack import pump
from chalicelib.observability import logger
from tests.integration.test_publication import META, PDF, documents_of, put_direct, quarantined
from tests.support.faults import aws_refuses
from tests.support.http import unique_mrn


@contextmanager
def captured_logs():
    """The lines the one logger writes meanwhile, as Powertools formats them."""
    stream, handler = io.StringIO(), logger.registered_handler
    previous_stream, previous_level = handler.setStream(stream), logger.log_level
    logger.setLevel(logging.INFO)
    lines: list[str] = []
    try:
        yield lines
    finally:
        handler.setStream(previous_stream)
        logger.setLevel(previous_level)
        lines.extend(line for line in stream.getvalue().splitlines() if line.strip())


def records(lines: list[str]) -> list[dict]:
    """Every line parsed: each must be one JSON object."""
    return [json.loads(line) for line in lines]


def assert_no_phi(lines: list[str], *secrets: str) -> None:
    text = "\n".join(lines)
    for secret in secrets:
        assert secret and secret not in text, f"{secret!r} is in the logs"


def dynamodb_fails(message: str):
    """Every DynamoDB call refused by the service meanwhile, with `message` in the error."""
    return aws_refuses(lambda client, _operation, _params: client.meta.service_model.endpoint_prefix == "dynamodb",
                       "InternalServerError", 500, message)


def test_a_request_that_fails_inside_the_portal_is_logged_once_without_phi(portal, staff):
    # Given a signed-in patient with a document
    patient = portal.new_patient(staff, name="Rosalind Quimby-Thorne")
    put_direct(f"incoming/{patient.mrn}/a1c.pdf", PDF)
    pump.drain()
    [document] = documents_of(staff, patient)

    # When DynamoDB fails while the patient opens it (the error echoing the patient's details)
    with captured_logs() as lines, dynamodb_fails(f"refused for {patient.name} {patient.mrn} {patient.email}"):
        answer = patient.api.get(f"/api/documents/{document['id']}")

    # Then the patient gets the contract's 500, which names nothing internal
    assert answer.status_code == 500 and answer.json()["error"] == "internal_error"
    # And exactly one JSON line says so: the outcome, the route, what failed and where
    errors = [r for r in records(lines) if r["level"] == "ERROR"]
    assert len(errors) == 1, errors
    [error] = errors
    assert error["message"] == "unhandled error" and error["service"] == "patient-portal"
    assert error["outcome"] == "internal_error" and error["status"] == 500
    assert error["route"] == "/api/documents/{document_id}"
    assert error["error_code"] == "InternalServerError" and error["error_type"]
    assert any(frame.startswith("chalicelib/") for frame in error["error_at"]), error["error_at"]
    # And nothing in the logs names the patient, the document or the session
    assert_no_phi(lines, patient.name, patient.mrn, patient.email, patient.username, patient.password,
                  patient.api.token, META["title"], META["provider"], META["comment"])


def test_a_quarantined_upload_is_logged_with_its_id_and_reason_without_phi(portal, staff):
    # Given an upload, with a title, provider and comment, for an MRN no patient has
    mrn = unique_mrn()
    key = f"incoming/{mrn}/result.pdf"
    put_direct(key, PDF)

    # When the publisher handles it
    with captured_logs() as lines:
        pump.drain()

    # Then it is on the staff queue, and one JSON line says it was quarantined, with its id and reason
    [entry] = [e for e in quarantined(staff) if e["data"]["key"] == key]
    quarantines = [r for r in records(lines) if r["message"] == "upload quarantined"]
    assert len(quarantines) == 1, quarantines
    [line] = quarantines
    assert line["level"] == "WARNING" and entry["id"].endswith(line["quarantine_id"])
    assert line["reason"] == entry["reason"]
    # And neither the MRN nor anything the upload said is in the logs
    assert_no_phi(lines, mrn, key, META["title"], META["provider"], META["comment"])


def test_a_published_upload_and_its_notice_are_logged_with_ids_only(portal, staff):
    # Given a patient and a result dropped for their MRN
    patient = portal.new_patient(staff, name="Ignatius Vandermolen")
    put_direct(f"incoming/{patient.mrn}/lipids.pdf", PDF)

    # When the publisher handles it
    with captured_logs() as lines:
        pump.drain()

    # Then the publication and the notice each have a line, naming the document and the notice
    [document] = documents_of(staff, patient)
    published = [r for r in records(lines) if r["message"] == "document published"]
    assert [r["item_id"] for r in published] == [document["id"]]
    sent = [r for r in records(lines) if r["message"] == "notice sent"]
    assert len(sent) == 1 and sent[0]["outcome"] == "sent" and sent[0]["notice_id"]
    # And nothing in them names the patient or the document's content
    assert_no_phi(lines, patient.name, patient.mrn, patient.email, patient.username,
                  META["title"], META["provider"], META["comment"])


def test_an_answer_not_shaped_as_its_route_declares_is_a_logged_500_in_the_suite(portal, staff, monkeypatch):
    # Given a patient, and the item list's service answering a shape the route's model does not
    # allow (an item without its title, its id a number), its text naming the patient
    from chalicelib.services.publication import items

    patient = portal.new_patient(staff, name="Perpetua Vandermolen")
    monkeypatch.setattr(items, "list_for_patient", lambda *_: [{"id": 7, "kind": "document", "note": patient.name}])

    # When the patient lists their items (the suite checks every answer: CHECK_ANSWERS=1)
    with captured_logs() as lines:
        answer = patient.api.get("/api/items")

    # Then the answer never leaves: a 500, and one line names the route, the model and each
    # mismatched field with the kind of error, never a value
    assert answer.status_code == 500 and answer.json()["error"] == "internal_error"
    [mismatch] = [r for r in records(lines) if r["message"] == "answer.mismatch"]
    assert mismatch["route"] == "GET /api/items" and mismatch["model"] == "Items"
    assert {"items.0.id: string_type", "items.0.title: missing"} <= set(mismatch["fields"]), mismatch["fields"]
    assert_no_phi(lines, patient.name, patient.mrn, patient.email)
