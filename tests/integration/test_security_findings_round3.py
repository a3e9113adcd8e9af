"""The third outside probe's findings, closed and proven over HTTP: a sign-in racing a disable or a
demotion keeps no session (N1); closing a patient's access stops their caregivers (N2); an export
built before a retraction is built again (N3); granting answers the same for any address, and is
limited per patient (N4); a password change waits for the second factor, and disabling voids
temporary passwords (N5); ids in query strings and forms are checked like path ids, and a missing
form field is named (N6, N7); the office's caregivers page and an admin's read of the trail are in
the patient's access log (N8); the export names a caregiver as the author of their message (W5);
enabling a second factor ends the other sessions, the office closes a caregiver account, and the
dev sweep refuses a time out of range (N10)."""

from __future__ import annotations

import io
import json
import secrets
import threading
import zipfile
from contextlib import contextmanager
from datetime import timedelta

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.relatedperson import RelatedPerson

from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.integration.test_caregivers import PASSWORDS, caregiver_for, grant_body
from tests.integration.test_documents import published
from tests.support.http import Api
from tests.support.lifecycle import new_member
from tests.support.pages import page_csrf, signed_in_pages
from tests.support.second_factor import AUTHENTICATORS

RACING_SIGN_INS = 24


@contextmanager
def when_a_session_is_written_for(account_id: str, action):
    """Run `action()` once, inside the first request that writes a session of `account_id`, just
    before that write reaches DynamoDB: the sign-in has checked the account and is in flight. The
    portal runs in this process, so every botocore call passes here. Yields a list that holds
    True once the action ran."""
    from botocore.client import BaseClient

    original, fired, lock = BaseClient._make_api_call, [], threading.Lock()
    sessions_table = get_settings().table_name("sessions")

    def call(client, operation_name, api_params):
        if operation_name in ("PutItem", "TransactWriteItems"):
            text = json.dumps(api_params, default=str)
            if sessions_table in text and account_id in text:
                with lock:
                    first = not fired
                    if first:
                        fired.append(True)
                if first:
                    action()
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = call
    try:
        yield fired
    finally:
        BaseClient._make_api_call = original


