"""The second factor over HTTP, through the real routes: enrolment at a staff member's first
sign-in (after the forced password change), verification with a code or a recovery code, replay
refused, wrong codes counting toward the lock, a session owing its factor refused elsewhere,
patients adding and removing a factor, and an admin's reset."""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import parse_qs, urlsplit

from chalicelib.clock import clock
from chalicelib.services.access import mfa
from chalicelib.settings import get_settings
from tests.support.http import Api, strong_password, unique_email
from tests.support.lifecycle import new_member
from tests.support.second_factor import AUTHENTICATORS, complete_second_factor


def password_only(portal, username: str, password: str) -> tuple[Api, dict]:
    """A sign-in with the password alone: the session, and the sign-in answer."""
    answer = portal.login(username, password)
    assert answer.status_code == 200, answer.text
    return Api(portal.base_url, answer.json()["token"]), answer.json()


def wrong_code(secret: str) -> str:
    """A six-digit code that is none of the codes accepted right now."""
    current = mfa.step_at(clock.now())
    valid = {mfa.code_at(secret, step) for step in range(current - 2, current + 3)}
    code = int(mfa.code_at(secret, current))
    while f"{code:06d}" in valid:
        code = (code + 1) % 1_000_000
    return f"{code:06d}"


def error(answer) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]


def test_a_new_staff_member_changes_the_password_then_enrols_in_the_same_session(portal, admin):
    # Given a staff member the admin just created, signing in with the mailed temporary password
    username, email = "mfa_" + secrets.token_hex(5), unique_email("mfa")
    created = admin.post("/api/admin/staff", json={"username": username, "email": email, "name": "Casey Clerk",
                                                    "role": "staff"})
    temporary = portal.last_temporary_password(email)
    first = portal.login(username, temporary)

    # Then the sign-in owes both a password change and an enrolment, in that order
    assert first.status_code == 200 and first.json()["must_change_password"] is True
    assert first.json()["mfa"] == "enroll"
    session = Api(portal.base_url, first.json()["token"])
    assert error(session.post("/api/auth/mfa/enroll")) == (403, "password_change_required")
    assert error(session.get("/api/me")) == (403, "password_change_required")

    # When the same session changes the password
    password = strong_password()
    changed = session.post("/api/auth/password", json={"current_password": temporary, "new_password": password})

    # Then it still owes the enrolment: everything else answers mfa_required
    assert changed.status_code == 204, changed.text
    assert error(session.get("/api/me")) == (403, "mfa_required")
    assert error(session.get("/api/staff/queue")) == (403, "mfa_required")

    # When it starts the enrolment
    started = session.post("/api/auth/mfa/enroll")

    # Then it gets a base32 secret and an otpauth URI carrying it, for SHA-1, 6 digits, 30 seconds
    assert started.status_code == 200, started.text
    secret, uri = started.json()["secret"], started.json()["otpauth_uri"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    parsed = urlsplit(uri)
    query = {name: values[0] for name, values in parse_qs(parsed.query).items()}
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp" and username in parsed.path
    assert query["secret"] == secret
    assert query.get("digits", "6") == "6" and query.get("period", "30") == "30"
    assert query.get("algorithm", "SHA1").upper() == "SHA1"

    # When a wrong code confirms it, then the right one
    refused = session.post("/api/auth/mfa/confirm", json={"code": wrong_code(secret)})
    AUTHENTICATORS.add(username, secret)
    confirmed = session.post("/api/auth/mfa/confirm", json={"code": AUTHENTICATORS.code(username)})

    # Then the wrong one is refused, the right one answers ten different recovery codes once,
    # and the same session is now whole
    assert error(refused) == (401, "invalid_code")
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert session.get("/api/me").status_code == 200
    assert session.get("/api/staff/queue").status_code == 200
    # And a second enrolment is refused: the factor can only be replaced after a reset
    assert error(session.post("/api/auth/mfa/enroll")) == (409, "mfa_already_enrolled")
    # And the mail says a factor was added, without the key or any code
    added = [m for m in portal.outbox(email) if "set up" in m["subject"]]
    assert added and secret not in added[-1]["text"] and not any(code in added[-1]["text"] for code in codes)
    # And the trail has the enrolment
    trail = admin.get(f"/api/staff/audit?actor_id={created.json()['id']}").json()["events"]
    assert {"mfa.enroll_start", "mfa.enroll"} <= {event["action"] for event in trail if event["outcome"] == "ok"}
    assert any(event["action"] == "mfa.enroll" and event["outcome"] == "bad_code" for event in trail)


def test_a_later_sign_in_owes_a_code_and_is_refused_everywhere_else_until_it_is_given(portal, admin):
    # Given an enrolled staff member
    member = new_member(portal, admin)

    # When they sign in with their password
    session, answer = password_only(portal, member.username, member.password)

    # Then the answer says a code is owed, and the session reaches nothing but the factor and sign-out
    assert answer["mfa"] == "verify" and answer["must_change_password"] is False and answer["role"] == "staff"
    for method, path, body in [("GET", "/api/me", None), ("GET", "/api/staff/queue", None),
                               ("GET", "/api/staff/patients?q=a", None),
                               ("POST", "/api/auth/password", {"current_password": member.password,
                                                               "new_password": strong_password()}),
                               ("DELETE", "/api/me/mfa", {"current_password": member.password, "code": "123456"})]:
        assert error(session.request(method, path, json=body)) == (403, "mfa_required"), path
    # And a session owing a code cannot replace the factor it owes
    assert error(session.post("/api/auth/mfa/enroll")) == (409, "mfa_already_enrolled")

    # When it sends a code from the app
    verified = session.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(member.username)})

    # Then the session is whole
    assert verified.status_code == 204, verified.text
    assert session.get("/api/me").json()["id"] == member.id
    trail = admin.get(f"/api/staff/audit?actor_id={member.id}").json()["events"]
    assert any(event["action"] == "mfa.verify" and event["outcome"] == "ok" for event in trail)


