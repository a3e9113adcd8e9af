"""The office's page for one document, in a browser: what it shows, replacing the file with a
corrected version, and retracting it (and what the patient then sees)."""

from __future__ import annotations

import re
import secrets

import pytest

from chalicelib.localstack import pump
from tests.browser.conftest import Browser
from tests.browser.test_patient_journey import publish_result, sign_in
from tests.browser.test_staff_journey import staff_signs_in
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


def _document_page(portal, staff, open_browser, title: str) -> tuple[Browser, object, str]:
    """A patient with a result, and the office on that result's page, reached from the patient's page."""
    patient = portal.new_patient(staff, name=f"Rosa Quint {secrets.token_hex(2)}")
    publish_result(patient, title=title, comment="All normal.")
    browser = staff_signs_in(open_browser)
    browser.go(f"/staff/patients/{patient.id}")
    browser.page.get_by_role("link", name=title).click()
    browser.visited()
    return browser, patient, browser.path.split("?")[0]


def test_the_office_sees_a_document_and_replaces_its_file(portal, staff, open_browser):
    # Given the office on the page of a result its patient has read
    browser, patient, path = _document_page(portal, staff, open_browser, "Lipid panel (March)")
    doc_id = path.rsplit("/", 1)[1]
    assert patient.api.get(f"/api/documents/{doc_id}").status_code == 200
    browser.go(path)

    # Then it names the patient, who read it first, the notice sent and the one version
    assert path == f"/staff/documents/{doc_id}"
    text = browser.text()
    assert patient.name in text and "Lipid panel (March)" in text and "All normal." in text
    assert f"by {patient.name} (the patient)" in text
    assert browser.page.locator("section", has_text="Notices sent").locator("li").count() == 1
    assert browser.page.locator("tbody tr[data-version]").count() == 1

    # When they send a corrected file: its type and what was corrected, then the file straight to S3
    browser.page.get_by_label("File type").select_option("text/plain")
    browser.fill({"What was corrected (shown to the patient as a comment) (optional)": "LDL value corrected"})
    browser.submit("Next: choose the file")
    form_action = browser.page.locator("form[enctype='multipart/form-data']").get_attribute("action")
    browser.page.set_input_files("#file", files=[{"name": "lipids.txt", "mimeType": "text/plain",
                                                  "buffer": b"LDL 126 mg/dL\nHDL 51 mg/dL\n"}])
    with browser.page.expect_response(lambda r: r.url.startswith(form_action) and r.request.method == "POST"), \
            browser.page.expect_navigation(url=re.compile(re.escape(path) + "$")):
        browser.page.get_by_role("button", name="Send the corrected file").click()
    browser.visited()
    # (S3 sends the browser back to the portal, which leaves its notice in a flash cookie: a clean address)
    assert "corrected file was received" in browser.text()
    pump.drain()

    # Then the page shows version 2, updated and unread again, with both versions listed
    browser.go(path)
    assert browser.page.locator("[data-status]").get_attribute("data-status") == "updated"
    assert browser.page.locator("dd[data-version]").inner_text() == "2"
    assert browser.page.locator("tbody tr[data-version]").count() == 2
    assert "LDL value corrected" in browser.text() and "Unread" in browser.text()
    # And the patient has it as updated and unread
    [entry] = [i for i in patient.api.get("/api/items").json()["items"] if i["id"] == doc_id]
    assert entry["status"] == "updated" and entry["read_at"] is None


def test_the_office_retracts_a_document_and_the_patient_sees_only_that_it_was_removed(portal, staff, open_browser):
    # Given the office on the page of a result posted to the wrong patient
    title = f"CT abdomen {secrets.token_hex(2)}"
    browser, patient, path = _document_page(portal, staff, open_browser, title)

    # When they press retract without a reason
    browser.submit("Retract the document")

    # Then the reason is asked for, marked next to its field
    assert browser.page.get_by_label("Reason").get_attribute("aria-invalid") == "true"

    # When they give the reason and retract
    browser.fill({"Reason": "Posted to the wrong patient"})
    browser.submit("Retract the document")

    # Then the page says it is retracted, why, and offers no more actions
    text = browser.text()
    assert "The document was retracted" in text and "Posted to the wrong patient" in text
    assert browser.page.locator("[data-status]").get_attribute("data-status") == "retracted"
    assert browser.page.get_by_role("button", name="Retract the document").count() == 0
    assert browser.page.get_by_role("button", name="Next: choose the file").count() == 0
    # And the patient's page marks it retracted
    browser.go(f"/staff/patients/{patient.id}")
    assert "Retracted" in browser.page.locator("tr", has_text=title).inner_text()

    # When the patient signs in
    patient_browser = open_browser()
    sign_in(patient_browser, patient.username, patient.password)

    # Then their list says only that it was removed, and so does the document's page
    assert title not in patient_browser.text()
    row = patient_browser.page.locator("li.item", has_text="Removed by your clinic")
    assert "Removed" in row.inner_text()
    row.get_by_role("link").click()
    patient_browser.visited()
    assert "Your clinic removed this document" in patient_browser.text() and title not in patient_browser.text()
    assert patient_browser.page.get_by_role("link", name=re.compile("Open the file")).count() == 0


def test_the_office_refiles_a_misfiled_document_and_an_admin_reads_the_incident(portal, staff, open_browser):
    # Given the office on the page of a document its (wrong) patient has opened, and the right patient
    title = f"Bone density scan {secrets.token_hex(2)}"
    browser, wrong, path = _document_page(portal, staff, open_browser, title)
    doc_id = path.rsplit("/", 1)[1]
    assert wrong.api.get(f"/api/documents/{doc_id}").status_code == 200
    right = portal.register_patient(staff, name=f"Rosa Quintero {secrets.token_hex(2)}")
    browser.go(path)

    # When they refile it without naming anyone
    browser.submit("Refile the document")

    # Then the patient and the reason are asked for, each marked next to its field
    assert browser.page.get_by_label("The right patient's MRN or portal id").get_attribute("aria-invalid") == "true"
    assert browser.page.get_by_label("Why it is refiled").get_attribute("aria-invalid") == "true"

    # When they name the right patient by MRN, with a reason
    browser.fill({"The right patient's MRN or portal id": right.mrn, "Why it is refiled": "Same name, wrong chart"})
    browser.submit("Refile the document")

    # Then they are on the right patient's new document, which says where it came from
    assert browser.path.startswith("/staff/documents/") and browser.path != path
    assert right.name in browser.text() and f"from the record of {wrong.name}" in browser.text()
    # And the misfiled one is retracted and links to it, with no refile form left
    browser.follow("Open the misfiled document")
    assert browser.page.locator("[data-status]").get_attribute("data-status") == "retracted"
    assert browser.page.get_by_role("button", name="Refile the document").count() == 0

    # When an admin opens the privacy incidents from their pages
    admin = staff_signs_in(open_browser, "admin", ADMIN_PASSWORD)
    admin.go("/admin/staff")
    admin.follow("Privacy incidents")

    # Then the misfiling is listed with both patients, its reason, and the wrong patient as someone who opened it
    row = admin.page.locator(f"tr[data-document-id='{doc_id}']")
    assert "Same name, wrong chart" in row.inner_text()
    assert row.get_by_role("link", name=wrong.name, exact=True).count() == 1
    assert row.get_by_role("link", name=right.name, exact=True).count() == 1
    assert f"{wrong.name} (the patient)" in row.inner_text()
