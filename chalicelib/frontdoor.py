"""The front door the JSON API (`chalicelib/api/http.py`) and the pages (`chalicelib/web/framework.py`)
share: who may call what (roles), finding the session (bearer token or cookie, with its CSRF token
on changes), reading cookies, the client's address, parsing a JSON body or a page's form, refusing ids
no record can have, and the headers every answer carries.

It sits above the services (sessions, the caller) and below both front ends; it imports neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from chalicelib.errors import (
    BadRequest,
    Forbidden,
    MfaRequired,
    NotFound,
    PasswordChangeRequired,
    PayloadTooLarge,
    PortalError,
    validation_error,
)
from chalicelib.i18n import N_
from chalicelib.services.access import sessions
from chalicelib.services.access.sessions import Principal
from chalicelib.vocabulary import OFFICE_ROLES, Role

if TYPE_CHECKING:
    from pydantic import BaseModel

MAX_BODY_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
# Deeper than any body the portal reads (its models nest two levels at most): refused before the
# parser's own recursion could fail.
MAX_JSON_DEPTH = 32
# The longest id the portal issues is a work-queue entry such as `notice_failed#<notice id>` (well
# under 100 characters, `#` escaped as %23 in a path); anything longer names no record, and is
# answered 404 before any table is read.
MAX_ID_LENGTH = 200
SESSION_COOKIE = "portal_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Headers every answer carries, error answers too; pages add their CSP on top.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# ---------------------------------------------------------------- roles

# Who may call a route or see a page.
PUBLIC, SIGNED_IN, PATIENT, STAFF, ADMIN = "public", "signed_in", "patient", "staff", "admin"
# A patient's own records, which a caregiver (role `proxy`) reaches too, for the patient a live grant
# names (`?patient_id=`): see `acting_for`.
PATIENT_RECORD, PROXY = "patient_records", Role.PROXY
ROLES: dict[str, set[Role] | None] = {SIGNED_IN: None, PATIENT: {Role.PATIENT}, STAFF: set(OFFICE_ROLES),
                                     ADMIN: {Role.ADMIN}, PATIENT_RECORD: {Role.PATIENT, PROXY}}


def allowed(principal: Principal, access: str) -> bool:
    """Whether a signed-in `principal` may use what is open to `access` (not PUBLIC)."""
    roles = ROLES[access]
    return roles is None or principal.role in roles


def acting_for(principal: Principal, patient_id: str | None, *, needs: str | None = None,
               with_session: Callable | None = None, found: tuple[Any, Any] | None = None,
               ) -> tuple[str | None, str | None, Any]:
    """Whose records the caller reaches on a PATIENT_RECORD route: a patient, their own (nothing to
    read); a caregiver, the patient `patient_id` names, if a live grant says so, else the 404 of an
    unknown id; `needs` "message": a read-only grant answers 403. The grant and
    `with_session(patient id)` are `found` when they came with the session
    (`resolve_record_session`), else read now in one round trip. (patient id acted for, scope,
    that row) for a caregiver; (None, None, None) for anyone else."""
    if principal.role != PROXY:
        return None, None, None
    from chalicelib.services.caregivers import grants as caregivers

    if found is not None:
        grant, row = caregivers.check(found[0], needs), found[1]
    else:
        also = with_session(patient_id) if with_session is not None and patient_id else None
        grant, row = caregivers.resolve(principal, patient_id, needs, also)
    return grant.patient_id, grant.scope, row


# ---------------------------------------------------------------- the request

def read_cookie(headers: Mapping[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def session_cookie(headers: Mapping[str, str]) -> str | None:
    return read_cookie(headers, SESSION_COOKIE)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def client_ip(request) -> str | None:
    return (request.context or {}).get("identity", {}).get("sourceIp")


MAX_USER_AGENT = 200


def user_agent(request) -> str | None:
    """The client as it names itself (User-Agent), cut to MAX_USER_AGENT characters."""
    value = (request.headers.get("user-agent") or "").strip()
    return value[:MAX_USER_AGENT] or None


def is_id_shaped(value: str) -> bool:
    """Whether `value` could be an id the portal issues: at most MAX_ID_LENGTH characters, each a
    printable ASCII character other than a space (every id the portal makes is)."""
    return len(value) <= MAX_ID_LENGTH and all(33 <= ord(char) <= 126 for char in value)


def check_ids(path_params: Mapping[str, str]) -> None:
    """An id longer than any the portal issues, or holding a character none has, names no record:
    404 at once, no table read (a key over DynamoDB's limit would otherwise fail the request)."""
    for value in path_params.values():
        if not is_id_shaped(value):
            raise NotFound()


def named_ids(values: Mapping[str, str]) -> dict[str, str]:
    """The ids among a query string's or a form's values: those named `id` or `<something>_id`."""
    return {name: value for name, value in values.items() if name == "id" or name.endswith("_id")}


# The longest value of a query string's other parameters (a search, a cursor, a page to go back to).
MAX_QUERY_VALUE = 1000


def check_query(query: Mapping[str, str]) -> None:
    """A query string's ids are checked as path ids are (`check_ids`: the 404 of an unknown id, when
    given); any other value longer than MAX_QUERY_VALUE, or holding a control character, is a 400
    naming the parameter. Nothing is read before."""
    check_ids({name: value for name, value in named_ids(query).items() if value})
    for name, value in query.items():
        if len(value) > MAX_QUERY_VALUE:
            raise BadRequest(N_("Use at most {count} characters."), field=name[:50], params={"count": MAX_QUERY_VALUE},
                             code="invalid_request")
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise BadRequest(N_("Contains characters that are not allowed."), field=name[:50], code="invalid_request")


# ---------------------------------------------------------------- the session

def resolve_session(request, *, csrf_form_value: str | None = None,
                    with_session: Callable | None = None) -> tuple[Principal, Any]:
    """Bearer token for API clients; the cookie session (with its CSRF token on changes, from the
    header or the form) for pages and the browser. `with_session(account_id)` names a row to read
    in the same round trip as the session; (principal, that row or None)."""

    def authenticate(token: str | None) -> tuple[Principal, Any]:
        if with_session is None:
            return sessions.authenticate(token), None
        return sessions.authenticate_with(token, with_session)

    token = bearer_token(request.headers)
    if token:
        return authenticate(token)
    principal, read = authenticate(session_cookie(request.headers))
    if request.method not in SAFE_METHODS:
        supplied = request.headers.get(CSRF_HEADER) or csrf_form_value
        if not sessions.csrf_matches(principal, supplied):
            raise Forbidden(N_("The form has expired; reload the page and try again."), code="csrf_failed")
    return principal, read


def resolve_record_session(request, patient_id: str | None, *,
                           with_session: Callable | None = None) -> tuple[Principal, Any, tuple[Any, Any] | None]:
    """The session of a request to a PATIENT_RECORD route. When it names a patient (`?patient_id=`,
    as a caregiver's does), the grant of that patient to the token's account and
    `with_session(that patient)` are read in the session's own round trip, with the state of the
    patient's account: (principal, None, ((grant, patient state), row)) for a caregiver, for
    `acting_for` to check. Anyone else naming a patient gets that
    row only if it is their own (else None: the route reads its own). Naming no patient, it is
    `resolve_session`'s (principal, `with_session(own account)`, None)."""
    if not patient_id:
        return (*resolve_session(request, with_session=with_session), None)
    from chalicelib.services.caregivers import grants as caregivers

    if not caregivers.nameable(patient_id):
        return (*resolve_session(request, with_session=with_session), None)

    def reads(account_id: str) -> tuple:
        return (*caregivers.access_reads(patient_id, account_id),
                *((with_session(patient_id),) if with_session is not None else ()))

    principal, found = resolve_session(request, with_session=reads)
    access, row = (found[0], found[1]), (found[2] if with_session is not None else None)
    if principal.role == PROXY:
        return principal, None, (access, row)
    return principal, (row if patient_id == principal.account_id else None), None


def check_session_state(principal: Principal, *, allow_password_change: bool = False,
                        allow_factor_owed: bool = False) -> None:
    """What a session that is not whole may do. An account that has a second factor gives it
    first (`mfa` "verify"): such a session reaches only what allows that (`/api/auth/mfa/*`,
    signing out), a forced password change (a reset's) included. Then a forced password change:
    such a session reaches only what allows it (changing the password, signing out). A new account
    enrols its factor after that change (`mfa` "enroll"): the change is open to it while it owes
    the enrolment."""
    if principal.mfa == "verify":
        if not allow_factor_owed:
            raise MfaRequired(principal.mfa)
        return
    if principal.must_change_password and not allow_password_change:
        raise PasswordChangeRequired()
    if principal.owes_factor and not allow_factor_owed and not (allow_password_change and principal.must_change_password):
        raise MfaRequired(principal.mfa)


# ---------------------------------------------------------------- bodies

def body_model(name: str) -> type[BaseModel]:
    """The request body model called `name` in chalicelib.bodies. That module, and pydantic with
    it, loads with the first request that has a body: a cold start serving only reads never pays for it."""
    from chalicelib import bodies as models

    return getattr(models, name)


def _too_deep(data: Any) -> bool:
    """Whether `data` nests deeper than MAX_JSON_DEPTH (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(request, model: str | type[BaseModel]) -> Any:
    """The body checked by `model` (or the model of that name in chalicelib.bodies)."""
    from pydantic import ValidationError  # loaded by the body model already

    if isinstance(model, str):
        model = body_model(model)
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(N_("At most {kb} KB."), field="body", params={"kb": MAX_BODY_BYTES // 1024})
    if not raw.strip():
        raise BadRequest(N_("A JSON object is required."), field="body", code="invalid_request")
    too_deep = BadRequest(N_("Nested more than {depth} levels deep."), field="body", params={"depth": MAX_JSON_DEPTH},
                          code="invalid_request")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise too_deep from None
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(N_("Not valid JSON (UTF-8)."), field="body", code="invalid_request") from None
    if not isinstance(data, dict):
        raise BadRequest(N_("Must be a JSON object."), field="body", code="invalid_request")
    if _too_deep(data):
        raise too_deep
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def parse_form(request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise UnsupportedForm(N_("Pages accept forms sent as {type}."), params={"type": FORM_TYPE},
                              code="unsupported_media_type")
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(N_("The form is too large (at most {kb} KB)."), params={"kb": MAX_BODY_BYTES // 1024})
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(N_("The form could not be read; reload the page and try again.")) from None
    return {name: values[0] for name, values in parsed.items()}


class UnsupportedForm(PortalError):
    """A page's form not sent as a urlencoded form."""

    status = 415
    code = "unsupported_media_type"


# ---------------------------------------------------------------- every answer

def security_headers_middleware(event, get_response):
    """Headers every answer carries (registered outside the error mapping, so errors carry them too);
    pages add their CSP on top."""
    response = get_response(event)
    present = {name.lower() for name in response.headers}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            response.headers[name] = value
    return response
