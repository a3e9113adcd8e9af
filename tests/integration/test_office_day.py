"""The office's day, over HTTP on the local stack: a phone on file and names on every staff row,
questions linked to the item they are about, office replies named, registration conflicts that
mark their fields, dates typed as the hint says, and error pages for browsers."""

from __future__ import annotations

import re

from tests.support.followup import day, follow_up_entries, fresh_day0, publish_item, staff_now, sweep
from tests.support.http import unique_email, unique_mrn
from tests.support.pages import page_csrf, signed_in_pages

STAFF_NAME = "Front Desk"  # the staff member `desk` of tests/conftest.py


def _patient_view(staff, patient_id: str) -> dict:
    answer = staff.get(f"/api/staff/patients/{patient_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _registration(**overrides) -> dict:
    return {"name": "Rosa Delgado", "date_of_birth": "1975-06-01", "email": unique_email(), "mrn": unique_mrn(),
            **overrides}


# ---------------------------------------------------------------- phone and language

def test_registration_keeps_the_phone_and_language_and_the_patient_record_shows_them(portal, staff):
    # Given a registration with a phone, written as people write it, and Spanish
    body = _registration(phone="+1 (919) 555-0130", language="es")
    # When the office registers the patient
    answer = staff.post("/api/staff/patients", json=body)
    # Then the record carries both
    assert answer.status_code == 201, answer.text
    record = _patient_view(staff, answer.json()["id"])
    assert record["phone"] == "+19195550130"  # E.164
    assert record["language"] == "es"


def test_without_phone_or_language_the_record_has_no_phone_and_english(portal, staff):
    # Given a registration with neither / When it is made / Then no phone and English
    answer = staff.post("/api/staff/patients", json=_registration())
    record = _patient_view(staff, answer.json()["id"])
    assert record["phone"] is None and record["language"] == "en"


def test_a_phone_that_is_not_one_is_400_naming_the_field(portal, staff):
    for bad in ("call me", "12345", "1" * 21, "555-0100 ext. 4"):
        # When a registration carries it
        answer = staff.post("/api/staff/patients", json=_registration(phone=bad))
        # Then 400 names the phone field, and nobody is registered
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["message"].startswith("phone"), answer.text


def test_a_language_other_than_en_or_es_is_400_naming_the_field(portal, staff):
    answer = staff.post("/api/staff/patients", json=_registration(language="fr"))
    assert answer.status_code == 400 and "language" in answer.json()["message"]


def test_the_office_edits_and_removes_the_phone(portal, staff):
    # Given a patient without a phone
    patient = portal.register_patient(staff)
    # When the office sets one
    set_ = staff.put(f"/api/staff/patients/{patient.id}/phone", json={"phone": "919 555 0177"})
    # Then the record shows it, in E.164
    assert set_.status_code == 200, set_.text
    assert set_.json()["phone"] == "+19195550177" == _patient_view(staff, patient.id)["phone"]
    # When a bad one is sent / Then 400 names the field and the number stays
    bad = staff.put(f"/api/staff/patients/{patient.id}/phone", json={"phone": "not a number"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("phone")
    assert _patient_view(staff, patient.id)["phone"] == "+19195550177"
    # When it is removed (null) / Then there is none
    removed = staff.put(f"/api/staff/patients/{patient.id}/phone", json={"phone": None})
    assert removed.status_code == 200 and _patient_view(staff, patient.id)["phone"] is None


def test_a_patient_cannot_edit_a_phone_and_an_unknown_patient_is_404(portal, staff):
    patient = portal.new_patient(staff)
    refused = patient.api.put(f"/api/staff/patients/{patient.id}/phone", json={"phone": "919 555 0177"})
    assert refused.status_code == 403
    unknown = staff.put("/api/staff/patients/p_nobody/phone", json={"phone": "919 555 0177"})
    assert unknown.status_code == 404


def test_the_csv_import_takes_an_optional_phone_and_language(portal, staff, tmp_path):
    # Given a CSV with the optional columns
    import csv

    from typer.testing import CliRunner

    from portal_cli.cli import app as cli

    email, mrn = unique_email(), unique_mrn()
    path = tmp_path / "patients.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "date_of_birth", "email", "mrn", "phone", "language"])
        writer.writerow(["Imported Person", "1966-02-03", email, mrn, "(919) 555-0199", "es"])
    # When it is imported
    result = CliRunner().invoke(cli, ["import-patients", "--no-invite", str(path)])
    # Then the patient has the phone and language
    assert result.exit_code == 0, result.output
    found = staff.get("/api/staff/patients", params={"q": mrn}).json()["patients"]
    assert [(p["phone"], p["language"]) for p in found] == [("+19195550199", "es")]


def test_a_csv_row_with_a_bad_phone_is_a_bad_row(portal, tmp_path):
    import csv

    from typer.testing import CliRunner

    from portal_cli.cli import app as cli

    path = tmp_path / "patients.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "date_of_birth", "email", "mrn", "phone"])
        writer.writerow(["Bad Phone", "1966-02-03", unique_email(), unique_mrn(), "12"])
    result = CliRunner().invoke(cli, ["import-patients", "--no-invite", str(path)])
    assert result.exit_code != 0 and "line 2" in result.output and "phone" in result.output


# ---------------------------------------------------------------- follow-up rows name the call

def test_follow_up_entries_name_the_patient_their_phone_and_the_unread_item(portal, clock):
    # Given a patient with a phone and a document left unread after every notice
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal), name="Walter Brennan", phone="919-555-0131")
    item = publish_item(patient.id, day0, title="Lipid panel")
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))
    # When the office reads its queue
    staff = staff_now(portal)
    entry = next(e for e in follow_up_entries(staff) if e["item_id"] == item.id)
    # Then the entry says whom to call, at which number, about which item
    assert entry["patient_name"] == "Walter Brennan"
    assert entry["phone"] == "+19195550131"
    assert entry["item_title"] == "Lipid panel"
    # And the work-queue page's row shows the same
    pages = signed_in_pages(portal.base_url, "desk", _staff_password())
    row = _row_of(pages.get(f"{portal.base_url}/staff/queue?limit=500").text, entry["id"])
    assert "Walter Brennan" in row and "(919) 555-0131" in row and "Lipid panel" in row
    assert "Patient record" not in row


