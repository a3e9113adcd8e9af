"""Temporary passwords over HTTP: the three newest unexpired ones work, using any one voids the
rest, and the invitation's password still works after a result notice sent the same minute
(published through the real publisher) brought a fresh one."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.support.http import TEMP_PASSWORD_RE, Api, strong_password
from tests.support.load import put_upload, upload_key


def mailed_temporary_passwords(portal, email: str) -> list[str]:
    """Every temporary password mailed to `email`, oldest first."""
    return [found for message in portal.outbox(email) for found in TEMP_PASSWORD_RE.findall(message["text"])]


def test_the_invitations_password_works_after_a_result_notice_sent_the_same_minute(portal, staff):
    # Given a patient just registered (the invitation carries a temporary password)
    patient = portal.register_patient(staff)
    [invitation] = mailed_temporary_passwords(portal, patient.email)

    # When a result for them is uploaded and published through the real publisher in the same minute,
    # its notice carrying a fresh temporary password
    put_upload(upload_key(patient.mrn))
    pump.drain()
    mailed = mailed_temporary_passwords(portal, patient.email)
    assert len(mailed) == 2 and mailed[0] == invitation, mailed

    # Then the patient who opens the first email signs in with the invitation's password
    first = portal.login(patient.username, invitation)
    assert first.status_code == 200, first.text
    assert first.json()["must_change_password"] is True
    # And choosing a password from that session works with the password they used
    api = Api(portal.base_url, first.json()["token"])
    assert api.post("/api/auth/password", json={"current_password": invitation,
                                                 "new_password": strong_password()}).status_code == 204


def test_only_the_three_newest_work_and_using_one_voids_the_rest(portal, staff):
    # Given a patient sent four temporary passwords (the invitation, then three new invitations)
    patient = portal.register_patient(staff)
    for _ in range(3):
        assert staff.post(f"/api/staff/patients/{patient.id}/invitation").status_code == 202
    oldest, second, third, newest = mailed_temporary_passwords(portal, patient.email)

    # When the oldest is tried
    # Then it no longer works: only the three newest do
    assert portal.login(patient.username, oldest).status_code == 401

    # When the second is used
    used = portal.login(patient.username, second)

    # Then it signs in, and the others no longer work
    assert used.status_code == 200 and used.json()["must_change_password"] is True
    assert portal.login(patient.username, third).status_code == 401
    assert portal.login(patient.username, newest).status_code == 401
    # And nor does the one used, a second time
    assert portal.login(patient.username, second).status_code == 401


def test_an_expired_temporary_password_does_not_work(portal, staff, clock):
    # Given a patient whose invitation was mailed
    patient = portal.register_patient(staff)
    [invitation] = mailed_temporary_passwords(portal, patient.email)

    # When it is used after it expired
    clock.travel_to(clock.now() + timedelta(hours=get_settings().invitation_hours, minutes=1))
    late = portal.login(patient.username, invitation)

    # Then it is refused like any wrong password
    assert late.status_code == 401 and late.json()["error"] == "invalid_credentials"


def test_a_fresh_invitation_after_a_result_notice_leaves_both_earlier_ones_working(portal, staff):
    # Given the invitation, a result notice, and a new invitation sent by staff
    patient = portal.register_patient(staff)
    put_upload(upload_key(patient.mrn))
    pump.drain()
    assert staff.post(f"/api/staff/patients/{patient.id}/invitation").status_code == 202
    invitation, notice, fresh = mailed_temporary_passwords(portal, patient.email)

    # When the patient uses the one in the result notice
    answer = portal.login(patient.username, notice)

    # Then it signs them in, and the two others are void
    assert answer.status_code == 200 and answer.json()["must_change_password"] is True
    assert portal.login(patient.username, invitation).status_code == 401
    assert portal.login(patient.username, fresh).status_code == 401
