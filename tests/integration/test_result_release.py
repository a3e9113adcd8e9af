"""The release of lab results: on arrival by default; with RESULT_RELEASE=after_review a flagged
result waits for a provider's review, at most RESULT_HOLD_DAYS (the sweep releases it then); a
patient may choose to wait for the review of every result. A held result is not the patient's,
their caregiver's or their take-away records' until it is released, and its notice goes out then,
once, with follow-up counted from then.

The clinic's setting is read by `services/results/release.py` in this process (the portal and the
lab function run here): a test that needs `after_review` gets it for itself (`clinic_holds`).
One provider for the module; each test its own patient and results."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from dataclasses import replace

import pytest
import requests

from chalicelib.localstack import pump
from chalicelib.services.providers import review
from chalicelib.services.results import release
from chalicelib.settings import get_settings
from chalicelib.store import work as work_store
from tests.conftest import ADMIN_PASSWORD
from tests.fixtures.lab import personalised
from tests.integration.test_caregivers import caregiver_for
from tests.integration.test_lab_reading import BORN, drop, glucose, published
from tests.support.followup import day, fresh_day0, notices_to, patient_now, queue_list, staff_item, staff_now, sweep
from tests.support.lifecycle import events, new_member

NORMAL = (b"|H|||F", b"|N|||F")  # the glucose report's flag, high made normal


@pytest.fixture(scope="module")
def provider(portal, admin):
    return new_member(portal, admin, "provider", name=f"Ines Rel{secrets.token_hex(2)}", prefix="rel")


@pytest.fixture
def clinic_holds(monkeypatch):
    """This test's clinic sets RESULT_RELEASE=after_review (RESULT_HOLD_DAYS as configured: 3)."""
    monkeypatch.setattr(release, "get_settings", lambda: replace(get_settings(), result_release="after_review"))


def listed(api, **params) -> set[str]:
    answer = api.get("/api/items", params=params)
    assert answer.status_code == 200, answer.text
    return {i["id"] for i in answer.json()["items"]}


def to_review(provider, result_id: str) -> dict:
    answer = provider.api.get("/api/provider/results", params={"state": "to_review"})
    assert answer.status_code == 200, answer.text
    return next(r for r in answer.json()["results"] if r["id"] == result_id)


def pump_report(data: bytes) -> None:
    """A report of an order already published (a correction): dropped and read."""
    drop(data)
    pump.drain()


def glucose_reports(api) -> list[float]:
    """The glucose values in the patient's take-away records (bundle.json), once the job built them."""
    export_id = api.post("/api/me/exports").json()["id"]
    pump.drain()
    ready = api.get(f"/api/me/exports/{export_id}").json()
    archive = zipfile.ZipFile(io.BytesIO(requests.get(ready["url"], timeout=30).content))
    bundle = json.loads(archive.read("bundle.json"))
    return sorted(float(e["resource"]["valueQuantity"]["value"]) for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "Observation" and e["resource"]["code"]["text"] == "GLUCOSE")


def test_by_default_a_flagged_result_is_released_on_arrival_with_its_notice(portal, staff):
    # Given a patient of a clinic with the default release (immediate)
    patient = portal.new_patient(staff, date_of_birth=BORN)
    assert patient.api.get("/api/me").json()["result_release"] == "immediately"

    # When a high glucose arrives
    high = published(staff, patient, glucose(patient.mrn))

    # Then the patient has it at once, listed and readable, and was told once
    assert high in listed(patient.api)
    assert patient.api.get(f"/api/results/{high}").status_code == 200
    assert len(notices_to(portal, patient.email)) == 1
    assert staff_item(staff, patient.id, high)["held"] is False