def _sign_ins_at_once(portal, username: str, password: str, count: int) -> list[requests.Response]:
    """`count` sign-ins, eight at a time (the local server's listen queue is short)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: portal.login(username, password), range(count)))


# ---------------------------------------------------------------- N1: sessions outliving a disable

def test_sign_ins_racing_a_disable_leave_no_session(portal, admin):
    # Given a staff member with a second factor
    member = new_member(portal, admin, prefix="race")

    # When 24 sign-ins with their password arrive at once, and the admin disables them while the
    # first sign-in to get past the password is about to write its session
    def disable() -> None:
        answer = admin.put(f"/api/admin/staff/{member.id}", json={"active": False})
        assert answer.status_code == 200, answer.text

    with when_a_session_is_written_for(member.id, disable) as fired:
        answers = _sign_ins_at_once(portal, member.username, member.password, RACING_SIGN_INS)

    # Then the disable came in the middle of a sign-in, no sign-in failed on the portal's side, and
    # not one session survives: every token a sign-in handed out is refused, as is the old session
    statuses = sorted(a.status_code for a in answers)
    tokens = [a.json()["token"] for a in answers if a.status_code == 200]
    surviving = [t for t in tokens if Api(portal.base_url, t).get("/api/me").status_code != 401]
    print(f"\n{RACING_SIGN_INS} sign-ins against one disable: answers {statuses}, "
          f"{len(tokens)} sessions handed out, {len(surviving)} surviving")
    assert fired and len(answers) == RACING_SIGN_INS
    assert set(statuses) <= {200, 401}, statuses
    assert surviving == []
    assert member.api.get("/api/me").status_code == 401


def test_a_sign_in_racing_a_demotion_never_gets_an_admin_session(portal, admin):
    # Given a second admin with a factor
    member = new_member(portal, admin, role="admin", prefix="demoted")

    # When they sign in while the first admin makes them staff (after the password was checked,
    # before the session is written)
    def demote() -> None:
        answer = admin.put(f"/api/admin/staff/{member.id}", json={"role": "staff"})
        assert answer.status_code == 200, answer.text

    with when_a_session_is_written_for(member.id, demote) as fired:
        answer = portal.login(member.username, member.password)

    # Then the sign-in either fails or opens a staff session: with the factor given, the admin's
    # pages stay closed to it
    assert fired
    if answer.status_code == 200:
        api = Api(portal.base_url, answer.json()["token"])
        assert answer.json()["role"] == "staff"
        verified = api.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(member.username)})
        assert verified.status_code == 204, verified.text
        assert api.get("/api/me").json()["role"] == "staff"
        assert api.get("/api/admin/staff").status_code == 403
    else:
        assert answer.status_code == 401


# ---------------------------------------------------------------- N2: caregivers of a closed patient

def test_closing_a_patients_access_stops_their_caregivers_until_it_is_reopened(portal, staff):
    # Given a patient with a document, and a caregiver who reads and writes for them, also on the pages
    patient, doc_id = published(portal, staff)
    caregiver, _, body = caregiver_for(portal, patient)
    pages = signed_in_pages(portal.base_url, body["email"], PASSWORDS[body["email"]])
    base = f"{portal.base_url}/caregiver/patients/{patient.id}"

    def reach() -> dict[str, int]:
        return {
            "items": caregiver.get(f"/api/items?patient_id={patient.id}").status_code,
            "document": caregiver.get(f"/api/documents/{doc_id}?patient_id={patient.id}").status_code,
            "file": caregiver.get(f"/api/documents/{doc_id}/file?patient_id={patient.id}").status_code,
            "send": caregiver.post(f"/api/messages?patient_id={patient.id}",
                                   json={"subject": "Refill", "body": "For my son"}).status_code,
            "listed": len(caregiver.get("/api/me").json()["patients"]),
            "page": pages.get(base, timeout=30, allow_redirects=False).status_code,
            "file page": pages.get(f"{base}/documents/{doc_id}/file", timeout=30, allow_redirects=False).status_code,
        }

    assert reach() == {"items": 200, "document": 200, "file": 200, "send": 201, "listed": 1, "page": 200,
                       "file page": 303}

    # When the office closes the patient's access
    closed = staff.put(f"/api/staff/patients/{patient.id}/access", json={"active": False, "reason": "Moved away"})
    assert closed.status_code == 200, closed.text

    # Then every read, file link and send for that patient answers 404, the API's and the pages',
    # and the patient is no longer among the caregiver's
    assert reach() == {"items": 404, "document": 404, "file": 404, "send": 404, "listed": 0, "page": 404,
                       "file page": 404}

    # When the access is reopened, all of it works again
    assert staff.put(f"/api/staff/patients/{patient.id}/access",
                     json={"active": True, "reason": "Came back"}).status_code == 200
    assert reach() == {"items": 200, "document": 200, "file": 200, "send": 201, "listed": 1, "page": 200,
                       "file page": 303}


# ---------------------------------------------------------------- N3 and W5: exports

def _export(patient) -> str:
    asked = patient.api.post("/api/me/exports")
    assert asked.status_code == 202, asked.text
    return asked.json()["id"]


def _built(patient, export_id: str) -> dict:
    pump.drain()
    answer = patient.api.get(f"/api/me/exports/{export_id}")
    assert answer.status_code == 200 and answer.json()["status"] == "ready", answer.text
    return answer.json()


def _archive(url: str) -> zipfile.ZipFile:
    download = requests.get(url, timeout=30)
    assert download.status_code == 200, download.text[:300]
    return zipfile.ZipFile(io.BytesIO(download.content))


def _second_document(portal, staff, patient) -> str:
    from tests.integration.test_publication import documents_of, post_file, upload_form

    before = {d["id"] for d in documents_of(staff, patient)}
    assert post_file(upload_form(staff, patient), b"%PDF-1.7\n% second\n%%EOF\n").ok
    pump.drain()
    [doc_id] = {d["id"] for d in documents_of(staff, patient)} - before
    return doc_id


def test_export_retract_download_the_download_no_longer_holds_the_retracted_document(portal, staff):
    # Given a patient with two documents and their export, built
    patient, kept = published(portal, staff)
    retracted = _second_document(portal, staff, patient)
    export_id = _export(patient)
    before = _built(patient, export_id)
    assert len([n for n in _archive(before["url"]).namelist() if n.startswith("documents/")]) == 2

    # When one document is retracted, and the patient then asks for the export's link
    assert staff.post(f"/api/staff/documents/{retracted}/retract", json={"reason": "Wrong patient"}).status_code == 200
    after_retraction = patient.api.get(f"/api/me/exports/{export_id}")

    # Then the export built before is void: pending, built again, and the new zip holds the kept document only
    assert after_retraction.status_code == 200 and after_retraction.json() == {"status": "pending"}
    again = _built(patient, export_id)
    archive = _archive(again["url"])
    bundle = json.loads(archive.read("bundle.json"))
    described = [e["resource"]["identifier"][0]["value"] for e in bundle["entry"]
                 if e["resource"]["resourceType"] == "DocumentReference"]
    assert described == [kept]
    assert len([n for n in archive.namelist() if n.startswith("documents/")]) == 1


def test_the_export_names_a_caregiver_as_the_author_of_their_message(portal, staff):
    # Given a patient whose caregiver wrote to the office for them, and the office's answer
    patient = portal.new_patient(staff)
    caregiver, _, body = caregiver_for(portal, patient, name="Ana Ruiz", relationship="mother")
    sent = caregiver.post(f"/api/messages?patient_id={patient.id}", json={"subject": "Refill", "body": "For Leo"})
    assert sent.status_code == 201, sent.text
    assert staff.post(f"/api/staff/messages/{sent.json()['id']}", json={"body": "Ready tomorrow"}).status_code == 201

    # When the patient downloads their records
    archive = _archive(_built(patient, _export(patient))["url"])

    # Then the caregiver's message is sent by a RelatedPerson named as the caregiver, for the patient;
    # the office's by the clinic; and the offline page says who wrote it, not "You"
    data = json.loads(archive.read("bundle.json"))
    Bundle.model_validate(data)
    resources = {e["fullUrl"]: e["resource"] for e in data["entry"]}
    patient_url = next(url for url, r in resources.items() if r["resourceType"] == "Patient")
    messages = {r["payload"][0]["contentString"]: r for r in resources.values() if r["resourceType"] == "Communication"}
    for resource in messages.values():
        Communication.model_validate(resource)
    by_caregiver = messages["For Leo"]
    person = resources[by_caregiver["sender"]["reference"]]
    RelatedPerson.model_validate(person)
    assert person["resourceType"] == "RelatedPerson"
    assert person["name"][0]["text"] == "Ana Ruiz" and person["relationship"][0]["text"] == "mother"
    assert person["patient"]["reference"] == patient_url
    assert by_caregiver["sender"]["display"] == "Ana Ruiz"
    assert messages["Ready tomorrow"]["sender"].get("reference") != patient_url
    assert messages["Ready tomorrow"]["recipient"][0]["reference"] == patient_url
    index = archive.read("index.html").decode()
    assert "Ana Ruiz" in index


# ---------------------------------------------------------------- N4: granting says nothing about the address

def _inside_one_hour(clock) -> None:
    """Limits count per clock hour: move the portal a few minutes on if this hour is nearly over."""
    seconds_left = 3600 - clock.now().timestamp() % 3600
    if seconds_left < 300:
        clock.advance(timedelta(seconds=seconds_left + 5))


def test_granting_to_an_address_of_another_kind_of_account_answers_like_any_grant(portal, staff):
    # Given a patient, and an address that signs in to another patient's account
    patient = portal.new_patient(staff)
    other = portal.register_patient(staff)
    mails_before = len(portal.outbox(other.email))

    # When the patient grants that address access, and a new address too
    quiet = patient.api.post("/api/me/proxies", json=grant_body(email=other.email))
    fresh = patient.api.post("/api/me/proxies", json=grant_body())

    # Then both answers are the same 201 with an id, and that address is sent nothing
    assert (quiet.status_code, sorted(quiet.json())) == (fresh.status_code, sorted(fresh.json())) == (201, ["id"])
    assert len(portal.outbox(other.email)) == mails_before
    # and the office sees the grant as unusable, and why
    listed = staff.get(f"/api/staff/patients/{patient.id}/proxies")
    assert listed.status_code == 200, listed.text
    by_email = {p["email"]: p for p in listed.json()["proxies"]}
    assert by_email[other.email]["status"] == "unusable"
    assert by_email[other.email]["reason"] == "another_kind_of_account"
    assert by_email[other.email]["caregiver_id"] is None
    assert {p["status"] for e, p in by_email.items() if e != other.email} == {"active"}
    # while the patient sees it as any grant (its status would tell them the address has an account)
    mine = {p["email"]: p["status"] for p in patient.api.get("/api/me/proxies").json()["proxies"]}
    assert mine[other.email] == "active"


def test_grants_are_limited_per_patient_with_retry_after(portal, staff, clock):
    # Given a patient, well inside a clock hour
    _inside_one_hour(clock)
    patient = portal.new_patient(staff)
    limit = get_settings().grants_per_patient_per_hour

    # When they grant more caregivers than the hour allows
    answers = [patient.api.post("/api/me/proxies", json=grant_body()) for _ in range(limit + 1)]

    # Then the grants beyond the limit are refused with a time to wait, and change nothing
    assert [a.status_code for a in answers] == [201] * limit + [429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 3600
    assert len(patient.api.get("/api/me/proxies").json()["proxies"]) == limit
    # and each invitation counted toward the patient's mail limit
    from chalicelib.services.caregivers import grants as caregivers

    assert caregivers.mails_counted(patient.id) == limit


# ---------------------------------------------------------------- N5: the second factor before a password change

@pytest.fixture(scope="module")
def member(portal, admin):
    """A staff member with a second factor, of this module's own."""
    return new_member(portal, admin, prefix="round3")


