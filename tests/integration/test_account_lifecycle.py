"""The account lifecycle over HTTP, through the real routes on DynamoDB Local: an admin lists
staff, disables and re-enables them and changes roles (sessions end at once; a disabled sign-in
looks like any failed one; no admin disables themselves); staff close and reopen a patient's
portal access (sessions end, sign-in refused, notices and follow-up stop, records kept and still
published), re-send an invitation, unlock a locked account. Every change is audited."""

from __future__ import annotations

import secrets

from chalicelib.localstack import pump
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from tests.support.followup import day, fresh_day0, notices_to, publish_item, sweep
from tests.support.http import Api
from tests.support.lifecycle import events, new_member
from tests.support.load import put_upload, upload_key

REFUSED = {"error": "invalid_credentials", "message": "The username or password is not correct."}


def _refusal(answer) -> tuple[int, dict]:
    return answer.status_code, answer.json()


# ---------------------------------------------------------------- staff (admins)

def test_the_admin_lists_every_staff_member_with_their_state(portal, admin, staff):
    # Given a staff member the admin created, who has set up an authenticator app
    member = new_member(portal, admin)

    # When the admin lists staff, and a staff member tries the same
    listed = admin.get("/api/admin/staff")
    refused = staff.get("/api/admin/staff")

    # Then the list has them with their fields, active and enrolled; staff may not see it
    assert listed.status_code == 200
    rows = {row["id"]: row for row in listed.json()["staff"]}
    assert rows[member.id] == {"id": member.id, "username": member.username, "name": "Robin Office",
                               "email": member.email, "role": "staff", "active": True, "mfa_enrolled": True}
    assert {row["role"] for row in rows.values()} <= {"staff", "admin", "provider"}  # every office role, no patient
    assert any(row["username"] == "admin" and row["role"] == "admin" for row in rows.values())
    assert refused.status_code == 403


def test_disabling_a_staff_member_ends_their_sessions_and_their_sign_in_looks_like_any_failure(portal, admin):
    # Given a signed-in staff member
    member = new_member(portal, admin)
    assert member.api.get("/api/me").status_code == 200

    # When the admin disables them
    answer = admin.put(f"/api/admin/staff/{member.id}", json={"active": False})

    # Then the answer is the member, now inactive, and their session has ended at once
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False and answer.json()["id"] == member.id
    assert member.api.get("/api/me").status_code == 401
    # And their right password is refused exactly as a wrong password or an unknown name is
    right = portal.login(member.username, member.password)
    wrong = portal.login(member.username, member.password + "x")
    unknown = portal.login("nobody_" + secrets.token_hex(4), member.password)
    assert _refusal(right) == _refusal(wrong) == _refusal(unknown) == (401, REFUSED)
    # And the trail has the change and the refused sign-in
    actions = [(e["action"], e["outcome"]) for e in events(admin, actor_id=member.id)]
    assert ("auth.login", "disabled") in actions
    assert any(e["action"] == "staff.disable" and e["target_id"] == member.id
               for e in events(admin, actor_id=admin_id(admin)))


def admin_id(admin: Api) -> str:
    return admin.get("/api/me").json()["id"]


def test_a_re_enabled_staff_member_signs_in_again(portal, admin):
    # Given a disabled staff member
    member = new_member(portal, admin)
    assert admin.put(f"/api/admin/staff/{member.id}", json={"active": False}).status_code == 200

    # When the admin enables them again
    answer = admin.put(f"/api/admin/staff/{member.id}", json={"active": True})

    # Then they are active and their password (and their app) sign them in
    assert answer.status_code == 200 and answer.json()["active"] is True
    assert portal.signed_in(member.username, member.password).get("/api/me").status_code == 200
    assert any(e["action"] == "staff.enable" and e["target_id"] == member.id
               for e in events(admin, actor_id=admin_id(admin)))


def test_an_admin_cannot_disable_themselves_or_change_their_own_role(portal, admin):
    # Given the signed-in admin
    me = admin_id(admin)

    # When they try to disable their own account, or make themselves staff
    disable = admin.put(f"/api/admin/staff/{me}", json={"active": False})
    demote = admin.put(f"/api/admin/staff/{me}", json={"role": "staff"})

    # Then both are refused as conflicts, and they are still a signed-in admin
    assert disable.status_code == 409 and disable.json()["error"] == "cannot_disable_self"
    assert demote.status_code == 409 and demote.json()["error"] == "cannot_change_own_role"
    assert admin.get("/api/admin/staff").status_code == 200
    refusals = [(e["action"], e["outcome"]) for e in events(admin, actor_id=me)]
    assert ("staff.disable", "refused_self") in refusals


