"""Caregivers (proxy access) through the real routes: a grant, the caregiver's invitation and first
sign-in, their reads and messages per scope, revocation on the very next request, expiry by the
clock, the office's grant, and the patient's "who viewed my record"."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.localstack.calls import recording
from chalicelib.services.caregivers import grants as caregivers
from chalicelib.settings import get_settings
from tests.integration.test_documents import published
from tests.support.http import Api, strong_password, unique_email
from tests.support.pages import page_csrf, signed_in_pages

CLINIC = get_settings().clinic_name
# The caregiver's invitation names the clinic and the patient's first name (only).
PROXY_SUBJECT = f"{CLINIC}: Leo gave you caregiver access in the patient portal"
PASSWORDS: dict[str, str] = {}  # each caregiver's own password, by email, once chosen


def grant_body(**overrides) -> dict:
    return {"name": "Ana Ruiz", "email": unique_email("caregiver"), "relationship": "mother",
            "scope": "read_and_message", **overrides}


def activate_caregiver(portal, email: str) -> Api:
    """The caregiver's first sign-in: the mailed temporary password, then a password of their own."""
    temporary = portal.last_temporary_password(email)
    first = portal.login(email, temporary)
    assert first.status_code == 200, first.text
    assert first.json()["must_change_password"] is True and first.json()["role"] == "proxy"
    api = Api(portal.base_url, first.json()["token"])
    assert api.get("/api/me").json()["error"] == "password_change_required"
    password = strong_password()
    changed = api.post("/api/auth/password", json={"current_password": temporary, "new_password": password})
    assert changed.status_code == 204, changed.text
    PASSWORDS[email] = password
    return portal.signed_in(email, password)


def caregiver_for(portal, patient, **overrides) -> tuple[Api, str, dict]:
    """A patient grants a new caregiver; (the caregiver signed in, the grant id, the grant body)."""
    body = grant_body(**overrides)
    answer = patient.api.post("/api/me/proxies", json=body)
    assert answer.status_code == 201, answer.text
    return activate_caregiver(portal, body["email"]), answer.json()["id"], body


def test_a_granted_caregiver_is_invited_without_phi_and_reads_the_patients_records(portal, staff):
    # Given a patient with a document
    patient, doc_id = published(portal, staff, portal.new_patient(staff, name="Leo Ruiz"))
    body = grant_body()

    # When the patient grants a caregiver
    answer = patient.api.post("/api/me/proxies", json=body)

    # Then the caregiver is mailed a temporary password, the clinic and the patient's first name only
    assert answer.status_code == 201, answer.text
    [mail] = portal.outbox(body["email"])
    assert mail["subject"] == PROXY_SUBJECT
    assert f"leo has given you access to their records in the patient portal of {CLINIC.lower()}" in mail["text"].lower()
    assert "Temporary password: " in mail["text"]
    assert "Ruiz" not in mail["text"] + mail["html"] + mail["subject"]
    # and the patient is told too
    assert any(m["kind"] == "caregiver_changed" for m in portal.outbox(patient.email))

    # When the caregiver signs in for the first time (forced password change) and looks around
    caregiver = activate_caregiver(portal, body["email"])
    me = caregiver.get("/api/me").json()
    items = caregiver.get(f"/api/items?patient_id={patient.id}")
    document = caregiver.get(f"/api/documents/{doc_id}?patient_id={patient.id}")
    file_link = caregiver.get(f"/api/documents/{doc_id}/file?patient_id={patient.id}")

    # Then they see the patient listed, and the patient's items and document
    assert me["role"] == "proxy"
    assert me["patients"] == [{"id": patient.id, "name": "Leo Ruiz", "scope": "read_and_message",
                               "relationship": "mother", "expires_on": None}]
    assert items.status_code == 200 and [i["id"] for i in items.json()["items"]] == [doc_id]
    assert document.status_code == 200 and document.json()["id"] == doc_id
    assert file_link.status_code == 200 and file_link.json()["url"]
    # and the first open is a receipt naming the caregiver, which counts as read for follow-up
    office_view = staff.get(f"/api/staff/documents/{doc_id}").json()
    assert office_view["read_by"] == {"role": "proxy", "name": "Ana Ruiz"}
    assert patient.api.get("/api/items").json()["items"][0]["read_at"] is not None


