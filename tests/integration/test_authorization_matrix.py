"""Every API route × every kind of caller, generated from the app's route table so that a new
route cannot be missed: anonymous callers get 401, the wrong role 403, a temporary-password
session 403 `password_change_required` (except changing the password and signing out), a session
still owing its second factor 403 `mfa_required` (except `/api/auth/mfa/*` and signing out; the
password change too while that is owed as well), and the right role gets past authorization
(never 401/403, never 5xx). Caregivers name a patient (`?patient_id=`) on every call: with a live
grant they get past authorization on the patient-record routes; with a revoked or expired grant, or
one for another patient, those answer 404 `not_found` as for an unknown id; every other route that
is not open to any signed-in caller answers them 403."""

from __future__ import annotations

import re
import secrets

import pytest

import app  # noqa: F401 - importing the app registers every route in ROUTES
from chalicelib.api.http import ADMIN, PATIENT, PATIENT_RECORD, PUBLIC, ROUTES, SIGNED_IN, STAFF
from tests.support.http import Api, strong_password, unique_email

CAREGIVERS = ("caregiver", "caregiver_revoked", "caregiver_expired", "caregiver_other_patient")
CALLERS = ("anonymous", "patient", "staff", "admin", "must_change", "owes_factor", "must_change_owes_factor",
           *CAREGIVERS)
ALLOWED = {
    SIGNED_IN: {"patient", "staff", "admin", *CAREGIVERS},
    PATIENT: {"patient"},
    PATIENT_RECORD: {"patient", "caregiver"},
    STAFF: {"staff", "admin"},
    ADMIN: {"admin"},
}
# Office routes only a provider may use (the contract's "(provider)"): staff and admins are refused.
PROVIDER_ONLY = {("GET", "/api/provider/results"), ("POST", "/api/provider/results/{result_id}/review")}
# Routes that change the caller's own session; they run once at the end, not in the matrix.
SESSION_ENDING = {("POST", "/api/auth/logout")}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: "x" + secrets.token_hex(6), path)


def _api_routes():
    assert ROUTES, "the route table is empty: the app was not imported"
    return [spec for spec in ROUTES if spec.path.startswith("/api/") and spec.access != PUBLIC
            and (spec.method, spec.path) not in SESSION_ENDING]


def _new_staff_first_sign_in(portal, admin) -> tuple[str, str]:
    """A staff member the admin just created: (username, the temporary password mailed to them)."""
    username, email = "matrix_" + secrets.token_hex(4), unique_email("matrix")
    created = admin.post("/api/admin/staff", json={"username": username, "email": email, "name": "Matrix Member",
                                                    "role": "staff"})
    assert created.status_code == 201, created.text
    return username, portal.last_temporary_password(email)


def _staff_owing_enrolment(portal, admin) -> Api:
    """A staff member's session after the forced password change, before enrolling."""
    username, temporary = _new_staff_first_sign_in(portal, admin)
    first = Api(portal.base_url, portal.login(username, temporary).json()["token"])
    password = strong_password()
    assert first.post("/api/auth/password", json={"current_password": temporary, "new_password": password}).status_code == 204
    answer = portal.login(username, password).json()
    assert answer["mfa"] == "enroll" and answer["must_change_password"] is False, answer
    return Api(portal.base_url, answer["token"])


def _caregivers(portal, patient, other) -> dict[str, Api]:
    """Four caregivers of `patient` (a messaging grant; one revoked; one whose grant ended
    yesterday) and one of `other` only, each signed in with a password of their own."""
    from datetime import timedelta

    from chalicelib.services.caregivers import grants as caregivers
    from chalicelib.store import grants as grant_store
    from tests.integration.test_caregivers import activate_caregiver, grant_body

    apis, ids = {}, {}
    for name, owner in (("caregiver", patient), ("caregiver_revoked", patient), ("caregiver_expired", patient),
                        ("caregiver_other_patient", other)):
        body = grant_body(scope="read_and_message")
        answer = owner.api.post("/api/me/proxies", json=body)
        assert answer.status_code == 201, answer.text
        ids[name], apis[name] = answer.json()["id"], activate_caregiver(portal, body["email"])
    assert patient.api.request("DELETE", f"/api/me/proxies/{ids['caregiver_revoked']}").status_code == 204
    ended = grant_store.get(ids["caregiver_expired"])  # a grant whose last day was yesterday
    ended.expires_on = (caregivers.today() - timedelta(days=1)).isoformat()
    grant_store.put(ended)
    return apis


