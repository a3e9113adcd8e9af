"""Two people racing for one username or MRN leave exactly one winner (threads against the HTTP API
and DynamoDB Local, no read-then-write to hide behind)."""

import secrets
import threading

from tests.support.http import Api, unique_email, unique_mrn

ROUNDS = 5


def at_once(*calls):
    """Run the calls in threads released together; their answers in order."""
    start = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(index, call):
        start.wait()
        answers[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def registration(staff: Api, email: str, mrn: str):
    body = {"name": "Race Patient", "date_of_birth": "1980-04-30", "email": email, "mrn": mrn}
    return lambda: Api(staff.base_url, staff.token).post("/api/staff/patients", json=body)


def test_two_registrations_with_one_email_leave_one_account(portal, staff):
    for _ in range(ROUNDS):
        # Given one email address, written in two cases
        email = unique_email("race")

        # When two staff requests register it at the same moment, with different MRNs
        answers = at_once(registration(staff, email, unique_mrn()), registration(staff, email.upper(), unique_mrn()))

        # Then exactly one is created and the other is told the username is taken
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        assert loser.json()["error"] == "username_taken"
        found = staff.get("/api/staff/patients", params={"q": email}).json()["patients"]
        assert len(found) == 1


def test_two_registrations_with_one_mrn_leave_one_account(portal, staff):
    for _ in range(ROUNDS):
        # Given one MRN
        mrn = unique_mrn()

        # When two staff requests register it at the same moment, for different emails
        answers = at_once(registration(staff, unique_email("a"), mrn), registration(staff, unique_email("b"), mrn))

        # Then exactly one is created
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        assert next(a for a in answers if a.status_code == 409).json()["error"] == "mrn_taken"


def test_two_patients_renaming_to_one_username_leave_one_owner(portal, staff):
    # Given two signed-in patients
    first, second = portal.new_patient(staff), portal.new_patient(staff)
    for _ in range(ROUNDS):
        wanted = "race_" + secrets.token_hex(4)

        # When both ask for the same new username at the same moment
        answers = at_once(
            lambda: first.api.put("/api/me/username", json={"username": wanted, "current_password": first.password}),
            lambda: second.api.put("/api/me/username", json={"username": wanted.upper(),
                                                              "current_password": second.password}),
        )

        # Then exactly one gets it, the other is told it is taken, and the name signs in only the winner
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        assert next(a for a in answers if a.status_code == 409).json()["error"] == "username_taken"
        winner, loser = (first, second) if answers[0].status_code == 200 else (second, first)
        assert portal.login(wanted, winner.password).status_code == 200
        assert portal.login(wanted, loser.password).status_code == 401
        usernames = {first.api.get("/api/me").json()["username"].casefold(),
                     second.api.get("/api/me").json()["username"].casefold()}
        assert wanted in usernames and len(usernames) == 2


def test_a_rename_racing_a_registration_for_the_same_name_leaves_one_owner(portal, staff):
    # Given a signed-in patient
    patient = portal.new_patient(staff)
    for _ in range(ROUNDS):
        email = unique_email("contest")

        # When they rename themselves to an email at the moment the office registers it
        answers = at_once(
            lambda: patient.api.put("/api/me/username", json={"username": email, "current_password": patient.password}),
            registration(staff, email, unique_mrn()),
        )

        # Then exactly one of the two succeeds
        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([200, 409], [201, 409]), [a.text for a in answers]
