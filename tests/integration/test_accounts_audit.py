"""The append-only audit trail of account events, and who may read it."""

import secrets

from chalicelib.localstack import pump
from tests.support.http import strong_password, unique_email


def events_for(admin, **query) -> list[dict]:
    answer = admin.get("/api/staff/audit", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def test_every_account_event_of_a_patient_is_in_their_trail(portal, staff, admin):
    # Given a patient registered by the front desk, who then signs in, fails once, changes
    # username, email and password, asks for a reset and signs out
    desk_id = staff.get("/api/me").json()["id"]
    patient = portal.new_patient(staff)
    portal.login(patient.username, "wrong-" + patient.password)
    new_username = "audited_" + secrets.token_hex(3)
    assert patient.api.put("/api/me/username", json={"username": new_username,
                                                     "current_password": patient.password}).status_code == 200
    assert patient.api.put("/api/me/email", json={"email": unique_email(),
                                                  "current_password": patient.password}).status_code == 200
    new_password = strong_password()
    assert patient.api.post("/api/auth/password", json={"current_password": patient.password,
                                                        "new_password": new_password}).status_code == 204
    portal.public.post("/api/auth/forgot-password", json={"username": new_username})
    pump.drain()  # the recovery job, which audits the reset
    assert patient.api.post("/api/auth/logout").status_code == 204

    # When an admin reads the patient's trail
    events = events_for(admin, patient_id=patient.id)

    # Then each event is there with who, what, whom, when, from where and the outcome
    by_action = {}
    for event in events:
        by_action.setdefault((event["action"], event["outcome"]), event)
    expected = [
        ("patient.register", "ok"),
        ("auth.login", "ok"),
        ("auth.login", "bad_password"),
        ("account.password_change", "ok"),
        ("account.username_change", "ok"),
        ("account.email_change", "ok"),
        ("auth.forgot_password", "ok"),
    ]
    for key in expected:
        assert key in by_action, f"{key} missing from {sorted(by_action)}"
        event = by_action[key]
        assert event["patient_id"] == patient.id
        assert event["client_ip"] == "127.0.0.1"
        assert event["at"].endswith("Z")
    assert by_action[("patient.register", "ok")]["actor_id"] == desk_id
    assert by_action[("patient.register", "ok")]["actor_role"] == "staff"
    assert by_action[("account.email_change", "ok")]["actor_id"] == patient.id
    assert by_action[("auth.login", "bad_password")]["actor_id"] == patient.id
    # Newest first, and no secret anywhere in the trail
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert patient.password not in str(events) and new_password not in str(events)


def test_a_staff_members_actions_are_listed_by_actor(portal, staff, admin):
    # Given a patient the front desk registered and then changed the email of
    desk_id = staff.get("/api/me").json()["id"]
    patient = portal.register_patient(staff)
    assert staff.put(f"/api/staff/patients/{patient.id}/email", json={"email": unique_email()}).status_code == 200

    # When an admin reads the front desk's trail
    events = events_for(admin, actor_id=desk_id)

    # Then both actions are there, about that patient
    mine = {e["action"] for e in events if e["patient_id"] == patient.id}
    assert {"patient.register", "patient.email_change"} <= mine


def test_searching_patients_is_audited_per_patient_shown(portal, staff, admin):
    # Given a registered patient
    patient = portal.register_patient(staff)

    # When staff search by their MRN
    found = staff.get("/api/staff/patients", params={"q": patient.mrn}).json()["patients"]

    # Then the patient was shown, and that view is in the patient's trail
    assert [p["id"] for p in found] == [patient.id]
    assert "patient.search_result" in {e["action"] for e in events_for(admin, patient_id=patient.id)}


def test_failed_registration_and_lockout_are_audited(portal, staff, admin):
    # Given a patient, registered twice by mistake, who is then locked out
    patient = portal.new_patient(staff)
    again = staff.post("/api/staff/patients", json={"name": "Again", "date_of_birth": "1980-04-30",
                                                    "email": unique_email(), "mrn": patient.mrn})
    assert again.status_code == 409
    for _ in range(5):
        portal.login(patient.username, "wrong-" + patient.password)
    portal.login(patient.username, patient.password)

    # When an admin reads the trails
    desk_id = staff.get("/api/me").json()["id"]
    desk_events = events_for(admin, actor_id=desk_id)
    patient_events = events_for(admin, patient_id=patient.id)

    # Then the refused registration, the lock (and its mail) and the refused sign-in are recorded
    assert any(e["action"] == "patient.register" and e["outcome"] == "conflict" for e in desk_events)
    locks = [e for e in patient_events if e["action"] == "account.locked"]
    assert len(locks) == 1 and locks[0]["detail"]["mail"] == "sent"
    assert any(e["action"] == "auth.login" and e["outcome"] == "locked" for e in patient_events)


def test_only_admins_read_the_audit_trail(portal, staff, admin):
    # Given a patient
    patient = portal.new_patient(staff)

    # When staff, the patient and an admin ask for the trail, and an admin asks without a filter
    by_staff = staff.get("/api/staff/audit", params={"patient_id": patient.id})
    by_patient = patient.api.get("/api/staff/audit", params={"patient_id": patient.id})
    by_admin = admin.get("/api/staff/audit", params={"patient_id": patient.id})
    unfiltered = admin.get("/api/staff/audit")

    # Then only the admin gets it, and a filter is required
    assert by_staff.status_code == 403 and by_staff.json()["error"] == "forbidden"
    assert by_patient.status_code == 403
    assert by_admin.status_code == 200 and by_admin.json()["events"]
    assert unfiltered.status_code == 400 and "patient_id" in unfiltered.json()["message"]