def test_the_patients_grants_are_listed_with_their_status(portal, staff, clock):
    # Given a patient with three caregivers: active, ending tomorrow, revoked
    patient = portal.new_patient(staff)
    tomorrow = (caregivers.today() + timedelta(days=1)).isoformat()
    ids = {}
    for label, extra in (("active", {}), ("soon", {"expires_on": tomorrow}), ("revoked", {"scope": "read"})):
        answer = patient.api.post("/api/me/proxies", json=grant_body(**extra))
        assert answer.status_code == 201, answer.text
        ids[label] = answer.json()["id"]
    assert patient.api.request("DELETE", f"/api/me/proxies/{ids['revoked']}").status_code == 204

    # When two days pass and the patient lists them
    clock.advance(timedelta(days=2))
    patient.api = portal.signed_in(patient.username, patient.password)
    proxies = {p["id"]: p for p in patient.api.get("/api/me/proxies").json()["proxies"]}

    # Then each shows its status, and its fields as granted
    assert {k: proxies[v]["status"] for k, v in ids.items()} == {"active": "active", "soon": "expired",
                                                                 "revoked": "revoked"}
    assert proxies[ids["soon"]]["expires_on"] == tomorrow
    assert set(proxies[ids["active"]]) >= {"id", "name", "email", "relationship", "scope", "status", "expires_on"}


def test_bad_grants_are_refused_with_a_400_naming_the_field(portal, staff):
    # Given a patient
    patient = portal.new_patient(staff)
    yesterday = (caregivers.today() - timedelta(days=1)).isoformat()

    # When they grant with an end date in the past, an unknown scope, a bad email
    past = patient.api.post("/api/me/proxies", json=grant_body(expires_on=yesterday))
    scope = patient.api.post("/api/me/proxies", json=grant_body(scope="everything"))
    email = patient.api.post("/api/me/proxies", json=grant_body(email="not-an-address"))

    # Then each is a 400 naming the field
    assert past.status_code == scope.status_code == email.status_code == 400
    assert "expires_on" in past.json()["message"]
    assert "scope" in scope.json()["message"]
    assert "email" in email.json()["message"]


def test_a_read_only_caregiver_cannot_send_and_a_messaging_one_is_named_to_the_office(portal, staff):
    # Given a patient with a reader and a messaging caregiver
    patient = portal.new_patient(staff, name="Leo Ruiz")
    reader, _, _ = caregiver_for(portal, patient, scope="read", name="Tom Ruiz", relationship="uncle")
    writer, _, _ = caregiver_for(portal, patient, name="Ana Ruiz", relationship="mother")
    new_thread = {"subject": "Refill", "body": "Leo needs a refill."}

    # When each writes to the office
    refused = reader.post(f"/api/messages?patient_id={patient.id}", json=new_thread)
    sent = writer.post(f"/api/messages?patient_id={patient.id}", json=new_thread)

    # Then the reader is refused (403 forbidden) and the writer's message says who wrote it
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert sent.status_code == 201, sent.text
    with recording() as calls:
        thread = staff.get(f"/api/staff/messages/{sent.json()['id']}").json()
    assert thread["patient_id"] == patient.id
    assert thread["messages"][0]["author_name"] == "Ana Ruiz, mother, for Leo Ruiz"
    # (the writer's grant read in a batch, the patient's name from the accounts the thread names:
    # no account or grant read one at a time)
    assert not [c for c in calls.calls if c.service == "dynamodb" and c.operation == "GetItem"
                and any(table in (c.resource or "") for table in ("accounts", "grants"))]
    # and both caregivers see the thread in the patient's messages; the patient sees it too
    for api in (reader, writer):
        threads = api.get(f"/api/messages?patient_id={patient.id}").json()["threads"]
        assert [t["id"] for t in threads] == [sent.json()["id"]]
    assert [t["id"] for t in patient.api.get("/api/messages").json()["threads"]] == [sent.json()["id"]]
    seen_by_patient = patient.api.get(f"/api/messages/{sent.json()['id']}").json()["messages"][0]
    assert seen_by_patient["author_name"] == "Ana Ruiz, mother, for Leo Ruiz"
    opened = reader.get(f"/api/messages/{sent.json()['id']}?patient_id={patient.id}")
    assert opened.status_code == 200 and opened.json()["messages"][0]["body"] == new_thread["body"]