def test_a_session_owing_a_code_may_sign_out(portal, admin):
    # Given an enrolled staff member's session that owes a code
    member = new_member(portal, admin)
    session, _ = password_only(portal, member.username, member.password)

    # When it signs out
    ended = session.post("/api/auth/logout")

    # Then it ends
    assert ended.status_code == 204
    assert session.post("/api/auth/mfa/verify", json={"code": "123456"}).status_code == 401


def test_a_code_works_once(portal, admin):
    # Given an enrolled staff member who verified one sign-in with a code
    member = new_member(portal, admin)
    first, _ = password_only(portal, member.username, member.password)
    code = AUTHENTICATORS.code(member.username)
    assert first.post("/api/auth/mfa/verify", json={"code": code}).status_code == 204

    # When the same code is sent again, for another sign-in
    second, _ = password_only(portal, member.username, member.password)
    replayed = second.post("/api/auth/mfa/verify", json={"code": code})

    # Then it is refused, and the session still owes its code; a fresh code then works
    assert error(replayed) == (401, "invalid_code")
    assert error(second.get("/api/me")) == (403, "mfa_required")
    assert second.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(member.username)}).status_code == 204
    trail = admin.get(f"/api/staff/audit?actor_id={member.id}").json()["events"]
    assert any(event["action"] == "mfa.verify" and event["outcome"] == "bad_code" for event in trail)


def test_one_step_of_drift_either_way_is_accepted_and_two_are_not(portal, admin):
    # Given an enrolled staff member, early enough in a time step that none ends during the test
    member = new_member(portal, admin)
    secret = AUTHENTICATORS.secret(member.username)
    while (clock.now().timestamp() % mfa.STEP_SECONDS > mfa.STEP_SECONDS - 12
           or {mfa.step_at(clock.now()) - 1, mfa.step_at(clock.now()) + 1} & AUTHENTICATORS.used(member.username)):
        time.sleep(mfa.STEP_SECONDS - clock.now().timestamp() % mfa.STEP_SECONDS + 0.1)
    current = mfa.step_at(clock.now())
    nearby = {mfa.code_at(secret, step) for step in range(current - 1, current + 2)}

    # When sign-ins send the codes of two steps ahead and two behind, then of one step each way
    session, _ = password_only(portal, member.username, member.password)
    too_far = [session.post("/api/auth/mfa/verify", json={"code": code})
               for code in (mfa.code_at(secret, current + 2), mfa.code_at(secret, current - 2)) if code not in nearby]
    ahead = session.post("/api/auth/mfa/verify",
                         json={"code": AUTHENTICATORS.code_for_step(member.username, current + 1)})
    other, _ = password_only(portal, member.username, member.password)
    behind = other.post("/api/auth/mfa/verify",
                        json={"code": AUTHENTICATORS.code_for_step(member.username, current - 1)})

    # Then two steps off is refused, one step either way accepted
    assert {error(answer) for answer in too_far} <= {(401, "invalid_code")}
    assert ahead.status_code == 204, ahead.text
    assert behind.status_code == 204, behind.text