def test_a_disabled_staff_member_who_asks_for_a_password_reset_gets_no_mail(portal, admin):
    # Given a disabled staff member
    member = new_member(portal, admin)
    assert admin.put(f"/api/admin/staff/{member.id}", json={"active": False}).status_code == 200
    mails_before = len(portal.outbox(member.email))

    # When they ask for a password reset, and the recovery job runs
    asked = portal.public.post("/api/auth/forgot-password", json={"username": member.username})
    pump.drain()

    # Then the answer is the one anybody gets, no mail goes out, their sign-in is still refused,
    # and the trail says why
    assert asked.status_code == 202, asked.text
    assert len(portal.outbox(member.email)) == mails_before
    assert _refusal(portal.login(member.username, member.password)) == (401, REFUSED)
    assert ("auth.forgot_password", "access_closed") in [(e["action"], e["outcome"])
                                                         for e in events(admin, actor_id=member.id)]

    # When the admin enables them again and they ask once more
    assert admin.put(f"/api/admin/staff/{member.id}", json={"active": True}).status_code == 200
    portal.public.post("/api/auth/forgot-password", json={"username": member.username})
    pump.drain()

    # Then the mail with a temporary password does go out
    assert len(portal.outbox(member.email)) == mails_before + 1
    assert portal.last_temporary_password(member.email)


def test_changing_a_role_takes_effect_at_once(portal, admin):
    # Given a signed-in staff member
    member = new_member(portal, admin)

    # When the admin makes them an admin
    answer = admin.put(f"/api/admin/staff/{member.id}", json={"role": "admin"})

    # Then the answer says so, their old session (which carried the old role) has ended,
    # and their next sign-in is an admin's
    assert answer.status_code == 200 and answer.json()["role"] == "admin"
    assert member.api.get("/api/me").status_code == 401
    again = portal.signed_in(member.username, member.password)
    assert again.get("/api/admin/staff").status_code == 200
    assert any(e["action"] == "staff.role_change" and e["detail"]["to"] == "admin"
               for e in events(admin, actor_id=admin_id(admin)) if e["target_id"] == member.id)


def test_staff_changes_name_a_real_staff_member_and_say_what_to_change(portal, admin, staff):
    # Given a patient, and an id nobody has
    patient = portal.register_patient(staff)
    member = new_member(portal, admin)

    # When the admin "updates" them, or sends nothing to change, or a role no one can have
    not_staff = admin.put(f"/api/admin/staff/{patient.id}", json={"active": False})
    nobody = admin.put("/api/admin/staff/s_" + secrets.token_hex(10), json={"active": False})
    empty = admin.put(f"/api/admin/staff/{member.id}", json={})
    bad_role = admin.put(f"/api/admin/staff/{member.id}", json={"role": "patient"})

    # Then a patient and an unknown id are not found, and the others are bad requests naming the field
    assert not_staff.status_code == 404 and nobody.status_code == 404
    assert empty.status_code == 400 and empty.json()["message"].startswith("active or role")
    assert bad_role.status_code == 400 and bad_role.json()["message"].startswith("role")
    assert member.api.get("/api/me").status_code == 200


# ---------------------------------------------------------------- a patient's portal access (staff)

def test_closing_a_patients_access_ends_their_sessions_and_refuses_their_sign_in(portal, staff, admin):
    # Given a signed-in patient
    patient = portal.new_patient(staff)

    # When staff close their portal access, with a reason
    answer = staff.put(f"/api/staff/patients/{patient.id}/access", json={"active": False, "reason": "Moved away"})

    # Then the answer is the patient with the access closed, their session has ended at once,
    # and their sign-in is refused exactly as any failed one
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == patient.id and answer.json()["active"] is False
    assert answer.json()["access_reason"] == "Moved away"
    assert patient.api.get("/api/items").status_code == 401
    assert _refusal(portal.login(patient.username, patient.password)) == (401, REFUSED)
    # And the trail has it under the patient
    assert any(e["action"] == "patient.access_close" for e in events(admin, patient_id=patient.id))


def test_while_closed_results_are_published_and_kept_but_no_notice_goes_out(portal, staff, admin):
    # Given a patient whose access is closed
    patient = portal.new_patient(staff)
    assert staff.put(f"/api/staff/patients/{patient.id}/access",
                     json={"active": False, "reason": "Asked to stop"}).status_code == 200
    mails_before = len(portal.outbox(patient.email))

    # When a result for them arrives through the real publisher
    put_upload(upload_key(patient.mrn))
    pump.drain()

    # Then it is published (staff see it), and no notice was mailed
    listed = staff.get(f"/api/staff/patients/{patient.id}").json()["items"]
    assert len(listed) == 1 and listed[0]["kind"] == "document"
    assert len(portal.outbox(patient.email)) == mails_before

    # When the access is reopened
    reopened = staff.put(f"/api/staff/patients/{patient.id}/access", json={"active": True, "reason": "Came back"})

    # Then they sign in with their password and find the record kept for them
    assert reopened.status_code == 200 and reopened.json()["active"] is True
    again = portal.signed_in(patient.username, patient.password)
    assert [item["id"] for item in again.get("/api/items").json()["items"]] == [listed[0]["id"]]
    assert any(e["action"] == "patient.access_reopen" for e in events(admin, patient_id=patient.id))