def test_with_after_review_a_flagged_result_is_held_from_patient_caregiver_and_records_until_reviewed(
        portal, staff, admin, provider, clinic_holds):
    # Given a patient with a caregiver, in a clinic that holds flagged results for review
    patient = portal.new_patient(staff, date_of_birth=BORN)
    caregiver, _, _ = caregiver_for(portal, patient, scope="read")

    # When a normal glucose and a high one arrive
    normal = published(staff, patient, glucose(patient.mrn, b"99").replace(*NORMAL))
    high = published(staff, patient, glucose(patient.mrn, b"182", b"200203150730"))

    # Then the normal one is released, the high one held: not listed, 404, not in the records
    assert listed(patient.api) >= {normal} and high not in listed(patient.api)
    assert patient.api.get(f"/api/results/{high}").status_code == 404
    assert glucose_reports(patient.api) == [99.0]
    # And its notice has not gone out (only the normal one's)
    assert len(notices_to(portal, patient.email)) == 1
    # And the caregiver sees no more of it than the patient
    assert high not in listed(caregiver, patient_id=patient.id)
    assert caregiver.get(f"/api/results/{high}", params={"patient_id": patient.id}).status_code == 404
    # And a question about it is refused as about an id of no one's (its title is not told)
    asked = patient.api.post("/api/messages", json={"subject": "Q", "body": "Is it in?", "item_id": high})
    unknown = patient.api.post("/api/messages", json={"subject": "Q", "body": "Is it in?", "item_id": "r_nosuchresult"})
    assert (asked.status_code, asked.json()) == (unknown.status_code, unknown.json()) and asked.status_code == 400
    # And the office sees it, marked held; the provider's list shows it not yet released
    assert staff_item(staff, patient.id, high)["held"] is True
    assert staff.get(f"/api/staff/results/{high}").json()["held"] is True
    assert to_review(provider, high)["released_at"] is None

    # When the provider reviews it, with a comment
    reviewed = provider.api.post(f"/api/provider/results/{high}/review", json={"comment": "Let us recheck it."})

    # Then it is released: the patient reads it with the comment, it is listed, in the records
    assert reviewed.status_code == 200, reviewed.text
    shown = patient.api.get(f"/api/results/{high}")
    assert shown.status_code == 200 and [c["role"] for c in shown.json()["comments"]] == ["provider"]
    assert high in listed(patient.api) and high in listed(caregiver, patient_id=patient.id)
    assert glucose_reports(patient.api) == [99.0, 182.0]
    # And exactly one notice went out for the release and the comment together
    assert len(notices_to(portal, patient.email)) == 2
    assert staff.get(f"/api/staff/results/{high}").json()["held"] is False
    # And the release is audited as the review's
    released = [e for e in events(admin, patient_id=patient.id) if e["action"] == "result.release"]
    assert [(e["target_id"], e["detail"]["by"], e["actor_id"]) for e in released] == [(high, "review", provider.id)]


def test_a_held_result_corrected_while_held_stays_held_and_a_normal_correction_releases_it(
        portal, staff, clinic_holds):
    # Given a patient's high glucose, held for review
    patient = portal.new_patient(staff, date_of_birth=BORN)
    report = glucose(patient.mrn)
    high = published(staff, patient, report)

    # When the lab corrects it, still high
    pump_report(report.replace(b"|^182|", b"|^190|").replace(b"|H|||F", b"|H|||C"))

    # Then it is still held, with no notice
    assert staff_item(staff, patient.id, high)["held"] is True
    assert patient.api.get(f"/api/results/{high}").status_code == 404 and not notices_to(portal, patient.email)

    # When the lab corrects it again, now normal
    pump_report(report.replace(b"|^182|", b"|^98|").replace(b"|H|||F", b"|N|||C"))

    # Then the correction releases it with one notice: the patient reads the third version
    shown = patient.api.get(f"/api/results/{high}")
    assert shown.status_code == 200 and shown.json()["version"] == 3
    assert shown.json()["observations"][0]["value"] == 98 and len(notices_to(portal, patient.email)) == 1


