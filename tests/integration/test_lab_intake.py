"""The lab intake end to end: files put under `lab/` in the results bucket -> S3 event -> the lab
queue -> the lab function (`pump.drain()` hands it the batch as Lambda would) -> results the
patients are told about, or messages in quarantine with their reason.

One set of patients for the whole module (registered once, with the birth dates the fixtures
carry); each test names its own orders (`personalised(..., tag=)`), so the files are the labs'
own with this run's MRNs and order numbers."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus

import pytest

from chalicelib import aws
from chalicelib.events import lab as lab_events
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.conftest import STAFF_PASSWORD
from tests.fixtures.lab import FIXTURES, personalised
from tests.support.followup import queue_list
from tests.support.http import unique_mrn
from tests.support.pages import signed_in_pages

REAL_SHAPED = ("normative_glucose.hl7", "cerner_bmp_ucum.hl7", "hie_forward_two_ids.hl7", "batch_two_patients.hl7",
               "narrative_escapes.hl7", "fhir_lipid_bundle.json")
# Words of the fixtures' results that no mail may hold (notices and the office's mail say nothing medical).
MEDICAL_WORDS = ("GLUCOSE", "Glucose", "Potassium", "Cholesterol", "metabolic", "Hemoglobin", "Urinalysis")


@dataclass
class Registered:
    id: str
    mrn: str
    email: str


def _register(portal, staff, birth_date: str, name: str) -> Registered:
    patient = portal.register_patient(staff, name=name, date_of_birth=birth_date)
    return Registered(patient.id, patient.mrn, patient.email)


@pytest.fixture(scope="module")
def clinic(portal, staff) -> dict[str, list[Registered]]:
    """The patients each fixture names (by fixture name), registered once for the module."""
    return {name: [_register(portal, staff, born, f"Lab Patient {n}") for n, born in enumerate(fixture.birth_dates)]
            for name, fixture in FIXTURES.items() if name in (*REAL_SHAPED, "cbc_final.hl7", "critical_values.hl7")}


def tag() -> str:
    return secrets.token_hex(3)


def file_for(clinic, name: str, order_tag: str, replacements: dict[bytes, bytes] | None = None) -> bytes:
    data = personalised(name, [p.mrn for p in clinic[name if name in clinic else "cbc_final.hl7"]], order_tag)
    for old, new in (replacements or {}).items():
        data = data.replace(old, new)
    return data


def drop(data: bytes, name: str = "result.hl7") -> str:
    """Put a file under lab/ as the lab interface does; returns its key."""
    key = f"lab/{tag()}/{name}"
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=key, Body=data)
    return key


def results_of(staff, patient: Registered) -> list[dict]:
    answer = staff.get(f"/api/staff/patients/{patient.id}")
    assert answer.status_code == 200, answer.text
    return [item for item in answer.json()["items"] if item["kind"] == "result"]


def staff_result(staff, result_id: str) -> dict:
    answer = staff.get(f"/api/staff/results/{result_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def lab_quarantine(staff, key: str) -> list[dict]:
    return [e for e in queue_list(staff, "quarantine")
            if e["data"] and e["data"].get("source") == "lab" and e["data"].get("key") == key]


def dead_letters() -> int:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().lab_dead_letter_queue_name)["QueueUrl"]
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"])


def observations(result: dict) -> dict[str, dict]:
    return {o["code"]: o for o in result["observations"]}


def test_real_shaped_files_become_one_result_each_with_values_ranges_flags_and_a_notice(portal, staff, clinic):
    # Given HL7's normative example, a Cerner-style panel, an HIE forward, a batch of two patients, a
    # narrative with escapes and a FHIR R4 Bundle, for this clinic's patients
    order = tag()
    mails_before = {p.email: len(portal.outbox(p.email)) for name in REAL_SHAPED for p in clinic[name]}

    # When the lab puts them under lab/ and the lab function reads them
    for name in REAL_SHAPED:
        drop(file_for(clinic, name, order), name)
    pump.drain()

    # Then each patient has exactly one result, unread, with its first notice
    found = {}
    for name in REAL_SHAPED:
        for patient in clinic[name]:
            [item] = results_of(staff, patient)
            assert item["read_at"] is None and item["notices_sent"] == 1 and item["status"] == "published"
            found.setdefault(name, []).append(staff_result(staff, item["id"]))
    # And the values, units, ranges and flags are the lab's
    [glucose] = found["normative_glucose.hl7"]
    value = observations(glucose)["1554-5"]
    assert (value["value"], value["unit"], value["flag"], value["reference_range"]) == (
        182, "mg/dl", "high", {"low": 70, "high": 105, "text": "70_105"})
    assert glucose["ordered_by"] == "Patricia P Primary, MD" and glucose["ordered_by_npi"] == "555-55-5555"
    [panel] = found["cerner_bmp_ucum.hl7"]
    assert len(panel["observations"]) == 9 and observations(panel)["2951-2"]["unit"] == "mmol/L"
    assert observations(panel)["33914-3"]["comparator"] == ">" and observations(panel)["2951-2"]["flag"] == "low"
    [forwarded] = found["hie_forward_two_ids.hl7"]
    assert observations(forwarded)["4548-4"]["value"] == 6.9  # matched on the second PID-3 repetition
    lipids, urine = found["batch_two_patients.hl7"]
    assert observations(lipids)["2093-3"]["flag"] == "high" and observations(urine)["5778-6"]["value"] == "Yellow"
    [narrative] = found["narrative_escapes.hl7"]
    assert "Seborrheic keratosis | no atypia." in observations(narrative)["22637-3"]["value"].splitlines()
    [fhir] = found["fhir_lipid_bundle.json"]
    assert observations(fhir)["2093-3"]["value"] == 238 and fhir["notes"] == ["Total cholesterol above the desirable range."]
    # And every patient got one notice that holds nothing medical
    for email, before in mails_before.items():
        mails = portal.outbox(email)
        assert len(mails) == before + 1
        assert not any(word in mails[-1]["subject"] + mails[-1]["text"] for word in MEDICAL_WORDS)


def test_a_second_delivery_of_the_same_message_publishes_nothing(portal, staff, clinic):
    # Given the normative result published once
    [patient] = clinic["normative_glucose.hl7"]
    order = tag()
    first = file_for(clinic, "normative_glucose.hl7", order)
    drop(first)
    pump.drain()
    before = {i["id"]: i for i in results_of(staff, patient)}
    mails = len(portal.outbox(patient.email))

    # When the same message comes again, in another file, with CRLF line ends and MLLP framing
    drop(b"\x0b" + first.replace(b"\r", b"\r\n") + b"\x1c\r")
    pump.drain()

    # Then nothing new: the same result, version 1, no second notice
    after = {i["id"]: i for i in results_of(staff, patient)}
    assert after.keys() == before.keys()
    assert all(staff_result(staff, result_id)["version"] == 1 for result_id in after)
    assert len(portal.outbox(patient.email)) == mails


def test_preliminary_then_final_then_corrected_update_one_result_and_staff_see_every_version(portal, staff, clinic):
    # Given a preliminary count published for the patient
    [patient] = clinic["cbc_final.hl7"]
    order = tag()
    known = {i["id"] for i in results_of(staff, patient)}
    drop(file_for(clinic, "cbc_preliminary.hl7", order))
    pump.drain()
    [item] = [i for i in results_of(staff, patient) if i["id"] not in known]
    preliminary = staff_result(staff, item["id"])
    assert preliminary["status"] == "preliminary" and preliminary["version"] == 1
    mails = len(portal.outbox(patient.email))

    # When the final arrives, then the preliminary again (late), then a correction
    drop(file_for(clinic, "cbc_final.hl7", order))
    pump.drain()
    final = staff_result(staff, item["id"])
    drop(file_for(clinic, "cbc_preliminary.hl7", order))
    pump.drain()
    after_late = staff_result(staff, item["id"])
    drop(file_for(clinic, "cbc_corrected.hl7", order))
    pump.drain()
    corrected = staff_result(staff, item["id"])

    # Then the same result moved to version 2 (final) and 3 (corrected); the late preliminary changed nothing
    assert (final["status"], final["version"]) == ("final", 2)
    assert after_late["version"] == 2
    assert (corrected["status"], corrected["version"]) == ("corrected", 3)
    assert observations(corrected)["718-7"]["value"] == 11.4 and observations(corrected)["718-7"]["flag"] == "low"
    # And staff see every version's values
    assert [v["version"] for v in corrected["versions"]] == [1, 2, 3]
    assert [observations(v)["718-7"]["value"] for v in corrected["versions"]] == [13.1, 13.1, 11.4]
    assert "777-3" not in observations(corrected["versions"][0])
    # And each update made it unread again, "updated", and notified the patient again (twice)
    [listed] = [i for i in results_of(staff, patient) if i["id"] == item["id"]]
    assert listed["status"] == "updated" and listed["read_at"] is None
    assert len(portal.outbox(patient.email)) == mails + 2


def test_each_quarantine_reason_keeps_the_message_for_the_office_and_nothing_reaches_the_dead_letter_queue(
        portal, staff, clinic):
    # Given an unknown MRN, a birth date that is not the one on file, an ADT message and bytes that are not HL7
    [patient] = clinic["normative_glucose.hl7"]
    order = tag()
    unknown = drop(personalised("normative_glucose.hl7", [unique_mrn()], order))
    mismatch = drop(file_for(clinic, "normative_glucose.hl7", order, {b"19620320": b"19620321"}))
    adt = drop(personalised("adt_not_a_result.hl7", [patient.mrn]))
    garbage = drop(b"MSH|^~\\&|LAB\rPID|<script>alert(1)</script>\r" + bytes(range(128, 256)))
    dead_before = dead_letters()
    items_before = len(results_of(staff, patient))

    # When the lab function reads them
    pump.drain()

    # Then each is quarantined with its reason, and no result was published
    reasons = {key: [e["reason"] for e in lab_quarantine(staff, key)] for key in (unknown, mismatch, adt, garbage)}
    assert reasons == {unknown: ["unknown_patient"], mismatch: ["birth_date_mismatch"], adt: ["not_a_result"],
                       garbage: ["unparseable"]}
    assert len(results_of(staff, patient)) == items_before
    [wrong_birth] = lab_quarantine(staff, mismatch)
    assert wrong_birth["patient_id"] == patient.id and "PID-7" in wrong_birth["data"]["message"]
    # And the office reads the raw message as it came (on the page, escaped)
    [entry] = lab_quarantine(staff, garbage)
    shown = staff.get(f"/api/staff/quarantine/{quote(entry['id'], safe='')}")
    assert shown.status_code == 200 and "<script>alert(1)</script>" in shown.json()["raw"]
    page = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD).get(
        f"{portal.base_url}/staff/results/quarantine/{quote(entry['id'], safe='')}", timeout=30)
    assert page.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    # And nothing went to the dead-letter queue
    assert dead_letters() == dead_before


def test_a_batch_with_one_bad_message_publishes_the_good_ones(portal, staff, clinic):
    # Given a batch of two patients' results with a message that is not UTF-8 between them
    first, second = clinic["batch_two_patients.hl7"]
    order = tag()
    batch = file_for(clinic, "batch_two_patients.hl7", order)
    bad = b"MSH|^~\\&|LABSYS|ACME LAB|||20240415||ORU^R01|BAD-1|P|2.3\rPID|1||" + first.mrn.encode() + \
          b"\rOBR|1||BAD-" + order.encode() + b"|x^Test\rOBX|1|ST|x^Note||caf\xe9\xff\r"
    cut = batch.index(b"MSH|", batch.index(b"MSH|") + 1)
    key = drop(batch[:cut] + bad + batch[cut:])
    counts = (len(results_of(staff, first)), len(results_of(staff, second)))

    # When it is read
    pump.drain()

    # Then both good messages are published and the bad one alone is quarantined
    assert (len(results_of(staff, first)), len(results_of(staff, second))) == (counts[0] + 1, counts[1] + 1)
    [entry] = lab_quarantine(staff, key)
    assert entry["reason"] == "unparseable" and entry["data"]["message_number"] == 2


def test_the_office_sends_a_message_again_once_the_patient_is_registered(portal, staff, admin, clinic):
    # Given a result quarantined because no patient had its MRN
    mrn = unique_mrn()
    key = drop(personalised("normative_glucose.hl7", [mrn], tag()))
    pump.drain()
    [entry] = lab_quarantine(staff, key)
    assert entry["reason"] == "unknown_patient"

    # When the patient is registered and staff send it again
    patient = portal.register_patient(staff, mrn=mrn, date_of_birth="1962-03-20")
    path = f"/api/staff/quarantine/{quote(entry['id'], safe='')}/retry"
    answer = staff.post(path)
    pump.drain()

    # Then it is accepted (202), read again and published for the patient, and the entry is closed
    assert answer.status_code == 202, answer.text
    assert answer.json()["resolution"] == "sent_again" and answer.json()["key"].startswith("lab/retry/")
    [item] = results_of(staff, Registered(patient.id, mrn, patient.email))
    assert staff_result(staff, item["id"])["observations"][0]["value"] == 182
    assert not lab_quarantine(staff, key)
    events = admin.get("/api/staff/audit", params={"patient_id": patient.id}).json()["events"]
    assert any(e["action"] == "result.staff_view" for e in events)
    # And a second retry is refused, and an upload's entry is not a lab message
    assert staff.post(path).status_code == 409
    assert staff.post("/api/staff/quarantine/quarantine%23d_nothing/retry").status_code == 404


def _taken_from_the_queue(keys: list[str]) -> dict[str, dict]:
    """The lab queue's messages about these keys, as Lambda's poller hands them over (each an SQS
    record), taken off the queue so only the invocations below handle them."""
    sqs = aws.client("sqs")
    queue = get_settings().lab_queue_name
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    records: dict[str, dict] = {}
    for _ in range(10):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", []):
            body = json.loads(message["Body"])
            for record in body.get("Records") or []:
                key = unquote_plus(record["s3"]["object"]["key"])  # S3 sends keys URL-encoded
                if key in keys:
                    records[key] = pump._sqs_record(message, queue)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if len(records) == len(keys):
            break
    assert sorted(records) == sorted(keys)
    return records


def test_two_deliveries_at_once_make_one_result(portal, staff, clinic):
    # Given the same new report in two files, and a preliminary and its final in two more
    [patient] = clinic["cerner_bmp_ucum.hl7"]
    [counted] = clinic["cbc_final.hl7"]
    before = (len(results_of(staff, patient)), len(results_of(staff, counted)))
    same, versions = tag(), tag()
    keys = [drop(file_for(clinic, "cerner_bmp_ucum.hl7", same)), drop(file_for(clinic, "cerner_bmp_ucum.hl7", same)),
            drop(file_for(clinic, "cbc_preliminary.hl7", versions)), drop(file_for(clinic, "cbc_final.hl7", versions))]
    records = _taken_from_the_queue(keys)

    # When the four S3 events are handed to four invocations of the lab function at the same moment
    start = threading.Barrier(len(keys))
    outcomes = []

    def invoke(key: str) -> None:
        start.wait()
        outcomes.append(lab_events.lab_results({"Records": [records[key]]}, pump.LocalContext("lab-results")))

    threads = [threading.Thread(target=invoke, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each order is one result (the final's values, whichever came first), with nothing to retry
    assert outcomes == [{"batchItemFailures": []}] * len(keys)
    assert len(results_of(staff, patient)) == before[0] + 1
    assert len(results_of(staff, counted)) == before[1] + 1
    newest = max(results_of(staff, counted), key=lambda i: i["created_at"])
    assert staff_result(staff, newest["id"])["status"] == "final"


def test_a_critical_value_puts_a_call_on_the_queue_and_mails_the_office_nothing_medical(portal, staff, clinic):
    # Given a potassium of 6.8 (HH) and a glucose of 38 (LL)
    [patient] = clinic["critical_values.hl7"]
    office = get_settings().office_email
    mails_before = len(portal.outbox(office))

    # When the result arrives
    drop(file_for(clinic, "critical_values.hl7", tag()))
    pump.drain()

    # Then the office's queue has a critical result naming the patient and the result
    [item] = results_of(staff, patient)
    [entry] = [c for c in queue_list(staff, "critical_results") if c["result_id"] == item["id"]]
    assert entry["patient_id"] == patient.id and entry["patient_name"] == "Lab Patient 0"
    assert entry["title"] == "Basic metabolic panel" and sorted(entry["flags"]) == ["critical_high", "critical_low"]
    assert entry["ordered_by_npi"] == "1982745136"
    # And one mail to the office says a call is needed, and nothing medical
    mails = portal.outbox(office)[mails_before:]
    [critical] = [m for m in mails if "call" in m["subject"]]
    assert "/staff/queue" in critical["text"]
    assert not any(word in critical["subject"] + critical["text"] for word in (*MEDICAL_WORDS, "6.8", "38 "))


def test_a_large_file_is_read_in_parts_and_one_over_the_size_limit_is_quarantined(portal, staff, clinic):
    # Given a file of 30 messages (more than a part holds) and a file over 25 MB
    [patient] = clinic["hie_forward_two_ids.hl7"]
    many = b"".join(file_for(clinic, "hie_forward_two_ids.hl7", f"{tag()}-{n}") for n in range(30))
    before = len(results_of(staff, patient))
    drop(many)
    too_large = drop(b"MSH|^~\\&|" + b"A" * (get_settings().max_upload_bytes + 10))

    # When they are read
    pump.drain()

    # Then all 30 reports are published (read from parts written back under lab/split/)
    assert len(results_of(staff, patient)) == before + 30
    parts = aws.client("s3").list_objects_v2(Bucket=get_settings().results_bucket, Prefix="lab/split/")
    assert len(parts.get("Contents", [])) >= 2
    # And the large file is quarantined whole, unread
    [entry] = lab_quarantine(staff, too_large)
    assert entry["reason"] == "unparseable" and "25 MB" in entry["data"]["message"]


def test_bin_portal_lab_drop_puts_a_file_where_the_lab_would(portal, staff, clinic, tmp_path):
    # Given an HL7 file on the operator's disk, and an empty one
    from typer.testing import CliRunner

    from portal_cli.cli import app

    [patient] = clinic["fhir_lipid_bundle.json"]
    path = tmp_path / "lipids bundle.json"
    path.write_bytes(file_for(clinic, "fhir_lipid_bundle.json", tag()))
    empty = tmp_path / "empty.hl7"
    empty.write_bytes(b"")
    before = len(results_of(staff, patient))

    # When `bin/portal lab-drop` puts them under lab/ and the lab function reads the queue
    dropped = CliRunner().invoke(app, ["--stage", "local", "lab-drop", str(path)], catch_exceptions=False)
    refused = CliRunner().invoke(app, ["--stage", "local", "lab-drop", str(empty)], catch_exceptions=False)
    pump.drain()

    # Then the file's result is published, and the empty file is refused before anything is put
    assert dropped.exit_code == 0 and "lab/drop/" in dropped.output, dropped.output
    assert len(results_of(staff, patient)) == before + 1
    assert refused.exit_code == 1 and "empty" in refused.output