def test_the_sweep_neither_mails_nor_escalates_a_closed_patients_items(portal, staff, clock):
    # Given a patient with an unread item whose follow-up is due, and whose access was then closed
    patient = portal.new_patient(staff)
    day0 = fresh_day0()
    clock.travel_to(day0)
    item = publish_item(patient.id, day0)
    account_store.set_disabled(account_store.get(patient.id), True, "Deceased", day0)
    sent_before = len(notices_to(portal, patient.email))

    # When the sweep runs after the follow-up was due
    summary = sweep(portal, clock, day(day0, 3, hours=1))

    # Then no notice went out, nothing was escalated, and the item left follow-up
    assert len(notices_to(portal, patient.email)) == sent_before
    assert summary["stopped"] >= 1
    stored = item_store.get(item.id)
    assert stored.due_at is None and not stored.escalated


def test_a_closing_or_reopening_needs_a_reason_and_a_patient(portal, staff, admin):
    # Given a patient and a staff member
    patient = portal.register_patient(staff)
    member = new_member(portal, admin)

    # When the access is changed without a reason, for a staff member's id, or with no body
    blank = staff.put(f"/api/staff/patients/{patient.id}/access", json={"active": False, "reason": "  "})
    missing = staff.put(f"/api/staff/patients/{patient.id}/access", json={"active": False})
    not_a_patient = staff.put(f"/api/staff/patients/{member.id}/access", json={"active": False, "reason": "x"})

    # Then each is refused naming what is wrong, and nothing changed
    assert blank.status_code == 400 and blank.json()["message"].startswith("reason")
    assert missing.status_code == 400 and missing.json()["message"].startswith("reason")
    assert not_a_patient.status_code == 404
    assert staff.get(f"/api/staff/patients/{patient.id}").json()["active"] is True


# ---------------------------------------------------------------- invitation and lock

def test_a_new_invitation_mails_a_fresh_temporary_password_that_signs_in(portal, staff, admin):
    # Given a patient who lost their invitation
    patient = portal.register_patient(staff)
    first = portal.last_temporary_password(patient.email)

    # When staff send a new one
    answer = staff.post(f"/api/staff/patients/{patient.id}/invitation")

    # Then it is accepted, a fresh temporary password is mailed, and it signs the patient in
    assert answer.status_code == 202, answer.text
    fresh = portal.last_temporary_password(patient.email)
    assert fresh != first
    signed_in = portal.login(patient.username, fresh)
    assert signed_in.status_code == 200 and signed_in.json()["must_change_password"] is True
    assert any(e["action"] == "patient.invitation" and e["outcome"] == "ok"
               for e in events(admin, patient_id=patient.id))


def test_no_invitation_is_sent_while_the_access_is_closed(portal, staff):
    # Given a patient whose access is closed
    patient = portal.register_patient(staff)
    staff.put(f"/api/staff/patients/{patient.id}/access", json={"active": False, "reason": "Duplicate record"})
    mails_before = len(portal.outbox(patient.email))

    # When staff try to send a new invitation
    answer = staff.post(f"/api/staff/patients/{patient.id}/invitation")

    # Then it is refused and nothing is mailed
    assert answer.status_code == 409 and answer.json()["error"] == "access_closed"
    assert len(portal.outbox(patient.email)) == mails_before


def test_unlocking_clears_the_lock_and_the_failure_count(portal, staff, admin):
    # Given a patient locked out by five wrong passwords, and two more failures after that lock
    patient = portal.new_patient(staff)
    for _ in range(5):
        portal.login(patient.username, "wrong-" + patient.password)
    assert portal.login(patient.username, patient.password).status_code == 401
    assert staff.get(f"/api/staff/patients/{patient.id}").json()["locked"] is True

    # When staff unlock the account for the patient who called in
    answer = staff.post(f"/api/staff/patients/{patient.id}/unlock")

    # Then the lock and the failure count are gone, and the right password signs in
    assert answer.status_code == 204
    stored = account_store.get(patient.id)
    assert stored.locked_until is None and stored.failed_logins == 0 and stored.lock_count == 0
    assert staff.get(f"/api/staff/patients/{patient.id}").json()["locked"] is False
    assert portal.login(patient.username, patient.password).status_code == 200
    assert any(e["action"] == "patient.unlock" and e["detail"]["was_locked"]
               for e in events(admin, patient_id=patient.id))


def test_patient_actions_answer_404_for_ids_that_are_not_patients(portal, staff):
    # Given an id no one has
    nobody = "p_" + secrets.token_hex(10)

    # When staff send an invitation to it or unlock it
    # Then both are not found
    assert staff.post(f"/api/staff/patients/{nobody}/invitation").status_code == 404
    assert staff.post(f"/api/staff/patients/{nobody}/unlock").status_code == 404
