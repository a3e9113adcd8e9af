"""Schemathesis against the published OpenAPI document, as one role: the machinery the three fuzz
runs share (`test_fuzz_openapi.py`, `test_fuzz_openapi_staff.py`, `test_fuzz_openapi_caregiver.py`).
Thousands of generated requests, valid and invalid, sent over HTTP as a patient, as a caregiver of
a patient and as an office staff member. No answer may be a 5xx, and every answer must match the
document: a documented status code, its content type, its body schema.

Each role fuzzes the operations open to it (which role may call what is the authorization
matrix's business), with ids that exist nowhere and then with the ids of its own records, so that
success answers are checked against their schemas too. Each run has accounts and records of its
own (so lockouts from wrong `current_password` guesses and rate limits touch nobody else), in an
hour of its own on the portal's clock; the three runs are separate test files, so the suite's
workers run them side by side. Routes that would end the fuzzing session (sign-out, password
change) and the local stage's `/dev/*` tools (a sweep at a generated time would re-notify every
other test's patients) are left out.

The seed is fixed so a failure can be replayed; `PORTAL_FUZZ_SEED` picks another, and
`PORTAL_FUZZ_EXAMPLES` the number of examples per operation and generation mode.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import datetime

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app import app as _app  # noqa: F401 - registers every blueprint, so ROUTES is complete
from chalicelib.api.http import PATIENT, PATIENT_RECORD, PUBLIC, ROUTES, SIGNED_IN, STAFF
from chalicelib.localstack import pump
from tests.integration.test_caregivers import activate_caregiver, grant_body
from tests.support.http import Api
from tests.support.load import own_staff, put_upload, upload_key

SEED = int(os.environ.get("PORTAL_FUZZ_SEED", "20261125"))
EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "25"))
# Ending the fuzzing session would turn every later answer into a 401 and test nothing.
SESSION_ENDING = ("/api/auth/logout", "/api/auth/password")
# Fuzzed with ids that exist nowhere only: with the fuzz patient's own id, closing their portal
# access would end the patient's fuzzing session.
NOT_WITH_OWN_IDS = ("/api/staff/patients/{patient_id}/access",)
# Given the fuzz's own ids these would end its patient's sessions too (closing a patient's portal
# access does, as it should): they are fuzzed with ids of no one only.
ENDS_SESSIONS_WITH_OWN_IDS = {("PUT", "/api/staff/patients/{patient_id}/access")}
OPEN_TO = {"patient": {PUBLIC, SIGNED_IN, PATIENT, PATIENT_RECORD}, "staff": {PUBLIC, SIGNED_IN, STAFF},
           "caregiver": {PUBLIC, SIGNED_IN, PATIENT_RECORD}}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
# An invalid request may also be refused as too large (413), as the document says.
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]}}})


def _schema(portal, role: str) -> schemathesis.BaseSchema:
    """The published document, narrowed to the operations open to `role`."""
    closed = {(spec.method, spec.path) for spec in ROUTES if spec.access not in OPEN_TO[role]}
    schema = schemathesis.openapi.from_url(portal.base_url + "/api/openapi.json", config=CONFIG)
    schema = schema.exclude(path_regex=r"^/dev/").exclude(path=list(SESSION_ENDING))
    return schema.exclude(func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in closed)


def _own_records(portal, staff: Api) -> tuple[Api, dict[str, str]]:
    """A patient with a published document, a thread they started and one the office started;
    (the patient's API, the ids by path parameter name)."""
    patient = portal.new_patient(staff)
    put_upload(upload_key(patient.mrn))
    pump.drain()
    items = patient.api.get("/api/items").json()["items"]
    own = patient.api.post("/api/messages", json={"subject": "Question", "body": "About my visit"})
    office = staff.post(f"/api/staff/patients/{patient.id}/messages", json={"subject": "Your visit", "body": "Hello"})
    assert items and own.status_code == 201 and office.status_code == 201, (items, own.text, office.text)
    granted = patient.api.post("/api/me/proxies", json=grant_body())
    assert granted.status_code == 201, granted.text
    caregiver = activate_caregiver(portal, _email_of(granted))
    return patient.api, {"patient_id": patient.id, "document_id": items[0]["id"], "thread_id": own.json()["id"],
                         "grant_id": granted.json()["id"], "_caregiver": caregiver}


def _email_of(answer) -> str:
    import json

    return json.loads(answer.request.body)["email"]


class Fuzz:
    """Runs operations through schemathesis and keeps count; failures are kept, not raised, so
    one run reports every operation that fails (unshrunk)."""

    def __init__(self, base_url: str, token: str):
        self.base_url, self.session = base_url, requests.Session()
        self.authorization = {"Authorization": f"Bearer {token}"}
        self.sent, self.statuses, self.failures = 0, Counter(), {}
        self.query_sent = 0  # of `sent`, the hostile query strings' (`query_strings`)
        self.still_signed_in = False

    def run(self, operation, mode: GenerationMode, path_parameters: dict[str, str] | None = None) -> None:
        checks = CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS
        label = f"{operation.label} [{mode.value}{', own ids' if path_parameters else ''}]"
        strategy = operation.as_strategy(generation_mode=mode, headers=dict(self.authorization),
                                         path_parameters=path_parameters)

        @seed(SEED)
        @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def one_operation(case):
            response = case.call(base_url=self.base_url, session=self.session, headers=dict(self.authorization),
                                 timeout=60)
            self.sent += 1
            self.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks, headers=dict(self.authorization))
            except FailureGroup as failed:
                self.failures.setdefault(label, str(failed)[:1500])

        try:
            one_operation()
        except Unsatisfiable:
            # Nothing to make invalid: the operation takes no parameters and no body.
            assert mode is GenerationMode.NEGATIVE, label

    def all_operations(self, schema, own_ids: dict[str, str]) -> None:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self.run(operation, mode)
            names = set(re.findall(r"{(\w+)}", operation.path))
            if (operation.method.upper(), operation.path) in ENDS_SESSIONS_WITH_OWN_IDS:
                continue
            if names and names <= set(own_ids) and operation.path not in NOT_WITH_OWN_IDS:
                self.run(operation, GenerationMode.POSITIVE, {name: own_ids[name] for name in names})