def test_a_patient_who_chooses_after_review_has_every_result_held_and_a_critical_call_still_reaches_the_office(
        portal, staff, admin):
    # Given a patient (the clinic releases on arrival)
    patient = portal.new_patient(staff, date_of_birth=BORN)

    # When they choose to see results after their provider reviews them
    chosen = patient.api.put("/api/me/result-release", json={"when": "after_review"})

    # Then it is their choice, shown by GET /api/me, and audited
    assert chosen.status_code == 200 and chosen.json() == {"when": "after_review"}
    assert patient.api.get("/api/me").json()["result_release"] == "after_review"
    assert [e["detail"] for e in events(admin, patient_id=patient.id)
            if e["action"] == "account.result_release_change"] == [{"when": "after_review"}]

    # When a normal glucose and a critical result arrive
    normal = published(staff, patient, glucose(patient.mrn, b"99").replace(*NORMAL))
    critical = published(staff, patient, personalised("critical_values.hl7", [patient.mrn], secrets.token_hex(3))
                         .replace(b"19580412", BORN.replace("-", "").encode()))

    # Then both are held from the patient, and no notice went out
    assert not {normal, critical} & listed(patient.api)
    assert patient.api.get(f"/api/results/{normal}").status_code == 404 and not notices_to(portal, patient.email)
    # And the office is asked to call about the critical value all the same
    assert critical in {c["result_id"] for c in queue_list(staff, "critical_results")}

    # When they choose immediately again
    again = patient.api.put("/api/me/result-release", json={"when": "immediately"})
    assert again.status_code == 200 and patient.api.get("/api/me").json()["result_release"] == "immediately"


def test_a_bad_choice_of_release_is_refused_naming_the_field_and_changes_nothing(portal, staff):
    # Given a patient who chose after_review
    patient = portal.new_patient(staff)
    assert patient.api.put("/api/me/result-release", json={"when": "after_review"}).status_code == 200

    # When they send an unknown value, or none
    unknown = patient.api.put("/api/me/result-release", json={"when": "tomorrow"})
    missing = patient.api.put("/api/me/result-release", json={})

    # Then each is a 400 naming `when`, and their choice is as it was
    assert unknown.status_code == 400 and "when" in unknown.text
    assert missing.status_code == 400 and "when" in missing.text
    assert patient.api.get("/api/me").json()["result_release"] == "after_review"
    # And the office may not choose for itself: patients only
    assert staff.put("/api/me/result-release", json={"when": "after_review"}).status_code == 403


def test_a_held_result_is_released_by_the_sweep_when_its_hold_runs_out_and_followed_up_from_then(
        portal, clock, clinic_holds):
    # Given a patient's high glucose, arrived and held on day 0
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal), date_of_birth=BORN)
    high = published(staff_now(portal), patient, glucose(patient.mrn))
    hold = get_settings().result_hold_days

    # When the sweep runs before the hold runs out
    sweep(portal, clock, day(day0, hold, hours=-1))

    # Then it is still held, nobody told
    assert staff_item(staff_now(portal), patient.id, high)["held"] is True and not notices_to(portal, patient.email)

    # When the sweep runs after RESULT_HOLD_DAYS, and again an hour later
    summary = sweep(portal, clock, day(day0, hold, hours=1))
    sweep(portal, clock, day(day0, hold, hours=2))

    # Then it was released once, with one notice, the provider's list showing when
    assert summary["released"] >= 1
    shown = staff_item(staff_now(portal), patient.id, high)
    assert shown["held"] is False and shown["notices_sent"] == 1 and len(notices_to(portal, patient.email)) == 1
    [entry] = work_store.among([review.entry_id(high, 1)])
    assert entry.data.as_dict()["released_at"] is not None

    # When the sweep runs FOLLOW_UP_DAYS after the arrival plus the hold, then an hour past the release's
    follow_up = get_settings().follow_up_days
    sweep(portal, clock, day(day0, hold + follow_up))
    before = len(notices_to(portal, patient.email))
    sweep(portal, clock, day(day0, hold + follow_up, hours=2))

    # Then the re-notice counts from the release, not from the arrival
    assert before == 1 and len(notices_to(portal, patient.email)) == 2
    # And the patient reads it
    assert patient_now(portal, patient).get(f"/api/results/{high}").status_code == 200
    # And the release is audited as the hold's expiry
    admin = portal.live("admin", ADMIN_PASSWORD)
    released = [e for e in events(admin, patient_id=patient.id) if e["action"] == "result.release"]
    assert [(e["target_id"], e["detail"]["by"]) for e in released] == [(high, "hold_expired")]
