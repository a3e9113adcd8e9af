"""The lab intake end to end: 1,000 HL7 v2 reports put into the results bucket under `lab/` (a
file each, as a lab interface drops them), handed by the local pump (as Lambda's SQS event source
would) to the lab function, each published as a result and mailed.

- `lab_calls_per_report`: AWS calls the lab function makes per published report, counted through
  botocore (`chalicelib.localstack.calls.recording`), against a floor of 4: read the file, find the
  patient, one transaction (item, version row, list entry, notice), one email. Above the floor:
  marking the notice sent, and the batch's share of finding its patients (two BatchGetItems per
  batch of up to ten files, inside the floor's "find the patient"). SQS receive/delete calls are
  not counted: in AWS, Lambda's event source mapping makes them, not the portal.
- `lab_results_per_s`: reports published per second on the local stack (reported only).
"""

from __future__ import annotations

import time

from bench.figures import Figure
from bench.pipeline import drain_recording
from chalicelib import aws
from chalicelib.settings import get_settings
from chalicelib.store import results as results_store
from tests.fixtures.lab import personalised

REPORTS = 1_000
PATIENTS = 10


def run(portal) -> list[Figure]:
    staff = portal.staff
    # Patients who have signed in already (as most patients receiving results have: the notice then
    # needs no temporary password), with the normative example's birth date.
    patients = [portal.new_patient(staff, date_of_birth="1962-03-20") for _ in range(PATIENTS)]
    s3, bucket = aws.client("s3"), get_settings().results_bucket
    run_tag = str(int(time.time()))
    for number in range(REPORTS):
        patient = patients[number % PATIENTS]
        body = personalised("normative_glucose.hl7", [patient.mrn], f"{run_tag}-{number:04d}")
        s3.put_object(Bucket=bucket, Key=f"lab/bench/{run_tag}/{number:04d}.hl7", Body=body)

    drained = drain_recording(REPORTS, "lab function", "report")
    published = sum(sum(1 for _ in results_store.current_for_patient(p.id)) for p in patients)
    if published != REPORTS:
        raise RuntimeError(f"{published} of {REPORTS} reports were published")

    return [
        Figure("lab_calls_per_report", drained.function_calls / REPORTS, 4, "<= 1.5", "calls",
               "read the file, find the patient, one transaction, one email per report"),
        Figure("lab_results_per_s", REPORTS / drained.seconds, 1, "(reported)", "reports/s",
               "reported only: no meaningful floor for an absolute rate on a shared machine"),
    ]
