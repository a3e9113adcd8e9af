"""Bad input on every route that takes a body: a 4xx `{"error", "message"}` naming the problem,
never a 5xx, and nothing changed. A body nested too deep is a 400 `invalid_request`; an id longer
than any the portal issues is a 404, on every API route and page that takes one, before any table
is read; and every error answer carries the security headers successful ones carry.

The cases are generated from `chalicelib.api.http.ROUTES` (and the pages' `PAGES`) and each route's
own body model, so a route added later is covered without touching this file.
"""

from __future__ import annotations

import json
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app import app as _app  # noqa: F401 - registers every blueprint, so ROUTES is complete
from chalicelib.api.http import ADMIN, PATIENT, PATIENT_RECORD, PUBLIC, ROUTES, STAFF, RouteSpec
from chalicelib.frontdoor import MAX_ID_LENGTH, MAX_JSON_DEPTH, SECURITY_HEADERS
from chalicelib.localstack import pump
from chalicelib.localstack.calls import Call, Recorder, recording
from chalicelib.services.followup import digest
from chalicelib.settings import get_settings
from chalicelib.web.framework import PAGES, PageSpec
from tests.support.http import Api, strong_password, unique_email, unique_mrn

BODY_ROUTES = [spec for spec in ROUTES if spec.body is not None]
ONE_MEGABYTE = 1024 * 1024
# Refused wherever text is accepted: they cannot be stored or shown safely.
REFUSED_TEXT = {"lone surrogate": "abc\ud800def", "NUL": "abc\u0000def", "escape": "abc\u001bdef"}
# Odd but legitimate text: accepted or refused cleanly, never a 5xx.
ODD_TEXT = {
    "right-to-left marks": "\u202egnp.exe\u200f",
    "emoji": "Rosa \U0001f469\u200d\u2695\ufe0f \U0001f600",
    "combining characters": "Zoe\u0308 Ame\u0301lie\u0301",
    "byte order mark": "\ufeffname",
}


def route_id(spec: RouteSpec) -> str:
    return f"{spec.method} {spec.path}"


# ---------------------------------------------------------------- valid sample bodies

def _resolve(schema: dict, defs: dict) -> dict:
    if "$ref" in schema:
        return _resolve(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _resolve(options[0], defs)
    return schema


_HINTS = {
    "date_of_birth": lambda: "1980-04-30",
    "mrn": unique_mrn,
    "username": lambda: "user_" + secrets.token_hex(4),
    "phone": lambda: "555-0100",
    "filename": lambda: "result.pdf",
    "content_type": lambda: "application/pdf",
    "now": lambda: "2030-01-01T00:00:00Z",
    "code": lambda: "123456",
    "recovery_code": lambda: "abcd-efgh-2345",
}


def _sample_value(name: str, schema: dict) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "string":
        if name in _HINTS:
            return _HINTS[name]()
        if "email" in name:
            return unique_email("bad-input")
        if "password" in name:
            return strong_password()
        if schema.get("format") == "date-time":
            return "2030-01-01T00:00:00Z"
        if schema.get("format") == "date":
            return "1980-04-30"
        return "Sample text"
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}.get(kind, "Sample text")


def sample_body(spec: RouteSpec) -> tuple[dict, dict, bool]:
    """(body, field schemas, whether the model accepts the body)."""
    schema = spec.body.model_json_schema()
    defs = schema.get("$defs", {})
    fields = {name: _resolve(field, defs) for name, field in schema.get("properties", {}).items()}
    body = {name: _sample_value(name, field) for name, field in fields.items()}
    try:
        spec.body.model_validate(body)
        valid = True
    except ValidationError:
        valid = False
    return body, fields, valid


def _wrong_type(field: dict) -> Any:
    return 12345 if field.get("type") == "string" else "not the right type"


