"""Each route's documented answer is what its service really sends.

A tour calls every route that answers with a body once with success, over HTTP as a client would
(the patient, their caregiver, the office, an admin, the local stage's tools), and each answer is
compared, key by key and at every depth, with the schema the published OpenAPI document gives for
that route: a key sent that the document does not declare, or a key it requires that was not sent,
is a drift. The document is generated from the TypedDicts the services are annotated to return, and
the suite's CHECK_ANSWERS checks every answer against them from the inside as well; a deliberate
drift is shown to be caught both ways. A new route adds its call to the tour.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections import defaultdict
from typing import Any
from urllib.parse import quote

import pytest

from app import app as _app  # noqa: F401 - registers every blueprint, so ROUTES is complete
from chalicelib import aws
from chalicelib.api.http import ROUTES
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.fixtures.lab import personalised
from tests.integration.test_caregivers import grant_body
from tests.integration.test_logging import captured_logs, records
from tests.support.http import Api, strong_password, unique_email, unique_mrn
from tests.support.lifecycle import new_member
from tests.support.load import put_upload, upload_key
from tests.support.second_factor import AUTHENTICATORS

JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
              type(None): "null"}


def _resolved(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def drift(document: dict, schema: dict, value: Any, at: str = "answer") -> list[str]:
    """Where `value` and the document's `schema` disagree: a key sent that the schema does not
    declare, a key it requires that was not sent, a value of another JSON type; at any depth. A
    choice (`anyOf`) fits when one of its members does."""
    schema = _resolved(document, schema)
    if "anyOf" in schema:
        return min((drift(document, member, value, at) for member in schema["anyOf"]), key=len)
    sent = JSON_TYPES[type(value)]
    expected = schema.get("type")
    if expected and sent != expected and not (sent == "integer" and expected == "number"):
        return [f"{at}: a JSON {sent}, documented as {expected}"]
    if sent == "object" and "properties" in schema:
        declared = schema["properties"]
        problems = [f"{at}.{key}: sent, not documented" for key in sorted(set(value) - set(declared))]
        problems += [f"{at}.{key}: documented as required, not sent"
                     for key in sorted(set(schema.get("required", ())) - set(value))]
        for key in sorted(set(value) & set(declared)):
            problems += drift(document, declared[key], value[key], f"{at}.{key}")
        return problems
    if sent == "array" and "items" in schema:
        return [problem for n, entry in enumerate(value) for problem in drift(document, schema["items"], entry, f"{at}[{n}]")]
    return []


def documented(document: dict, method: str, path: str) -> dict:
    """The schema of a route's success answer in the document."""
    spec = next(s for s in ROUTES if (s.method, s.path) == (method, path))
    success = document["paths"][path][method.lower()]["responses"][str(spec.status)]
    return success["content"]["application/json"]["schema"]


