"""My Profile, staff changes to a patient's email, registration and staff accounts, over HTTP."""

import secrets

import pytest

from chalicelib.mail import sender
from chalicelib.store import accounts as account_store
from tests.support.http import strong_password, unique_email, unique_mrn


class MailSpy:
    """Each account mail as it is sent, with the watched account as stored at that moment: proof
    that the mail went out BEFORE the change was made."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.account_id: str | None = None

    def watch(self, account_id: str) -> None:
        self.account_id = account_id
        self.sent.clear()

    def of(self, template: str) -> list[dict]:
        return [m for m in self.sent if m["template"] == template]


@pytest.fixture
def mails(monkeypatch) -> MailSpy:
    spy = MailSpy()
    real_send = sender.send

    def send(to, template, **context):
        account = account_store.get(spy.account_id) if spy.account_id else None
        spy.sent.append({"to": to, "template": template, "stored": account})
        return real_send(to, template, **context)

    monkeypatch.setattr(sender, "send", send)
    return spy


def stored(patient_id: str):
    return account_store.get(patient_id)


def test_changing_the_email_leaves_the_username_even_when_it_is_the_old_email(portal, staff, mails):
    # Given a patient whose username is the email on file
    patient = portal.new_patient(staff)
    assert patient.username == patient.email
    new_email = unique_email("moved")
    mails.watch(patient.id)

    # When they change the email on file
    answer = patient.api.put("/api/me/email", json={"email": new_email, "current_password": patient.password})

    # Then the email changed and the username did not: they still sign in with the old address
    assert answer.status_code == 200 and answer.json() == {"email": new_email}
    me = patient.api.get("/api/me").json()
    assert me["email"] == new_email and me["username"] == patient.email
    assert portal.login(patient.email, patient.password).status_code == 200
    assert portal.login(new_email, patient.password).status_code == 401

    # And both addresses were mailed, the old one while it was still the address on file
    sent = mails.of("email_changed")
    assert [m["to"] for m in sent] == [patient.email, new_email]
    assert [m["stored"].email for m in sent] == [patient.email, patient.email]  # still the old address on file
    assert len([m for m in portal.outbox(patient.email) if "email address" in m["subject"]]) == 1
    assert len([m for m in portal.outbox(new_email) if "email address" in m["subject"]]) == 1


def test_changing_the_email_needs_the_current_password(portal, staff):
    # Given a signed-in patient
    patient = portal.new_patient(staff)

    # When they give a wrong current password, or an address that is not one
    wrong = patient.api.put("/api/me/email", json={"email": unique_email(), "current_password": "nope-" + patient.password})
    invalid = patient.api.put("/api/me/email", json={"email": "not an address", "current_password": patient.password})

    # Then both are refused and nothing changed
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
    assert invalid.status_code == 400 and invalid.json()["error"] == "invalid_email"
    assert invalid.json()["message"].startswith("email:")
    assert patient.api.get("/api/me").json()["email"] == patient.email


def test_changing_the_username_to_a_plain_name_then_signing_in_with_it(portal, staff, mails):
    # Given a patient whose username is their email
    patient = portal.new_patient(staff)
    new_username = "rosa_" + secrets.token_hex(3)
    mails.watch(patient.id)

    # When they change it to a name that is not an email address
    answer = patient.api.put("/api/me/username", json={"username": new_username, "current_password": patient.password})

    # Then the new name signs in (in any case) and the old one does not; the email is unchanged
    assert answer.status_code == 200 and answer.json() == {"username": new_username}
    assert portal.login(new_username.upper(), patient.password).status_code == 200
    assert portal.login(patient.email, patient.password).status_code == 401
    assert patient.api.get("/api/me").json()["email"] == patient.email

    # And the address on file was mailed while the old username was still in place
    sent = mails.of("username_changed")
    assert [m["to"] for m in sent] == [patient.email]
    assert sent[0]["stored"].username == patient.email


def test_a_username_in_use_is_409_username_taken_in_any_case(portal, staff):
    # Given two patients
    first = portal.new_patient(staff)
    second = portal.new_patient(staff)

    # When the second takes the first's username, written in capitals
    taken = second.api.put("/api/me/username", json={"username": first.username.upper(),
                                                     "current_password": second.password})

    # Then it is refused as taken, and nothing changed
    assert taken.status_code == 409 and taken.json()["error"] == "username_taken"
    assert taken.json()["message"].startswith("username:")
    assert second.api.get("/api/me").json()["username"] == second.username


@pytest.mark.parametrize("bad", ["ab", "has space", "slash/name", "x" * 129, "tab\tname"])
def test_an_invalid_username_is_400_invalid_username(portal, staff, bad):
    # Given a signed-in patient
    patient = portal.new_patient(staff)

    # When they ask for an invalid username
    answer = patient.api.put("/api/me/username", json={"username": bad, "current_password": patient.password})

    # Then it is refused, naming the field, and the username is unchanged
    assert answer.status_code == 400
    assert answer.json()["error"] in ("invalid_username", "invalid_request")
    assert answer.json()["message"].startswith("username:")
    if "\t" not in bad:
        assert answer.json()["error"] == "invalid_username"
    assert patient.api.get("/api/me").json()["username"] == patient.username


def test_an_email_shaped_username_of_ones_own_choice_works(portal, staff):
    # Given a signed-in patient
    patient = portal.new_patient(staff)
    chosen = unique_email("chosen")

    # When they choose another email-shaped username
    answer = patient.api.put("/api/me/username", json={"username": chosen, "current_password": patient.password})

    # Then it signs in, and the email on file is still the old one
    assert answer.status_code == 200
    assert portal.login(chosen, patient.password).status_code == 200
    assert patient.api.get("/api/me").json()["email"] == patient.email


def test_a_password_change_is_mailed_before_it_is_made(portal, staff, mails):
    # Given a signed-in patient and their stored password hash
    patient = portal.new_patient(staff)
    hash_before = stored(patient.id).password_hash
    mails.watch(patient.id)

    # When they change the password
    answer = patient.api.post("/api/auth/password", json={"current_password": patient.password,
                                                          "new_password": strong_password()})

    # Then the address on file was mailed while the old hash was still stored
    assert answer.status_code == 204
    sent = mails.of("password_changed")
    assert [m["to"] for m in sent] == [patient.email]
    assert sent[0]["stored"].password_hash == hash_before
    assert stored(patient.id).password_hash != hash_before


def test_staff_change_a_patients_email_and_the_username_stays(portal, staff, mails):
    # Given a patient whose username is their email
    patient = portal.new_patient(staff)
    new_email = unique_email("called-in")
    mails.watch(patient.id)

    # When the office updates the email on file
    answer = staff.put(f"/api/staff/patients/{patient.id}/email", json={"email": new_email})

    # Then the email changed, the username did not, and both addresses were mailed (old one first)
    assert answer.status_code == 200
    assert answer.json()["email"] == new_email and answer.json()["username"] == patient.email
    me = patient.api.get("/api/me").json()
    assert me["email"] == new_email and me["username"] == patient.email
    sent = mails.of("email_changed")
    assert [m["to"] for m in sent] == [patient.email, new_email]
    assert [m["stored"].email for m in sent] == [patient.email, patient.email]


def test_staff_changing_the_email_of_an_unknown_patient_is_404(staff):
    # When the office updates the email of a patient id that does not exist
    answer = staff.put("/api/staff/patients/p_doesnotexist/email", json={"email": unique_email()})

    # Then it is 404
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_registration_refuses_a_taken_mrn_or_email_username(portal, staff):
    # Given a registered patient
    patient = portal.register_patient(staff)

    # When another registration reuses the MRN, or the email in other capitals
    same_mrn = staff.post("/api/staff/patients", json={"name": "A Person", "date_of_birth": "1970-01-01",
                                                       "email": unique_email(), "mrn": patient.mrn})
    same_email = staff.post("/api/staff/patients", json={"name": "A Person", "date_of_birth": "1970-01-01",
                                                         "email": patient.email.upper(), "mrn": unique_mrn()})

    # Then both are 409 with the field named
    assert same_mrn.status_code == 409 and same_mrn.json()["error"] == "mrn_taken"
    assert same_email.status_code == 409 and same_email.json()["error"] == "username_taken"


def test_the_invitation_carries_a_temporary_password_and_nothing_medical(portal, staff):
    # Given a newly registered patient
    patient = portal.register_patient(staff, name="Yusuf Adeyemi")

    # When the invitation is read
    invitation = portal.outbox(patient.email)[-1]

    # Then it has the username and a temporary password line, a link, and no name, MRN or date of birth
    assert "Temporary password: " in invitation["text"]
    assert patient.username in invitation["text"]
    assert "http" in invitation["text"]
    for private in ("Yusuf", "Adeyemi", patient.mrn, "1980-04-30"):
        assert private not in invitation["text"] and private not in invitation["html"]


def test_an_admin_creates_staff_who_get_a_temporary_password(portal, admin):
    # Given a new staff member's details
    username = "nurse_" + secrets.token_hex(3)
    email = unique_email("nurse")

    # When an admin creates the account
    created = admin.post("/api/admin/staff", json={"username": username, "email": email,
                                                   "name": "Nadia Nurse", "role": "staff"})

    # Then the new member is mailed a temporary password that leads to the forced change
    assert created.status_code == 201, created.text
    assert created.json()["username"] == username and created.json()["role"] == "staff"
    temporary = portal.last_temporary_password(email)
    first = portal.login(username, temporary)
    assert first.status_code == 200 and first.json()["must_change_password"] is True
    assert first.json()["role"] == "staff"


def test_only_admins_create_staff_and_usernames_stay_unique(portal, staff, admin):
    # Given an existing staff username
    # When a non-admin tries to create staff, and an admin reuses a username
    by_staff = staff.post("/api/admin/staff", json={"username": "x_" + secrets.token_hex(3), "email": unique_email(),
                                                    "name": "Someone", "role": "staff"})
    duplicate = admin.post("/api/admin/staff", json={"username": "DESK", "email": unique_email(),
                                                     "name": "Someone", "role": "admin"})

    # Then the first is forbidden and the second is taken
    assert by_staff.status_code == 403 and by_staff.json()["error"] == "forbidden"
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "username_taken"


def test_patients_get_403_on_staff_and_admin_routes(portal, staff):
    # Given a signed-in patient
    patient = portal.new_patient(staff)

    # When they call staff and admin routes
    answers = [
        patient.api.get("/api/staff/patients?q=a"),
        patient.api.post("/api/staff/patients", json={"name": "X", "date_of_birth": "1970-01-01",
                                                      "email": unique_email(), "mrn": unique_mrn()}),
        patient.api.put(f"/api/staff/patients/{patient.id}/email", json={"email": unique_email()}),
        patient.api.post("/api/admin/staff", json={"username": "sneaky", "email": unique_email(),
                                                   "name": "X", "role": "admin"}),
        patient.api.get(f"/api/staff/audit?patient_id={patient.id}"),
    ]

    # Then every one is forbidden
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert {a.json()["error"] for a in answers} == {"forbidden"}
