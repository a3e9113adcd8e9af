"""The black-box probe's findings, closed and proven over HTTP: username changes are throttled per
account and their refusals audited; email addresses are checked by their syntax everywhere one is
taken; the signed-out forms' CSRF token is made by the portal (a planted one fails) and
state-changing pages refuse cross-site requests; and a refused sign-in does the same storage work
whether or not the username exists."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

import pytest
import requests

from chalicelib.localstack.calls import recording
from chalicelib.services.accounts import patient_import
from tests.support.http import unique_email, unique_mrn
from tests.support.lifecycle import events
from tests.support.pages import page_csrf

XSS_EMAIL = '"><svg/onload=alert(4)>@example.com'


# ---------------------------------------------------------------- (1) username changes are throttled

def _well_inside_an_hour() -> None:
    """Rate limits count per clock hour: start where five requests cannot straddle two hours."""
    seconds_left = 3600 - datetime.now(UTC).timestamp() % 3600
    if seconds_left < 90:
        time.sleep(seconds_left + 1)


def test_username_changes_are_limited_per_account_and_refusals_audited(portal, staff, admin):
    # Given a patient and names that belong to other patients
    _well_inside_an_hour()
    patient = portal.new_patient(staff)
    taken = [portal.register_patient(staff).username for _ in range(5)]

    # When they ask five times whether a name is taken, then a sixth time
    answers = [patient.api.put("/api/me/username", json={"username": name, "current_password": patient.password})
               for name in taken]
    sixth = patient.api.put("/api/me/username", json={"username": "free_" + secrets.token_hex(4),
                                                       "current_password": patient.password})

    # Then the five answer "taken", and the sixth is refused with a time to wait, even for a free name
    assert [a.status_code for a in answers] == [409] * 5
    assert sixth.status_code == 429 and sixth.json()["error"] == "rate_limited"
    assert 0 < int(sixth.headers["Retry-After"]) <= 3600
    # And each refusal is in the trail
    outcomes = [e["outcome"] for e in events(admin, patient_id=patient.id) if e["action"] == "account.username_change"]
    assert outcomes.count("conflict") == 5 and outcomes.count("rate_limited") == 1


# ---------------------------------------------------------------- (2) email addresses are checked

@pytest.mark.parametrize("bad", [XSS_EMAIL, "two@@example.com", "no-domain@", "a b@example.com", "x@localhost"])
def test_registration_refuses_what_is_not_an_email_address(portal, staff, bad):
    # Given an address that is not one
    body = {"name": "Mallory Test", "date_of_birth": "1980-04-30", "email": bad, "mrn": unique_mrn()}

    # When staff register a patient with it
    answer = staff.post("/api/staff/patients", json=body)

    # Then it is refused naming the field, and no patient has that MRN
    assert answer.status_code == 400 and answer.json()["message"].startswith("email:"), answer.text
    assert staff.get("/api/staff/patients", params={"q": body["mrn"]}).json()["patients"] == []


def test_every_other_place_an_email_is_taken_refuses_one_that_is_not(portal, staff, admin):
    # Given a signed-in patient
    patient = portal.new_patient(staff)

    # When the bad address is given as a username, a new email on file (by the patient and by staff),
    # a new staff member's email, and the forgot-username form's email
    username = patient.api.put("/api/me/username", json={"username": XSS_EMAIL, "current_password": patient.password})
    own_email = patient.api.put("/api/me/email", json={"email": XSS_EMAIL, "current_password": patient.password})
    staff_email = staff.put(f"/api/staff/patients/{patient.id}/email", json={"email": XSS_EMAIL})
    new_staff = admin.post("/api/admin/staff", json={"username": "u_" + secrets.token_hex(4), "email": XSS_EMAIL,
                                                      "name": "Mallory", "role": "staff"})
    form = portal.public.post("/api/forms/forgot-username", json={"name": "Mallory", "date_of_birth": "1980-04-30",
                                                                 "email": XSS_EMAIL})

    # Then every one is a 400 naming its field, and the account is unchanged
    assert (username.status_code, username.json()["error"]) == (400, "invalid_username")
    assert username.json()["message"].startswith("username:")
    for answer in (own_email, staff_email, new_staff, form):
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"].startswith("email:"), answer.text
    me = patient.api.get("/api/me").json()
    assert (me["username"], me["email"]) == (patient.username, patient.email)


def test_the_registration_page_and_the_import_refuse_it_too(portal, staff):
    # Given the staff's registration page, signed in, and an import file's row with the bad address
    from tests.conftest import STAFF_PASSWORD
    from tests.support.pages import signed_in_pages

    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    form = pages.get(portal.base_url + "/staff/patients/new")
    mrn = unique_mrn()

    # When the form is sent with it, and the row is checked for import
    answer = pages.post(portal.base_url + "/staff/patients/new", data={
        "csrf_token": page_csrf(form.text), "name": "Mallory Page", "date_of_birth": "1980-04-30",
        "email": XSS_EMAIL, "mrn": mrn})
    planned = patient_import.plan([patient_import.Row(2, "Mallory Import", "1980-04-30", XSS_EMAIL, unique_mrn())])

    # Then the page shows the problem next to the email field, and the import names the row
    assert answer.status_code == 400
    assert re.search(r'id="email-error"[^>]*>.*not a valid email address', answer.text, re.S | re.I)
    assert staff.get("/api/staff/patients", params={"q": mrn}).json()["patients"] == []
    assert [(p.line, p.reason.split(":")[0]) for p in planned.problems] == [(2, "email")]


# ---------------------------------------------------------------- (3) login CSRF

def _patient_at_the_sign_in_page(portal, staff):
    """A new patient, a browser-like session that opened the sign-in page, and that page's token."""
    patient = portal.new_patient(staff)
    http = requests.Session()
    return patient, http, page_csrf(http.get(portal.base_url + "/sign-in").text)


