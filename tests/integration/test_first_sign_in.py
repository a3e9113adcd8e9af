"""The clinic page's first sign-in promise, end to end over HTTP on the local stack."""

from datetime import timedelta

import pytest

from chalicelib.localstack import pump


def test_invitation_temporary_password_forced_change_then_normal_session(portal, staff):
    # Given a patient the office has just registered
    patient = portal.register_patient(staff, name="Rosa Delgado")

    # When the patient signs in with the temporary password from the invitation email
    invitation = portal.outbox(patient.email)[-1]
    temporary = portal.last_temporary_password(patient.email)
    first = portal.login(patient.email.upper(), temporary)

    # Then the username is the email on file and the session may only change the password
    assert patient.username == patient.email
    assert "portal" in invitation["subject"].lower()
    assert first.status_code == 200
    assert first.json()["must_change_password"] is True
    limited = portal.public
    limited.token = first.json()["token"]
    blocked = limited.get("/api/me")
    assert blocked.status_code == 403
    assert blocked.json()["error"] == "password_change_required"

    # When they choose a password of their own
    changed = limited.post("/api/auth/password", json={"current_password": temporary,
                                                       "new_password": "quiet-Harbor-lamp-72-gravel"})

    # Then the same session carries on normally, and the temporary password no longer works
    assert changed.status_code == 204, changed.text
    me = limited.get("/api/me")
    assert me.status_code == 200
    assert me.json()["username"] == patient.email
    assert portal.login(patient.email, temporary).status_code == 401
    again = portal.login(patient.email, "quiet-Harbor-lamp-72-gravel")
    assert again.status_code == 200 and again.json()["must_change_password"] is False


def test_a_temporary_password_works_once(portal, staff):
    # Given a patient who signed in once with the invitation's temporary password
    patient = portal.register_patient(staff)
    temporary = portal.last_temporary_password(patient.email)
    assert portal.login(patient.username, temporary).status_code == 200

    # When the same temporary password is tried again
    again = portal.login(patient.username, temporary)

    # Then it is refused like any wrong password
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize("later, works", [(timedelta(hours=167), True), (timedelta(hours=168, minutes=1), False)])
def test_an_invitation_temporary_password_expires_after_168_hours(portal, staff, clock, later, works):
    # Given a patient invited just now
    patient = portal.register_patient(staff)
    temporary = portal.last_temporary_password(patient.email)

    # When they first try it 167 hours later, or a week and a minute later
    clock.advance(later)
    answer = portal.login(patient.username, temporary)

    # Then it works (for the forced change only) before the week is out, and not after
    if works:
        assert answer.status_code == 200 and answer.json()["must_change_password"] is True
    else:
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_credentials"


def test_using_the_newer_temporary_password_voids_the_older_one(portal, staff):
    # Given an invited patient who then asks for a reset before ever signing in
    patient = portal.register_patient(staff)
    older = portal.last_temporary_password(patient.email)
    assert portal.public.post("/api/auth/forgot-password", json={"username": patient.username}).status_code == 202
    pump.drain()
    newer = portal.last_temporary_password(patient.email)
    assert newer != older

    # When the newer is used, then the older is tried
    with_newer = portal.login(patient.username, newer)
    with_older = portal.login(patient.username, older)

    # Then the newer one works and, once used, the older one no longer does (up to the three newest
    # work until one is used: tests/integration/test_temporary_passwords.py)
    assert with_newer.status_code == 200 and with_newer.json()["must_change_password"] is True
    assert with_older.status_code == 401


def test_the_forced_change_must_repeat_the_temporary_password_and_follow_the_policy(portal, staff):
    # Given a patient in the forced-change session
    patient = portal.register_patient(staff, name="Ines Moreau")
    temporary = portal.last_temporary_password(patient.email)
    limited = portal.public
    limited.token = portal.login(patient.username, temporary).json()["token"]

    # When they get the temporary password wrong, reuse it, or choose a weak or personal password
    wrong_current = limited.post("/api/auth/password", json={"current_password": "Abcd-Efgh-Jkmn-Pqrs",
                                                             "new_password": "quiet-Harbor-lamp-72-gravel"})
    reuse = limited.post("/api/auth/password", json={"current_password": temporary, "new_password": temporary})
    weak = limited.post("/api/auth/password", json={"current_password": temporary, "new_password": "password1234"})
    personal = limited.post("/api/auth/password", json={"current_password": temporary,
                                                        "new_password": "moreau-Fjord-ember-41"})

    # Then each is refused with the contract's codes, and the session is still limited
    assert wrong_current.status_code == 401 and wrong_current.json()["error"] == "invalid_credentials"
    for refused in (reuse, weak, personal):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "weak_password"
        assert refused.json()["message"].startswith("new_password:")
    assert limited.get("/api/me").json()["error"] == "password_change_required"
    assert limited.post("/api/auth/logout").status_code == 204


def test_the_local_mailbox_dates_each_mail_by_the_portal_clock(portal, clock):
    # Given the portal's clock on a known moment, and a member of staff signed in then
    from datetime import UTC, datetime

    from tests.conftest import STAFF_PASSWORD

    clock.travel_to(datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC))
    staff = portal.live("desk", STAFF_PASSWORD)

    # When a patient is registered (the invitation goes out)
    patient = portal.register_patient(staff)

    # Then /dev/outbox lists the mail with its sending time, in ISO 8601 UTC
    invitation = portal.outbox(patient.email)[-1]
    assert invitation["sent_at"].startswith("2031-03-04T05:0") and invitation["sent_at"].endswith("Z")


def test_the_local_mailbox_reads_the_same_mails_in_process_as_over_moto_s_http_dump(portal, staff):
    # Given a mail just sent (this process hosts moto, so /dev/outbox reads its SES backend directly)
    from chalicelib.mail import outbox_reader

    patient = portal.register_patient(staff)

    # When the mailbox is read directly, and over moto's HTTP dump (as a portal without moto reads it)
    hosted, over_http = outbox_reader._sent_in_this_process(), outbox_reader._sent_over_http()

    # Then both hold the same mails in the same order, the new invitation last among them
    assert hosted is not None and hosted == over_http
    assert portal.outbox()[-1]["to"] == patient.email
    assert portal.outbox(patient.email)[-1] == outbox_reader.messages()[-1]


def test_the_local_mailbox_lists_only_one_address_s_mails_when_asked(portal, staff):
    # Given mails to two new patients
    first, second = portal.register_patient(staff), portal.register_patient(staff)

    # When the mailbox is asked for the first patient's mails, the address in another case
    answer = portal.public.get("/dev/outbox", params={"to": first.email.upper()})

    # Then it lists that patient's invitation and nothing sent to anyone else
    assert answer.status_code == 200
    mails = answer.json()["messages"]
    assert [mail["to"] for mail in mails] == [first.email]
    assert any(mail["to"] == second.email for mail in portal.public.get("/dev/outbox").json()["messages"])