def test_a_reset_password_is_changed_only_after_the_second_factor(portal, member):
    # Given a staff member with a factor who asked for a temporary password
    assert portal.public.post("/api/auth/forgot-password", json={"username": member.username}).status_code == 202
    pump.drain()
    temporary = portal.last_temporary_password(member.email)

    # When they sign in with it and try to change the password before giving a code
    first = portal.login(member.username, temporary)
    assert first.status_code == 200 and (first.json()["must_change_password"], first.json()["mfa"]) == (True, "verify")
    api = Api(portal.base_url, first.json()["token"])
    new_password = "quartz-" + secrets.token_hex(4) + "-meadow-lantern"
    early = api.post("/api/auth/password", json={"current_password": temporary, "new_password": new_password})

    # Then it is refused until the code is given; then the change goes through
    assert early.status_code == 403 and early.json()["error"] == "mfa_required"
    assert api.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(member.username)}).status_code == 204
    assert api.get("/api/me").json()["error"] == "password_change_required"
    done = api.post("/api/auth/password", json={"current_password": temporary, "new_password": new_password})
    assert done.status_code == 204, done.text
    member.password, member.api = new_password, api
    assert api.get("/api/me").status_code == 200


def test_disabling_an_account_voids_its_temporary_passwords(portal, staff):
    # Given a patient invited with a temporary password they have not used
    patient = portal.register_patient(staff)
    temporary = portal.last_temporary_password(patient.email)

    # When the office closes their access and reopens it
    for active in (False, True):
        answer = staff.put(f"/api/staff/patients/{patient.id}/access", json={"active": active, "reason": "Review"})
        assert answer.status_code == 200, answer.text

    # Then the temporary password no longer signs in
    assert portal.login(patient.username, temporary).status_code == 401


