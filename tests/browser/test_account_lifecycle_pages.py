"""The account lifecycle on the pages, in Chromium, each page checked by axe-core as it is used:
an admin disables and re-enables a staff member and changes a role; staff close and reopen a
patient's access, send a new invitation and unlock a locked account; a patient signs a device out
from My Profile."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Browser, signed_in
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD
from tests.support.http import Api
from tests.support.lifecycle import new_member

pytestmark = pytest.mark.browser


def press(browser: Browser, scope: str, button: str) -> None:
    """Press a button inside one part of the page (a table row, a section) and check the answer."""
    with browser.page.expect_navigation():
        browser.page.locator(scope).get_by_role("button", name=button).click()
    browser.visited()


def test_an_admin_disables_enables_and_promotes_a_staff_member(portal, admin, open_browser):
    # Given a signed-in staff member, and the admin on the staff page
    member = new_member(portal, admin)
    browser = signed_in(open_browser, "admin", ADMIN_PASSWORD)
    browser.go("/admin/staff")
    row = f"#staff-{member.id}"
    assert "Active" in browser.page.locator(row).inner_text()

    # When the admin disables them
    press(browser, row, "Disable")

    # Then the page says so, the row shows it, and the member's session has ended
    assert "The staff account has been updated" in browser.text()
    assert "Disabled" in browser.page.locator(row).inner_text()
    assert member.api.get("/api/me").status_code == 401

    # When the admin enables them again and makes them an admin
    press(browser, row, "Enable")
    press(browser, row, "Make admin")

    # Then the row shows an active admin, and the member signs in as one
    assert "Active" in browser.page.locator(row).inner_text()
    assert "Admin" in browser.page.locator(row).inner_text()
    assert portal.signed_in(member.username, member.password).get("/api/admin/staff").status_code == 200


def test_staff_close_and_reopen_a_patients_access_and_send_a_new_invitation(portal, staff, open_browser):
    # Given a patient who has signed in, and staff on the patient's page
    patient = portal.new_patient(staff)
    browser = signed_in(open_browser, "desk", STAFF_PASSWORD)
    browser.go(f"/staff/patients/{patient.id}")

    # When staff close the access without a reason
    press(browser, "#access", "Close portal access")

    # Then the form asks for one, and nothing changed
    assert "Reason" in browser.page.locator("#access").inner_text()
    assert browser.page.locator("#access-reason-error").is_visible()
    assert patient.api.get("/api/me").status_code == 200

    # When they give a reason
    browser.fill({"Reason for closing the access": "Moved to another clinic"})
    press(browser, "#access", "Close portal access")

    # Then the access is closed, the patient is signed out, and the page says why
    assert "portal access is closed" in browser.text()
    assert "Moved to another clinic" in browser.page.get_by_test_id("access-status").inner_text()
    assert patient.api.get("/api/me").status_code == 401

    # When they reopen it and send a new invitation
    browser.fill({"Reason for reopening the access": "Came back"})
    press(browser, "#access", "Reopen portal access")
    mails_before = len(portal.outbox(patient.email))
    press(browser, "#access", "Send a new invitation")

    # Then the patient signs in again, and a fresh temporary password was mailed
    assert "A new invitation" in browser.text()
    assert len(portal.outbox(patient.email)) == mails_before + 1
    assert portal.login(patient.username, patient.password).status_code == 200


def test_staff_unlock_a_locked_patient(portal, staff, open_browser):
    # Given a patient locked out by wrong passwords, and staff on their page
    patient = portal.new_patient(staff)
    for _ in range(5):
        portal.login(patient.username, "wrong-" + patient.password)
    browser = signed_in(open_browser, "desk", STAFF_PASSWORD)
    browser.go(f"/staff/patients/{patient.id}")

    # When staff unlock the account
    press(browser, "#access", "Unlock the account")

    # Then the page says so, and the patient's password works again
    assert "The account is unlocked" in browser.text()
    assert portal.login(patient.username, patient.password).status_code == 200


def test_a_patient_signs_another_device_out_from_my_profile(portal, staff, open_browser):
    # Given a patient signed in through the API (another device) and in this browser
    patient = portal.new_patient(staff)
    browser = signed_in(open_browser, patient.username, patient.password)
    browser.go("/profile")
    table = browser.page.get_by_test_id("devices")
    assert "This device" in table.inner_text()
    other = Api(portal.base_url, patient.api.token)
    other_row = "tbody tr:not(:has-text('This device'))"

    # When they sign the other device out
    with browser.page.expect_navigation():
        table.locator(other_row).first.get_by_role("button").click()
    browser.visited()

    # Then the page says so, the other device's session has ended, and this one goes on
    assert "That device has been signed out" in browser.text()
    assert other.get("/api/me").status_code == 401
    assert browser.page.get_by_test_id("devices").locator("tbody tr").count() == 1
