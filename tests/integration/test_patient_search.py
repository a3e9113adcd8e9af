"""The office finds a patient the way a front desk searches: any word of the name by its
beginning (accents and case aside, in any order), the exact MRN, username or email, or the
date of birth."""

from __future__ import annotations

import secrets

from tests.conftest import STAFF_PASSWORD
from tests.integration.test_cli import portal_cli, write_csv
from tests.support.http import unique_email, unique_mrn
from tests.support.pages import signed_in_pages


def rare_word() -> str:
    """A made-up surname no other test uses, so a search's results are this test's own."""
    return "Zo" + "".join(secrets.choice("bcdfghjklmnpqrstvwxz") + secrets.choice("aeiou") for _ in range(4))


def rare_birth_date() -> str:
    return f"19{secrets.randbelow(90) + 10}-{secrets.randbelow(12) + 1:02d}-{secrets.randbelow(28) + 1:02d}"


def search(staff, q: str) -> list[dict]:
    answer = staff.get("/api/staff/patients", params={"q": q})
    assert answer.status_code == 200, answer.text
    return answer.json()["patients"]


def ids(found: list[dict]) -> list[str]:
    return [p["id"] for p in found]


def test_a_patient_is_found_by_surname_first_name_or_middle_word(portal, staff):
    # Given María del Carmen López <rare> and someone with another name
    rare = rare_word()
    maria = portal.register_patient(staff, name=f"María del Carmen López {rare}")
    other = portal.register_patient(staff, name=f"Other Person {rare_word()}")

    # When staff search by each word of her name on its own
    for q in ("María", "Carmen", "López", rare):
        found = ids(search(staff, q))

        # Then she is found each time, and the other patient never
        assert maria.id in found, q
        assert other.id not in found, q


def test_words_match_by_their_beginning_without_accents_or_case(portal, staff):
    # Given María García <rare>
    rare = rare_word()
    maria = portal.register_patient(staff, name=f"María García {rare}")

    # When staff search by a word's beginning, with or without its accent, in any case
    for q in ("garc", "GARCÍA", "García", "garcia", "mar", "MARIA", rare.lower()[:4]):
        found = ids(search(staff, q))

        # Then she is found
        assert maria.id in found, q


def test_several_words_narrow_the_search_in_any_order(portal, staff):
    # Given Maria Garcia <rare> and Lucia Garcia <rare>, namesakes of one family
    rare = rare_word()
    maria = portal.register_patient(staff, name=f"Maria Garcia {rare}")
    lucia = portal.register_patient(staff, name=f"Lucia Garcia {rare}")

    # When staff search by the family and a first name's beginning, in either order
    for q in (f"garcia m {rare}", f"{rare} maria garcia", f"m {rare}"):
        found = ids(search(staff, q))

        # Then only Maria is found
        assert found == [maria.id], q

    # And the family name alone finds both, ordered by name
    assert ids(search(staff, f"garcia {rare}")) == [lucia.id, maria.id]


def test_a_word_that_begins_no_word_of_the_name_finds_nobody(portal, staff):
    # Given a patient Ana <rare>
    rare = rare_word()
    ana = portal.register_patient(staff, name=f"Ana {rare}")

    # When staff search for her surname with a word she doesn't have, or by a middle of a word
    wrong_first = search(staff, f"{rare} Bernadette")
    middle = search(staff, rare[2:])

    # Then she is not found
    assert ana.id not in ids(wrong_first)
    assert ana.id not in ids(middle)


def test_a_patient_is_found_by_date_of_birth_typed_iso_or_us_style(portal, staff):
    # Given a patient born on a date, and another born the next day
    born = rare_birth_date()
    patient = portal.register_patient(staff, name=f"Born {rare_word()}", date_of_birth=born)
    day_after = born[:-2] + f"{int(born[-2:]) + 1:02d}"
    other = portal.register_patient(staff, name=f"Born {rare_word()}", date_of_birth=day_after)
    year, month, day = born.split("-")

    # When staff search by the date as stored, and as a US front desk types it
    for q in (born, f"{month}/{day}/{year}"):
        found = search(staff, q)

        # Then the patient is found with the date shown, and not the one born the day after
        assert patient.id in ids(found), q
        assert other.id not in ids(found), q
        assert {p["date_of_birth"] for p in found} == {born}