def _staff_password() -> str:
    from tests.conftest import STAFF_PASSWORD

    return STAFF_PASSWORD


def _row_of(html: str, entry_id: str) -> str:
    found = re.search(r'<tr data-entry-id="' + re.escape(entry_id) + r'">(.*?)</tr>', html, re.S)
    assert found, "no row for the entry"
    return found.group(1)


# ---------------------------------------------------------------- linked questions, named replies

def test_a_question_linked_to_a_result_carries_the_item_for_patient_and_office(portal, clock):
    # Given a patient with a result
    clock.travel_to(fresh_day0())
    staff = staff_now(portal)
    patient = portal.new_patient(staff, name="Ines Ortega")
    item = publish_item(patient.id, clock.now(), title="Thyroid panel")
    # When they ask the office about it
    asked = patient.api.post("/api/messages", json={"subject": "About my thyroid", "body": "Is this normal?",
                                                    "item_id": item.id})
    assert asked.status_code == 201, asked.text
    thread_id = asked.json()["id"]
    # Then the thread carries the item, for the patient and for the office
    mine = patient.api.get(f"/api/messages/{thread_id}").json()
    assert mine["item"] == {"id": item.id, "title": "Thyroid panel"}
    assert mine["category"] == "results_question"
    office = staff_now(portal).get(f"/api/staff/messages/{thread_id}").json()
    assert office["item"]["id"] == item.id and office["item"]["title"] == "Thyroid panel"
    assert office["patient_name"] == "Ines Ortega"
    # And the office inbox row names the patient and the item
    row = next(t for t in _whole_inbox(staff_now(portal)) if t["id"] == thread_id)
    assert row["patient_name"] == "Ines Ortega" and row["item"]["title"] == "Thyroid panel"


def test_a_question_about_another_patients_item_is_refused_without_telling_it(portal, clock):
    # Given two patients, one with a result
    clock.travel_to(fresh_day0())
    staff = staff_now(portal)
    owner = portal.register_patient(staff)
    other = portal.new_patient(staff)
    theirs = publish_item(owner.id, clock.now(), title="Someone else's biopsy")
    # When the other patient asks about it, and about an id that names nothing
    refused = other.api.post("/api/messages", json={"subject": "?", "body": "?", "item_id": theirs.id})
    unknown = other.api.post("/api/messages", json={"subject": "?", "body": "?", "item_id": "doc_nothing"})
    # Then both answers are the same 400, naming the field and nothing of the item
    assert refused.status_code == unknown.status_code == 400
    assert refused.json() == unknown.json()
    assert refused.json()["message"].startswith("item_id")
    assert "biopsy" not in refused.text
    # And no thread was started
    assert other.api.get("/api/messages").json()["threads"] == []


