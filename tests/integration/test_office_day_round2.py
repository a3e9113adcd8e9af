"""The office's day, round two, over HTTP on the local stack: the "unread" tile opens the list of
released unread items; a critical result still uncalled after an hour is mailed again to the admins,
once; staff see and change a patient's language; a staff member's message says whom it went to and
office-started threads speak in the office's voice; a date of birth typed 3/14/1962 is shown as the
clinic writes dates."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest

from chalicelib.localstack import pump
from chalicelib.services.followup import notices
from chalicelib.services.followup import sweep as followup
from chalicelib.services.maintenance import migrations
from chalicelib.services.results import critical
from chalicelib.settings import get_settings
from chalicelib.store import items as item_store
from chalicelib.store import outbox
from chalicelib.store import work as work_store
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD
from tests.fixtures.lab import personalised
from tests.integration.test_lab_reading import BORN, drop, result_ids
from tests.support.followup import day, fresh_day0, publish_item, staff_now, sweep
from tests.support.http import unique_email, unique_mrn
from tests.support.lifecycle import events
from tests.support.pages import page_csrf, signed_in_pages


@pytest.fixture(scope="module")
def desk_pages(portal):
    """The shared staff member `desk`, signed in on the pages once for the module."""
    return signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)


def _unread(api) -> list[dict]:
    answer = api.get("/api/staff/unread")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


# ---------------------------------------------------------------- the unread list

def test_the_unread_list_holds_every_released_unread_item_oldest_first_and_nothing_else(portal, clock):
    # Given a document left unread after every notice (escalated: a call for the office)
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.new_patient(staff_now(portal), name="Una Reed")
    escalated = publish_item(patient.id, day0, title="Lipid panel")
    for n in (3, 6, 9):
        sweep(portal, clock, day(day0, n))
    # And, later, two unread documents still in follow-up, one read, one retracted and one held
    later = day(day0, 9, hours=1)
    older = publish_item(patient.id, later, title="Thyroid panel")
    newer = publish_item(patient.id, later + timedelta(minutes=5), title="Vitamin D")
    read = publish_item(patient.id, later, title="Iron studies")
    followup.record_read(read, later)
    retracted = publish_item(patient.id, later, title="Misfiled scan")
    assert item_store.retract(retracted, later, "desk", "wrong patient")
    held = item_store.Item(
        "res_" + secrets.token_hex(8), patient_id=patient.id, kind="result", title="Potassium", created_at=later,
        updated_at=later, held_at=later, due_shard=item_store.HELD_SHARD, due_at=later + timedelta(days=3))
    held.save()
    clock.travel_to(later + timedelta(hours=1))
    staff = staff_now(portal)

    # When the office asks for the unread list
    try:
        listed = [i for i in _unread(staff) if i["patient_id"] == patient.id]
    finally:
        item_store.stop_follow_up(held)  # no later test's sweep should meet this hold

    # Then it holds the three released unread items, oldest first, with the notices each had
    assert [i["item_id"] for i in listed] == [escalated.id, older.id, newer.id]
    first = listed[0]
    assert first == {"item_id": escalated.id, "patient_id": patient.id, "patient_name": "Una Reed",
                     "title": "Lipid panel", "kind": "document", "published_at": first["published_at"],
                     "notices_sent": get_settings().max_notices}
    assert first["published_at"].startswith(day0.strftime("%Y-%m-%d")) and listed[1]["notices_sent"] == 1

    # And the home page's "unread" tile opens it as a page, with days unread and notices sent
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    assert 'href="/staff/unread"' in pages.get(f"{portal.base_url}/staff", timeout=30).text
    page = pages.get(f"{portal.base_url}/staff/unread", timeout=30)
    assert page.status_code == 200
    rows = re.findall(r'<tr data-item-id="([^"]+)">(.*?)</tr>', page.text, re.S)
    mine = [(item_id, cells) for item_id, cells in rows if item_id in {escalated.id, older.id, newer.id,
                                                                        read.id, retracted.id, held.id}]
    assert [item_id for item_id, _ in mine] == [escalated.id, older.id, newer.id]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", mine[0][1], re.S)
    assert "Una Reed" in cells[0] and "Lipid panel" in cells[1]
    assert cells[3].strip() == "9" and cells[4].strip() == str(get_settings().max_notices)

    # When the office records its call about the escalated one / Then it stays listed: still unread
    called = staff.post(f"/api/staff/queue/follow-ups/{escalated.id}/called", json={"outcome": "left_message"})
    assert called.status_code == 200, called.text
    assert escalated.id in {i["item_id"] for i in _unread(staff)}

    # When the patient reads one / Then it leaves the list
    followup.record_read(item_store.get(older.id), clock.now())
    assert older.id not in {i["item_id"] for i in _unread(staff)}


def test_an_item_escalated_before_the_unread_list_is_put_back_in_the_index_by_the_migration(portal, clock):
    # Given an unread item escalated as the portal used to: out of the follow-up index
    day0 = fresh_day0()
    clock.travel_to(day0)
    patient = portal.register_patient(staff_now(portal))
    item = publish_item(patient.id, day0, title="Old escalation")
    item.update(actions=[item_store.Item.escalated.set(True), item_store.Item.escalated_at.set(day0),
                         item_store.Item.due_shard.remove(), item_store.Item.due_at.remove()])
    assert item.id not in {i["item_id"] for i in _unread(staff_now(portal))}
    migration = next(m for m in migrations.MIGRATIONS if m.id == "0006-escalated-unread-in-index")

    # When the migration looks at it (a dry run first), then runs, then runs again
    old = item_store.get(item.id)
    dry = migration.change(old, clock.now(), True)
    real = migration.change(old, clock.now(), False)
    again = migration.change(item_store.get(item.id), clock.now(), False)

    # Then it changed it once, under the escalated key, dated when it was escalated, and the list shows it
    assert (dry, real, again) == (True, True, False)
    stored = item_store.get(item.id)
    assert stored.due_shard == item_store.ESCALATED_SHARD and stored.due_at == day0
    assert item.id in {i["item_id"] for i in _unread(staff_now(portal))}


def test_only_the_office_reads_the_unread_list(portal, staff, admin):
    # Given a patient / When they ask for the list / Then 403, and the office's roles are answered
    patient = portal.new_patient(staff)
    assert patient.api.get("/api/staff/unread").status_code == 403
    assert portal.public.get("/api/staff/unread").status_code == 401
    assert admin.get("/api/staff/unread").status_code == 200


# ---------------------------------------------------------------- the critical reminder

def test_a_critical_result_uncalled_after_an_hour_is_mailed_again_to_the_admins_once(portal, clock):
    # Given a critical result arriving now for a patient: on the office's queue, uncalled
    day0 = fresh_day0()
    clock.travel_to(day0)
    staff = staff_now(portal)
    patient = portal.new_patient(staff, date_of_birth=BORN, name="Cora Critical")
    before = result_ids(staff, patient)
    tag = secrets.token_hex(3)
    drop(personalised("critical_values.hl7", [patient.mrn], tag).replace(b"19580412", BORN.replace("-", "").encode()))
    pump.drain()
    [result_id] = result_ids(staff, patient) - before
    [entry] = [e for e in work_store.open_entries(critical.CRITICAL_RESULT) if e.item_id == result_id]
    admin_account_id = portal.live("admin", ADMIN_PASSWORD).get("/api/me").json()["id"]
    reminder_id = f"admin-critical-reminder#{entry.id}#{admin_account_id}"

    def reminders() -> list[dict]:
        return [m for m in portal.outbox("admin@clinic.example") if m["kind"] == notices.ADMIN_CRITICAL_REMINDER]

    # When the sweep runs half an hour later / Then no reminder yet
    sweep(portal, clock, day0 + timedelta(minutes=30))
    assert outbox.get(reminder_id) is None
    mailed = len(reminders())

    # When it runs after the hour, and again
    first = sweep(portal, clock, day0 + timedelta(minutes=61))
    after_first = reminders()
    second = sweep(portal, clock, day0 + timedelta(minutes=61))

    # Then the admin was mailed once about it: sent, nothing medical in it, and not again
    assert first["critical_reminders"].get("reminded", 0) >= 1 and not second["critical_reminders"].get("reminded")
    row = outbox.get(reminder_id)
    assert row is not None and row.status == "sent"
    assert len(after_first) > mailed and len(reminders()) == len(after_first)
    mail = after_first[-1]
    assert "still needs a call" in mail["subject"] and "/staff/queue#critical-results" in mail["text"]
    for medical in ("Cora", "Critical", "Glucose", "Potassium", patient.mrn, result_id):
        assert medical not in mail["text"] and medical not in mail["subject"]
    assert work_store.get(entry.id).reminded_at is not None

    # And a call recorded later still clears the entry
    cleared = staff_now(portal).post(f"/api/staff/queue/critical/{result_id}/called", json={"outcome": "reached"})
    assert cleared.status_code == 200, cleared.text


def test_a_critical_entry_called_within_the_hour_is_never_reminded(portal, clock):
    # Given a critical result whose call the office recorded at once
    day0 = fresh_day0()
    clock.travel_to(day0)
    staff = staff_now(portal)
    patient = portal.new_patient(staff, date_of_birth=BORN)
    before = result_ids(staff, patient)
    drop(personalised("critical_values.hl7", [patient.mrn], secrets.token_hex(3))
         .replace(b"19580412", BORN.replace("-", "").encode()))
    pump.drain()
    [result_id] = result_ids(staff, patient) - before
    [entry] = [e for e in work_store.open_entries(critical.CRITICAL_RESULT) if e.item_id == result_id]
    assert staff.post(f"/api/staff/queue/critical/{result_id}/called", json={"outcome": "reached"}).status_code == 200
    # When the sweep runs after the hour / Then the entry is not reminded
    sweep(portal, clock, day0 + timedelta(minutes=90))
    assert work_store.get(entry.id).reminded_at is None


# ---------------------------------------------------------------- the patient's language

def test_staff_see_and_change_a_patients_language(portal, staff, admin, desk_pages):
    # Given an English-speaking patient
    patient = portal.register_patient(staff)
    path = f"/api/staff/patients/{patient.id}/language"

    # When the office sets Spanish
    changed = staff.put(path, json={"language": "es"})

    # Then the answer and the record say Spanish, and the change is in the patient's audit trail
    assert changed.status_code == 200 and changed.json() == {"language": "es"}
    assert staff.get(f"/api/staff/patients/{patient.id}").json()["language"] == "es"
    [event] = [e for e in events(admin, patient_id=patient.id) if e["action"] == "patient.language_change"]
    assert event["detail"]["language"] == "es"

    # When the language is unknown, missing, or the patient is: 400 naming the field, 404, nothing changes
    for bad in ({"language": "fr"}, {}, {"language": None}):
        refused = staff.put(path, json=bad)
        assert refused.status_code == 400 and refused.json()["message"].startswith("language"), refused.text
    assert staff.put("/api/staff/patients/nobody/language", json={"language": "en"}).status_code == 404
    assert staff.get(f"/api/staff/patients/{patient.id}").json()["language"] == "es"

    # When the office changes it back on the patient's page
    record = desk_pages.get(f"{portal.base_url}/staff/patients/{patient.id}", timeout=30)
    assert 'data-testid="patient-language" lang="es">Español<' in record.text
    saved = desk_pages.post(f"{portal.base_url}/staff/patients/{patient.id}/language", timeout=30,
                            data={"language": "en", "csrf_token": page_csrf(record.text)})

    # Then the page says so and the record is English again
    assert saved.status_code == 200 and "The patient&#39;s language has been saved." in saved.text
    assert staff.get(f"/api/staff/patients/{patient.id}").json()["language"] == "en"
    # And a language the form does not offer is refused beside the field
    refused = desk_pages.post(f"{portal.base_url}/staff/patients/{patient.id}/language", timeout=30,
                              data={"language": "fr", "csrf_token": page_csrf(saved.text)})
    assert refused.status_code == 400 and 'id="patient-language-choice-error"' in refused.text


def test_a_patient_may_not_change_anothers_language(portal, staff):
    patient = portal.new_patient(staff)
    assert patient.api.put(f"/api/staff/patients/{patient.id}/language", json={"language": "es"}).status_code == 403


# ---------------------------------------------------------------- the office's messages

def test_an_office_message_confirms_whom_it_went_to_and_its_category_is_in_the_offices_voice(portal, staff,
                                                                                              desk_pages):
    # Given a patient and the office's form to write to them
    patient = portal.new_patient(staff, name="Mara Sent")
    base = portal.base_url
    form = desk_pages.get(f"{base}/staff/patients/{patient.id}/message", timeout=30)
    assert "About your results" in form.text and "A question about my results" not in form.text

    # When the office starts a thread about the patient's results
    started = desk_pages.post(f"{base}/staff/patients/{patient.id}/message", timeout=30,
                              data={"subject": "Your labs", "body": "All normal.", "category": "results_question",
                                    "csrf_token": page_csrf(form.text)})

    # Then the thread's page says it went to the patient, by name, and shows the office's category
    assert started.status_code == 200 and "/staff/messages/" in started.url
    assert "Your message has been sent to Mara Sent." in started.text
    assert "sent to the office" not in started.text
    assert re.search(r'data-testid="thread-category">Category: About your results<', started.text)
    # And a reply says the same
    replied = desk_pages.post(started.url, timeout=30, data={"body": "One more thing.",
                                                            "csrf_token": page_csrf(started.text)})
    assert "Your reply has been sent to Mara Sent." in replied.text
    # And the inbox labels it in the office's voice
    inbox = desk_pages.get(f"{base}/staff/inbox", timeout=30).text
    assert "About your results" in inbox

    # And the patient, in Spanish, reads the category in the office's voice too (the office wrote it)
    thread_id = started.url.rstrip("/").rsplit("/", 1)[1]
    opened = patient.api.get(f"/api/messages/{thread_id}")
    assert opened.status_code == 200 and opened.json()["category"] == "results_question"
    assert staff.put(f"/api/staff/patients/{patient.id}/language", json={"language": "es"}).status_code == 200
    patient_pages = signed_in_pages(base, patient.username, patient.password)
    assert "Categoría: Sobre sus resultados" in patient_pages.get(f"{base}/messages/{thread_id}", timeout=30).text


def test_a_patients_own_thread_keeps_the_patients_voice_and_a_bad_category_is_refused(portal, staff):
    # Given a patient's question about their results
    patient = portal.new_patient(staff)
    asked = patient.api.post("/api/messages", json={"subject": "Q", "body": "Is this ok?",
                                                    "category": "results_question"})
    assert asked.status_code == 201, asked.text
    # When the office starts a thread with an unknown category / Then 400 naming the field, nothing sent
    refused = staff.post(f"/api/staff/patients/{patient.id}/messages",
                         json={"subject": "S", "body": "B", "category": "gossip"})
    assert refused.status_code == 400 and refused.json()["message"].startswith("category")
    assert [t["started_by"] for t in staff.get(f"/api/staff/patients/{patient.id}/messages").json()["threads"]] \
        == ["patient"]
    # And the office's page shows the patient's own words for it
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    page = pages.get(f"{portal.base_url}/staff/messages/{asked.json()['id']}", timeout=30).text
    assert "Category: A question about my results" in page


# ---------------------------------------------------------------- dates of birth

def test_a_date_of_birth_typed_us_style_is_stored_iso_and_shown_as_the_clinic_writes_dates(portal, staff,
                                                                                            desk_pages):
    # Given the office's registration page
    base = portal.base_url
    form = desk_pages.get(f"{base}/staff/patients/new", timeout=30)
    email, mrn = unique_email(), unique_mrn()

    # When a patient is registered with the date of birth typed 3/14/1962
    done = desk_pages.post(f"{base}/staff/patients/new", timeout=30,
                           data={"name": "Pia Born", "date_of_birth": "3/14/1962", "email": email, "mrn": mrn,
                                 "csrf_token": page_csrf(form.text)})

    # Then it is stored as the API's date, and the record and the search show the clinic's format
    assert done.status_code == 200, done.text
    [found] = staff.get("/api/staff/patients", params={"q": email}).json()["patients"]
    assert found["date_of_birth"] == "1962-03-14"
    assert 'data-testid="patient-born">14 Mar 1962<' in done.text
    assert "14 Mar 1962" in desk_pages.get(f"{base}/staff/patients", params={"q": mrn}, timeout=30).text
    # And a date that is not one is refused beside the field, nobody registered
    bad = desk_pages.post(f"{base}/staff/patients/new", timeout=30,
                          data={"name": "Pia Born", "date_of_birth": "13/45/1962", "email": unique_email(),
                                "mrn": unique_mrn(), "csrf_token": page_csrf(form.text)})
    assert bad.status_code == 400 and 'id="date_of_birth"' in bad.text
