"""The clinic's portal page, sentence by sentence, as a patient does it in a browser."""

from __future__ import annotations

import secrets

import pytest

from chalicelib.localstack import pump
from tests.browser.conftest import Browser
from tests.support.http import strong_password, unique_email

pytestmark = pytest.mark.browser

RESULT_TITLE = "Lipid panel"
RESULT_COMMENT = "Your LDL cholesterol is a little high. Please book a visit in the next month."


def publish_result(patient, title: str = RESULT_TITLE, comment: str = RESULT_COMMENT) -> None:
    """A lab system puts a result straight into the results bucket; the publisher files it."""
    from chalicelib import aws
    from chalicelib.localstack import pump
    from chalicelib.settings import get_settings

    aws.client("s3").put_object(
        Bucket=get_settings().results_bucket, Key=f"incoming/{patient.mrn}/lipids-{secrets.token_hex(3)}.txt",
        Body=b"LDL 162 mg/dL (high)\nHDL 51 mg/dL\n", ContentType="text/plain",
        Metadata={"title": title, "category": "lab result", "provider": "Dr. Amara Osei", "comment": comment},
    )
    pump.drain()


def sign_in(browser: Browser, username: str, password: str) -> None:
    browser.go("/")
    assert browser.path.startswith("/sign-in")
    browser.fill({"Username": username, "Password": password})
    browser.submit("Sign in")


def forced_password_change(browser: Browser, temporary: str) -> str:
    assert browser.path == "/password"
    assert "temporary password" in browser.text()
    new_password = strong_password()
    browser.fill({"Temporary password": temporary, "New password": new_password, "New password again": new_password})
    browser.submit("Save my new password")
    return new_password


def test_patient_reads_result_messages_office_manages_profile_and_recovers_password(portal, staff, open_browser):
    # Given a patient the office registered, and a result with a provider comment published for them
    patient = portal.register_patient(staff, name="Rosa Delgado")
    publish_result(patient)
    browser = open_browser()

    # When the notice email arrives
    notice = portal.outbox(patient.email)[-1]

    # Then it links to the portal, carries a temporary password, and nothing medical
    assert portal.base_url in notice["text"]
    assert "Temporary password:" in notice["text"]
    for medical in (RESULT_TITLE, "LDL", "Osei", "lab result"):
        assert medical not in notice["text"] and medical not in (notice["html"] or "")

    # When they sign in for the first time with their email as username and the temporary password
    temporary = portal.last_temporary_password(patient.email)
    sign_in(browser, patient.email, temporary)

    # Then they must change the password before anything else, even when they try another page
    assert browser.path == "/password"
    browser.go("/messages")
    assert browser.path == "/password"
    password = forced_password_change(browser, temporary)

    # Then home lists the result as unread, newest first
    assert browser.path.startswith("/")
    item = browser.page.locator(".item", has_text=RESULT_TITLE)
    assert item.locator(".tag").inner_text() == "Unread"

    # When they open it
    with browser.page.expect_navigation():
        item.get_by_role("link").click()
    browser.visited()

    # Then the provider's comment and a link to the file are shown
    assert RESULT_COMMENT in browser.text()
    assert "Dr. Amara Osei" in browser.text()
    with browser.page.expect_navigation():
        browser.page.get_by_role("link", name="Open the file").click()
    assert "LDL 162 mg/dL" in browser.page.inner_text("body")
    assert "X-Amz-Expires" in browser.page.url or "Expires=" in browser.page.url
    browser.go("/")
    assert browser.page.locator(".item", has_text=RESULT_TITLE).locator(".tag").inner_text() == "Read"

    # When they send a secure message to the office
    browser.go("/messages/new")
    browser.fill({"Subject": "Question about my cholesterol", "Message": "Should I fast before the next test? <b>thanks</b>"})
    browser.page.get_by_label("What is it about?").select_option("results_question")
    browser.submit("Send message")

    # Then the thread shows it, as text
    assert "Your message has been sent" in browser.text()
    assert "Should I fast before the next test? <b>thanks</b>" in browser.text()
    browser.go("/messages")
    assert "Question about my cholesterol" in browser.text()

    # When they change the email on file in My Profile
    new_email = unique_email("rosa.new")
    browser.go("/profile")
    browser.page.fill("#e-email", new_email)
    browser.page.fill("#e-current_password", password)
    browser.submit("Change email")

    # Then the email changes and the username stays the old email address
    assert browser.page.get_by_test_id("email").inner_text().startswith(new_email)
    assert browser.page.get_by_test_id("username").inner_text() == patient.email

    # When they change the username to a name that is not an email address
    new_username = f"rosa_{secrets.token_hex(3)}"
    browser.page.fill("#u-username", new_username)
    browser.page.fill("#u-current_password", password)
    browser.submit("Change username")

    # Then the new username is shown and the email on file is unchanged
    assert "Your username has been changed" in browser.text()
    assert browser.page.get_by_test_id("username").inner_text() == new_username
    assert browser.page.get_by_test_id("email").inner_text().startswith(new_email)

    # When they sign out (the menu's button, not My Profile's "Sign out this device")
    browser.submit("Sign out", exact=True)

    # Then they are on the sign-in page and pages need a sign-in again
    assert browser.path.startswith("/sign-in")
    assert "You have signed out" in browser.text()
    browser.go("/profile")
    assert browser.path.startswith("/sign-in")

    # When they have forgotten the password: forgot password, username, temporary password by email
    browser.page.get_by_role("link", name="Forgot password?").click()
    browser.visited()
    browser.fill({"Username": new_username})
    browser.submit("Email me a temporary password")
    assert "temporary password has been emailed" in browser.text()
    pump.drain()  # the recovery job mails it
    reset = portal.last_temporary_password(new_email)

    # Then signing in with it asks for a new password at once, and then they are in
    sign_in(browser, new_username, reset)
    forced_password_change(browser, reset)
    assert "Your password has been changed" in browser.text()
    assert RESULT_TITLE in browser.text()


def test_forgot_username_form_answers_the_same_and_reaches_the_office(portal, open_browser):
    # Given someone who cannot remember their username
    browser = open_browser()
    browser.go("/sign-in")

    # When they open Forms, Forgot my username, and submit the form
    browser.page.get_by_role("link", name="Forms").click()
    browser.visited()
    browser.page.get_by_role("link", name="Forgot my username").click()
    browser.visited()
    browser.fill({"Full name": "Nobody Known", "Date of birth": "1975-02-14", "Phone (optional)": "919-555-0100"})
    browser.submit("Send the form")

    # Then the answer says the office will contact them, without saying whether anything matched
    assert "Someone from our office will contact you" in browser.text()


def test_form_errors_are_shown_next_to_their_fields(portal, open_browser):
    # Given the forgot-username form
    browser = open_browser()
    browser.go("/forms/forgot-username")

    # When it is sent with an impossible date of birth and no name
    browser.fill({"Date of birth": "2999-01-01"})
    browser.submit("Send the form")

    # Then each field says what is wrong, linked to it for screen readers, and nothing is sent
    name = browser.page.get_by_label("Full name")
    assert name.get_attribute("aria-invalid") == "true"
    assert "required" in browser.page.locator("#name-error").inner_text()
    assert "date of birth" in browser.page.locator("#date_of_birth-error").inner_text().lower()