def _post_sign_in(portal, http: requests.Session, patient, csrf_token: str, headers: dict | None = None):
    """The sign-in form posted with the patient's username and password and this CSRF token."""
    return http.post(portal.base_url + "/sign-in", headers=headers, allow_redirects=False,
                     data={"csrf_token": csrf_token, "username": patient.username, "password": patient.password})


def test_a_planted_double_submit_token_no_longer_signs_anyone_in(portal, staff):
    # Given a patient, and a token an attacker chose and planted as the form cookie
    patient = portal.new_patient(staff)
    http = requests.Session()
    planted = "attacker-chosen-token-1234567890"
    http.cookies.set("portal_form", planted)

    # When the sign-in form is posted with it
    answer = _post_sign_in(portal, http, patient, planted)

    # Then it is refused, and no session cookie is set
    assert answer.status_code == 403
    assert "portal_session" not in answer.headers.get("Set-Cookie", "")


def test_a_token_the_portal_made_works_and_a_tampered_one_does_not(portal, staff):
    # Given a patient and the sign-in page's own token
    patient, http, token = _patient_at_the_sign_in_page(portal, staff)
    issued, nonce, mac = token.split(".")

    # When the form is sent with that token changed, then as the page made it
    tampered_token = f"{issued}.{nonce}x.{mac}"
    http.cookies.set("portal_form", tampered_token)
    tampered = _post_sign_in(portal, http, patient, tampered_token)
    http.cookies.set("portal_form", token)
    genuine = _post_sign_in(portal, http, patient, token)

    # Then the tampered one is refused and the genuine one signs in
    assert tampered.status_code == 403
    assert genuine.status_code == 303 and "portal_session=" in genuine.headers["Set-Cookie"]


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"}])
def test_a_cross_site_sign_in_post_is_refused_even_with_a_good_token(portal, staff, headers):
    # Given a patient and a genuine token
    patient, http, token = _patient_at_the_sign_in_page(portal, staff)

    # When the form arrives from another site
    answer = _post_sign_in(portal, http, patient, token, headers)

    # Then it is refused
    assert answer.status_code == 403
    assert "portal_session" not in answer.headers.get("Set-Cookie", "")


def test_a_same_origin_post_passes_and_a_cross_site_one_on_a_signed_in_page_is_refused(portal, staff):
    # Given a patient signed in on the pages
    patient, http, token = _patient_at_the_sign_in_page(portal, staff)
    # (as Chromium posts the portal's own forms: `Origin: null` under the pages' no-referrer policy)
    as_a_browser = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    signed_in = _post_sign_in(portal, http, patient, token, as_a_browser)
    assert signed_in.status_code == 303
    csrf = page_csrf(http.get(portal.base_url + "/profile").text)
    same_origin = http.post(portal.base_url + "/profile/username", headers={"Origin": portal.base_url},
                            data={"csrf_token": csrf, "username": "x", "current_password": patient.password})
    assert same_origin.status_code == 400  # past the origin check: the username itself is refused
    new_email = unique_email("moved")

    # When a change of email is posted from another site, with the session's own CSRF token
    answer = http.post(portal.base_url + "/profile/email", headers={"Origin": "https://evil.example"},
                       data={"csrf_token": csrf, "email": new_email, "current_password": patient.password})

    # Then it is refused and the email stays
    assert answer.status_code == 403
    assert patient.api.get("/api/me").json()["email"] == patient.email


# ---------------------------------------------------------------- (4) sign-in timing

def _storage_work(portal, username: str, password: str) -> tuple[int, list[str]]:
    with recording() as calls:
        answer = portal.login(username, password)
    return answer.status_code, sorted(f"{c.service}:{c.operation}" for c in calls.calls if c.service == "dynamodb")


def test_a_refused_sign_in_does_the_same_storage_work_whoever_is_named(portal, staff, admin):
    # Given a patient with a password, one whose access is closed, and a name nobody has
    patient = portal.new_patient(staff)
    closed = portal.new_patient(staff)
    staff.put(f"/api/staff/patients/{closed.id}/access", json={"active": False, "reason": "Left the clinic"})

    # When each is tried with a wrong (or, for the closed one, the right) password
    known = _storage_work(portal, patient.username, "wrong-" + patient.password)
    unknown = _storage_work(portal, "nobody_" + secrets.token_hex(5), "wrong-" + patient.password)
    disabled = _storage_work(portal, closed.username, closed.password)

    # Then each is the same refusal after the same DynamoDB calls (reads and writes alike)
    assert known[0] == unknown[0] == disabled[0] == 401
    assert known[1] == unknown[1] == disabled[1], (known, unknown, disabled)
    assert "dynamodb:UpdateItem" in known[1]
