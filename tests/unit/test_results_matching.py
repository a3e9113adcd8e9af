"""The lab intake's rules that need no AWS: which objects an S3 notification names, the patient a
report is for (an MRN among the PID-3 identifiers, and the birth date on file when both are
known: a result on the wrong patient is the worst error a portal can make), and a batch that
arrives too close to the function's deadline left for SQS to deliver again."""

from __future__ import annotations

import json

import pytest

from chalicelib.services.results import intake
from chalicelib.services.results.model import Identity, Unreadable
from chalicelib.store.accounts import Account


def patient(account_id: str, mrn: str, born: str | None = "1962-03-20", role: str = "patient") -> Account:
    return Account(account_id, role=role, username=account_id, name="Eve Everywoman", mrn=mrn, date_of_birth=born)


ON_FILE = {"555-44-4444": patient("p_eve", "555-44-4444"), "MRN2": patient("p_other", "MRN2", "1990-01-01"),
           "STAFF1": patient("s_desk", "STAFF1", None, role="staff")}


def test_the_patient_is_the_one_whose_mrn_is_any_identifier_and_whose_birth_date_agrees():
    assert intake.match(Identity(["HIE-1", "555-44-4444"], "1962-03-20"), ON_FILE).id == "p_eve"
    assert intake.match(Identity(["555-44-4444"], None), ON_FILE).id == "p_eve"  # no birth date sent: the MRN decides
    assert intake.match(Identity(["555-44-4444"], "1962-03-20"), {"555-44-4444": patient("p_eve", "555-44-4444", None)})


@pytest.mark.parametrize(("identity", "reason"), [
    (Identity(["UNKNOWN"], None), "unknown_patient"),
    (Identity(["STAFF1"], None), "unknown_patient"),  # only a patient's MRN counts
    (Identity(["555-44-4444", "MRN2"], None), "unknown_patient"),  # two patients: which one?
    (Identity(["555-44-4444"], "1962-03-21"), "birth_date_mismatch"),
])
def test_no_patient_two_patients_or_another_birth_date_is_quarantined(identity, reason):
    with pytest.raises(Unreadable) as refused:
        intake.match(identity, ON_FILE)
    assert refused.value.reason == reason
    if reason == "birth_date_mismatch":
        assert refused.value.patient_id == "p_eve"  # the office sees whose record to check


def s3_event(*keys: str, name: str = "ObjectCreated:Put") -> str:
    return json.dumps({"Records": [{"eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": k, "eTag": '"e"'}}}
                                   for k in keys]})


def test_an_s3_notification_names_the_lab_files_it_created_with_their_keys_decoded():
    found = intake.files_in(s3_event("lab%2F2026%2FORU+1.hl7", "incoming%2Fx.pdf", "lab%2F"))
    assert [(f.bucket, f.key, f.etag) for f in found] == [("b", "lab/2026/ORU 1.hl7", "e")]
    assert intake.files_in(json.dumps({"Event": "s3:TestEvent"})) == []
    assert intake.files_in(s3_event("lab/x.hl7", name="ObjectRemoved:Delete")) == []


def test_files_reached_too_close_to_the_deadline_are_left_for_sqs():
    # Given a batch of two messages and a function with five seconds left
    bodies = [s3_event("lab/a.hl7"), s3_event("lab/b.hl7"), "not json"]

    # When the intake handles it
    retry = intake.handle(bodies, remaining_ms=lambda: 5_000)

    # Then nothing is read: both files (and the unreadable message) are delivered again
    assert retry == [0, 1, 2]
