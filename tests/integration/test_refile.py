"""Refile to the right patient: a document posted to the wrong patient is retracted from them and filed,
the same file, as a new document of the right patient, who is notified once; the misfiling is a
privacy incident naming everyone who opened the document meanwhile (admins only); a retry or a
second click files nothing twice, and bad input changes nothing."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pytest
import requests

from chalicelib.clock import clock
from chalicelib.localstack import pump
from chalicelib.services.publication import refile
from chalicelib.store import items as item_store
from tests.conftest import STAFF_PASSWORD
from tests.integration.test_caregivers import caregiver_for
from tests.integration.test_corrections import _publish_titled, _replace
from tests.integration.test_publication import PDF, PNG, objects, post_file
from tests.support.faults import aws_refuses
from tests.support.followup import notices_to
from tests.support.pages import page_csrf, signed_in_pages

TITLE = "MRI lumbar spine for Teodora Blaskovic"
REASON = "Posted to the wrong patient (same family name)"


@dataclass
class Misfiled:
    wrong: object  # the patient it was posted to (Spanish-speaking)
    right: object  # the patient it belongs to
    doc_id: str
    answer: requests.Response  # the refile's
    notices_before: int


@pytest.fixture(scope="module")
def misfiled(portal, staff) -> Misfiled:
    # A document posted to the wrong patient, who reads in Spanish and opened it and its file, as did
    # their caregiver; the office opened it too; then the office refiles it to the right patient
    wrong, doc_id = _publish_titled(portal, staff, title=TITLE)
    assert wrong.api.put("/api/me/language", json={"language": "es"}).status_code == 200
    assert wrong.api.get(f"/api/documents/{doc_id}").status_code == 200
    assert wrong.api.get(f"/api/documents/{doc_id}/file").status_code == 200
    caregiver, _, _ = caregiver_for(portal, wrong, name="Ana Blaskovic")
    assert caregiver.get(f"/api/documents/{doc_id}", params={"patient_id": wrong.id}).status_code == 200
    assert staff.get(f"/api/staff/documents/{doc_id}").status_code == 200
    right = portal.register_patient(staff, name=f"Teodora Blaskovic {secrets.token_hex(2)}")
    before = len(notices_to(portal, right.email))
    answer = staff.post(f"/api/staff/documents/{doc_id}/refile", json={"patient_id": right.id, "reason": REASON})
    return Misfiled(wrong, right, doc_id, answer, before)


def test_the_right_patient_gets_the_same_file_as_a_new_document_and_one_notice(portal, staff, misfiled):
    # Given a document refiled from the wrong patient to the right one (the fixture)
    answer = misfiled.answer

    # Then the answer is 201 with the new document's id
    assert answer.status_code == 201, answer.text
    new_id = answer.json()["id"]
    assert set(answer.json()) == {"id"} and new_id != misfiled.doc_id

    # And the right patient has it, unread, under its title, and was notified exactly once
    seen = staff.get(f"/api/staff/documents/{new_id}").json()
    assert seen["patient_id"] == misfiled.right.id and seen["title"] == TITLE
    assert seen["status"] == "published" and seen["read_at"] is None and seen["in_follow_up"]
    assert len(notices_to(portal, misfiled.right.email)) == misfiled.notices_before + 1
    assert len(seen["notices"]) == 1
    # And it is the same file, copied in the bucket (not sent again), under the right patient
    [copy] = objects(f"documents/refiled/{misfiled.right.id}/")
    assert copy.endswith(new_id)
    right = portal.activate(misfiled.right)
    link = right.api.get(f"/api/documents/{new_id}/file")
    assert link.status_code == 200 and requests.get(link.json()["url"], timeout=30).content == PDF
    # And the office's page of each says where it went, or came from
    page = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    misfiled_page = page.get(f"{portal.base_url}/staff/documents/{misfiled.doc_id}", timeout=30).text
    assert f'data-refiled-to="{new_id}"' in misfiled_page
    assert f'data-refiled-from="{misfiled.doc_id}"' in page.get(f"{portal.base_url}/staff/documents/{new_id}",
                                                                timeout=30).text


def test_the_wrong_patient_keeps_only_a_removed_entry_in_their_language(portal, staff, misfiled):
    # Given the refiled document (the fixture), whose wrong patient reads in Spanish
    wrong = misfiled.wrong

    # When they open it, its file and their page of it
    document = wrong.api.get(f"/api/documents/{misfiled.doc_id}")
    file = wrong.api.get(f"/api/documents/{misfiled.doc_id}/file")
    page = signed_in_pages(portal.base_url, wrong.username, wrong.password).get(
        f"{portal.base_url}/documents/{misfiled.doc_id}", timeout=30)

    # Then it is retracted: the neutral answer, the file 410, and the page's title in Spanish
    assert document.status_code == 200 and document.json()["status"] == "retracted"
    assert file.status_code == 410
    assert page.status_code == 200 and TITLE not in page.text
    assert '<h1 id="doc-title">Retirado por su clínica</h1>' in page.text
    assert "<title>Retirado por su clínica" in page.text
    # And their list has no new document
    assert [i["id"] for i in wrong.api.get("/api/items").json()["items"]] == [misfiled.doc_id]


def test_the_incident_names_everyone_who_opened_the_document_while_misfiled(admin, misfiled):
    # Given the refiled document (the fixture): opened by the wrong patient, their caregiver and the office

    # When an admin lists the privacy incidents
    answer = admin.get("/api/admin/incidents")

    # Then the misfiling is there, with its patients, reason and who recorded it
    assert answer.status_code == 200, answer.text
    [incident] = [i for i in answer.json()["incidents"] if i["document_id"] == misfiled.doc_id]
    assert incident["from_patient_id"] == misfiled.wrong.id and incident["to_patient_id"] == misfiled.right.id
    assert incident["reason"] == REASON and incident["recorded_by"] == "Front Desk" and incident["recorded_at"]
    # And everyone who opened it while it was misfiled, once each: the wrong patient, their caregiver
    # and the office
    viewers = [(v["name"], v["role"]) for v in incident["viewed_by"]]
    assert sorted(viewers) == sorted([(misfiled.wrong.name, "patient"), ("Ana Blaskovic", "proxy"),
                                      ("Front Desk", "staff")])
    assert all(v["at"] for v in incident["viewed_by"])


def test_a_retry_or_second_click_files_nothing_twice(portal, staff, misfiled):
    # Given the refiled document (the fixture)
    new_id = misfiled.answer.json()["id"]
    notices = len(notices_to(portal, misfiled.right.email))

    # When the same refile is asked again, and once more for another patient
    again = staff.post(f"/api/staff/documents/{misfiled.doc_id}/refile",
                       json={"patient_id": misfiled.right.id, "reason": REASON})
    elsewhere = staff.post(f"/api/staff/documents/{misfiled.doc_id}/refile",
                           json={"patient_id": misfiled.wrong.id, "reason": REASON})

    # Then the retry answers the same id, with no second copy and no second notice
    assert again.status_code == 201 and again.json() == {"id": new_id}
    assert len(objects(f"documents/refiled/{misfiled.right.id}/")) == 1
    assert len(notices_to(portal, misfiled.right.email)) == notices
    # And the document cannot be refiled somewhere else afterwards
    assert elsewhere.status_code == 409 and elsewhere.json()["error"] == "already_refiled"


def test_a_refile_cut_short_before_its_transaction_is_finished_by_the_retry(portal, staff):
    # Given a misfiled document that its wrong patient never opened
    wrong, doc_id = _publish_titled(portal, staff, title="Echocardiogram")
    right = portal.register_patient(staff)
    before = len(notices_to(portal, right.email))
    body = {"patient_id": right.id, "reason": REASON}

    # When the refile's transaction fails (the file is copied already), then the office tries again
    def the_refile(client, operation, params) -> bool:
        return operation == "TransactWriteItems" and "incidents" in str(params)

    with aws_refuses(the_refile, "InternalServerError", 500, times=1) as refused:
        cut_short = staff.post(f"/api/staff/documents/{doc_id}/refile", json=body)
    retried = staff.post(f"/api/staff/documents/{doc_id}/refile", json=body)

    # Then the first attempt changed nothing the patients see, and the retry did the whole job once
    assert refused == ["TransactWriteItems"] and cut_short.status_code >= 500
    assert retried.status_code == 201, retried.text
    assert len(objects(f"documents/refiled/{right.id}/")) == 1
    assert len(notices_to(portal, right.email)) == before + 1
    assert wrong.api.get(f"/api/documents/{doc_id}").json()["status"] == "retracted"


def test_a_corrected_document_is_refiled_with_its_current_file(portal, staff):
    # Given a misfiled document whose file the office has already corrected (version 2, a PNG)
    wrong, doc_id = _publish_titled(portal, staff, title="Dermatology photo")
    assert post_file(_replace(staff, doc_id), PNG).ok
    pump.drain()
    right = portal.register_patient(staff)

    # When it is refiled to the right patient
    answer = staff.post(f"/api/staff/documents/{doc_id}/refile", json={"patient_id": right.id, "reason": REASON})

    # Then the right patient's document is the corrected file, as its first version
    assert answer.status_code == 201, answer.text
    seen = staff.get(f"/api/staff/documents/{answer.json()['id']}").json()
    assert seen["content_type"] == "image/png" and seen["version"] == 1
    link = portal.activate(right).api.get(f"/api/documents/{answer.json()['id']}/file").json()["url"]
    assert requests.get(link, timeout=30).content == PNG


def test_bad_input_is_refused_naming_the_problem_and_changes_nothing(portal, staff, admin):
    # Given a published document, its patient, another patient, and a lab result
    patient, doc_id = _publish_titled(portal, staff, title="Chest X-ray")
    other = portal.register_patient(staff)
    result = item_store.Item("r_" + secrets.token_hex(12), patient_id=patient.id, kind=refile.RESULT,
                             title="Basic metabolic panel", created_at=clock.now(), updated_at=clock.now())
    result.save()

    def refile_(document_id: str, **body):
        return staff.post(f"/api/staff/documents/{document_id}/refile", json=body)

    # When the office refiles with each kind of bad input
    answers = {
        "unknown document": refile_("d_000000000000000000000000", patient_id=other.id, reason=REASON),
        "unknown patient": refile_(doc_id, patient_id="p_00000000000000000000", reason=REASON),
        "a staff member": refile_(doc_id, patient_id=staff.get("/api/me").json()["id"], reason=REASON),
        "same patient": refile_(doc_id, patient_id=patient.id, reason=REASON),
        "lab result": refile_(result.id, patient_id=other.id, reason=REASON),
        "no reason": refile_(doc_id, patient_id=other.id),
        "blank reason": refile_(doc_id, patient_id=other.id, reason="   "),
        "long reason": refile_(doc_id, patient_id=other.id, reason="x" * 1001),
    }

    # Then unknown ids are 404, the rest 400 naming the field
    status = {name: answer.status_code for name, answer in answers.items()}
    assert status == {"unknown document": 404, "unknown patient": 404, "a staff member": 404, "same patient": 400,
                      "lab result": 400, "no reason": 400, "blank reason": 400, "long reason": 400}
    assert answers["same patient"].json()["message"].startswith("patient_id")
    assert answers["lab result"].json()["error"] == "not_a_document"
    assert all("reason" in answers[name].json()["message"] for name in ("no reason", "blank reason", "long reason"))
    # And nothing changed: the document is still its patient's, the other patient has nothing, no incident
    assert patient.api.get(f"/api/documents/{doc_id}").json()["status"] == "published"
    assert staff.get(f"/api/staff/patients/{other.id}").status_code == 200
    assert objects(f"documents/refiled/{other.id}/") == []
    assert doc_id not in [i["document_id"] for i in admin.get("/api/admin/incidents").json()["incidents"]]


def test_the_refile_form_refused_shows_the_mrn_as_it_was_typed(portal, staff):
    # Given a document posted to the wrong patient, the right patient's MRN, and the document's page
    _, doc_id = _publish_titled(portal, staff, title=TITLE)
    right = portal.register_patient(staff, name=f"Teodora Blaskovic {secrets.token_hex(2)}")
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    form = pages.get(f"{portal.base_url}/staff/documents/{doc_id}", timeout=30)

    # When the office submits the MRN without saying why
    typed = right.mrn
    refused = pages.post(f"{portal.base_url}/staff/documents/{doc_id}/refile", timeout=30,
                         data={"patient_id": typed, "reason": " ", "csrf_token": page_csrf(form.text)})

    # Then the form is shown again naming the reason, with the MRN as typed, not the portal id it names
    assert refused.status_code == 400 and 'id="refile-reason-error"' in refused.text
    assert re.search(rf'id="refile-patient_id"[^>]*value="{re.escape(typed)}"', refused.text)
    assert right.id not in refused.text
    # And nothing was refiled
    assert staff.get(f"/api/staff/documents/{doc_id}").json()["status"] != "retracted"


def test_only_admins_list_the_incidents(portal, staff, misfiled):
    # Given the office's staff member and the wrong patient (the fixture)

    # When each asks for the incidents
    answers = [staff.get("/api/admin/incidents"), misfiled.wrong.api.get("/api/admin/incidents")]

    # Then both are refused
    assert [a.status_code for a in answers] == [403, 403]