class Tour:
    """The routes called so far and what each answered, by (method, path template)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.answers: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self.document: dict = {}

    def call(self, api: Api, method: str, template: str, path: str | None = None, **kwargs) -> Any:
        answer = api.request(method, path or template, **kwargs)
        assert 200 <= answer.status_code < 300, (method, path or template, answer.status_code, answer.text[:500])
        body = answer.json()
        self.answers[(method, template)].append(body)
        return body


def _signed_in_first_time(portal, username: str, temporary: str) -> tuple[Api, str]:
    """A first sign-in with a temporary password, then a password of one's own: the same session
    carries on whole."""
    tour_session = Api(portal.base_url, portal.login(username, temporary).json()["token"])
    password = strong_password()
    changed = tour_session.post("/api/auth/password", json={"current_password": temporary, "new_password": password})
    assert changed.status_code == 204, changed.text
    return tour_session, password


@pytest.fixture(scope="module")
def tour(portal) -> Tour:
    """Every route that answers with a body, called once or more with success."""
    from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD

    t = Tour(portal.base_url)
    public = portal.public
    admin = portal.live("admin", ADMIN_PASSWORD)
    staff = portal.live("desk", STAFF_PASSWORD)

    # the public door
    t.call(public, "GET", "/api/health")
    t.document = t.call(public, "GET", "/api/openapi.json")

    # the office registers a patient, who signs in (the sign-in answer) and sets a password
    body = {"name": "Tourist Patient", "date_of_birth": "1980-04-30", "email": unique_email(), "mrn": unique_mrn(),
            "phone": "+1 (919) 555-0120", "language": "en"}
    registered = t.call(staff, "POST", "/api/staff/patients", json=body)
    patient_id = registered["id"]
    session = t.call(public, "POST", "/api/auth/login",
                     json={"username": registered["username"], "password": portal.last_temporary_password(body["email"])})
    patient = Api(portal.base_url, session["token"])
    password = strong_password()
    assert patient.post("/api/auth/password", json={"current_password": portal.last_temporary_password(body["email"]),
                                                    "new_password": password}).status_code == 204
    t.call(public, "POST", "/api/auth/forgot-password", json={"username": "nobody-" + unique_mrn()})
    t.call(public, "POST", "/api/forms/forgot-username",
           json={"name": "Forgetful Person", "date_of_birth": "1970-01-01", "email": unique_email("forms")})

    # a document for the patient (a lab's direct upload), and one quarantined for an MRN no one has
    put_upload(upload_key(body["mrn"]))
    lost, lost_too = upload_key(unique_mrn()), upload_key(unique_mrn())
    put_upload(lost)
    put_upload(lost_too)
    pump.drain()

    # the patient's side
    items = t.call(patient, "GET", "/api/items")["items"]
    document_id = next(item["id"] for item in items if item["kind"] == "document")
    t.call(patient, "GET", "/api/documents/{document_id}", f"/api/documents/{document_id}")
    t.call(patient, "GET", "/api/documents/{document_id}/file", f"/api/documents/{document_id}/file")
    own = t.call(patient, "POST", "/api/messages", json={"subject": "About my results", "body": "A question",
                                                         "item_id": document_id})
    t.call(patient, "POST", "/api/messages/{thread_id}", f"/api/messages/{own['id']}", json={"body": "And another"})
    t.call(patient, "GET", "/api/messages")
    t.call(patient, "GET", "/api/messages/{thread_id}", f"/api/messages/{own['id']}")
    t.call(patient, "GET", "/api/me")
    t.call(patient, "GET", "/api/me/sessions")
    t.call(patient, "PUT", "/api/me/language", json={"language": "es"})
    t.call(patient, "PUT", "/api/me/email", json={"email": unique_email(), "current_password": password})
    t.call(patient, "PUT", "/api/me/username", json={"username": "tourist-" + unique_mrn().lower(),
                                                     "current_password": password})
    export = t.call(patient, "POST", "/api/me/exports")
    t.call(patient, "GET", "/api/me/exports/{export_id}", f"/api/me/exports/{export['id']}")  # pending
    pump.drain()
    t.call(patient, "GET", "/api/me/exports/{export_id}", f"/api/me/exports/{export['id']}")  # ready, with its link

    # a caregiver the patient grants, who signs in and reads the patient's records
    granted = grant_body()
    t.call(patient, "POST", "/api/me/proxies", json=granted)
    caregiver, _ = _signed_in_first_time(portal, granted["email"], portal.last_temporary_password(granted["email"]))
    record = {"params": {"patient_id": patient_id}}
    t.call(caregiver, "GET", "/api/me")
    t.call(caregiver, "GET", "/api/items", **record)
    t.call(caregiver, "GET", "/api/documents/{document_id}", f"/api/documents/{document_id}", **record)
    t.call(caregiver, "GET", "/api/messages", **record)
    t.call(patient, "GET", "/api/me/proxies")
    t.call(patient, "GET", "/api/me/access-log")
    office_view = t.call(staff, "GET", "/api/staff/patients/{patient_id}/proxies",
                         f"/api/staff/patients/{patient_id}/proxies")["proxies"]
    caregiver_id = next(grant["caregiver_id"] for grant in office_view if grant["email"] == granted["email"])
    for active in (False, True):  # the office closes the caregiver's account (ending its session), then reopens it
        t.call(staff, "PUT", "/api/staff/caregivers/{caregiver_id}/access", f"/api/staff/caregivers/{caregiver_id}/access",
               json={"active": active, "reason": "Tour of the answers"})

    # the office's side
    office = t.call(staff, "POST", "/api/staff/patients/{patient_id}/messages", f"/api/staff/patients/{patient_id}/messages",
                    json={"subject": "Your visit", "body": "Hello"})
    t.call(staff, "POST", "/api/staff/messages/{thread_id}", f"/api/staff/messages/{own['id']}", json={"body": "Answered"})
    t.call(staff, "GET", "/api/staff/inbox")
    t.call(staff, "GET", "/api/staff/messages/{thread_id}", f"/api/staff/messages/{own['id']}")
    t.call(staff, "GET", "/api/staff/patients/{patient_id}/messages", f"/api/staff/patients/{patient_id}/messages")
    t.call(patient, "GET", "/api/messages/{thread_id}", f"/api/messages/{office['id']}")
    t.call(staff, "GET", "/api/staff/patients", params={"q": body["mrn"]})
    t.call(staff, "GET", "/api/staff/patients/{patient_id}", f"/api/staff/patients/{patient_id}")
    t.call(staff, "PUT", "/api/staff/patients/{patient_id}/phone", f"/api/staff/patients/{patient_id}/phone",
           json={"phone": "919 555 0177"})
    t.call(staff, "PUT", "/api/staff/patients/{patient_id}/email", f"/api/staff/patients/{patient_id}/email",
           json={"email": unique_email()})
    t.call(staff, "POST", "/api/staff/patients/{patient_id}/invitation", f"/api/staff/patients/{patient_id}/invitation")
    t.call(staff, "POST", "/api/staff/patients/{patient_id}/proxies", f"/api/staff/patients/{patient_id}/proxies",
           json=grant_body())
    t.call(staff, "POST", "/api/staff/patients/{patient_id}/uploads", f"/api/staff/patients/{patient_id}/uploads",
           json={"title": "Lipid panel", "category": "lab result", "provider": "Dr. Ines Varga", "filename": "lipids.pdf",
                 "content_type": "application/pdf"})
    t.call(staff, "POST", "/api/staff/documents/{document_id}/comments", f"/api/staff/documents/{document_id}/comments",
           json={"text": "All within range."})
    t.call(staff, "POST", "/api/staff/documents/{document_id}/replace", f"/api/staff/documents/{document_id}/replace",
           json={"filename": "lipids-corrected.pdf", "content_type": "application/pdf"})
    t.call(staff, "GET", "/api/staff/documents/{document_id}", f"/api/staff/documents/{document_id}")
    t.call(staff, "GET", "/api/staff/follow-up")
    t.call(staff, "GET", "/api/staff/unread")
    t.call(staff, "PUT", "/api/staff/patients/{patient_id}/language", f"/api/staff/patients/{patient_id}/language",
           json={"language": "en"})
    queue = t.call(staff, "GET", "/api/staff/queue")
    form = next(entry for entry in queue["forms"] if entry["data"] and entry["data"].get("name") == "Forgetful Person")
    t.call(staff, "POST", "/api/staff/forms/{form_id}/resolve", f"/api/staff/forms/{quote(form['id'], safe='')}/resolve",
           json={"note": "Called back"})
    quarantined = {(entry["data"] or {}).get("key"): entry["id"] for entry in queue["quarantine"]}
    t.call(staff, "POST", "/api/staff/queue/{entry_id}/resolve", f"/api/staff/queue/{quote(quarantined[lost], safe='')}/resolve",
           json={"note": "Sent to the wrong clinic"})
    t.call(staff, "POST", "/api/staff/queue/{entry_id}/publish",
           f"/api/staff/queue/{quote(quarantined[lost_too], safe='')}/publish",
           json={"mrn": body["mrn"], "note": "The right patient"})
    t.call(staff, "POST", "/api/staff/documents/{document_id}/retract", f"/api/staff/documents/{document_id}/retract",
           json={"reason": "Filed for the wrong patient"})
    t.call(patient, "GET", "/api/documents/{document_id}", f"/api/documents/{document_id}")  # now the retracted stub

    # a patient whose portal access the office closes and reopens (a separate one: closing ends sessions)
    other = t.call(staff, "POST", "/api/staff/patients", json={**body, "email": unique_email(), "mrn": unique_mrn()})
    for active in (False, True):
        t.call(staff, "PUT", "/api/staff/patients/{patient_id}/access", f"/api/staff/patients/{other['id']}/access",
               json={"active": active, "reason": "Tour of the answers"})
    # the document retracted above belonged to that other patient: refiled to them, and the privacy incident
    t.call(staff, "POST", "/api/staff/documents/{document_id}/refile", f"/api/staff/documents/{document_id}/refile",
           json={"patient_id": other["id"], "reason": "Filed for the wrong patient"})
    t.call(admin, "GET", "/api/admin/incidents")

    # admins: staff accounts and the trail
    member = t.call(admin, "POST", "/api/admin/staff", json={"username": "tour-" + unique_mrn().lower(),
                                                             "email": unique_email("staff"), "name": "Tour Member",
                                                             "role": "staff"})
    t.call(admin, "GET", "/api/admin/staff")
    t.call(admin, "PUT", "/api/admin/staff/{staff_id}", f"/api/admin/staff/{member['id']}", json={"active": False})
    t.call(admin, "GET", "/api/staff/audit", params={"patient_id": patient_id})

    # the patient's second factor: enrol and confirm (the session stays whole)
    enrolment = t.call(patient, "POST", "/api/auth/mfa/enroll")
    AUTHENTICATORS.add(f"tour-{patient_id}", enrolment["secret"])
    t.call(patient, "POST", "/api/auth/mfa/confirm", json={"code": AUTHENTICATORS.code(f"tour-{patient_id}")})

    # reaching every patient: the phone and how notices come, an enrolment letter and enrolling with
    # its code, a forgot-username request's charts (each linked in one click)
    t.call(patient, "PUT", "/api/me/phone", json={"phone": "(919) 555-0121", "current_password": password})
    t.call(patient, "PUT", "/api/me/notifications", json={"email": True, "sms": True})
    t.call(patient, "PUT", "/api/me/result-release", json={"when": "immediately"})
    t.call(staff, "PUT", "/api/staff/patients/{patient_id}/notifications",
           f"/api/staff/patients/{patient_id}/notifications", json={"email": True, "sms": False})
    joiner = t.call(staff, "POST", "/api/staff/patients", json={"name": "Tour Joiner", "date_of_birth": "1950-02-01",
                                                                "mrn": unique_mrn(), "phone": "919 555 0122"})
    t.call(staff, "POST", "/api/staff/patients/{patient_id}/enrolment-letter",
           f"/api/staff/patients/{joiner['id']}/enrolment-letter")
    letter = [entry for entry in t.call(public, "GET", "/dev/letters")["letters"] if entry["patient_id"] == joiner["id"]]
    code = re.search(r"Your enrolment code: (\S+)", letter[-1]["text"]).group(1)
    t.call(public, "POST", "/api/auth/enrol", json={"code": code, "date_of_birth": "1950-02-01",
                                                    "username": "joiner-" + unique_mrn().lower(),
                                                    "password": strong_password()})
    t.call(public, "GET", "/dev/texts")
    t.call(public, "POST", "/api/forms/forgot-username",
           json={"name": "Tourist Patient", "date_of_birth": "1980-04-30", "phone": "(919) 555-0123"})
    asked = next(entry for entry in t.call(staff, "GET", "/api/staff/queue")["forms"]
                 if (entry["data"] or {}).get("phone") == "+19195550123")
    matches = t.call(staff, "GET", "/api/staff/forms/{form_id}/matches",
                     f"/api/staff/forms/{quote(asked['id'], safe='')}/matches")["patients"]
    t.call(staff, "POST", "/api/staff/forms/{form_id}/link", f"/api/staff/forms/{quote(asked['id'], safe='')}/link",
           json={"patient_id": matches[0]["patient_id"]})

    # a lab's result for an MRN no one has yet: quarantined; once the patient is registered the
    # office sends it again, and the patient (signed in) reads it and the trend of its test
    lab_mrn = unique_mrn()
    lab_key = f"lab/tour-{lab_mrn}/glucose.hl7"
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=lab_key,
                                Body=personalised("normative_glucose.hl7", [lab_mrn], lab_mrn))
    pump.drain()
    held = next(entry for entry in t.call(staff, "GET", "/api/staff/queue")["quarantine"]
                if (entry["data"] or {}).get("key") == lab_key)
    t.call(staff, "GET", "/api/staff/quarantine/{entry_id}", f"/api/staff/quarantine/{quote(held['id'], safe='')}")
    lab_patient = portal.register_patient(staff, name="Lab Tourist", mrn=lab_mrn, date_of_birth="1962-03-20")
    t.call(staff, "POST", "/api/staff/quarantine/{entry_id}/retry",
           f"/api/staff/quarantine/{quote(held['id'], safe='')}/retry")
    pump.drain()
    reader = portal.activate(lab_patient).api
    result_id = next(item["id"] for item in t.call(reader, "GET", "/api/items")["items"] if item["kind"] == "result")
    t.call(reader, "GET", "/api/results/{result_id}", f"/api/results/{result_id}")
    t.call(reader, "GET", "/api/results/trends", params={"code": "1554-5"})
    t.call(staff, "GET", "/api/staff/results/{result_id}", f"/api/staff/results/{result_id}")

    # a critical result the lab sends for that patient, ordered by a provider (by NPI): the
    # provider's list and review, the office's queue and its recorded call
    npi = "1" + "".join(secrets.choice("0123456789") for _ in range(9))
    provider = new_member(portal, admin, "provider", name="Tour Provider", prefix="prov", npi=npi).api
    critical = (personalised("critical_values.hl7", [lab_mrn], lab_mrn).replace(b"19580412", b"19620320")
                .replace(b"1982745136^OSEI^AMA", f"{npi}^OSEI^AMA".encode()))
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=f"lab/tour-{lab_mrn}/critical.hl7",
                                Body=critical)
    pump.drain()
    to_review = t.call(provider, "GET", "/api/provider/results", params={"state": "to_review"})["results"]
    critical_id = next(result["id"] for result in to_review if result["critical"])
    t.call(staff, "GET", "/api/staff/queue")  # with the critical result's entry
    t.call(provider, "POST", "/api/provider/results/{result_id}/review", f"/api/provider/results/{critical_id}/review",
           json={"comment": "Call the patient today."})
    t.call(staff, "POST", "/api/staff/queue/critical/{result_id}/called",
           f"/api/staff/queue/critical/{critical_id}/called", json={"outcome": "reached", "note": "Spoke with them"})

    # the local stage's tools
    t.call(public, "GET", "/dev/outbox", params={"to": body["email"]})
    t.call(public, "POST", "/dev/sweep", json={})
    return t


# A follow-up exists only after days of unanswered notices: tests/integration/test_providers_calls.py.
NEEDS_DAYS = {("POST", "/api/staff/queue/follow-ups/{item_id}/called"): "tests/integration/test_providers_calls.py"}


def test_every_route_that_answers_with_a_body_is_called_in_the_tour(tour):
    # Given every route that answers with a body
    answering = {(spec.method, spec.path) for spec in ROUTES if spec.status not in (204, 303)}

    # When the tour has run
    # Then each of them answered it with success at least once, but for the routes whose answer needs
    # days of the portal's clock (checked against their declaration by the suite's answer check,
    # in the files named)
    assert answering - set(tour.answers) - set(NEEDS_DAYS) == set()


def test_every_answer_has_exactly_the_keys_its_route_documents(tour):
    # Given the published document and every answer the tour got
    document = tour.document

    # When each answer is compared with its route's documented schema
    drifts = {}
    for (method, path), answers in tour.answers.items():
        schema = documented(document, method, path)
        problems = [problem for answer in answers for problem in drift(document, schema, answer)]
        if problems:
            drifts[f"{method} {path}"] = problems

    # Then no answer sends a key its route does not document, nor leaves out one it requires
    assert drifts == {}


def test_the_patient_answer_documents_and_sends_the_portal_access(tour):
    # Given the answers of closing and reopening a patient's access
    closed, reopened = tour.answers[("PUT", "/api/staff/patients/{patient_id}/access")]

    # Then they carry the access fields, and the document's answer declares them
    assert (closed["active"], reopened["active"]) == (False, True)
    assert reopened["access_reason"] == "Tour of the answers"
    schema = _resolved(tour.document, documented(tour.document, "PUT", "/api/staff/patients/{patient_id}/access"))
    assert {"active", "access_reason"} <= set(schema["required"])


def test_my_account_carries_the_fields_the_contract_names(tour):
    # Given what GET /api/me answered the patient, then the caregiver they granted
    mine, caregivers = tour.answers[("GET", "/api/me")]
    contract = {"id", "username", "email", "name", "role", "email_status", "language", "phone", "notifications",
                "result_release"}

    # Then the patient's names who they are, their language, their phone (E.164) and how notices reach them
    assert contract <= set(mine)
    assert (mine["role"], mine["name"], mine["language"], mine["phone"]) == ("patient", "Tourist Patient", "en",
                                                                              "+19195550120")
    assert set(mine["notifications"]) == {"email", "sms"} and "patients" not in mine
    assert mine["result_release"] == "immediately"

    # And the caregiver's carries the same fields and the patients they care for now: id, name, scope
    assert contract <= set(caregivers) and caregivers["role"] == "proxy"
    [cared] = caregivers["patients"]
    assert (cared["id"], cared["name"], cared["scope"]) == (mine["id"], "Tourist Patient", "read_and_message")


def test_the_comparison_catches_a_key_sent_or_missing_and_the_old_patient_drift(tour):
    # Given a real answer of the patient's access route and its documented schema
    document = tour.document
    answer = tour.answers[("PUT", "/api/staff/patients/{patient_id}/access")][0]
    schema = documented(document, "PUT", "/api/staff/patients/{patient_id}/access")
    assert drift(document, schema, answer) == []

    # When the service sends a key the declaration lacks, and leaves out one it requires
    drifted = {**{k: v for k, v in answer.items() if k != "locked"}, "ssn": "000-00-0000"}

    # Then both are named
    assert drift(document, schema, drifted) == ["answer.ssn: sent, not documented",
                                                "answer.locked: documented as required, not sent"]

    # And the document the portal published before (a Patient without the access fields) is caught
    old = copy.deepcopy(document)
    patient = old["components"]["schemas"]["Patient"]
    for key in ("active", "access_reason"):
        del patient["properties"][key]
        patient["required"].remove(key)
    assert drift(old, schema, answer) == ["answer.access_reason: sent, not documented",
                                          "answer.active: sent, not documented"]

    # And a drift deep inside an answer is named by its path
    detail = copy.deepcopy(tour.answers[("GET", "/api/staff/patients/{patient_id}")][0])
    detail["items"][0]["secret"] = 1
    assert drift(document, documented(document, "GET", "/api/staff/patients/{patient_id}"), detail) == [
        "answer.items[0].secret: sent, not documented"]


def test_no_answer_declaration_carries_a_pydantic_config_of_its_own():
    # Given every TypedDict a route's answer is declared with, and those they are made of
    from typing import get_args, get_type_hints

    from typing_extensions import is_typeddict

    seen, todo = set(), [spec.response for spec in ROUTES if spec.response is not None]
    while todo:
        declared = todo.pop()
        if is_typeddict(declared) and declared not in seen:
            seen.add(declared)
            todo += list(get_type_hints(declared).values())
        else:
            todo += [arg for arg in get_args(declared) if isinstance(arg, type) or get_args(arg)]

    # Then none carries a pydantic config of its own, which would take it out of the suite's strict
    # check (each one takes the check's `extra="forbid"`) and change the published document
    assert len(seen) > 50
    assert [d.__name__ for d in seen if "__pydantic_config__" in vars(d)] == []


def test_a_service_drifting_from_its_declaration_is_a_logged_500_in_the_suite(portal, staff, monkeypatch):
    # Given a patient, and the service of the patient answer sending a key its TypedDict lacks,
    # leaving out one it requires, and sending a key the declaration of a nested answer (how
    # notices reach the patient) lacks
    from chalicelib.services.accounts import contact, registry

    patient = portal.register_patient(staff, name="Drifting Patient")
    declared, declared_notifications = registry.patient_json, contact.notifications_json

    def drifted(account):
        answer = {**declared(account), "ssn": "000-00-0000"}
        del answer["active"]
        return answer

    monkeypatch.setattr(registry, "patient_json", drifted)
    monkeypatch.setattr(contact, "notifications_json", lambda account: {**declared_notifications(account), "fax": True})

    # When the office changes the patient's phone (the suite checks every answer: CHECK_ANSWERS=1)
    with captured_logs() as lines:
        answer = staff.put(f"/api/staff/patients/{patient.id}/phone", json={"phone": "919 555 0142"})

    # Then the answer never leaves: a 500, logged with the route, the declaration and each key, the
    # nested one by its path
    assert answer.status_code == 500, answer.text
    [mismatch] = [r for r in records(lines) if r["message"] == "answer.mismatch"]
    assert mismatch["route"] == "PUT /api/staff/patients/{patient_id}/phone" and mismatch["model"] == "Patient"
    assert set(mismatch["fields"]) == {"ssn: extra_forbidden", "active: missing", "notifications.fax: extra_forbidden"}
    assert "000-00-0000" not in json.dumps(mismatch)