def test_revocation_takes_effect_on_the_very_next_request(portal, staff):
    # Given a caregiver reading a patient's records
    patient, doc_id = published(portal, staff)
    caregiver, grant_id, _ = caregiver_for(portal, patient)
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 200

    # When the patient revokes the grant
    assert patient.api.request("DELETE", f"/api/me/proxies/{grant_id}").status_code == 204

    # Then the caregiver's very next requests answer 404, as for an unknown id
    answers = [caregiver.get(f"/api/items?patient_id={patient.id}"),
               caregiver.get(f"/api/documents/{doc_id}?patient_id={patient.id}"),
               caregiver.get(f"/api/documents/{doc_id}/file?patient_id={patient.id}"),
               caregiver.get(f"/api/messages?patient_id={patient.id}"),
               caregiver.post(f"/api/messages?patient_id={patient.id}", json={"subject": "s", "body": "b"})]
    unknown = caregiver.get("/api/items?patient_id=p_00000000000000000000")
    assert [a.status_code for a in answers] == [404] * 5
    assert answers[0].json() == unknown.json()
    assert caregiver.get("/api/me").json()["patients"] == []
    # and the patient is mailed about it
    assert sum(m["kind"] == "caregiver_changed" for m in portal.outbox(patient.email)) == 2


def test_a_grant_past_its_end_date_stops_working_by_itself(portal, staff, clock):
    # Given a grant whose last day is today (the clinic's day)
    patient = portal.new_patient(staff)
    caregiver, _, body = caregiver_for(portal, patient, expires_on=caregivers.today().isoformat())
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 200

    # When the clock moves past that day
    clock.advance(timedelta(days=1, hours=1))
    caregiver = portal.signed_in(body["email"], PASSWORDS[body["email"]])

    # Then the caregiver's requests answer 404 and the patient is no longer listed
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 404
    assert caregiver.get("/api/me").json()["patients"] == []


def test_a_caregiver_cares_for_several_patients_and_never_sees_their_profile(portal, staff):
    # Given one caregiver granted by two patients (the second reuses the caregiver's account)
    first = portal.new_patient(staff, name="Leo Ruiz")
    second = portal.new_patient(staff, name="Mia Ruiz")
    caregiver, _, body = caregiver_for(portal, first)
    again = second.api.post("/api/me/proxies", json={**body, "scope": "read"})
    assert again.status_code == 201, again.text
    # the existing account is only mailed, with no password
    assert "Temporary password" not in portal.outbox(body["email"])[-1]["text"]

    # When the caregiver lists their patients and reads each
    patients = caregiver.get("/api/me").json()["patients"]

    # Then both are there, each with its scope; the caregiver's own profile is not the patients'
    assert {(p["name"], p["scope"]) for p in patients} == {("Leo Ruiz", "read_and_message"), ("Mia Ruiz", "read")}
    for patient in (first, second):
        assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 200
    me = caregiver.get("/api/me").json()
    assert me["email"] == body["email"] and first.email not in str(me)
    # and the patients' profile routes stay closed to a caregiver
    assert caregiver.get("/api/me/proxies").status_code == 403
    assert caregiver.get("/api/me/access-log").status_code == 403
    assert caregiver.get(f"/api/staff/patients/{first.id}").status_code == 403


def test_another_patients_id_and_no_patient_id_answer_404(portal, staff):
    # Given a caregiver of one patient, and another patient with a document
    patient = portal.new_patient(staff)
    caregiver, _, _ = caregiver_for(portal, patient)
    other, doc_id = published(portal, staff)

    # When the caregiver asks for the other patient's records, or names no patient
    answers = [caregiver.get(f"/api/items?patient_id={other.id}"), caregiver.get("/api/items"),
               caregiver.get(f"/api/documents/{doc_id}?patient_id={other.id}"),
               caregiver.get(f"/api/documents/{doc_id}?patient_id={patient.id}")]

    # Then every one is a 404
    assert [a.status_code for a in answers] == [404, 404, 404, 404]