# ---------------------------------------------------------------- N6, N7: ids in query strings and forms

LONG_ID = "p_" + "x" * 2100


def test_overlong_ids_in_the_audit_query_answer_404_on_the_api_and_the_page(portal, admin):
    # Given an admin, on the API and on the pages
    from tests.conftest import ADMIN_PASSWORD

    pages = signed_in_pages(portal.base_url, "admin", ADMIN_PASSWORD)

    # When the audit trail is asked for with an id over 2 KB (or with a control character)
    answers = [admin.get("/api/staff/audit", params={"patient_id": LONG_ID}),
               admin.get("/api/staff/audit", params={"actor_id": LONG_ID}),
               admin.get("/api/staff/audit", params={"patient_id": "p_\x00"}),
               pages.get(f"{portal.base_url}/admin/audit", params={"patient_id": LONG_ID}, timeout=30)]

    # Then each is the 404 of an unknown id, never a 500
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert answers[0].json()["error"] == "not_found"


def test_the_comment_form_names_a_missing_field_and_refuses_an_overlong_id(portal, staff):
    # Given the office's pages and a patient with a document
    from tests.conftest import STAFF_PASSWORD

    patient, doc_id = published(portal, staff)
    comments_before = staff.get(f"/api/staff/documents/{doc_id}").json()["comments"]
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    csrf = page_csrf(pages.get(f"{portal.base_url}/staff/patients/{patient.id}", timeout=30).text)
    url = f"{portal.base_url}/staff/documents/comment"

    # When the comment form comes without the patient, without the document, or with a 2 KB id
    no_patient = pages.post(url, data={"csrf_token": csrf, "document_id": doc_id, "text": "Call us"}, timeout=30)
    no_document = pages.post(url, data={"csrf_token": csrf, "patient_id": patient.id, "text": "Call us"}, timeout=30)
    long_id = pages.post(url, data={"csrf_token": csrf, "patient_id": patient.id, "document_id": LONG_ID,
                                    "text": "Call us"}, timeout=30)

    # Then the first two are a 400 page naming the missing field, the third the 404 of an unknown id
    assert no_patient.status_code == 400 and "patient_id" in no_patient.text
    assert no_document.status_code == 400 and "document_id" in no_document.text
    assert long_id.status_code == 404
    # and no comment was added
    assert staff.get(f"/api/staff/documents/{doc_id}").json()["comments"] == comments_before


