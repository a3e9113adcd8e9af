"""Patients read their lab results: opening one records the read receipt and is audited, a test
measured twice has a trend, results follow up exactly as documents do (notices, re-notices,
escalation to the office), and nobody reads another patient's result.

One patient for the module (signed in once), with two glucose results and a preliminary count."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from urllib.parse import quote

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle

from chalicelib import aws
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.fixtures.lab import personalised
from tests.integration.test_caregivers import PASSWORDS, caregiver_for
from tests.support.followup import day, fresh_day0, notices_to, queue_list, staff_item, staff_now, sweep
from tests.support.pages import signed_in_pages

BORN = "1962-03-20"  # the normative example's birth date, which the patients here share


def drop(data: bytes) -> None:
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=f"lab/{secrets.token_hex(4)}/r.hl7", Body=data)


def glucose(mrn: str, value: bytes = b"182", collected: bytes = b"200202150730") -> bytes:
    """The normative example for this patient, an order of its own, the value and time given."""
    return personalised("normative_glucose.hl7", [mrn], secrets.token_hex(3)).replace(
        b"|^182|", b"|^" + value + b"|").replace(b"200202150730", collected)


def result_ids(staff, patient) -> set[str]:
    items = staff.get(f"/api/staff/patients/{patient.id}").json()["items"]
    return {i["id"] for i in items if i["kind"] == "result"}


def published(staff, patient, data: bytes) -> str:
    """Drop a file for the patient; the id of the result it made."""
    before = result_ids(staff, patient)
    drop(data)
    pump.drain()
    [made] = result_ids(staff, patient) - before
    return made


@pytest.fixture(scope="module")
def reader(portal, staff):
    """A signed-in patient with two glucose results (182 high, then 99) and a preliminary count
    (`reader.results`: first, second, preliminary)."""
    patient = portal.new_patient(staff, date_of_birth=BORN)
    patient.results = {
        "first": published(staff, patient, glucose(patient.mrn)),
        "second": published(staff, patient, glucose(patient.mrn, b"99", b"200203150730").replace(b"|H|||F", b"|N|||F")),
        "preliminary": published(staff, patient, personalised("cbc_preliminary.hl7", [patient.mrn], secrets.token_hex(3))
                                 .replace(b"19850909", BORN.replace("-", "").encode())),
    }
    return patient


def test_the_patient_opens_a_result_which_writes_the_read_receipt_and_is_audited(portal, staff, admin, reader):
    # Given the patient's first glucose result, unread, on their list
    first = reader.results["first"]
    listed = {i["id"]: i for i in reader.api.get("/api/items").json()["items"]}
    assert listed[first]["kind"] == "result" and listed[first]["read_at"] is None

    # When they open it
    answer = reader.api.get(f"/api/results/{first}")

    # Then they read its values, range and flag, and who ordered it
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["title"], result["status"], result["version"]) == ("GLUCOSE", "final", 1)
    [value] = result["observations"]
    assert (value["value"], value["unit"], value["flag"], value["reference_range"]["text"]) == (182, "mg/dl", "high",
                                                                                               "70_105")
    assert result["ordered_by"] == "Patricia P Primary, MD" and result["read_at"] is not None
    # And the read receipt is written (the list and the office see it), and the open is audited
    assert {i["id"]: i for i in reader.api.get("/api/items").json()["items"]}[first]["read_at"] is not None
    assert staff_item(staff, reader.id, first)["first_read_at"] is not None
    events = admin.get("/api/staff/audit", params={"patient_id": reader.id}).json()["events"]
    assert any(e["action"] == "result.view" and e["target_id"] == first and e["actor_id"] == reader.id for e in events)


def test_a_preliminary_result_says_so(reader, staff):
    preliminary = reader.results["preliminary"]
    result = reader.api.get(f"/api/results/{preliminary}").json()
    assert result["status"] == "preliminary" and {o["status"] for o in result["observations"]} == {"preliminary"}


def test_a_test_measured_twice_has_a_trend_oldest_first_with_its_range(reader, staff):
    # Given two glucose results a month apart
    first, second = reader.results["first"], reader.results["second"]

    # When the patient asks for the trend of glucose (the code its observations carry)
    answer = reader.api.get("/api/results/trends", params={"code": "1554-5"})

    # Then both values, oldest first, with their flags and results, and the range
    assert answer.status_code == 200, answer.text
    trend = answer.json()
    assert [(p["value"], p["flag"], p["result_id"]) for p in trend["points"]] == [(182, "high", first), (99, None, second)]
    assert trend["unit"] == "mg/dl" and trend["reference_range"] == {"low": 70, "high": 105, "text": "70_105"}
    # And each result says the test has a trend to show
    assert reader.api.get(f"/api/results/{second}").json()["observations"][0]["trend_points"] == 2
    # And a test the patient has no value of is 404; no code is 400
    assert reader.api.get("/api/results/trends", params={"code": "0000-0"}).status_code == 404
    assert reader.api.get("/api/results/trends").status_code == 400


def test_a_caregiver_reads_the_result_with_patient_id_and_the_open_names_them(portal, staff, admin, reader):
    # Given a caregiver the patient granted read access, and the patient's second glucose result (unread)
    caregiver, _, grant = caregiver_for(portal, reader, scope="read")
    second = reader.results["second"]

    # When the caregiver opens it for the patient, and asks for the trend
    answer = caregiver.get(f"/api/results/{second}", params={"patient_id": reader.id})
    trend = caregiver.get("/api/results/trends", params={"code": "1554-5", "patient_id": reader.id})

    # Then they read it as the patient does, the receipt is written, and the audit names the caregiver
    assert answer.status_code == 200 and answer.json()["observations"][0]["value"] == 99
    assert trend.status_code == 200 and len(trend.json()["points"]) == 2
    assert staff_item(staff, reader.id, second)["first_read_at"] is not None
    events = admin.get("/api/staff/audit", params={"patient_id": reader.id}).json()["events"]
    assert any(e["action"] == "result.view" and e["target_id"] == second and e["actor_role"] == "proxy" for e in events)
    # And without the patient's id it is not found
    assert caregiver.get(f"/api/results/{second}").status_code == 404
    # And on the pages, the patient's list links the result, which shows its values
    pages = signed_in_pages(portal.base_url, grant["email"], PASSWORDS[grant["email"]])
    base = f"{portal.base_url}/caregiver/patients/{reader.id}"
    assert f"/caregiver/patients/{reader.id}/results/{second}" in pages.get(base, timeout=30).text
    shown = pages.get(f"{base}/results/{second}", timeout=30)
    assert shown.status_code == 200 and "99" in shown.text and "70_105" in shown.text


def test_the_take_away_records_hold_each_result_as_a_diagnostic_report_and_a_table(reader):
    # When the patient asks for their records and the job builds them
    export_id = reader.api.post("/api/me/exports").json()["id"]
    pump.drain()
    ready = reader.api.get(f"/api/me/exports/{export_id}").json()
    download = requests.get(ready["url"], timeout=30)
    archive = zipfile.ZipFile(io.BytesIO(download.content))

    # Then bundle.json holds a DiagnosticReport per result, each with its Observations, valid FHIR
    bundle = json.loads(archive.read("bundle.json"))
    parsed = Bundle.model_validate(bundle)
    reports = [e.resource for e in parsed.entry if e.resource.get_resource_type() == "DiagnosticReport"]
    assert sorted(r.code.text for r in reports) == ["Complete blood count", "GLUCOSE", "GLUCOSE"]
    values = sorted(float(e.resource.valueQuantity.value) for e in parsed.entry
                    if e.resource.get_resource_type() == "Observation" and e.resource.code.text == "GLUCOSE")
    assert values == [99.0, 182.0]
    # And index.html lists them in a table
    index = archive.read("index.html").decode()
    assert "Test results" in index and "70_105" in index and "High" in index


def test_nobody_reads_another_patients_result(portal, staff, reader):
    # Given another signed-in patient, and the office
    other = portal.new_patient(staff)
    first = reader.results["first"]

    # Then the other patient gets the same 404 as for an unknown id, and no trend of it
    assert other.api.get(f"/api/results/{first}").status_code == 404
    assert other.api.get("/api/results/r_unknown").status_code == 404
    assert other.api.get("/api/results/trends", params={"code": "1554-5"}).status_code == 404
    # And the office's route is the office's alone, the patient's route the patients'
    assert reader.api.get(f"/api/staff/results/{first}").status_code == 403
    assert staff.get(f"/api/results/{quote(first)}").status_code in (403, 404)


def test_an_unread_result_is_renotified_then_escalated_and_reading_it_closes_the_call(portal, clock):
    # Given a patient and a result published on day 0 (first notice sent)
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal), date_of_birth=BORN)
    drop(glucose(patient.mrn))
    pump.drain()
    [item] = [i for i in staff_now(portal).get(f"/api/staff/patients/{patient.id}").json()["items"] if i["kind"] == "result"]
    assert len(notices_to(portal, patient.email)) == 1

    # When the sweep runs on days 3 and 6, then on day 9 (an hour past each due time)
    sweep(portal, clock, day(day0, 3, hours=1))
    sweep(portal, clock, day(day0, 6, hours=2))
    assert len(notices_to(portal, patient.email)) == 3
    sweep(portal, clock, day(day0, 9, hours=3))

    # Then it was re-notified twice and is now the office's call, named as a result
    shown = staff_item(staff_now(portal), patient.id, item["id"])
    assert shown["notices_sent"] == 3 and shown["escalated"] is True
    [call] = [e for e in queue_list(staff_now(portal), "follow_ups") if e["item_id"] == item["id"]]
    assert call["data"]["item_kind"] == "result" and call["item_title"] == "GLUCOSE"

    # When the patient finally opens it
    signed_in = portal.signed_in(patient.username, patient.password)
    assert signed_in.get(f"/api/results/{item['id']}").status_code == 200

    # Then the office's call is closed
    assert not [e for e in queue_list(staff_now(portal), "follow_ups") if e["item_id"] == item["id"]]