def test_the_office_grants_a_parent_access(portal, staff):
    # Given a child registered by the office
    child = portal.new_patient(staff, name="Leo Ruiz")
    body = grant_body(name="Ana Ruiz", relationship="mother", scope="read")

    # When staff grant the parent access from the patient's record
    answer = staff.post(f"/api/staff/patients/{child.id}/proxies", json=body)
    unknown = staff.post("/api/staff/patients/p_00000000000000000000/proxies", json=grant_body())

    # Then the parent is invited and can read the child's items, and the child sees the grant
    assert answer.status_code == 201, answer.text
    assert unknown.status_code == 404
    parent = activate_caregiver(portal, body["email"])
    assert parent.get(f"/api/items?patient_id={child.id}").status_code == 200
    assert [p["email"] for p in child.api.get("/api/me/proxies").json()["proxies"]] == [body["email"]]


def test_the_access_log_lists_staff_and_caregiver_views_newest_first(portal, staff, clock):
    # Given a patient whose record the office viewed, then whose document a caregiver opened (a
    # moment later: the trail orders by the second), and who opened it themselves
    patient, doc_id = published(portal, staff, portal.new_patient(staff, name="Leo Ruiz"))
    caregiver, _, _ = caregiver_for(portal, patient, name="Ana Ruiz")
    clock.advance(timedelta(seconds=2))
    assert staff.get(f"/api/staff/patients/{patient.id}").status_code == 200
    clock.advance(timedelta(seconds=2))
    assert caregiver.get(f"/api/documents/{doc_id}?patient_id={patient.id}").status_code == 200
    assert patient.api.get(f"/api/documents/{doc_id}").status_code == 200

    # When the patient reads their access log
    log = patient.api.get("/api/me/access-log")

    # Then it lists the caregiver's view, then the staff view of the record, never the patient's own
    assert log.status_code == 200, log.text
    events = log.json()["events"]
    assert [(e["actor_name"], e["actor_role"], e["action"]) for e in events][:2] == [
        ("Ana Ruiz", "proxy", "document.view"), (events[1]["actor_name"], "staff", "patient.view")]
    assert events[0]["item_title"] and events[1]["item_title"] is None
    assert all(e["actor_role"] != "patient" for e in events)
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)


def test_the_access_log_pages_with_a_cursor(portal, staff):
    # Given a patient the office viewed more often than a page holds
    patient = portal.new_patient(staff)
    for _ in range(caregivers.PAGE_SIZE + 2):
        staff.get(f"/api/staff/patients/{patient.id}")

    # When the patient reads the log a page at a time
    first = patient.api.get("/api/me/access-log").json()
    second = patient.api.get(f"/api/me/access-log?cursor={first['next_cursor']}").json()
    bad = patient.api.get("/api/me/access-log?cursor=nonsense")

    # Then the pages follow each other without overlap, and a cursor it did not give is a 400
    assert len(first["events"]) == caregivers.PAGE_SIZE and first["next_cursor"]
    assert len(second["events"]) == 2 and second["next_cursor"] is None
    assert first["events"][-1]["at"] >= second["events"][0]["at"]
    assert bad.status_code == 400


def test_every_grant_and_revocation_is_in_the_patients_audit_trail(portal, staff, admin):
    # Given a patient who grants a caregiver and then ends the grant
    patient = portal.new_patient(staff)
    _, grant_id, _ = caregiver_for(portal, patient)
    assert patient.api.request("DELETE", f"/api/me/proxies/{grant_id}").status_code == 204

    # When an admin reads the patient's trail
    events = admin.get(f"/api/staff/audit?patient_id={patient.id}").json()["events"]

    # Then the grant and the revocation are there, done by the patient
    actions = {e["action"]: e for e in events}
    assert actions["proxy.grant"]["actor_id"] == patient.id
    assert actions["proxy.revoke"]["actor_id"] == patient.id


