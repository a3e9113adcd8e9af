"""The clinic page's first sign-in promise, end to end over HTTP on the local stack."""


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