def test_a_thread_without_a_link_carries_item_null(portal, staff):
    patient = portal.new_patient(staff)
    thread_id = patient.api.post("/api/messages", json={"subject": "Hello", "body": "Hi"}).json()["id"]
    assert patient.api.get(f"/api/messages/{thread_id}").json()["item"] is None


def test_office_replies_are_named_for_staff_and_signed_the_office_for_patients(portal, staff):
    # Given a patient's question and the office's reply
    patient = portal.new_patient(staff, name="Tomas Rivera")
    thread_id = patient.api.post("/api/messages", json={"subject": "Refill", "body": "Please"}).json()["id"]
    assert staff.post(f"/api/staff/messages/{thread_id}", json={"body": "Done."}).status_code == 201
    # When the office opens the thread / Then the reply names the staff member, the question the patient
    office = staff.get(f"/api/staff/messages/{thread_id}").json()["messages"]
    assert [m["author_name"] for m in office] == ["Tomas Rivera", STAFF_NAME]
    # When the patient opens it / Then the reply is the office's, their own message unnamed
    mine = patient.api.get(f"/api/messages/{thread_id}").json()["messages"]
    assert [m["author_name"] for m in mine] == [None, "the office"]
    # And the pages say the same: the staff member's name to staff, never their account id
    pages = signed_in_pages(portal.base_url, "desk", _staff_password())
    html = pages.get(f"{portal.base_url}/staff/messages/{thread_id}").text
    assert f"{STAFF_NAME} (office)" in html and "(staff s_" not in html and "Tomas Rivera" in html