@pytest.fixture(scope="module")
def callers(portal, admin, staff) -> dict[str, Api]:
    patient = portal.new_patient(staff)
    fresh = portal.register_patient(staff)
    temporary = portal.last_temporary_password(fresh.email)
    limited = portal.login(fresh.username, temporary)
    assert limited.json()["must_change_password"] is True
    # A staff member's temporary-password session owes the password change and the enrolment.
    both = portal.login(*_new_staff_first_sign_in(portal, admin)).json()
    assert both["must_change_password"] is True and both["mfa"] == "enroll", both
    return {
        "anonymous": portal.public,
        "patient": patient.api,
        "staff": staff,
        "admin": admin,
        "must_change": Api(portal.base_url, limited.json()["token"]),
        "owes_factor": _staff_owing_enrolment(portal, admin),
        "must_change_owes_factor": Api(portal.base_url, both["token"]),
        **_caregivers(portal, patient, portal.new_patient(staff)),
        "_patient_id": patient.id,
    }


@pytest.mark.parametrize("spec", _api_routes(), ids=lambda s: f"{s.method} {s.path}")
def test_route_answers_each_caller_as_the_contract_says(callers, spec):
    # Given a route and a path with ids that exist nowhere
    path = _concrete(spec.path)
    for caller in CALLERS:
        # When each kind of caller calls it with an empty JSON object
        # (a caregiver names the patient whose records they mean)
        named = f"{path}?patient_id={callers['_patient_id']}" if caller in CAREGIVERS else path
        answer = callers[caller].request(spec.method, named, json={} if spec.body else None)

        # Then authorization decides first, exactly as the HTTP contract says (docs/contract.md)
        context = f"{caller} → {spec.method} {spec.path}: {answer.status_code} {answer.text[:200]}"
        assert answer.status_code < 500, context
        assert answer.headers.get("Content-Type", "").startswith("application/json"), context
        if caller == "anonymous":
            assert answer.status_code == 401, context
            assert answer.json()["error"] == "unauthenticated", context
        elif caller in ("must_change", "must_change_owes_factor"):
            if spec.allow_password_change:
                assert answer.status_code not in (401, 403), context
            else:
                assert answer.status_code == 403, context
                assert answer.json()["error"] == "password_change_required", context
        elif caller == "owes_factor":
            if spec.allow_factor_owed:
                assert answer.status_code not in (401, 403), context
            else:
                assert answer.status_code == 403, context
                assert answer.json()["error"] == "mfa_required", context
        elif caller in ("staff", "admin") and (spec.method, spec.path) in PROVIDER_ONLY:
            assert answer.status_code == 403, context
            assert answer.json()["error"] == "not_a_provider", context
        elif caller in ALLOWED[spec.access]:
            assert answer.status_code not in (401, 403), context
        elif caller in CAREGIVERS and spec.access == PATIENT_RECORD:
            assert answer.status_code == 404, context
            assert answer.json()["error"] == "not_found", context
        else:
            assert answer.status_code == 403, context
            assert answer.json()["error"] == "forbidden", context


def test_sign_out_is_allowed_to_every_signed_in_caller_and_refused_to_anonymous(portal, staff):
    # Given a patient session and a temporary-password session
    patient = portal.new_patient(staff)
    fresh = portal.register_patient(staff)
    limited = Api(portal.base_url, portal.login(fresh.username, portal.last_temporary_password(fresh.email)).json()["token"])

    # When each signs out, and an anonymous caller tries to
    answers = [patient.api.post("/api/auth/logout"), limited.post("/api/auth/logout"), portal.public.post("/api/auth/logout")]

    # Then the sessions end and the anonymous call is refused
    assert [a.status_code for a in answers] == [204, 204, 401]
    assert patient.api.get("/api/me").status_code == 401
