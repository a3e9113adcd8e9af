"""The publisher's checks without AWS (services/publication/publisher.py): which keys, files and
details may publish, and, on the fakes of tests/support/fakes.py, what becomes of an upload that
passes them (a document and its notice) and of one that does not (quarantine, with its reason,
on the office's queue)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.services.publication import publisher
from chalicelib.services.publication.publisher import Source, Unpublishable
from chalicelib.store.bucket import UploadHead
from tests.support.fakes import Fakes, Upload

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
BUCKET = "results"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
META = {"title": "Lipid panel", "category": "lab result", "provider": "Dr. Ines Varga"}


def _reason(check, *args) -> str:
    with pytest.raises(Unpublishable) as refused:
        check(*args)
    return refused.value.reason


# ---------------------------------------------------------------- the checks themselves


def test_a_key_names_a_portal_upload_or_a_lab_drop_and_nothing_else():
    # Given the two kinds of key, and keys of neither kind
    portal_key = "incoming/u_" + "0" * 32
    lab_key = "incoming/MRN-42/lipids 2026-11.pdf"

    # When they are read
    # Then a portal upload is named by its id, a lab drop by MRN and file name
    assert publisher.parse_key(portal_key) == Source(upload_id="u_" + "0" * 32)
    assert publisher.parse_key(lab_key) == Source(mrn="MRN-42", file_name="lipids 2026-11.pdf")
    # and anything else (no file name, a climb out of the folder, a name with a slash) is a bad key
    for key in ("incoming/MRN-42", "incoming/MRN-42/../x.pdf", "incoming/MRN-42/a/b.pdf", "incoming/%00.pdf"):
        assert _reason(publisher.parse_key, key) == "bad_key", key


@pytest.mark.parametrize(("first_bytes", "content_type"), [
    (PDF, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    ("Glucose 5.4 mmol/L\nNormal range 3.9-5.5 — señal".encode(), "text/plain"),
    ("cut in the middle of é".encode()[:-1], "text/plain"),  # the sample may end inside a character
    (b"<html><script>alert(1)</script>", None),  # markup is not plain text
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    (b"MZ\x90\x00\x03\x00\x00\x00", None),  # an executable
    (b"   \n\t ", None),
])
def test_a_files_type_is_told_by_its_first_bytes(first_bytes, content_type):
    # Given a file's first bytes
    # When its type is sniffed
    # Then only a PDF, PNG, JPEG or plain text is allowed, whatever its name says
    assert publisher.sniff(first_bytes) == content_type


def test_a_file_must_be_non_empty_within_the_size_limit_and_of_an_allowed_type():
    # Given heads of an empty, an oversized, a foreign and a good file
    limit = publisher.get_settings().max_upload_bytes

    def head(first_bytes: bytes, size: int) -> UploadHead:
        return UploadHead({}, first_bytes, size, "etag")

    # When each is checked
    # Then each refusal says why, and the good one has its type
    assert _reason(publisher.check_file, head(b"", 0)) == "empty_file"
    assert _reason(publisher.check_file, head(PDF, limit + 1)) == "too_large"
    assert _reason(publisher.check_file, head(b"MZ\x90\x00\x03\x00\x00\x00", 8)) == "type_not_allowed"
    assert publisher.check_file(head(PDF, limit)) == "application/pdf"


def test_a_lab_drops_details_are_required_bounded_and_without_control_characters():
    # Given details with a field missing, one too long, one with a control character, and S3's
    # encoding of a name with accents
    missing = {k: v for k, v in META.items() if k != "provider"}
    too_long = {**META, "title": "x" * 201}
    control = {**META, "comment": "fine\x1b[31m red"}
    encoded = {**META, "provider": "=?UTF-8?B?RHJhLiBNYXLDrWEgR2FyY8OtYQ==?="}

    # When they are read
    # Then each refusal names its kind, and the encoded name is read as the sender wrote it
    assert _reason(publisher.read_metadata, missing) == "missing_metadata"
    assert _reason(publisher.read_metadata, too_long) == "bad_metadata"
    assert _reason(publisher.read_metadata, control) == "bad_metadata"
    assert publisher.read_metadata(encoded) == {**META, "provider": "Dra. María García", "comment": None}


# ---------------------------------------------------------------- what becomes of an upload


@pytest.fixture
def world(monkeypatch) -> Fakes:
    return Fakes(NOW).install(monkeypatch)


def _drop(world: Fakes, key: str, body: bytes, metadata: dict[str, str] | None = None) -> dict[str, str]:
    world.bucket.objects[(BUCKET, key)] = Upload(body, dict(META if metadata is None else metadata), "etag-1")
    return {"bucket": BUCKET, "key": key, "etag": "etag-1"}


def _event(*uploads: dict[str, str]) -> str:
    return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": u["bucket"]}, "object": {"key": u["key"], "eTag": u["etag"]}}} for u in uploads]})


def test_a_lab_drop_for_a_known_patient_is_filed_published_and_notified_once(world):
    # Given a patient with an MRN, and a lab's PDF dropped for that MRN
    ann = world.accounts.add("ann", mrn="MRN-42")
    upload = _drop(world, "incoming/MRN-42/lipids.pdf", PDF)

    # When the publisher is handed the upload's notification twice (SQS delivers at least once)
    first = publisher.publish_messages([_event(upload)])
    second = publisher.publish([upload])

    # Then nothing is tried again, one document is published for her, unread, with one notice
    item_id = publisher.document_id(BUCKET, upload["key"], "etag-1")
    assert first == [] and second == [{"outcome": "duplicate", "item_id": item_id}]
    item = world.items.get(item_id)
    assert (item.patient_id, item.title, item.content_type, item.read_at) == (ann.id, "Lipid panel", "application/pdf",
                                                                             None)
    assert world.notices.delivered == [(world.items.notices[0].id, ann.id)]
    # and the file is filed under the patient (an opaque key), no longer waiting in incoming/
    assert world.bucket.keys() == [f"documents/{ann.id}/{item_id}"]


@pytest.mark.parametrize(("key", "body", "metadata", "reason"), [
    ("incoming/MRN-42/setup.exe", b"MZ\x90\x00\x03\x00", None, "type_not_allowed"),
    ("incoming/MRN-42/empty.pdf", b"", None, "empty_file"),
    ("incoming/MRN-99/lipids.pdf", PDF, None, "unknown_patient"),
    ("incoming/MRN-42/lipids.pdf", PDF, {"title": "Lipid panel"}, "missing_metadata"),
    ("incoming/u_" + "1" * 32, PDF, {}, "unknown_upload"),
])
def test_an_upload_that_can_never_publish_is_quarantined_with_its_reason_for_the_office(key, body, metadata, reason,
                                                                                      world):
    # Given a patient, and an upload that fails one check
    world.accounts.add("ann", mrn="MRN-42")
    upload = _drop(world, key, body, metadata)

    # When the publisher takes it
    [outcome] = publisher.publish([upload])

    # Then it is quarantined (not tried again), moved out of incoming/, and on the office's queue
    # with the reason, while no document and no notice exist
    item_id = publisher.document_id(BUCKET, key, "etag-1")
    assert outcome == {"outcome": "quarantined", "item_id": item_id, "reason": reason}
    assert world.bucket.keys() == [f"quarantine/{item_id}"]
    entry = world.work.get(publisher.quarantine_entry_id(item_id))
    assert (entry.kind, entry.reason, entry.data["key"]) == ("quarantine", reason, key)
    assert world.items.items == {} and world.notices.delivered == []


def test_an_upload_gone_before_it_was_published_is_tried_again(world):
    # Given a notification for an object that is no longer in the bucket, and was never published
    upload = {"bucket": BUCKET, "key": "incoming/MRN-42/lipids.pdf", "etag": "etag-1"}

    # When the publisher takes the message
    failed = publisher.publish_messages([_event(upload)])

    # Then the message is handed back to be delivered again (then dead-lettered), nothing written
    assert failed == [0] and world.work.entries == {} and world.items.items == {}
