"""Sign-in: identical refusals, one Argon2 verification each, lockout, sessions and sign-out."""

import math
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from chalicelib.localstack import pump
from chalicelib.mail import sender
from chalicelib.services import audit
from chalicelib.settings import get_settings
from tests.conftest import STAFF_PASSWORD
from tests.support.http import strong_password


@pytest.fixture
def argon2_verifications(monkeypatch):
    """Every Argon2 verification the portal makes (the server runs in this process)."""
    calls: list[str] = []
    real = PasswordHasher.verify

    def counting(self, stored, password):
        calls.append(stored)
        return real(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


def refusal(answer) -> tuple[int, dict]:
    return answer.status_code, answer.json()


def lock_mails(portal, patient) -> list[dict]:
    return [m for m in portal.outbox(patient.email) if "locked" in m["subject"]]


def test_unknown_username_and_wrong_password_answer_identically_after_one_argon2_verification(
        portal, staff, argon2_verifications):
    # Given a patient with a password of their own
    patient = portal.new_patient(staff)

    # When someone signs in with an unknown username, then with the right username and a wrong password
    argon2_verifications.clear()
    unknown = portal.login("nobody-" + patient.username, patient.password)
    for_unknown = len(argon2_verifications)
    argon2_verifications.clear()
    wrong = portal.login(patient.username, patient.password + "x")
    for_wrong = len(argon2_verifications)

    # Then both get the same status and body, and each paid exactly one Argon2 verification
    assert refusal(unknown) == refusal(wrong)
    assert refusal(wrong) == (401, {"error": "invalid_credentials", "message": "The username or password is not correct."})
    assert for_unknown == 1
    assert for_wrong == 1


def test_every_refusal_pays_exactly_one_argon2_verification(portal, staff, argon2_verifications):
    # Given a patient who asked for a reset, so the account holds a password and a temporary one
    patient = portal.new_patient(staff)
    portal.public.post("/api/auth/forgot-password", json={"username": patient.username})
    pump.drain()
    temporary = portal.last_temporary_password(patient.email)
    attempts = {
        "wrong chosen password": patient.password + "x",
        "wrong temporary-shaped password": "Abcd-Efgh-Jkmn-Pqrs",
        "empty-ish password": "x",
    }

    # When each wrong password is tried
    counts = {}
    for label, password in attempts.items():
        argon2_verifications.clear()
        answer = portal.login(patient.username, password)
        assert answer.status_code == 401, label
        counts[label] = len(argon2_verifications)

    # Then each cost one verification, and so does a correct sign-in with the temporary password
    argon2_verifications.clear()
    assert portal.login(patient.username, temporary).status_code == 200
    counts["right temporary password"] = len(argon2_verifications)
    assert counts == dict.fromkeys(counts, 1)


def test_five_failures_lock_the_account_and_mail_the_patient(portal, staff, clock, argon2_verifications):
    # Given a patient with a password of their own
    patient = portal.new_patient(staff)
    assert lock_mails(portal, patient) == []

    # When five wrong passwords are tried in a row
    for _ in range(5):
        assert portal.login(patient.username, "wrong-" + patient.password).status_code == 401

    # Then the patient is mailed about the lock, without any secret in the mail
    mails = lock_mails(portal, patient)
    assert len(mails) == 1
    assert patient.password not in mails[0]["text"] and "Temporary password" not in mails[0]["text"]

    # And the right password now answers exactly like a wrong one (after one verification)
    argon2_verifications.clear()
    locked = portal.login(patient.username, patient.password)
    assert len(argon2_verifications) == 1
    wrong = portal.login(patient.username, "wrong-" + patient.password)
    unknown = portal.login("nobody-" + patient.username, patient.password)
    assert refusal(locked) == refusal(wrong) == refusal(unknown)

    # When 14 minutes pass the account is still locked; after 15 it is released
    clock.advance(timedelta(minutes=14))
    assert portal.login(patient.username, patient.password).status_code == 401
    clock.advance(timedelta(minutes=1, seconds=1))
    assert portal.login(patient.username, patient.password).status_code == 200


def test_the_next_lock_lasts_longer(portal, staff, clock):
    # Given a patient whose account was locked once and released after 15 minutes
    patient = portal.new_patient(staff)
    for _ in range(5):
        portal.login(patient.username, "wrong-" + patient.password)
    clock.advance(timedelta(minutes=15, seconds=1))

    # When five more failures follow, before any good sign-in
    for _ in range(5):
        assert portal.login(patient.username, "wrong-" + patient.password).status_code == 401

    # Then the second lock lasts 30 minutes, and the patient got a mail for each lock
    assert len(lock_mails(portal, patient)) == 2
    clock.advance(timedelta(minutes=29))
    assert portal.login(patient.username, patient.password).status_code == 401
    clock.advance(timedelta(minutes=1, seconds=1))
    assert portal.login(patient.username, patient.password).status_code == 200


def test_a_good_sign_in_resets_the_count_of_consecutive_failures(portal, staff):
    # Given a patient with four failures
    patient = portal.new_patient(staff)
    for _ in range(4):
        portal.login(patient.username, "wrong-" + patient.password)

    # When they sign in correctly and then fail four more times
    assert portal.login(patient.username, patient.password).status_code == 200
    for _ in range(4):
        portal.login(patient.username, "wrong-" + patient.password)

    # Then the account is not locked: the failures were not consecutive
    assert portal.login(patient.username, patient.password).status_code == 200
    assert lock_mails(portal, patient) == []


def test_username_is_case_insensitive_at_sign_in(portal, staff):
    # Given a patient whose username is their email
    patient = portal.new_patient(staff)

    # When they sign in with it in capitals and with spaces around it
    answer = portal.login(f"  {patient.username.upper()} ", patient.password)

    # Then it works
    assert answer.status_code == 200
    assert answer.json()["role"] == "patient" and answer.json()["must_change_password"] is False


def test_logout_ends_the_session_at_once(portal, staff):
    # Given a signed-in patient
    patient = portal.new_patient(staff)
    assert patient.api.get("/api/me").status_code == 200

    # When they sign out
    out = patient.api.post("/api/auth/logout")

    # Then the token no longer works
    assert out.status_code == 204
    after = patient.api.get("/api/me")
    assert after.status_code == 401 and after.json()["error"] == "unauthenticated"


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(portal, staff):
    # Given a patient signed in on two devices
    patient = portal.new_patient(staff)
    other_device = portal.signed_in(patient.username, patient.password)
    assert other_device.get("/api/me").status_code == 200

    # When they change the password on the first
    new_password = strong_password()
    changed = patient.api.post("/api/auth/password", json={"current_password": patient.password,
                                                           "new_password": new_password})

    # Then the other device is signed out, this session carries on, and only the new password works
    assert changed.status_code == 204, changed.text
    assert other_device.get("/api/me").status_code == 401
    assert patient.api.get("/api/me").status_code == 200
    assert portal.login(patient.username, patient.password).status_code == 401
    assert portal.login(patient.username, new_password).status_code == 200


def test_a_password_change_needs_the_current_password_and_a_strong_new_one(portal, staff):
    # Given a signed-in patient
    patient = portal.new_patient(staff)

    # When they get the current password wrong, or choose a weak one
    wrong = patient.api.post("/api/auth/password", json={"current_password": "not-it-" + patient.password,
                                                         "new_password": strong_password()})
    weak = patient.api.post("/api/auth/password", json={"current_password": patient.password,
                                                        "new_password": "short"})

    # Then the contract's codes come back, and the old password still works
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
    assert weak.status_code == 400 and weak.json()["error"] == "weak_password"
    assert "at least 12" in weak.json()["message"]
    assert portal.login(patient.username, patient.password).status_code == 200


def test_a_session_ends_after_15_idle_minutes(portal, staff, clock):
    # Given a patient who just signed in
    patient = portal.new_patient(staff)

    # When they use it every 14 minutes, then leave it for 15
    for _ in range(3):
        clock.advance(timedelta(minutes=14))
        assert patient.api.get("/api/me").status_code == 200
    clock.advance(timedelta(minutes=15))
    idle = patient.api.get("/api/me")

    # Then the session has ended
    assert idle.status_code == 401
    assert idle.json()["error"] == "unauthenticated"


def test_a_session_ends_after_12_hours_however_busy(portal, staff, clock):
    # Given a patient who keeps their session busy
    patient = portal.new_patient(staff)

    # When they make a request every 10 minutes for just under 12 hours, then one more after 12
    for _ in range(71):
        clock.advance(timedelta(minutes=10))
        assert patient.api.get("/api/me").status_code == 200
    clock.advance(timedelta(minutes=10, seconds=1))
    too_old = patient.api.get("/api/me")

    # Then that last request is refused
    assert too_old.status_code == 401


def test_staff_sign_in_follows_the_same_rules(portal):
    # Given the front desk account
    # When it signs in with the right and a wrong password
    bad = portal.login("desk", STAFF_PASSWORD + "x")
    good = portal.login("desk", STAFF_PASSWORD)

    # Then the answers are those of patients
    assert good.status_code == 200 and good.json()["role"] == "staff"
    assert refusal(bad) == (401, {"error": "invalid_credentials", "message": "The username or password is not correct."})


def test_a_lock_mail_that_cannot_be_sent_changes_neither_the_lock_nor_the_answer(portal, staff, admin, monkeypatch):
    # Given a patient, and SES refusing every mail from now on
    patient = portal.new_patient(staff)

    def refuse(to, template, **context):
        raise sender.MailError("MessageRejected", transient=False)

    monkeypatch.setattr(sender, "send", refuse)

    # When the fifth failure locks the account
    answers = [portal.login(patient.username, "wrong-" + patient.password) for _ in range(5)]

    # Then every answer, the fifth included, is the usual refusal; the lock holds; the trail says the mail failed
    usual = (401, {"error": "invalid_credentials", "message": "The username or password is not correct."})
    assert [refusal(a) for a in answers] == [usual] * 5
    assert portal.login(patient.username, patient.password).status_code == 401
    locks = [e for e in admin.get("/api/staff/audit", params={"patient_id": patient.id}).json()["events"]
             if e["action"] == "account.locked"]
    assert len(locks) == 1 and locks[0]["detail"]["mail"] == "failed"


@pytest.fixture
def sign_in_limit():
    """Sets a per-client limit of failed sign-ins for the rest of one test (the suite itself fails far more)."""
    before = os.environ.get("LOGIN_FAILURES_PER_CLIENT_PER_HOUR")

    def set_limit(per_hour: int) -> int:
        os.environ["LOGIN_FAILURES_PER_CLIENT_PER_HOUR"] = str(per_hour)
        get_settings.cache_clear()
        return per_hour

    yield set_limit
    if before is None:
        os.environ.pop("LOGIN_FAILURES_PER_CLIENT_PER_HOUR", None)
    else:
        os.environ["LOGIN_FAILURES_PER_CLIENT_PER_HOUR"] = before
    get_settings.cache_clear()


@pytest.fixture
def audit_events(monkeypatch):
    """Every audit event the portal records (the server runs in this process), as (action, outcome, fields)."""
    events: list[tuple[str, str, dict]] = []
    real = audit.record

    def recording(action, *, outcome="ok", **fields):
        events.append((action, outcome, fields))
        return real(action, outcome=outcome, **fields)

    monkeypatch.setattr(audit, "record", recording)
    return events


def _login_at(portal, clock, moment, username, password):
    """A sign-in made with the portal's clock set to `moment`, and the whole seconds it took (rounded
    up): the clock keeps running while the request is served."""
    clock.travel_to(moment)
    started = time.monotonic()
    answer = portal.login(username, password)
    return answer, math.ceil(time.monotonic() - started)


def test_one_client_address_is_limited_across_accounts_and_the_refusal_names_none(
        portal, staff, clock, sign_in_limit, audit_events):
    # Given a patient, a limit of 3 failed sign-ins an hour, and an hour in which this client has not failed yet
    patient = portal.new_patient(staff)
    limit = sign_in_limit(3)
    clock.travel_to(datetime(2031, 7, 8, 10, 0, 5, tzinfo=UTC))

    # When the client signs in well twice (those don't count), then fails on different usernames up to the limit
    good = [portal.login(patient.username, patient.password) for _ in range(2)]
    failures = [portal.login("nobody-" + patient.username, patient.password),
                portal.login(patient.username, patient.password + "x"),
                portal.login("somebody-" + patient.username, patient.password)]
    assert [a.status_code for a in good] == [200, 200]
    assert [a.status_code for a in failures] == [401] * limit
    audit_events.clear()
    refused_at = datetime(2031, 7, 8, 10, 0, 5, tzinfo=UTC)  # 3,595 s before the hour's window ends
    right, right_took = _login_at(portal, clock, refused_at, patient.username, patient.password)
    unknown, unknown_took = _login_at(portal, clock, refused_at, "nobody-" + patient.username, patient.password)

    # Then even the right password is refused with 429 and Retry-After, exactly like an unknown username:
    # both wait for the end of the same window, less only the whole seconds each request itself took
    assert right.status_code == 429
    assert (right.status_code, right.json()) == (unknown.status_code, unknown.json())
    assert right.json()["error"] == "rate_limited" and right.json()["message"]
    assert 3595 - right_took <= int(right.headers["Retry-After"]) <= 3595
    assert 3595 - unknown_took <= int(unknown.headers["Retry-After"]) <= 3595
    # And each refusal is audited with where it came from and no account
    assert [(action, outcome) for action, outcome, _ in audit_events] == [("auth.login", "rate_limited_client")] * 2
    for _, _, fields in audit_events:
        assert fields["client_ip"] == "127.0.0.1"
        assert fields.get("actor_id") is None and fields.get("patient_id") is None and fields.get("target_id") is None

    # When the next hour begins, the client may sign in again
    clock.advance(timedelta(hours=1))
    assert portal.login(patient.username, patient.password).status_code == 200


def test_a_sign_in_reads_the_username_and_the_clients_failures_in_one_round_trip(portal, staff):
    from chalicelib.localstack.calls import recording

    # Given a patient
    patient = portal.new_patient(staff)

    # When they sign in
    with recording() as calls:
        answer = portal.login(patient.username, patient.password)

    # Then DynamoDB saw: the username's owner with the address's failures (one batch), the account,
    # the new session (one transaction with a check that the account is still as read), the audit
    # event; a good sign-in writes no failure count
    assert answer.status_code == 200
    tables = [(c.operation, c.resource) for c in calls.calls if c.service == "dynamodb"]
    assert [op for op, _ in tables] == ["BatchGetItem", "GetItem", "TransactWriteItems", "PutItem"]
    assert [resource.rsplit("-", 1)[-1] for _, resource in tables[1:]] == ["accounts", "sessions", "audit"]
    assert "accounts" in tables[2][1]


def test_the_sign_in_page_is_limited_the_same_way_and_says_when_to_try_again(portal, staff, clock, sign_in_limit):
    import requests

    from tests.support.pages import page_csrf

    # Given a patient, a limit of 2 failed sign-ins an hour, and a browser on the sign-in page
    patient = portal.new_patient(staff)
    sign_in_limit(2)
    clock.travel_to(datetime(2032, 3, 9, 14, 0, 5, tzinfo=UTC))
    browser = requests.Session()
    token = page_csrf(browser.get(f"{portal.base_url}/sign-in", timeout=30).text)

    def sign_in(password: str) -> requests.Response:
        return browser.post(f"{portal.base_url}/sign-in", timeout=30, allow_redirects=False,
                            data={"username": patient.username, "password": password, "csrf_token": token})

    # When the browser fails twice, then tries the right password
    failures = [sign_in("wrong-" + patient.password) for _ in range(2)]
    right = sign_in(patient.password)

    # Then the failures re-show the form, and the right password gets the page's 429 with Retry-After
    assert [f.status_code for f in failures] == [401, 401]
    assert right.status_code == 429
    assert 0 < int(right.headers["Retry-After"]) <= 3600
    assert "text/html" in right.headers["Content-Type"]
