"""The pages' web security: headers, cookie session, CSRF, idle sign-out, other patients' ids, and
the bad-email banner."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests

from tests.browser.conftest import signed_in
from tests.integration.test_mail_feedback import bounce_event, deliver_feedback
from tests.support.http import unique_email

pytestmark = pytest.mark.browser

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_session(portal, username: str, password: str) -> tuple[requests.Session, str]:
    """Sign in through the page with a plain HTTP client; returns it and the session's CSRF token."""
    http = requests.Session()
    token = CSRF_RE.search(http.get(portal.base_url + "/sign-in").text).group(1)
    answer = http.post(portal.base_url + "/sign-in", data={"csrf_token": token, "username": username,
                                                           "password": password}, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = http.get(portal.base_url + "/profile")
    return http, CSRF_RE.search(page.text).group(1)


def test_pages_send_strict_headers_and_an_httponly_session_cookie(portal, staff):
    from chalicelib.settings import get_settings

    # Given a patient
    patient = portal.new_patient(staff, name="Header Check")
    http = requests.Session()

    # When the sign-in page is fetched and the form is sent
    page = http.get(portal.base_url + "/sign-in")
    token = CSRF_RE.search(page.text).group(1)
    signed_in = http.post(portal.base_url + "/sign-in", data={"csrf_token": token, "username": patient.username,
                                                              "password": patient.password}, allow_redirects=False)
    home = http.get(portal.base_url + "/")

    # Then the pages forbid framing, inline script and inline style, and are never cached
    csp = home.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                      "form-action 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert home.headers["Cache-Control"] == "no-store"
    assert home.headers["X-Frame-Options"] == "DENY"
    assert "<script" not in home.text and "style=" not in home.text
    # And the session cookie is HttpOnly, SameSite=Lax, for the whole site (Secure outside the local stage)
    cookie = signed_in.headers["Set-Cookie"]
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"
    assert cookie.startswith("portal_session=")
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert ("Secure" in cookie) is get_settings().secure_cookies
    # And the stylesheet is the only asset, cacheable because its URL carries its hash
    css_url = re.search(r'href="(/static/portal\.css\?v=[0-9a-f]+)"', home.text).group(1)
    css = http.get(portal.base_url + css_url)
    assert css.headers["Content-Type"].startswith("text/css") and "immutable" in css.headers["Cache-Control"]


def test_a_form_post_without_the_sessions_csrf_token_changes_nothing(portal, staff):
    # Given a patient signed in through the pages
    patient = portal.new_patient(staff, name="Csrf Check")
    http, csrf = form_session(portal, patient.username, patient.password)
    other_email = unique_email("attacker")

    # When another site makes their browser post the email form without the token, or with a wrong one
    missing = http.post(portal.base_url + "/profile/email", data={"email": other_email,
                                                                  "current_password": patient.password})
    wrong = http.post(portal.base_url + "/profile/email", data={"csrf_token": "x" + csrf, "email": other_email,
                                                                "current_password": patient.password})

    # Then both are refused and the email on file is unchanged
    assert missing.status_code == 403 and wrong.status_code == 403
    assert "form has expired" in missing.text
    assert patient.api.get("/api/me").json()["email"] == patient.email


def test_sign_in_form_needs_its_own_token_and_never_redirects_off_site(portal, staff):
    # Given a patient and a fresh browser-like client
    patient = portal.new_patient(staff, name="Redirect Check")
    http = requests.Session()
    token = CSRF_RE.search(http.get(portal.base_url + "/sign-in").text).group(1)

    # When the sign-in form is posted without the pre-session token
    forged = requests.post(portal.base_url + "/sign-in", data={"username": patient.username,
                                                               "password": patient.password}, allow_redirects=False)

    # Then it is refused without signing anyone in
    assert forged.status_code == 403 and "portal_session" not in forged.headers.get("Set-Cookie", "")

    # When it is posted with the token and a `next` that points at another site
    answer = http.post(portal.base_url + "/sign-in", data={"csrf_token": token, "username": patient.username,
                                                           "password": patient.password,
                                                           "next": "//evil.example/steal"}, allow_redirects=False)

    # Then the patient lands on their own home page
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_after_fifteen_idle_minutes_the_page_asks_to_sign_in_again(portal, staff, open_browser, clock):
    # Given a patient signed in in a browser
    patient = portal.new_patient(staff, name="Idle Check")
    browser = signed_in(open_browser, patient.username, patient.password)
    assert browser.path == "/"

    # When 16 minutes pass without a request
    clock.advance(timedelta(minutes=16))
    browser.go("/messages")

    # Then the next page is the sign-in page, saying why, and signing in returns to where they were
    assert browser.path.startswith("/sign-in")
    assert "Your session ended after 15 minutes without activity" in browser.text()
    browser.fill({"Username": patient.username, "Password": patient.password})
    browser.submit("Sign in")
    assert browser.path == "/messages"


def test_another_patients_document_is_not_found_like_an_unknown_one(portal, staff, open_browser):
    from tests.browser.test_patient_journey import publish_result

    # Given two patients, one with a published result
    owner = portal.new_patient(staff, name="Owner Patient")
    publish_result(owner)
    document_id = owner.api.get("/api/items").json()["items"][0]["id"]
    other = portal.new_patient(staff, name="Other Patient")
    browser = signed_in(open_browser, other.username, other.password)

    # When the other patient tries the owner's document, its file, and an unknown id
    theirs = browser.page.goto(portal.base_url + f"/documents/{document_id}")
    browser.visited()
    theirs_text = browser.text()
    file = browser.page.goto(portal.base_url + f"/documents/{document_id}/file")
    unknown = browser.page.goto(portal.base_url + "/documents/doc_does_not_exist")
    browser.visited()

    # Then each answers the same "not found" page, and the document is still unread
    assert theirs.status == file.status == unknown.status == 404
    assert theirs_text == browser.text()
    assert owner.api.get("/api/items").json()["items"][0]["read_at"] is None


def test_a_bounced_email_shows_a_banner_until_the_patient_updates_it(portal, staff, open_browser):
    # Given a signed-in patient whose address on file hard-bounced
    patient = portal.new_patient(staff, name="Bounce Check")
    deliver_feedback(bounce_event(patient.email))
    browser = signed_in(open_browser, patient.username, patient.password)

    # Then every page shows a banner asking for a valid email, linking to My Profile
    banner = browser.page.get_by_role("alert")
    assert "Please update your email address" in banner.inner_text()
    with browser.page.expect_navigation():
        banner.get_by_role("link", name="Update it in My Profile").click()
    browser.visited()

    # When they change the email
    browser.page.fill("#e-email", unique_email("bounce.fixed"))
    browser.page.fill("#e-current_password", patient.password)
    browser.submit("Change email")

    # Then the page says it changed, and the banner is gone
    assert "The email address on file has been changed" in browser.page.get_by_role("status").inner_text()
    assert browser.page.get_by_role("alert").count() == 0