# ---------------------------------------------------------------- N8: the office's views in the access log

def test_the_caregivers_page_and_an_admins_read_of_the_trail_are_in_the_access_log(portal, staff, admin):
    # Given a patient
    from tests.conftest import STAFF_PASSWORD

    patient = portal.new_patient(staff)
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)

    # When the office opens the patient's caregivers page and an admin reads the patient's audit trail
    assert pages.get(f"{portal.base_url}/staff/patients/{patient.id}/caregivers", timeout=30).status_code == 200
    assert admin.get("/api/staff/audit", params={"patient_id": patient.id}).status_code == 200

    # Then both are in the patient's "who viewed my record", naming who
    events = patient.api.get("/api/me/access-log").json()["events"]
    seen = {(e["action"], e["actor_name"]) for e in events}
    assert ("patient.caregivers_view", "Front Desk") in seen
    assert ("audit.view", "Clinic Administrator") in seen


# ---------------------------------------------------------------- N10

def test_enabling_a_second_factor_ends_the_other_sessions(portal, staff):
    # Given a patient signed in on two devices
    patient = portal.new_patient(staff)
    other_device = portal.signed_in(patient.username, patient.password)
    assert other_device.get("/api/me").status_code == 200

    # When they turn on two-step sign-in on the first
    started = patient.api.post("/api/auth/mfa/enroll")
    AUTHENTICATORS.add(patient.username, started.json()["secret"])
    confirmed = patient.api.post("/api/auth/mfa/confirm", json={"code": AUTHENTICATORS.code(patient.username)})

    # Then the other device's session has ended, and this one carries on
    assert confirmed.status_code == 200, confirmed.text
    assert other_device.get("/api/me").status_code == 401
    assert patient.api.get("/api/me").status_code == 200


def test_the_office_closes_a_caregiver_account_and_reopens_it(portal, staff, admin):
    # Given a patient's caregiver, signed in
    patient = portal.new_patient(staff)
    caregiver, _, body = caregiver_for(portal, patient)
    [listed] = staff.get(f"/api/staff/patients/{patient.id}/proxies").json()["proxies"]
    caregiver_id = listed["caregiver_id"]

    # When the office closes the caregiver's account
    closed = staff.put(f"/api/staff/caregivers/{caregiver_id}/access", json={"active": False, "reason": "Misuse"})

    # Then their session ends, they cannot sign in, and the office sees the account closed
    assert closed.status_code == 200, closed.text
    assert closed.json()["active"] is False
    assert caregiver.get(f"/api/items?patient_id={patient.id}").status_code == 401
    assert portal.login(body["email"], PASSWORDS[body["email"]]).status_code == 401
    [listed] = staff.get(f"/api/staff/patients/{patient.id}/proxies").json()["proxies"]
    assert listed["caregiver_active"] is False
    # and neither a patient's id nor an unknown one is a caregiver account
    assert staff.put(f"/api/staff/caregivers/{patient.id}/access",
                     json={"active": False, "reason": "x"}).status_code == 404
    # and it is in the trail
    trail = admin.get("/api/staff/audit", params={"actor_id": staff.get("/api/me").json()["id"]}).json()["events"]
    assert any(e["action"] == "proxy.account_close" and e["target_id"] == caregiver_id for e in trail)

    # When it is reopened, the caregiver signs in and reads again
    assert staff.put(f"/api/staff/caregivers/{caregiver_id}/access",
                     json={"active": True, "reason": "Cleared"}).status_code == 200
    again = portal.signed_in(body["email"], PASSWORDS[body["email"]])
    assert again.get(f"/api/items?patient_id={patient.id}").status_code == 200


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_the_dev_sweep_refuses_a_time_out_of_range(portal, moment):
    # When the local stage's sweep is asked to run at a time no clinic will see
    answer = portal.public.post("/dev/sweep", json={"now": moment})

    # Then it is a 400 naming the field, not a 500
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith("now:")

