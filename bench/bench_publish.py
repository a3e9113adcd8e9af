"""Publication end to end: 1,000 uploads put into the results bucket, handed by the local pump
(as Lambda's SQS event source would) to the publisher, each filed, written and mailed.

- `publish_calls_per_upload`: AWS calls the publisher makes per published upload, counted
  through botocore (`chalicelib.localstack.calls.recording`), against a floor of 4: read the
  object (its metadata and first bytes), find the patient, one transaction (item, list entry,
  notice), one email. Above the floor: the copy that files the document, marking the notice
  sent, and the batch's shares of removing the uploads from `incoming/` (one DeleteObjects per
  batch) and of finding its patients (two BatchGetItems per batch, counted inside the floor's
  "find the patient"). SQS receive/delete calls are not counted: in AWS, Lambda's event source
  mapping makes them, not the portal (here the pump plays that part).
- `publish_uploads_per_s`: uploads published per second on the local stack (reported only: an
  absolute rate on a shared machine says little).
"""

from __future__ import annotations

from bench.figures import Figure
from bench.pipeline import drain_recording
from chalicelib import aws
from chalicelib.settings import get_settings
from chalicelib.store import items as item_store

UPLOADS = 1_000
PATIENTS = 10
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
METADATA = {"title": "Lipid panel", "category": "lab result", "provider": "Dr. Example"}


def _documents(patients) -> int:
    return sum(sum(1 for _ in item_store.for_patient(p.id, limit=1000)) for p in patients)


def run(portal) -> list[Figure]:
    staff = portal.staff
    # Patients who have signed in already, as most patients receiving results have: the notice
    # then needs no temporary password (which would add one account write per upload).
    patients = [portal.new_patient(staff) for _ in range(PATIENTS)]
    s3, bucket = aws.client("s3"), get_settings().results_bucket
    for number in range(UPLOADS):
        patient = patients[number % PATIENTS]
        s3.put_object(Bucket=bucket, Key=f"incoming/{patient.mrn}/result-{number:04d}.pdf",
                      Body=PDF + str(number).encode(), Metadata=METADATA)

    drained = drain_recording(UPLOADS, "publisher", "upload")
    published = _documents(patients)
    if published != UPLOADS:
        raise RuntimeError(f"{published} of {UPLOADS} uploads were published")

    return [
        Figure("publish_calls_per_upload", drained.function_calls / UPLOADS, 4, "<= 1.5", "calls",
               "read the object, find the patient, one transaction, one email per upload"),
        Figure("publish_uploads_per_s", UPLOADS / drained.seconds, 1, "(reported)", "uploads/s",
               "reported only: no meaningful floor for an absolute rate on a shared machine"),
    ]