def test_granting_again_to_a_live_caregiver_changes_the_grant_audited_and_mailed_as_a_change(portal, staff, admin):
    # Given a patient whose caregiver reads and messages
    patient = portal.new_patient(staff)
    caregiver, grant_id, body = caregiver_for(portal, patient, scope="read_and_message")
    mails_before = len(portal.outbox(patient.email))

    # When the patient grants the same caregiver again, read-only until a date
    again = patient.api.post("/api/me/proxies", json={**body, "scope": "read", "expires_on": "2099-01-01"})

    # Then it is the same grant, changed: one row listed with the new scope and end date
    assert again.status_code == 201 and again.json()["id"] == grant_id
    [listed] = patient.api.get("/api/me/proxies").json()["proxies"]
    assert (listed["scope"], listed["expires_on"], listed["status"]) == ("read", "2099-01-01", "active")
    # And the caregiver may read but no longer send, from their very next request
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 200
    sent = caregiver.post(f"/api/messages?patient_id={patient.id}", json={"subject": "Hi", "body": "Question"})
    assert sent.status_code == 403
    # And the patient was mailed that a caregiver's access changed
    changed = portal.outbox(patient.email)[mails_before:]
    assert [m["subject"] for m in changed] == [f"{CLINIC}: caregiver access to your patient portal records changed"]
    assert "was changed" in changed[0]["text"]
    # And the trail holds the change, done by the patient, with the new scope
    events = admin.get(f"/api/staff/audit?patient_id={patient.id}").json()["events"]
    [change] = [e for e in events if e["action"] == "proxy.change"]
    assert change["actor_id"] == patient.id and change["detail"]["scope"] == "read"
    assert len([e for e in events if e["action"] == "proxy.grant"]) == 1


def test_a_caregiver_account_locks_after_wrong_passwords_like_anyone(portal, staff):
    # Given a caregiver with a password of their own
    from chalicelib.settings import get_settings

    patient = portal.new_patient(staff)
    _, _, body = caregiver_for(portal, patient)

    # When someone tries wrong passwords as many times as the lockout allows
    for _ in range(get_settings().lockout_threshold):
        assert portal.login(body["email"], "wrong-password-123").status_code == 401

    # Then even the right password is refused, as for any locked account
    assert portal.login(body["email"], PASSWORDS[body["email"]]).status_code == 401


def test_a_retracted_documents_title_never_shows_in_the_access_log(portal, staff):
    # Given a document the office opened, then retracted
    patient, doc_id = published(portal, staff)
    assert staff.get(f"/api/staff/documents/{doc_id}").status_code == 200
    assert staff.post(f"/api/staff/documents/{doc_id}/retract", json={"reason": "wrong patient"}).status_code == 200

    # When the patient reads their access log
    events = patient.api.get("/api/me/access-log").json()["events"]

    # Then the office's open is listed under the clinic's neutral title only
    [opened] = [e for e in events if e["action"] == "document.staff_view"]
    assert opened["item_title"] == "Removed by your clinic"


def test_a_caregivers_look_at_the_item_list_is_in_the_access_log_and_the_patients_own_is_not(portal, staff, admin,
                                                                                               clock):
    # Given a patient with a document, and their caregiver
    patient, _ = published(portal, staff, portal.new_patient(staff, name="Leo Ruiz"))
    caregiver, _, body = caregiver_for(portal, patient, name="Ana Ruiz")
    [title] = [i["title"] for i in patient.api.get("/api/items").json()["items"]]

    # When the patient lists their own items, then the caregiver lists them through the API, and
    # then opens the page that shows them (a moment apart each: the trail orders by the second)
    assert patient.api.get("/api/items").status_code == 200
    clock.advance(timedelta(seconds=2))
    listed = caregiver.get(f"/api/items?patient_id={patient.id}")
    clock.advance(timedelta(seconds=2))
    pages = signed_in_pages(portal.base_url, body["email"], PASSWORDS[body["email"]])
    page = pages.get(f"{portal.base_url}/caregiver/patients/{patient.id}", timeout=30)

    # Then both of the caregiver's looks are in the patient's access log, as list views naming no
    # item, and none of the patient's own
    assert listed.status_code == 200 and [i["title"] for i in listed.json()["items"]] == [title]
    assert page.status_code == 200 and title in page.text
    events = patient.api.get("/api/me/access-log").json()["events"]
    assert [(e["actor_name"], e["actor_role"], e["item_title"]) for e in events if e["action"] == "item.list"] == [
        ("Ana Ruiz", "proxy", None), ("Ana Ruiz", "proxy", None)]
    assert all(e["actor_role"] != "patient" for e in events)
    # and the patient's own look was not recorded at all (the trail holds only the caregiver's)
    trail = admin.get(f"/api/staff/audit?patient_id={patient.id}").json()["events"]
    assert {e["actor_id"] for e in trail if e["action"] == "item.list"} == {caregiver.get("/api/me").json()["id"]}
    # and the access-log page says what the caregiver looked at
    own_pages = signed_in_pages(portal.base_url, patient.username, patient.password)
    log_page = own_pages.get(f"{portal.base_url}/profile/access-log", timeout=30)
    assert log_page.status_code == 200 and log_page.text.count("Looked at your items") == 2