def test_a_recovery_code_works_once(portal, admin):
    # Given a staff member who enrolled and kept the recovery codes
    member = new_member(portal, admin)
    username, password, codes = member.username, member.password, member.recovery_codes

    # When a sign-in gives a recovery code (typed in capitals, without dashes)
    first, _ = password_only(portal, username, password)
    used = first.post("/api/auth/mfa/verify", json={"recovery_code": codes[3].upper().replace("-", "")})

    # Then it is accepted; the same code for another sign-in is refused; another code works
    assert used.status_code == 204, used.text
    second, _ = password_only(portal, username, password)
    assert error(second.post("/api/auth/mfa/verify", json={"recovery_code": codes[3]})) == (401, "invalid_code")
    assert second.post("/api/auth/mfa/verify", json={"recovery_code": codes[7]}).status_code == 204
    assert second.get("/api/me").status_code == 200


def test_verify_takes_exactly_one_of_code_and_recovery_code(portal, admin):
    # Given a session owing a code
    member = new_member(portal, admin)
    session, _ = password_only(portal, member.username, member.password)

    # When it sends both, neither, or a code that is not six digits
    answers = [session.post("/api/auth/mfa/verify", json=body) for body in
               ({"code": "123456", "recovery_code": "abcd-efgh-jkmn"}, {}, {"code": "12ab56"})]

    # Then each is a 400 naming the problem
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert all(a.json()["error"] == "invalid_request" for a in answers)


def test_wrong_codes_count_toward_the_account_lock(portal, admin):
    # Given an enrolled staff member's session owing a code
    member = new_member(portal, admin)
    session, _ = password_only(portal, member.username, member.password)
    secret = AUTHENTICATORS.secret(member.username)

    # When wrong codes are sent as many times as the lock allows
    threshold = get_settings().lockout_threshold
    refusals = [session.post("/api/auth/mfa/verify", json={"code": wrong_code(secret)}) for _ in range(threshold)]

    # Then each is refused, the account is locked (mailed), and even the right code or the right
    # password is refused now
    assert {error(answer) for answer in refusals} == {(401, "invalid_code")}
    assert [m for m in portal.outbox(member.email) if "locked" in m["subject"]]
    assert error(session.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(member.username)})) == \
        (401, "invalid_code")
    assert error(portal.login(member.username, member.password)) == (401, "invalid_credentials")


def test_the_password_alone_does_not_forgive_wrong_codes_but_a_good_code_does(portal, admin):
    # Given an enrolled staff member who got the code wrong one time fewer than the lock allows
    member = new_member(portal, admin)
    secret = AUTHENTICATORS.secret(member.username)
    almost = get_settings().lockout_threshold - 1
    session, _ = password_only(portal, member.username, member.password)
    for _ in range(almost):
        assert error(session.post("/api/auth/mfa/verify", json={"code": wrong_code(secret)})) == (401, "invalid_code")

    # When they sign in again with the right password and get one more code wrong
    again, _ = password_only(portal, member.username, member.password)
    one_more = again.post("/api/auth/mfa/verify", json={"code": wrong_code(secret)})

    # Then the account is locked: the good password did not reset the count of wrong codes
    assert error(one_more) == (401, "invalid_code")
    assert error(portal.login(member.username, member.password)) == (401, "invalid_credentials")

    # Given another member who got it wrong as often, then right
    other = new_member(portal, admin)
    secret = AUTHENTICATORS.secret(other.username)
    session, _ = password_only(portal, other.username, other.password)
    for _ in range(almost):
        session.post("/api/auth/mfa/verify", json={"code": wrong_code(secret)})
    assert session.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(other.username)}).status_code == 204

    # When they later get a code wrong once
    again, _ = password_only(portal, other.username, other.password)
    once = again.post("/api/auth/mfa/verify", json={"code": wrong_code(secret)})

    # Then the good code had forgiven the earlier ones: not locked
    assert error(once) == (401, "invalid_code")
    assert again.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(other.username)}).status_code == 204