def _whole_inbox(staff) -> list[dict]:
    threads, cursor = [], None
    while True:
        page = staff.get("/api/staff/inbox", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        threads += page["threads"]
        cursor = page["next_cursor"]
        if not cursor:
            return threads


# ---------------------------------------------------------------- registration conflicts mark their fields

def _register_on_page(pages, base_url: str, **values) -> tuple[int, str]:
    form = pages.get(f"{base_url}/staff/patients/new")
    answer = pages.post(f"{base_url}/staff/patients/new", allow_redirects=False,
                        data={"csrf_token": page_csrf(form.text), **values})
    return answer.status_code, answer.text


def _marked(html: str) -> set[str]:
    return set(re.findall(r'id="([a-z_]+)"[^>]*aria-invalid="true"', html.replace("\n", " ")))


def test_an_email_already_someones_username_marks_the_email_field(portal, staff):
    # Given a registered patient
    existing = portal.register_patient(staff)
    pages = signed_in_pages(portal.base_url, "desk", _staff_password())
    # When another registration uses their email
    status, html = _register_on_page(pages, portal.base_url, name="New Person", date_of_birth="1990-01-02",
                                     email=existing.email, mrn=unique_mrn())
    # Then the page is 409 with the email field marked and saying why
    assert status == 409
    assert _marked(html) == {"email"}
    assert "already the username of another account" in html
    # And the API names the field too
    api = staff.post("/api/staff/patients", json=_registration(email=existing.email))
    assert api.status_code == 409 and api.json()["error"] == "username_taken"
    assert api.json()["message"].startswith("email:") and set(api.json()["fields"]) == {"email"}


def test_both_email_and_mrn_taken_mark_both_fields(portal, staff):
    # Given a registered patient
    existing = portal.register_patient(staff)
    pages = signed_in_pages(portal.base_url, "desk", _staff_password())
    # When a registration repeats their email and their MRN
    status, html = _register_on_page(pages, portal.base_url, name="Same Again", date_of_birth="1990-01-02",
                                     email=existing.email, mrn=existing.mrn)
    # Then both fields are marked
    assert status == 409
    assert _marked(html) == {"email", "mrn"}
    api = staff.post("/api/staff/patients", json=_registration(email=existing.email, mrn=existing.mrn))
    assert api.status_code == 409 and set(api.json()["fields"]) == {"email", "mrn"}


def test_an_mrn_taken_marks_the_mrn_field(portal, staff):
    existing = portal.register_patient(staff)
    pages = signed_in_pages(portal.base_url, "desk", _staff_password())
    status, html = _register_on_page(pages, portal.base_url, name="Other", date_of_birth="1990-01-02",
                                     email=unique_email(), mrn=existing.mrn)
    assert status == 409 and _marked(html) == {"mrn"}


# ---------------------------------------------------------------- dates typed as the hint says

def test_the_date_of_birth_is_typed_as_its_hint_says_on_every_form(portal, staff):
    pages = signed_in_pages(portal.base_url, "desk", _staff_password())
    for path in ("/staff/patients/new", "/forms/forgot-username"):
        html = pages.get(f"{portal.base_url}{path}").text
        field = re.search(r'<input id="date_of_birth"[^>]*>', html, re.S).group(0)
        # Then the box is a text box (not the browser's own date control) and the hint shows its format
        assert 'type="text"' in field, path
        assert "Month/day/year, for example 04/30/1980." in html, path
    # When a patient is registered with the date typed as the hint says
    email = unique_email()
    status, _ = _register_on_page(pages, portal.base_url, name="Hint Follower", date_of_birth="04/30/1980",
                                  email=email, mrn=unique_mrn(), phone="919 555 0112")
    # Then it is stored as the API's date
    assert status == 303
    found = staff.get("/api/staff/patients", params={"q": email}).json()["patients"]
    assert [(p["date_of_birth"], p["phone"]) for p in found] == [("1980-04-30", "+19195550112")]
    # And a date in another shape says how to type it, next to the field
    status, html = _register_on_page(pages, portal.base_url, name="X", date_of_birth="30.04.1980",
                                     email=unique_email(), mrn=unique_mrn())
    assert status == 400 and _marked(html) == {"date_of_birth"}
    assert "Enter the date as month/day/year" in html


# ---------------------------------------------------------------- error pages for browsers

def test_a_mistyped_address_in_a_browser_is_an_html_page_with_a_way_back(portal):
    answer = portal.public.get("/nope", headers={"Accept": "text/html"})
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("text/html")
    assert '<html lang="en">' in answer.text and "<h1>Page not found</h1>" in answer.text
    assert 'href="/"' in answer.text and 'href="/sign-in"' in answer.text
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["X-Content-Type-Options"] == "nosniff"
    deeper = portal.public.get("/staff/nothing/here/at/all")
    assert deeper.status_code == 404 and "<h1>Page not found</h1>" in deeper.text


def test_the_api_keeps_json_errors(portal):
    answer = portal.public.get("/api/nope")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    wrong_method = portal.public.request("DELETE", "/api/health")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"


def test_a_wrong_method_on_a_page_is_an_html_405(portal):
    answer = portal.public.request("DELETE", "/sign-in")
    assert answer.status_code == 405
    assert answer.headers["Content-Type"].startswith("text/html") and "<h1>" in answer.text
    assert 'href="/sign-in"' in answer.text


def test_staff_pages_carry_the_staff_footer_and_patient_pages_the_patients(portal, staff):
    pages = signed_in_pages(portal.base_url, "desk", _staff_password())
    office = pages.get(f"{portal.base_url}/staff").text
    assert "Office side of the patient portal" in office and "not read after hours" not in office
    patient = portal.new_patient(staff)
    patient_pages = signed_in_pages(portal.base_url, patient.username, patient.password)
    assert "not read after hours" in patient_pages.get(f"{portal.base_url}/").text


def test_a_clinic_may_show_patients_the_name_of_who_answered(portal, staff, monkeypatch):
    # Given a clinic whose OFFICE_NAMES_TO_PATIENTS setting is on (the portal serves from this process)
    from dataclasses import replace

    from chalicelib.services.messaging import threads as messaging
    from chalicelib.settings import get_settings

    named = replace(get_settings(), office_names_to_patients=True)
    monkeypatch.setattr(messaging, "get_settings", lambda: named)
    patient = portal.new_patient(staff)
    thread_id = patient.api.post("/api/messages", json={"subject": "Forms", "body": "Which ones?"}).json()["id"]
    staff.post(f"/api/staff/messages/{thread_id}", json={"body": "The blue one."})
    # When the patient opens the thread / Then the reply carries the staff member's name
    mine = patient.api.get(f"/api/messages/{thread_id}").json()["messages"]
    assert [m["author_name"] for m in mine] == [None, STAFF_NAME]