def test_the_office_ends_a_caregivers_access_from_the_patients_record(portal, staff, admin):
    # Given a caregiver reading a patient's items, and another patient
    patient = portal.new_patient(staff)
    caregiver, grant_id, _ = caregiver_for(portal, patient)
    other = portal.new_patient(staff)
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 200

    # When the office ends that grant (after naming it under another patient, and an unknown one)
    under_other = staff.request("DELETE", f"/api/staff/patients/{other.id}/proxies/{grant_id}")
    unknown = staff.request("DELETE", f"/api/staff/patients/{patient.id}/proxies/{patient.id}-c_00000000000000000000")
    with recording() as calls:
        ended = staff.request("DELETE", f"/api/staff/patients/{patient.id}/proxies/{grant_id}")
    again = staff.request("DELETE", f"/api/staff/patients/{patient.id}/proxies/{grant_id}")

    # Then only the patient's own grant ends (the others are the 404 of an unknown id), once
    assert [under_other.status_code, unknown.status_code] == [404, 404]
    # (the patient's account read once: checked, then mailed)
    assert [c.operation for c in calls.calls if c.service == "dynamodb" and "accounts" in (c.resource or "")
            and c.operation in ("GetItem", "BatchGetItem")] == ["BatchGetItem", "GetItem"]
    assert under_other.json()["error"] == "not_found"
    assert [ended.status_code, again.status_code] == [204, 204]
    # and the caregiver's very next request answers 404; the patient sees the grant ended
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 404
    assert [p["status"] for p in patient.api.get("/api/me/proxies").json()["proxies"]] == ["revoked"]
    # and the patient is mailed, as for their own revocation (the grant, then its end)
    assert sum(m["kind"] == "caregiver_changed" for m in portal.outbox(patient.email)) == 2
    # and the trail names the staff member as who ended it
    trail = admin.get(f"/api/staff/audit?patient_id={patient.id}").json()["events"]
    [revoked] = [e for e in trail if e["action"] == "proxy.revoke"]
    assert revoked["actor_id"] == staff.get("/api/me").json()["id"] and revoked["outcome"] == "ok"


def test_the_office_ends_a_caregivers_access_on_the_patients_caregivers_page(portal, staff):
    # Given a patient's caregiver, and the office on the patient's caregivers page
    from tests.conftest import STAFF_PASSWORD

    patient = portal.new_patient(staff)
    caregiver, grant_id, body = caregiver_for(portal, patient, name="Ana Ruiz")
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    shown = pages.get(f"{portal.base_url}/staff/patients/{patient.id}/caregivers", timeout=30)
    assert shown.status_code == 200 and body["email"] in shown.text
    action = f"/staff/patients/{patient.id}/caregivers/{grant_id}/revoke"
    assert f'action="{action}"' in shown.text

    # When they press "End access" for that caregiver
    ended = pages.post(f"{portal.base_url}{action}", data={"csrf_token": page_csrf(shown.text)}, timeout=30)

    # Then the page comes back saying so, with the grant ended and no button left for it
    assert ended.status_code == 200 and ended.url.endswith(f"/staff/patients/{patient.id}/caregivers")
    assert "access has ended" in ended.text and f'action="{action}"' not in ended.text
    # and the caregiver's next request answers 404
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 404