def test_a_patient_is_found_by_the_exact_email_on_file(portal, staff):
    # Given a patient who later signed in with a username of their own (so the email is not it)
    patient = portal.new_patient(staff, name=f"Mail {rare_word()}")
    username = f"user.{secrets.token_hex(4)}"
    renamed = patient.api.put("/api/me/username", json={"username": username, "current_password": patient.password})
    assert renamed.status_code == 200, renamed.text

    # When staff search by the email, in other case, and by the new username
    by_email = search(staff, patient.email.upper())
    by_username = search(staff, username)

    # Then the patient is found both ways, in the usual shape
    assert ids(by_email) == [patient.id]
    assert ids(by_username) == [patient.id]
    assert by_email[0]["username"] == username and by_email[0]["email"] == patient.email


def test_an_exact_mrn_comes_first_before_name_matches(portal, staff):
    # Given Zoe Zimmer, and a patient whose name begins with Zoe's MRN (and so sorts before her)
    zoe = portal.register_patient(staff, name=f"Zoe Zimmer {rare_word()}")
    namesake = portal.register_patient(staff, name=f"{zoe.mrn.title()} Adams", mrn=unique_mrn())

    # When staff search by Zoe's MRN
    found = ids(search(staff, zoe.mrn))

    # Then Zoe comes first, then the name match
    assert found == [zoe.id, namesake.id]


def test_staff_accounts_are_never_found(portal, admin, staff):
    # Given a staff member and a patient sharing a rare surname
    rare = rare_word()
    username = f"desk.{secrets.token_hex(4)}"
    created = admin.post("/api/admin/staff", json={"username": username, "email": unique_email("desk"),
                                                    "name": f"Desk {rare}", "role": "staff"})
    assert created.status_code == 201, created.text
    patient = portal.register_patient(staff, name=f"Patient {rare}")

    # When staff search by the surname and by the staff member's username
    by_name = search(staff, rare)
    by_username = search(staff, username)

    # Then only the patient is found
    assert ids(by_name) == [patient.id]
    assert by_username == []


def test_at_most_25_patients_come_back(portal, staff):
    # Given 26 patients of one family
    rare = rare_word()
    for i in range(26):
        portal.register_patient(staff, name=f"Sibling{i:02d} {rare}")

    # When staff search by the family name
    found = search(staff, rare)

    # Then 25 come back, the first 25 by name
    assert [p["name"] for p in found] == [f"Sibling{i:02d} {rare}" for i in range(25)]


def test_each_patient_shown_is_audited_but_not_the_query(portal, staff, admin):
    # Given a patient
    rare = rare_word()
    patient = portal.register_patient(staff, name=f"Audited {rare}")

    # When staff find them by name
    assert ids(search(staff, rare)) == [patient.id]

    # Then the patient's trail shows the search result, and no event carries the name searched
    events = admin.get("/api/staff/audit", params={"patient_id": patient.id}).json()["events"]
    assert "patient.search_result" in {e["action"] for e in events}
    searches = admin.get("/api/staff/audit", params={"actor_id": staff.get("/api/me").json()["id"]}).json()["events"]
    assert searches and all(rare.lower() not in str(e).lower() for e in searches if e["action"].startswith("patient.search"))


def test_imported_patients_are_found_by_name(portal, staff, tmp_path):
    # Given patients imported from a file, with and without invitations
    rare = rare_word()
    invited = ["Ines Invited " + rare, "1971-02-03", unique_email("import"), unique_mrn()]
    deferred = ["Dora Deferred " + rare, "1971-02-03", unique_email("import"), unique_mrn()]
    assert portal_cli("import-patients", str(write_csv(tmp_path / "a.csv", [invited]))).exit_code == 0
    assert portal_cli("import-patients", "--no-invite", str(write_csv(tmp_path / "b.csv", [deferred]))).exit_code == 0

    # When staff search by the shared surname
    found = search(staff, rare)

    # Then both are found, by name
    assert [p["mrn"] for p in found] == [deferred[3], invited[3]]


def test_the_search_page_says_what_can_be_searched_and_finds_by_surname(portal, staff):
    # Given a patient
    rare = rare_word()
    portal.register_patient(staff, name=f"Paz {rare}")

    # When staff open the search page with her surname
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    answer = pages.get(f"{portal.base_url}/staff/patients", params={"q": rare.lower()}, timeout=30)
    assert answer.status_code == 200, answer.text
    page = answer.text

    # Then the page explains the search and lists her
    assert "date of birth" in page and "any order" in page
    assert f"Paz {rare}" in page
