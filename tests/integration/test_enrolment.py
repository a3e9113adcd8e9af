"""Joining without an email, over HTTP on the local stack: staff register a patient with a phone only
(or neither), print an enrolment letter (a PDF in the patient's language), and the patient enrols
with the letter's one-time code and their date of birth, choosing a username and a password.

A code works once, five wrong dates of birth lock it, a new letter voids the old one, an expired
one answers as a wrong one; every wrong answer looks the same and counts against the client's
sign-in limit; a patient who has signed in gets no letter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests

from chalicelib.localstack.calls import recording
from chalicelib.services.access import ratelimit, sign_in
from chalicelib.services.access.identity import Caller
from chalicelib.settings import get_settings
from chalicelib.store.base import read_together
from tests.support.followup import staff_now
from tests.support.http import Api, strong_password, unique_mrn

CODE_RE = re.compile(r"(?:Your enrolment code|Su código de inscripción): ([A-Z0-9-]+)")
DATE_OF_BIRTH = "1962-09-14"


def _register(staff: Api, **overrides) -> dict:
    body = {"name": "Ramona Quintero", "date_of_birth": DATE_OF_BIRTH, "mrn": unique_mrn(), **overrides}
    answer = staff.post("/api/staff/patients", json=body)
    assert answer.status_code == 201, answer.text
    return {**body, **answer.json()}


def _letter(portal, staff: Api, patient_id: str) -> tuple[str, str]:
    """A new letter for the patient: (its code, its words as printed)."""
    made = staff.post(f"/api/staff/patients/{patient_id}/enrolment-letter")
    assert made.status_code == 201, made.text
    letters = portal.public.get("/dev/letters").json()["letters"]
    words = [letter for letter in letters if letter["patient_id"] == patient_id][-1]["text"]
    return CODE_RE.search(words).group(1), words


def _enrol(portal, code: str, date_of_birth: str = DATE_OF_BIRTH, username: str | None = None,
           password: str | None = None) -> requests.Response:
    return portal.public.post("/api/auth/enrol", json={
        "code": code, "date_of_birth": date_of_birth, "username": username or f"enrolled{unique_mrn().lower()}",
        "password": password or strong_password()})


def _client_failures() -> int:
    [count] = read_together(ratelimit.count_read(sign_in.client_failures_key(Caller(None, "127.0.0.1")), 3600))
    return count


@pytest.fixture(scope="module")
def refused(portal) -> dict:
    """What a code that is no one's answers: every other refusal must look exactly like it."""
    answer = _enrol(portal, "ZZZZ-ZZZZ-ZZZZ")
    assert answer.status_code == 401, answer.text
    return answer.json()


def test_a_patient_with_a_phone_only_joins_with_the_letters_code(portal, staff, refused):
    # Given a patient the office registered with a phone and no email
    patient = _register(staff, phone="(919) 555-0148")
    record = staff.get(f"/api/staff/patients/{patient['id']}").json()
    assert record["email"] is None and record["phone"] == "+19195550148"
    assert patient["username"].startswith("ramona") and portal.outbox() is not None

    # When the office makes the letter and opens it to print
    made = staff.post(f"/api/staff/patients/{patient['id']}/enrolment-letter")
    opened = staff.get(f"/api/staff/patients/{patient['id']}/enrolment-letter", allow_redirects=False)
    pdf = requests.get(opened.headers["Location"], timeout=30)

    # Then it is a PDF, whose code works for 30 days, and its words name the clinic, the portal,
    # the username and the code, and print no password
    assert made.status_code == 201, made.text
    assert made.json()["code_expires_at"][:10] == (portal_now() + timedelta(days=30)).date().isoformat()
    assert opened.status_code == 303 and pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    letter = [entry for entry in portal.public.get("/dev/letters").json()["letters"]
              if entry["patient_id"] == patient["id"]][-1]
    settings = get_settings()
    for words in (settings.clinic_name, settings.clinic_address, "(919) 555-0100", settings.portal_url,
                  "/enrol", patient["username"]):
        assert words in letter["text"], words
    code = CODE_RE.search(letter["text"]).group(1)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert "password:" not in letter["text"].lower() and "contraseña:" not in letter["text"].lower()

    # When the patient enrols with the code typed in lower case with spaces, their date of birth,
    # a username and a password of their own
    username, password = f"ramona.q.{unique_mrn().lower()}", strong_password()
    with recording() as calls:
        joined = _enrol(portal, code.lower().replace("-", " "), username=username, password=password)

    # Then they are signed in as after any sign-in (the account read once: the session is opened
    # at the version it was read at), and later sign in with what they chose
    assert joined.status_code == 200, joined.text
    assert [c.operation for c in calls.calls if c.service == "dynamodb" and c.operation in ("GetItem", "BatchGetItem")
            and "accounts" in (c.resource or "")] == ["GetItem"]
    assert joined.json()["must_change_password"] is False and joined.json()["role"] == "patient"
    me = Api(portal.base_url, joined.json()["token"]).get("/api/me").json()
    assert me["username"] == username and me["email"] is None and me["phone"] == "+19195550148"
    assert portal.login(username, password).status_code == 200

    # And the code works once: used again it answers exactly as a code that is no one's
    again = _enrol(portal, code)
    assert again.status_code == 401 and again.json() == refused
    # and a patient who has signed in gets no letter, nor can the old one be opened
    assert staff.post(f"/api/staff/patients/{patient['id']}/enrolment-letter").status_code == 409
    assert staff.get(f"/api/staff/patients/{patient['id']}/enrolment-letter",
                     allow_redirects=False).status_code == 404