# Query-string values no generator thinks of: 3 KB, an id longer than any the portal issues, a NUL,
# 300 accented letters, a path, a quote, a lone percent sign, nothing at all.
HOSTILE_QUERY_VALUES = ("x" * 3 * 1024, "p_" + "9" * 250, "a\x00b", "\u00e9" * 300, "../../etc/passwd",
                        "' OR '1'='1", "%", "")


def query_strings(fuzz: Fuzz, portal, role: str, own_ids: dict[str, str]) -> None:
    """Every query parameter an operation open to `role` declares, given each hostile value (and,
    on every other read, an undeclared `patient_id` over 200 characters or with a NUL, as the front
    door reads ids from any query string), with ids of no one and, where the path has ids, with the
    run's own: the answer must be a status the document gives the operation, never a 5xx. Reads
    (GET) only, and the writes that declare a query string (sent without a body: refused, nothing
    written)."""
    document = requests.get(portal.base_url + "/api/openapi.json", timeout=30).json()
    for spec in ROUTES:
        if spec.access not in OPEN_TO[role] or spec.path.startswith("/dev/") or spec.path in SESSION_ENDING:
            continue
        if (spec.method != "GET" and spec.query is None) or (spec.method, spec.path) in ENDS_SESSIONS_WITH_OWN_IDS:
            continue
        documented = {int(status) for status in document["paths"][spec.path][spec.method.lower()]["responses"]}
        tries = ([(name, value) for name in sorted(spec.query.model_fields) for value in HOSTILE_QUERY_VALUES]
                 if spec.query is not None else [("patient_id", value) for value in HOSTILE_QUERY_VALUES[1:3]])
        with_ids = [own_ids, {}] if "{" in spec.path else [{}]
        for ids in with_ids:
            path = re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), "nobody_0000"), spec.path)
            for name, value in tries:
                answer = fuzz.session.request(spec.method, fuzz.base_url + path, params={name: value},
                                              headers=fuzz.authorization, timeout=60)
                fuzz.sent += 1
                fuzz.query_sent += 1
                fuzz.statuses[answer.status_code] += 1
                if answer.status_code >= 500 or answer.status_code not in documented:
                    fuzz.failures.setdefault(f"{spec.method} {spec.path} ?{name}= ({len(value)} characters)",
                                             f"{answer.status_code}: {answer.text[:300]}")


def fuzz_as(portal, role: str, hour: datetime) -> Fuzz:
    """One role's run, in an hour of its own: a staff member and a patient of the run's own, signed
    in, the patient with a document, two threads and a caregiver; every operation open to `role`
    fuzzed with ids of no one and with those records' ids. Returns the run, with its counts."""
    from chalicelib.clock import clock

    clock.travel_to(hour)
    try:
        staff = own_staff(portal)
        patient, own_ids = _own_records(portal, staff)
        caregiver = own_ids.pop("_caregiver")
        api = {"patient": patient, "staff": staff, "caregiver": caregiver}[role]
        fuzz = Fuzz(portal.base_url, api.token)
        fuzz.all_operations(_schema(portal, role), own_ids)
        query_strings(fuzz, portal, role, own_ids)
        # the run's session survived it: the requests were authorized to the end
        fuzz.still_signed_in = api.get("/api/me").status_code == 200
        return fuzz
    finally:
        clock.reset()


def assert_clean(fuzz: Fuzz, min_requests: int, min_successes: int) -> None:
    """Every answer matched the document, none was a 5xx, there were enough of them, and success
    answers were among them (so their schemas were checked too). The counts are printed."""
    print(f"\nOpenAPI fuzz: {fuzz.sent} requests ({fuzz.query_sent} of them hostile query strings), "
          f"statuses {dict(sorted(fuzz.statuses.items()))}")
    assert not fuzz.failures, "\n\n".join(f"{label}\n{text}" for label, text in fuzz.failures.items())
    assert not [status for status in fuzz.statuses if status >= 500], dict(fuzz.statuses)
    assert fuzz.sent >= min_requests, dict(fuzz.statuses)
    assert sum(count for status, count in fuzz.statuses.items() if status < 300) >= min_successes, dict(fuzz.statuses)
    assert fuzz.still_signed_in
