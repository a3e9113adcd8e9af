"""Reaching every patient on the pages, on a 390 px phone, in Chromium, each page checked by axe-core
and the CSP as it is used: a patient without an email joins with their letter's code and chooses
texts on My Profile, whose sections are listed at its top and whose devices table fits the phone;
the office's call list keeps its date and "Mark called" in view, and a forgot-username request is
linked to the matching chart in one click."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PHONE, Browser
from tests.browser.test_staff_journey import staff_signs_in
from tests.support.followup import day, fresh_day0, publish_item, staff_now, sweep
from tests.support.http import strong_password, unique_mrn

pytestmark = pytest.mark.browser

CODE_RE = re.compile(r"Your enrolment code: ([A-Z0-9-]+)")


def fits_the_phone(browser: Browser) -> bool:
    """Nothing on the page is wider than the phone (no sideways scrolling)."""
    return browser.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def within_the_phone(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_a_patient_without_email_joins_with_the_letters_code_on_a_phone(portal, staff, open_browser):
    # Given a patient the office registered with a phone only, and their enrolment letter
    registered = staff.post("/api/staff/patients", json={"name": "Benito Salcedo", "date_of_birth": "1949-02-03",
                                                         "mrn": unique_mrn(), "phone": "(919) 555-0177"})
    assert registered.status_code == 201, registered.text
    patient_id = registered.json()["id"]
    assert staff.post(f"/api/staff/patients/{patient_id}/enrolment-letter").status_code == 201
    letter = [entry for entry in portal.public.get("/dev/letters").json()["letters"]
              if entry["patient_id"] == patient_id][-1]
    code = CODE_RE.search(letter["text"]).group(1)

    # When they open the portal on their phone and follow "I have an enrolment code"
    browser = open_browser(viewport=PHONE)
    browser.go("/sign-in")
    browser.follow("I have an enrolment code")
    assert fits_the_phone(browser)
    # and enter the code as they read it, their date of birth as the hint says, a username and a password
    password = strong_password()
    browser.fill({"Enrolment code": code.lower(), "Date of birth": "02/03/1949",
                  "Choose a username": f"benito.{unique_mrn().lower()}", "Choose a password": password,
                  "Password again": password})
    browser.submit("Join the portal")

    # Then they are signed in, on their items, welcomed
    assert browser.path.split("?")[0] == "/" and "you have joined the portal" in browser.text()

    # When they open My Profile
    browser.follow("My Profile")

    # Then its sections are listed at its top, it fits the phone, and the devices table names this
    # browser and system rather than a user agent
    sections = browser.page.get_by_role("navigation", name="Sections of My Profile")
    for section in ("Phone", "Notices", "Signed-in devices", "Caregivers"):
        assert sections.get_by_role("link", name=section, exact=True).is_visible()
    assert fits_the_phone(browser)
    devices = browser.page.get_by_test_id("devices")
    assert within_the_phone(devices)
    assert browser.page.get_by_test_id("device-name").first.inner_text().startswith("Chrome on Linux")
    assert "Mozilla" not in devices.inner_text()

    # When they choose text messages for their notices
    browser.page.get_by_label("Text message (SMS)").check()
    browser.submit("Save how you hear from us")

    # Then the portal says so and will text them
    assert "Your choice of notices has been saved" in browser.text()
    assert staff_now(portal).get(f"/api/staff/patients/{patient_id}").json()["notifications"] == {
        "email": False, "sms": True}


def test_the_call_list_on_a_phone_keeps_the_date_and_mark_called_and_a_request_links_to_its_chart(
        portal, open_browser, clock):
    # Given a patient with a phone, a result left unread after every notice, and their forgot-username request
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal), name="Casimira Olvera", phone="(919) 555-0183")
    publish_item(patient.id, day0, title="Vitamin B12 level")
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))
    asked = portal.public.post("/api/forms/forgot-username", json={"name": "casimira olvera",
                                                                   "date_of_birth": "1980-04-30",
                                                                   "email": "casi@example.com"})
    assert asked.status_code == 202

    # When a staff member opens the work queue on a phone
    browser = staff_signs_in(open_browser)
    browser.page.set_viewport_size(PHONE)
    browser.go("/staff/queue?limit=500")

    # Then the call's row keeps its date and its "Mark called" button in view, and the page fits
    row = browser.page.locator("tr[data-entry-id]", has_text="Casimira Olvera")
    mark_called = row.get_by_role("button", name="Mark called")
    since = row.locator("td[data-label='Since']")
    assert mark_called.is_visible() and within_the_phone(mark_called)
    assert since.is_visible() and within_the_phone(since) and re.search(r"\d{4}", since.inner_text())
    assert row.get_by_role("link", name="(919) 555-0183").get_attribute("href") == "tel:+19195550183"
    assert fits_the_phone(browser)

    # When they link the forgot-username request to the chart the queue offers for it
    form = browser.page.locator("[data-form-id]", has_text="casimira olvera")
    assert "Casimira Olvera" in form.get_by_test_id("chart-matches").inner_text()
    with browser.page.expect_navigation():
        form.get_by_role("button", name="Link to this chart").click()
    browser.visited()

    # Then the request names the chart, and the number to call from the chart is on it
    form = browser.page.locator("[data-form-id]", has_text="casimira olvera")
    assert "Linked" in form.inner_text() and "(919) 555-0183" in form.inner_text()