def portal_now():
    from chalicelib.clock import clock

    return clock.now()


def test_five_wrong_birth_dates_lock_the_code_and_every_refusal_looks_the_same(portal, staff, refused):
    # Given a patient registered with neither email nor phone, and their letter
    patient = _register(staff)
    code, _ = _letter(portal, staff, patient["id"])
    failures_before = _client_failures()

    # When the code is tried with a wrong date of birth five times
    wrong = [_enrol(portal, code, date_of_birth="1962-09-15") for _ in range(5)]
    # Then each answers as a code that is no one's, and so does the right date of birth afterwards
    right_too_late = _enrol(portal, code)
    assert [(w.status_code, w.json()) for w in wrong] == [(401, refused)] * 5
    assert right_too_late.status_code == 401 and right_too_late.json() == refused
    # and every refusal counted against the client's sign-in limit
    assert _client_failures() - failures_before == 6

    # When the office prints a new letter / Then its code works
    code, _ = _letter(portal, staff, patient["id"])
    assert _enrol(portal, code).status_code == 200


def test_a_new_letter_voids_the_old_code_and_an_expired_code_answers_as_a_wrong_one(portal, clock, refused):
    # Given a patient with a phone only and two letters made one after the other
    desk = staff_now(portal)
    patient = _register(desk, phone="919-555-0149", language="es")
    first, _ = _letter(portal, desk, patient["id"])
    second, words = _letter(portal, desk, patient["id"])

    # Then the letter is in Spanish, and the first letter's code no longer works
    assert "Su código de inscripción" in words and "Estimado/a Ramona Quintero" in words
    assert _enrol(portal, first).json() == refused

    # When the second code's 30 days have passed
    clock.advance(timedelta(days=get_settings().enrolment_code_days, minutes=1))
    expired = _enrol(portal, second)

    # Then it answers as a wrong code
    assert expired.status_code == 401 and expired.json() == refused


def test_bad_enrolments_are_refused_naming_the_problem(portal, staff):
    # Given a letter
    patient = _register(staff, phone="+1 919 555 0150")
    code, _ = _letter(portal, staff, patient["id"])

    # When the body is malformed, the password weak, or the username someone else's
    malformed = portal.public.post("/api/auth/enrol", json={"code": code, "date_of_birth": "14/09/1962",
                                                            "username": "x", "password": "p"})
    weak = _enrol(portal, code, password="password1234")
    taken = _enrol(portal, code, username="desk")

    # Then each is refused with its field named, and the code still works afterwards
    assert malformed.status_code == 400 and "date_of_birth" in malformed.json()["message"]
    assert weak.status_code == 400 and weak.json()["error"] == "weak_password", weak.text
    assert weak.json()["message"].startswith("password")
    assert taken.status_code == 409 and taken.json()["error"] == "username_taken"
    assert _enrol(portal, code).status_code == 200