def test_a_patient_adds_a_factor_and_removes_it_with_password_and_code(portal, staff):
    # Given a patient with a password of their own
    patient = portal.new_patient(staff)
    assert portal.login(patient.username, patient.password).json()["mfa"] == "none"

    # When they add an authenticator app from their session
    recovery = complete_second_factor(patient.api, patient.username, "enroll")

    # Then they got recovery codes, and their next sign-in owes a code
    assert len(recovery) == 10
    later, answer = password_only(portal, patient.username, patient.password)
    assert answer["mfa"] == "verify"
    assert error(later.get("/api/items")) == (403, "mfa_required")
    assert later.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(patient.username)}).status_code == 204

    # When they remove it: with a wrong password, a wrong code, then both right
    secret = AUTHENTICATORS.secret(patient.username)
    bad_password = later.request("DELETE", "/api/me/mfa", json={"current_password": patient.password + "x",
                                                                 "code": AUTHENTICATORS.code(patient.username)})
    bad_code = later.request("DELETE", "/api/me/mfa", json={"current_password": patient.password,
                                                             "code": wrong_code(secret)})
    removed = later.request("DELETE", "/api/me/mfa", json={"current_password": patient.password,
                                                            "code": AUTHENTICATORS.code(patient.username)})

    # Then only the last one removes it, the patient is mailed, and sign-in asks for no code again
    assert error(bad_password) == (401, "invalid_credentials")
    assert error(bad_code) == (401, "invalid_code")
    assert removed.status_code == 204, removed.text
    assert [m for m in portal.outbox(patient.email) if "removed" in m["subject"]]
    assert portal.login(patient.username, patient.password).json()["mfa"] == "none"
    assert error(later.request("DELETE", "/api/me/mfa", json={"current_password": patient.password,
                                                               "code": "123456"})) == (409, "mfa_not_enrolled")


def test_staff_cannot_remove_their_factor(portal, admin):
    # Given an enrolled staff member, signed in whole
    member = new_member(portal, admin)

    # When they try to remove the factor with their password and a good code
    answer = member.api.request("DELETE", "/api/me/mfa", json={"current_password": member.password,
                                                                "code": AUTHENTICATORS.code(member.username)})

    # Then it is forbidden: theirs is mandatory
    assert error(answer) == (403, "forbidden")
    assert portal.login(member.username, member.password).json()["mfa"] == "verify"


def test_an_admin_resets_a_staff_members_factor(portal, admin):
    # Given an enrolled staff member with a session
    member = new_member(portal, admin)
    assert member.api.get("/api/me").status_code == 200

    # When an admin resets their factor
    reset = admin.post(f"/api/admin/staff/{member.id}/mfa-reset")

    # Then their sessions end, their next sign-in enrols again, and they are mailed (no secret in it)
    assert reset.status_code == 204, reset.text
    assert member.api.get("/api/me").status_code == 401
    session, answer = password_only(portal, member.username, member.password)
    assert answer["mfa"] == "enroll"
    assert error(session.get("/api/me")) == (403, "mfa_required")
    mails = [m for m in portal.outbox(member.email) if "reset" in m["subject"]]
    assert mails and "secret" not in mails[-1]["text"].casefold()
    # And the reset is in the trail, naming the admin and the staff member
    admin_id = admin.get("/api/me").json()["id"]
    events = admin.get(f"/api/staff/audit?actor_id={admin_id}").json()["events"]
    assert any(e["action"] == "staff.mfa_reset" and e["target_id"] == member.id and e["outcome"] == "ok" for e in events)
    # And they enrol again with a new secret
    complete_second_factor(session, member.username, "enroll")
    assert session.get("/api/me").status_code == 200


def test_only_admins_reset_and_only_staff_factors(portal, admin, staff):
    # Given a staff member and a patient
    member = new_member(portal, admin)
    patient = portal.register_patient(staff)

    # When staff try a reset, and an admin resets a patient or an unknown id
    by_staff = staff.post(f"/api/admin/staff/{member.id}/mfa-reset")
    of_patient = admin.post(f"/api/admin/staff/{patient.id}/mfa-reset")
    unknown = admin.post("/api/admin/staff/s_nobody/mfa-reset")

    # Then staff are forbidden, and neither a patient nor an unknown id is a staff member
    assert error(by_staff) == (403, "forbidden")
    assert error(of_patient) == (404, "not_found")
    assert error(unknown) == (404, "not_found")


def test_a_patient_with_a_factor_who_forgot_the_password_gives_a_code_then_changes_it(portal, staff):
    # Given a patient with a factor who asked for a temporary password
    from chalicelib.localstack import pump

    patient = portal.new_patient(staff)
    complete_second_factor(patient.api, patient.username, "enroll")
    assert portal.public.post("/api/auth/forgot-password", json={"username": patient.username}).status_code == 202
    pump.drain()
    temporary = portal.last_temporary_password(patient.email)

    # When they sign in with it
    session, answer = password_only(portal, patient.username, temporary)

    # Then the session owes both; the code comes first (the password cannot change before it),
    # then the password change, then the session is whole
    assert answer["must_change_password"] is True and answer["mfa"] == "verify"
    new_password = {"current_password": temporary, "new_password": strong_password()}
    assert error(session.post("/api/auth/password", json=new_password)) == (403, "mfa_required")
    assert session.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(patient.username)}).status_code == 204
    assert error(session.get("/api/items")) == (403, "password_change_required")
    assert session.post("/api/auth/password", json=new_password).status_code == 204
    assert session.get("/api/items").status_code == 200