def bad_bodies(spec: RouteSpec) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """(case, request keyword arguments, words of which the message must name one)."""
    body, fields, valid = sample_body(spec)
    required = spec.body.model_json_schema().get("required", [])
    any_field = tuple(fields) + ("body",)
    json_headers = {"Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
        ("empty body", {"data": b"", "headers": json_headers}, ("body",)),
        ("not JSON", {"data": b"{name: 'x',", "headers": json_headers}, ("JSON",)),
        ("not UTF-8", {"data": b'{"x": "\xff\xfe"}', "headers": json_headers}, ("JSON", "UTF-8")),
        ("form encoded", {"data": b"a=1&b=2", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
         ("JSON", "body")),
        ("array instead of object", {"json": [body]}, ("object",)),
        ("string instead of object", {"json": "hello"}, ("object",)),
        ("null instead of object", {"json": None, "data": b"null", "headers": json_headers}, ("object",)),
        ("1 MB body", {"json": {**body, next(iter(fields), "x"): "a" * ONE_MEGABYTE}}, ("body",)),
        ("unknown field", {"json": {**body, "unexpected_field": "x"}},
         ("unexpected_field",) if valid else (*any_field, "unexpected_field")),
        ("lone surrogate in a key", {"json": {**body, "bad\ud800key": "x"}}, ("bad", "body")),
        ("nested object", {"json": {name: {"$gt": ""} for name in fields} or {"x": {}}}, any_field),
    ]
    for name in required:
        cases.append((f"missing {name}", {"json": {k: v for k, v in body.items() if k != name}},
                      (name,) if valid else any_field))
    for name, field in fields.items():
        cases.append((f"wrong type for {name}", {"json": {**body, name: _wrong_type(field)}},
                      (name,) if valid else any_field))
        if field.get("type") == "string":
            for label, text in REFUSED_TEXT.items():
                cases.append((f"{label} in {name}", {"json": {**body, name: text}}, (name,) if valid else any_field))
    return cases


# ---------------------------------------------------------------- who calls, and what "nothing changed" means

@pytest.fixture(scope="module")
def callers(portal, staff, admin) -> dict[str, Any]:
    patient = portal.new_patient(staff)
    return {"patient_record": patient, "public": portal.public, PATIENT: patient.api, PATIENT_RECORD: patient.api,
            "signed_in": patient.api, STAFF: staff, ADMIN: admin}


def concrete_path(spec: RouteSpec, patient_id: str) -> str:
    parts = []
    for part in spec.path.split("/"):
        if part == "{patient_id}":
            part = patient_id
        elif part.startswith("{"):
            part = "zz" + secrets.token_hex(6)
        parts.append(part)
    return "/".join(parts)


# Operations that only read: anything else the portal calls (a put, an update, a delete, a
# transaction, a queued message, a mail) changes something.
READ_OPERATIONS = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List", "Head")


class ChangeRecorder(Recorder):
    """Keeps every call but a session's sliding expiry: a session used more than a minute after its
    last use records the time (`last_seen_at`, and its `ttl` with it), whatever the request then
    asks. That write belongs to the sign-in, not to the request, and comes whenever a minute runs
    out, so it is left out; any other write to a session is kept."""

    def add(self, call: Call, params: dict | None = None) -> None:
        if not _session_use(call, params or {}):
            super().add(call, params)


def _session_use(call: Call, params: dict) -> bool:
    if call.operation != "UpdateItem" or not (call.resource or "").endswith("-sessions"):
        return False
    names = set(params.get("ExpressionAttributeNames", {}).values())
    return params.get("UpdateExpression", "").startswith("SET ") and names <= {"last_seen_at", "ttl", "token_hash"}


@contextmanager
def nothing_changed():
    """Fails unless the portal only read while the block ran: no row written or deleted, no object
    stored, no message queued, no mail sent (a session's sliding expiry aside: `ChangeRecorder`).
    Every AWS call the portal makes, in any thread of this process, goes through the recorder (the
    IAM policy check counts on the same)."""
    with recording(ChangeRecorder()) as calls:
        yield
    writes = [f"{call.service}:{call.operation} on {call.resource}" for call in calls.calls
              if not call.operation.startswith(READ_OPERATIONS)]
    assert writes == [], f"a refused request changed something: {writes}"


def send(caller: Api, spec: RouteSpec, path: str, request: dict[str, Any]):
    request = dict(request)
    if "json" in request and "data" not in request:
        # requests would refuse a lone surrogate; JSON's \\u escapes carry it as a client could.
        request["data"] = json.dumps(request.pop("json")).encode()
        request["headers"] = {"Content-Type": "application/json"}
    request.pop("json", None)
    return caller.request(spec.method, path, **request)


def assert_clean_refusal(answer, case: str, names: tuple[str, ...]) -> None:
    assert 400 <= answer.status_code < 500, f"{case}: {answer.status_code} {answer.text[:300]}"
    body = answer.json()
    assert set(body) >= {"error", "message"}, f"{case}: {body}"
    assert isinstance(body["error"], str) and body["error"], f"{case}: {body}"
    if answer.status_code == 404:
        return  # an unknown id in the path may be the right answer before the body matters
    assert any(name.casefold() in body["message"].casefold() for name in names), \
        f"{case}: message {body['message']!r} names none of {names}"


# ---------------------------------------------------------------- the tests

def test_every_body_route_is_covered():
    # Given the route table
    # Then the routes of the contract that take a body are among the generated cases
    declared = {route_id(spec) for spec in BODY_ROUTES}
    assert {"POST /api/auth/login", "POST /api/auth/password", "POST /api/auth/forgot-password",
            "POST /api/forms/forgot-username", "PUT /api/me/username", "PUT /api/me/email",
            "POST /api/staff/patients", "PUT /api/staff/patients/{patient_id}/email",
            "POST /api/staff/forms/{form_id}/resolve", "POST /api/admin/staff"} <= declared


def test_the_change_check_sees_a_request_that_writes(portal, staff):
    # Given a patient, and the check every refused request below is held to
    patient = portal.new_patient(staff).api

    # When a good request that changes the patient's account runs under it
    # Then the check fails, naming the write
    with pytest.raises(AssertionError, match="dynamodb:"):
        with nothing_changed():
            assert patient.put("/api/me/language", json={"language": "es"}).status_code in (200, 204)


def test_the_change_check_leaves_out_a_sessions_sliding_expiry_only(portal, staff, clock):
    # Given a patient whose session was last used over a minute ago
    patient = portal.new_patient(staff).api
    clock.advance(timedelta(seconds=61))

    # When they read their account under the check (all calls recorded beside it)
    with recording() as every_call, nothing_changed():
        assert patient.get("/api/me").status_code == 200

    # Then the session's use was written, and the check let it pass
    assert "UpdateItem" in [c.operation for c in every_call.calls if (c.resource or "").endswith("-sessions")]
    # But when the session is ended under it, the check fails, naming the write
    with pytest.raises(AssertionError, match="sessions"):
        with nothing_changed():
            assert patient.post("/api/auth/logout").status_code in (200, 204)


@pytest.mark.parametrize("spec", BODY_ROUTES, ids=route_id)
def test_bad_bodies_are_refused_cleanly_and_change_nothing(portal, callers, spec):
    # Given the right kind of caller for the route, and the state of every table
    caller = callers.get(spec.access, callers["public"])
    path = concrete_path(spec, callers["patient_record"].id)

    # When each bad body is sent
    with nothing_changed():  # (And nothing changed: no row, no file, no queued job, no mail)
        for case, request, names in bad_bodies(spec):
            answer = send(caller, spec, path, request)

            # Then it is a 4xx in the contract's shape whose message names the problem
            assert_clean_refusal(answer, case, names)


@pytest.mark.parametrize("spec", BODY_ROUTES, ids=route_id)
def test_odd_but_legitimate_unicode_is_never_a_server_error(portal, callers, clock, spec):
    # Given the right kind of caller, and (for public routes, which are rate-limited per client)
    # an hour of their own, so these requests use up no other test's allowance
    caller = callers.get(spec.access, callers["public"])
    path = concrete_path(spec, callers["patient_record"].id)
    if spec.access == PUBLIC:
        clock.travel_to(datetime(2032, 1, 1, 3, 0, 5, tzinfo=UTC))
    body, fields, _ = sample_body(spec)

    # When each text field in turn carries right-to-left marks, emoji, combining characters or a BOM
    for name, field in fields.items():
        if field.get("type") != "string":
            continue
        for label, text in ODD_TEXT.items():
            answer = send(caller, spec, path, {"json": {**body, name: text}})

            # Then the portal accepts it or refuses it cleanly, never with a 5xx
            assert answer.status_code < 500, f"{label} in {name}: {answer.status_code} {answer.text[:300]}"
            if answer.status_code >= 400:
                assert set(answer.json()) >= {"error", "message"}, f"{label} in {name}: {answer.text}"


# ---------------------------------------------------------------- nesting, long ids, error headers

def _nested(depth: int) -> bytes:
    """A JSON object whose first field holds arrays nested `depth` levels deep."""
    return b'{"x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("spec", BODY_ROUTES, ids=route_id)
def test_bodies_nested_too_deep_are_invalid_requests(portal, callers, spec):
    # Given the right kind of caller for the route, and the state of every table
    caller = callers.get(spec.access, callers["public"])
    path = concrete_path(spec, callers["patient_record"].id)

    # When a body nests just past the limit, and 3000 levels deep (past the JSON parser's own limit)
    with nothing_changed():  # (And nothing changed)
        for depth in (MAX_JSON_DEPTH, 3000):
            answer = send(caller, spec, path,
                          {"data": _nested(depth), "headers": {"Content-Type": "application/json"}})

            # Then it is a 400 invalid_request saying the body is nested too deep, never a 5xx
            assert answer.status_code == 400, f"{depth} levels: {answer.status_code} {answer.text[:300]}"
            assert answer.json()["error"] == "invalid_request", answer.text
            assert "nested" in answer.json()["message"], answer.text


ID_ROUTES = [spec for spec in ROUTES if "{" in spec.path]
ID_PAGES = [(spec, method) for spec in PAGES if "{" in spec.path for method in spec.methods]
# Past DynamoDB's 2048-byte key limit, as a probe would send.
LONG_ID = "d_" + "7" * 3000


def _long_id_path(path: str) -> str:
    return "/".join(LONG_ID if part.startswith("{") else part for part in path.split("/"))


def test_every_route_and_page_with_an_id_is_covered():
    # Given the route and page tables
    # Then the records reached by id (documents, threads, patients, queue entries, forms) are among them
    api = {spec.path for spec in ID_ROUTES}
    pages = {spec.path for spec, _ in ID_PAGES}
    assert {"/api/documents/{document_id}", "/api/messages/{thread_id}", "/api/staff/patients/{patient_id}",
            "/api/staff/queue/{entry_id}/resolve", "/api/staff/forms/{form_id}/resolve"} <= api
    assert {"/documents/{document_id}", "/messages/{thread_id}", "/staff/patients/{patient_id}",
            "/staff/quarantine/{entry_id}"} <= pages
    assert len(LONG_ID) > MAX_ID_LENGTH


@pytest.mark.parametrize("spec", ID_ROUTES, ids=route_id)
def test_an_id_longer_than_any_issued_is_not_found_without_a_table_read(callers, spec):
    # Given the right kind of caller for the route
    caller = callers.get(spec.access, callers["public"])

    # When the route is called with an id far longer than any the portal issues
    with recording() as calls:
        answer = send(caller, spec, _long_id_path(spec.path), {"json": {}} if spec.body_name else {})

    # Then it is the contract's 404, and no DynamoDB call was made for it (not even the session's)
    assert answer.status_code == 404, answer.text[:300]
    assert answer.json()["error"] == "not_found"
    assert calls.count("dynamodb") == 0, calls.by_operation()


@pytest.mark.parametrize(("spec", "method"), ID_PAGES, ids=lambda value: getattr(value, "path", value))
def test_a_page_with_an_id_longer_than_any_issued_is_not_found_without_a_table_read(callers, spec: PageSpec, method):
    # Given the right kind of caller for the page (pages accept the same session as a bearer token)
    caller = callers.get(spec.access, callers["public"])

    # When the page is asked for, or its form posted, with an id far longer than any the portal issues
    with recording() as calls:
        answer = caller.request(method, _long_id_path(spec.path), allow_redirects=False,
                                data=b"" if method == "POST" else None,
                                headers={"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else None)

    # Then it is the 404 page, and no DynamoDB call was made for it
    assert answer.status_code == 404, answer.text[:300]
    assert answer.headers["Content-Type"].startswith("text/html")
    assert calls.count("dynamodb") == 0, calls.by_operation()


def _assert_security_headers(answer, case: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, f"{case}: {name} is {answer.headers.get(name)!r}"


def test_error_answers_carry_the_same_security_headers_as_successful_ones(portal, callers, clock, monkeypatch):
    # Given the headers a successful answer carries
    public, staff = callers["public"], callers[STAFF]
    _assert_security_headers(public.get("/api/health"), "200")
    answers = {}

    def fails(*_args, **_kwargs):
        raise RuntimeError("a fault inside the portal")

    # When the API answers with each kind of error
    answers["400"] = public.post("/api/auth/login", data=b"", headers={"Content-Type": "application/json"})
    answers["401"] = public.get("/api/me")
    answers["403"] = callers[PATIENT].get("/api/staff/queue")
    answers["404 no such route"] = public.get("/api/no-such-route")
    answers["404 long id"] = staff.get(_long_id_path("/api/staff/patients/{patient_id}"))
    answers["405"] = public.request("DELETE", "/api/health")
    with monkeypatch.context() as patched:
        patched.setattr(digest, "counts", fails)
        answers["500"] = staff.get("/api/staff/follow-up")
    # And the pages answer with theirs
    answers["page 404"] = staff.get("/staff/patients/p_" + "0" * 20)
    answers["page 403"] = public.post("/sign-in", data=b"username=a&password=b",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    # And a client asks too often, in an hour of this test's own (the limit counts per client and hour)
    clock.travel_to(datetime(2033, 2, 3, 4, 0, 5, tzinfo=UTC))
    for n in range(get_settings().forgot_password_per_client_per_hour + 1):
        answers["429"] = public.post("/api/auth/forgot-password", json={"username": f"nobody-{n}@example.com"})
    pump.drain()

    # Then each is the error it should be, with every security header a successful answer has
    statuses = {case: answer.status_code for case, answer in answers.items()}
    assert statuses == {"400": 400, "401": 401, "403": 403, "404 no such route": 404, "404 long id": 404, "405": 405,
                        "500": 500, "page 404": 404, "page 403": 403, "429": 429}
    for case, answer in answers.items():
        _assert_security_headers(answer, case)
