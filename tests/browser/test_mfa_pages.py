"""The second factor in a browser: a new staff member enrols after the forced password change
(reading the key off the page), later sign-ins ask for a code or a recovery code, and a patient
adds and removes an authenticator app on My Profile. Every page is checked by axe-core."""

from __future__ import annotations

import secrets

import pytest

from tests.browser.conftest import Browser
from tests.support.http import strong_password, unique_email
from tests.support.second_factor import AUTHENTICATORS

pytestmark = pytest.mark.browser


def sign_in(browser: Browser, username: str, password: str) -> None:
    browser.go("/sign-in")
    browser.fill({"Username": username, "Password": password})
    browser.submit("Sign in")


def sign_in_with_recovery_code(browser: Browser, username: str, password: str, code: str) -> None:
    """The password, then a recovery code instead of the app's code."""
    sign_in(browser, username, password)
    browser.page.get_by_text("Lost your phone? Use a recovery code").click()
    browser.fill({"Recovery code": code})
    browser.submit("Sign in with a recovery code")


def sign_out(browser: Browser) -> None:
    """The header's button (My Profile also lists devices to sign out)."""
    with browser.page.expect_navigation():
        browser.page.get_by_role("button", name="Sign out", exact=True).click()
    browser.visited()
    assert browser.path.startswith("/sign-in")


def test_staff_enrol_at_first_sign_in_then_sign_in_with_a_code_or_a_recovery_code(portal, admin, open_browser):
    # Given a staff member the admin just created, with the temporary password from the mail
    username, email = "desk" + secrets.token_hex(3), unique_email("desk")
    created = admin.post("/api/admin/staff", json={"username": username, "email": email, "name": "Dana Desk",
                                                    "role": "staff"})
    assert created.status_code == 201, created.text
    temporary = portal.last_temporary_password(email)
    browser = open_browser()

    # When they sign in and choose their own password
    sign_in(browser, username, temporary)
    assert browser.path == "/password"
    password = strong_password()
    browser.fill({"Temporary password": temporary, "New password": password, "New password again": password})
    browser.submit("Save my new password")

    # Then they are asked to set up an authenticator app: a QR code and the key as text
    assert browser.path == "/mfa/enroll"
    assert browser.page.locator("svg[role=img]").count() == 1
    assert browser.page.get_by_role("navigation", name="Main").count() == 0
    key = browser.page.get_by_test_id("mfa-secret").inner_text().replace(" ", "")
    assert len(key) == 32

    # When they type the key into their app and enter a wrong code first
    AUTHENTICATORS.add(username, key)
    browser.fill({"Code from the app": AUTHENTICATORS.wrong_code(username)})
    browser.submit("Turn on the authenticator app")

    # Then the page says so next to the field, with the same key
    assert browser.path == "/mfa/enroll"
    assert "not correct" in browser.text()
    assert browser.page.get_by_test_id("mfa-secret").inner_text().replace(" ", "") == key

    # When they enter the code the app shows
    browser.fill({"Code from the app": AUTHENTICATORS.code(username)})
    browser.submit("Turn on the authenticator app")

    # Then they see ten recovery codes, once, and go on to the office pages
    codes = [item.inner_text() for item in browser.page.locator("ol.recovery-codes li").all()]
    assert len(codes) == 10 and len(set(codes)) == 10
    with browser.page.expect_navigation():
        browser.page.get_by_role("link", name="I have saved my recovery codes").click()
    browser.visited()
    assert browser.path == "/staff"

    # When they sign out and in again, to the patients' list
    sign_out(browser)
    browser.go("/staff/patients")
    assert browser.path.startswith("/sign-in")
    browser.fill({"Username": username, "Password": password})
    browser.submit("Sign in")

    # Then they are asked for a code first, and a wrong one is refused
    assert browser.path.startswith("/mfa/verify")
    browser.fill({"Code from the app": AUTHENTICATORS.wrong_code(username)})
    browser.submit("Continue")
    assert browser.path.startswith("/mfa/verify") and "not correct" in browser.text()

    # When they enter the app's code
    browser.fill({"Code from the app": AUTHENTICATORS.code(username)})
    browser.submit("Continue")

    # Then they reach the page they asked for
    assert browser.path == "/staff/patients"

    # When they sign in once more with a recovery code instead (phone left at home)
    sign_out(browser)
    sign_in_with_recovery_code(browser, username, password, codes[0])

    # Then they are in, and that recovery code does not work a second time
    assert browser.path == "/staff"
    sign_out(browser)
    sign_in_with_recovery_code(browser, username, password, codes[0])
    assert browser.path.startswith("/mfa/verify") and "already used" in browser.text()


def test_a_patient_adds_and_removes_an_authenticator_app_on_my_profile(portal, staff, open_browser):
    # Given a patient with a password of their own, signed in
    patient = portal.new_patient(staff, name="Mina Factor")
    browser = open_browser()
    sign_in(browser, patient.username, patient.password)
    assert browser.path == "/"

    # When they set up an authenticator app from My Profile
    browser.go("/profile")
    assert "Off." in browser.page.get_by_test_id("mfa-status").inner_text()
    with browser.page.expect_navigation():
        browser.page.get_by_role("link", name="Set up an authenticator app").click()
    browser.visited()
    assert browser.path == "/mfa/enroll"
    AUTHENTICATORS.add(patient.username, browser.page.get_by_test_id("mfa-secret").inner_text().replace(" ", ""))
    browser.fill({"Code from the app": AUTHENTICATORS.code(patient.username)})
    browser.submit("Turn on the authenticator app")
    assert len(browser.page.locator("ol.recovery-codes li").all()) == 10
    with browser.page.expect_navigation():
        browser.page.get_by_role("link", name="I have saved my recovery codes").click()
    browser.visited()

    # Then My Profile says it is on, and the next sign-in asks for a code
    assert browser.path == "/profile#mfa"
    assert "On:" in browser.page.get_by_test_id("mfa-status").inner_text()
    sign_out(browser)
    sign_in(browser, patient.username, patient.password)
    assert browser.path.startswith("/mfa/verify")
    browser.fill({"Code from the app": AUTHENTICATORS.code(patient.username)})
    browser.submit("Continue")
    assert browser.path == "/"

    # When they try to turn it off with a wrong code, then with the password and a right code
    browser.go("/profile")
    browser.page.locator("#m-current_password").fill(patient.password)
    browser.page.locator("#m-code").fill(AUTHENTICATORS.wrong_code(patient.username))
    browser.submit("Turn off the authenticator app")
    assert "not correct" in browser.text()
    browser.page.locator("#m-current_password").fill(patient.password)
    browser.page.locator("#m-code").fill(AUTHENTICATORS.code(patient.username))
    browser.submit("Turn off the authenticator app")

    # Then it is off, and signing in needs the password alone again
    assert "authenticator app has been turned off" in browser.text()
    assert "Off." in browser.page.get_by_test_id("mfa-status").inner_text()
    sign_out(browser)
    sign_in(browser, patient.username, patient.password)
    assert browser.path == "/"
