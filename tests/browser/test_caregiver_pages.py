"""Caregivers on the pages, in Chromium, each page checked by axe-core as it is used: a patient
grants a caregiver and ends their access on My Profile; a caregiver switches between the two
patients they care for, each under a banner naming whose records they are; a patient reads who
viewed their record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser.conftest import signed_in
from tests.conftest import STAFF_PASSWORD
from tests.integration.test_caregivers import PASSWORDS, caregiver_for
from tests.integration.test_documents import published
from tests.support.http import unique_email

pytestmark = pytest.mark.browser


def test_a_patient_grants_a_caregiver_and_ends_their_access(portal, staff, open_browser):
    # Given a patient on their caregivers page (reached from My Profile)
    patient = portal.new_patient(staff)
    browser = signed_in(open_browser, patient.username, patient.password)
    browser.go("/profile")
    browser.follow("My caregivers")
    email = unique_email("browser-caregiver")

    # When they give a caregiver read access
    browser.fill({"Caregiver's name": "Ana Ruiz", "Caregiver's email": email,
                  "Relationship (for example: mother)": "mother"})
    browser.submit("Give access")

    # Then the page says so, lists the caregiver as active, and the caregiver was invited
    assert "The caregiver was given access" in browser.text()
    row = browser.page.locator(".caregiver-row", has_text="Ana Ruiz")
    assert row.get_attribute("data-status") == "active"
    assert portal.last_temporary_password(email)

    # When they end that access
    with browser.page.expect_navigation():
        row.get_by_role("button", name="End access for Ana Ruiz").click()
    browser.visited()

    # Then it is listed as ended, and the API agrees
    assert "The caregiver's access has ended" in browser.text()
    assert browser.page.locator(".caregiver-row", has_text="Ana Ruiz").get_attribute("data-status") == "revoked"
    assert [p["status"] for p in patient.api.get("/api/me/proxies").json()["proxies"]] == ["revoked"]


def test_a_caregiver_switches_between_two_patients(portal, staff, open_browser):
    # Given a caregiver of two patients, one with a document
    leo, doc_id = published(portal, staff, portal.new_patient(staff, name="Leo Ruiz"))
    mia = portal.new_patient(staff, name="Mia Ruiz")
    caregiver, _, body = caregiver_for(portal, leo, name="Ana Ruiz", scope="read")
    assert mia.api.post("/api/me/proxies", json={**body, "scope": "read_and_message"}).status_code == 201

    # When the caregiver signs in
    browser = signed_in(open_browser, body["email"], PASSWORDS[body["email"]])

    # Then their home lists both patients
    assert browser.path == "/caregiver"
    assert "Leo Ruiz" in browser.text() and "Mia Ruiz" in browser.text()

    # When they choose Leo, then open his document
    browser.follow("Leo Ruiz")
    assert "You are viewing Leo Ruiz's records as their caregiver" in browser.text()
    assert browser.page.get_by_role("link", name="Write to the office").count() == 0  # read only
    with browser.page.expect_navigation():
        browser.page.locator(".item-list a").first.click()
    browser.visited()
    assert "You are viewing Leo Ruiz's records as their caregiver" in browser.text()

    # When they switch to Mia
    browser.follow("Switch patient")
    browser.follow("Mia Ruiz")

    # Then they see Mia's records, under her name, and may write to the office for her
    assert "You are viewing Mia Ruiz's records as their caregiver" in browser.text()
    assert "Nothing here yet" in browser.text()
    assert browser.page.get_by_role("link", name="Write to the office").count() == 1
    # and Leo's document is not reachable under Mia's name
    browser.page.goto(f"{browser.base_url}/caregiver/patients/{mia.id}/documents/{doc_id}")
    assert "Leo" not in browser.page.inner_text("main")


def test_a_patient_sees_who_viewed_their_record(portal, staff, open_browser, clock):
    # Given a patient whose record the office viewed and whose document a caregiver opened
    patient, doc_id = published(portal, staff, portal.new_patient(staff, name="Leo Ruiz"))
    caregiver, _, _ = caregiver_for(portal, patient, name="Ana Ruiz")
    clock.advance(timedelta(seconds=2))
    staff.get(f"/api/staff/patients/{patient.id}")
    clock.advance(timedelta(seconds=2))
    caregiver.get(f"/api/documents/{doc_id}?patient_id={patient.id}")

    # When the patient opens "Who viewed my record" from My Profile
    browser = signed_in(open_browser, patient.username, patient.password)
    browser.go("/profile")
    browser.follow("Who viewed my record")

    # Then the caregiver's open comes first, then the office's view of the record
    rows = browser.page.locator("table.access-log tbody tr").all_inner_texts()
    assert "Ana Ruiz" in rows[0] and "Caregiver" in rows[0] and "Opened a document" in rows[0]
    assert "Office staff" in rows[1] and "Viewed your record" in rows[1]


def test_the_office_grants_a_parent_access_from_the_patients_page(portal, staff, open_browser):
    # Given a child's record open on the office's pages
    child = portal.new_patient(staff, name="Leo Ruiz")
    browser = signed_in(open_browser, "desk", STAFF_PASSWORD)
    browser.go(f"/staff/patients/{child.id}")
    browser.follow("Caregivers")
    email = unique_email("browser-parent")

    # When staff give the mother read and message access
    browser.fill({"Caregiver's name": "Ana Ruiz", "Caregiver's email": email,
                  "Relationship (for example: mother)": "mother"})
    browser.page.get_by_label("Read and message").check()
    browser.submit("Give access")

    # Then the grant is listed, the mother is invited, and the child sees the grant
    assert "The caregiver was given access" in browser.text()
    assert browser.page.locator(".caregiver-row", has_text="Ana Ruiz").get_attribute("data-status") == "active"
    assert portal.last_temporary_password(email)
    assert [(p["email"], p["scope"]) for p in child.api.get("/api/me/proxies").json()["proxies"]] == [
        (email, "read_and_message")]

    # When staff close the mother's caregiver account, with a reason, then reopen it
    browser.fill({"Reason for closing the account of Ana Ruiz": "Asked us to"})
    browser.submit("Close the account of Ana Ruiz")
    closed_text = browser.text()
    browser.fill({"Reason for reopening the account of Ana Ruiz": "Called back"})
    browser.submit("Reopen the account of Ana Ruiz")

    # Then the page said the account was closed and marked it, and now says it is open again
    assert "The caregiver's account is closed" in closed_text and "Account closed" in closed_text
    assert "The caregiver's account is open again" in browser.text()
    assert "Account closed" not in browser.text()


def test_the_office_ends_a_caregivers_access_from_the_patients_page(portal, staff, open_browser):
    # Given a patient's caregiver, and the patient's caregivers page open on the office's pages
    patient = portal.new_patient(staff, name="Leo Ruiz")
    caregiver, _, _ = caregiver_for(portal, patient, name="Ana Ruiz")
    browser = signed_in(open_browser, "desk", STAFF_PASSWORD)
    browser.go(f"/staff/patients/{patient.id}")
    browser.follow("Caregivers")

    # When staff end the caregiver's access
    with browser.page.expect_navigation():
        browser.page.locator(".caregiver-row", has_text="Ana Ruiz").get_by_role(
            "button", name="End access for Ana Ruiz").click()
    browser.visited()

    # Then the page says so and lists the grant as ended, and the caregiver's next request is a 404
    assert "The caregiver's access has ended" in browser.text()
    assert browser.page.locator(".caregiver-row", has_text="Ana Ruiz").get_attribute("data-status") == "revoked"
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 404
