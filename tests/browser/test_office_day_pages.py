"""The office's day in a browser: a follow-up call that names the patient, their phone and the
unread item, the unread list the home page's tile opens, the patient's language changed on their
record; a question asked from a result, seen by the office with its link; and the page a
mistyped address gets. Every page is checked by axe-core and the CSP as it is visited."""

from __future__ import annotations

import pytest

from tests.browser.test_patient_journey import publish_result, sign_in
from tests.browser.test_staff_journey import staff_signs_in
from tests.support.followup import day, fresh_day0, publish_item, staff_now, sweep

pytestmark = pytest.mark.browser


def test_a_follow_up_row_names_the_patient_their_phone_and_the_unread_item(portal, open_browser, clock):
    # Given a patient with a phone on file and a result left unread after every notice
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal), name="Dolores Whitfield", phone="(919) 555-0142")
    publish_item(patient.id, day0, title="Vitamin D level")
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))

    # When a staff member opens the work queue
    browser = staff_signs_in(open_browser)
    browser.page.get_by_role("link", name="Work queue", exact=True).click()
    browser.visited()

    # Then the call names whom to call, the number to dial and the item that is unread
    row = browser.page.locator("tr[data-entry-id]", has_text="Dolores Whitfield")
    text = row.inner_text()
    assert "(919) 555-0142" in text and "Vitamin D level" in text
    assert row.get_by_role("link", name="(919) 555-0142").get_attribute("href") == "tel:+19195550142"
    assert "Patient record" not in text

    # When they open the home page's "unread" tile
    browser.go("/staff")
    with browser.page.expect_navigation():
        browser.page.locator('a[href="/staff/unread"]').click()
    browser.visited()

    # Then the unread list shows the item with its days unread and the notices sent
    unread = browser.page.locator("tr[data-item-id]", has_text="Dolores Whitfield").inner_text()
    assert "Vitamin D level" in unread and "\t9\t" in unread

    # When they open her record and set her language to Spanish
    browser.follow("Dolores Whitfield")
    browser.page.get_by_label("The patient's language").select_option("es")
    browser.submit("Save language")

    # Then the record says so, and shows her birth date as the clinic writes dates
    assert "The patient's language has been saved." in browser.text()
    assert browser.page.get_by_test_id("patient-language").inner_text() == "Español"
    assert browser.page.get_by_test_id("patient-born").inner_text() == "30 Apr 1980"


def test_a_question_asked_from_a_result_reaches_the_office_linked_to_it(portal, staff, open_browser):
    # Given a patient with a result
    patient = portal.new_patient(staff, name="Eamon Quill")
    publish_result(patient, title="Ferritin")

    # When they open it and ask the office about it
    browser = open_browser()
    sign_in(browser, patient.username, patient.password)
    browser.page.get_by_role("link", name="Ferritin").click()
    browser.visited()
    browser.page.get_by_role("link", name="Ask the office about this result").click()
    browser.visited()
    assert "About: Ferritin" in browser.text()
    browser.fill({"Subject": "Is my ferritin low?", "Message": "Should I take iron?"})
    browser.submit("Send message")

    # Then their thread says what it is about
    assert "About: Ferritin" in browser.text()

    # When the office opens its inbox
    office = staff_signs_in(open_browser)
    office.page.get_by_role("link", name="Inbox", exact=True).click()
    office.visited()

    # Then the row names the patient and the result
    row = office.page.locator("tr", has_text="Is my ferritin low?")
    assert "Eamon Quill" in row.inner_text() and "About: Ferritin" in row.inner_text()

    # And the thread names them too, with the reply signed by the staff member's name
    row.get_by_role("link", name="Is my ferritin low?").click()
    office.visited()
    assert "Patient: Eamon Quill" in office.text() and "About: Ferritin" in office.text()
    office.fill({"Your reply": "Yes, once a day for three months."})
    office.submit("Send reply")
    assert "Front Desk (office)" in office.text()
    assert "(staff s_" not in office.text()


def test_a_mistyped_address_gets_a_page_with_a_heading_and_a_way_back(portal, open_browser):
    # Given a browser / When it asks for an address that does not exist
    browser = open_browser()
    answer = browser.page.goto(portal.base_url + "/nope")
    browser.visited()

    # Then it gets a 404 page in the portal's layout, with its language, a heading and the ways back
    assert answer.status == 404
    assert browser.page.locator("html").get_attribute("lang") == "en"
    assert browser.page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert browser.page.get_by_role("link", name="Go to the start page").get_attribute("href") == "/"
    assert browser.page.locator("main").get_by_role("link", name="Sign in").get_attribute("href") == "/sign-in"
