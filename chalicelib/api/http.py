"""How every API route is declared: `@route(...)` resolves the caller, enforces the role, parses
and validates the JSON body with a pydantic model, and records the route for the OpenAPI document.

Handlers then only call one service function and shape its answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.errors import BadRequest, Forbidden, PasswordChangeRequired, PayloadTooLarge, validation_message
from chalicelib.services import sessions
from chalicelib.services.identity import Caller
from chalicelib.services.sessions import Principal

if TYPE_CHECKING:
    from pydantic import BaseModel

MAX_BODY_BYTES = 64 * 1024
SESSION_COOKIE = "portal_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Who may call a route.
PUBLIC, SIGNED_IN, PATIENT, STAFF, ADMIN = "public", "signed_in", "patient", "staff", "admin"
_ROLES = {SIGNED_IN: None, PATIENT: {"patient"}, STAFF: {"staff", "admin"}, ADMIN: {"admin"}}


def body_model(name: str) -> type[BaseModel]:
    """The request body model called `name` in chalicelib.api.models. That module, and pydantic with
    it, loads with the first request that has a body: a cold start serving only reads never pays for it."""
    from chalicelib.api import models

    return getattr(models, name)


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    access: str
    body_name: str | None
    status: int
    summary: str
    allow_password_change: bool
    responses: dict[int, str] = field(default_factory=dict)

    @property
    def body(self) -> type[BaseModel] | None:
        return body_model(self.body_name) if self.body_name else None


ROUTES: list[RouteSpec] = []


@dataclass
class Ctx:
    """What a handler gets: the caller, the parsed body, the query string."""

    principal: Principal | None
    body: Any
    query: dict[str, str]
    client_ip: str | None
    # What the route asked to read together with the session (`route(with_session=...)`).
    with_session: Any = None

    @property
    def caller(self) -> Caller:
        return Caller(self.principal, self.client_ip)


def _bearer(headers) -> str | None:
    value = headers.get("authorization", "")
    if value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def session_cookie(headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


def resolve_principal(request, *, csrf_form_value: str | None = None) -> Principal:
    """Bearer token for API clients; the cookie session (with its CSRF token on changes) for pages."""
    return _resolve(request, csrf_form_value, None)[0]


def _resolve(request, csrf_form_value: str | None, with_session: Callable | None) -> tuple[Principal, Any]:
    def authenticate(token: str | None) -> tuple[Principal, Any]:
        if with_session is None:
            return sessions.authenticate(token), None
        return sessions.authenticate_with(token, with_session)

    token = _bearer(request.headers)
    if token:
        return authenticate(token)
    principal, read = authenticate(session_cookie(request.headers))
    if request.method not in SAFE_METHODS:
        supplied = request.headers.get(CSRF_HEADER) or csrf_form_value
        if not sessions.csrf_matches(principal, supplied):
            raise Forbidden("The form has expired; reload the page and try again.", code="csrf_failed")
    return principal, read


def client_ip(request) -> str | None:
    return (request.context or {}).get("identity", {}).get("sourceIp")


def parse_json(request, model: str | type[BaseModel]) -> Any:
    """The body checked by `model` (or the model of that name in chalicelib.api.models)."""
    from pydantic import ValidationError  # loaded by the body model already

    if isinstance(model, str):
        model = body_model(model)
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: at most {MAX_BODY_BYTES // 1024} KB.")
    if not raw.strip():
        raise BadRequest("body: a JSON object is required.", code="invalid_request")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("body: not valid JSON (UTF-8).", code="invalid_request") from None
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object.", code="invalid_request")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc), code="invalid_request") from None


def route(bp: Blueprint, path: str, method: str = "GET", *, access: str = SIGNED_IN,
          body: str | None = None, status: int = 200, summary: str = "",
          allow_password_change: bool = False, responses: dict[int, str] | None = None,
          with_session: Callable | None = None) -> Callable:
    """Declare an API route. The handler is called as `fn(ctx, **path_params)` and returns a
    dict (sent with `status`), None (204), or a chalice Response. `body` names the request body's
    model in `chalicelib/api/models.py` (loaded on first use). `with_session(account_id)` names a
    row of the caller's account to read in the same round trip as the session (`ctx.with_session`)."""

    def decorate(fn: Callable) -> Callable:
        ROUTES.append(RouteSpec(path, method, access, body, status, summary or (fn.__doc__ or "").strip(),
                                allow_password_change, responses or {}))

        def view(**path_params):
            request = bp.current_request
            principal, read = None, None
            if access != PUBLIC:
                principal, read = _resolve(request, None, with_session)
                if principal.must_change_password and not allow_password_change:
                    raise PasswordChangeRequired()
                allowed = _ROLES[access]
                if allowed is not None and principal.role not in allowed:
                    raise Forbidden("Your account is not allowed to do this.")
            parsed = parse_json(request, body) if body is not None else None
            ctx = Ctx(principal, parsed, dict(request.query_params or {}), client_ip(request), read)
            answer = fn(ctx, **path_params)
            if isinstance(answer, Response):
                return answer
            if answer is None:
                return Response(body="", status_code=204)
            return Response(body=answer, status_code=status, headers={"Content-Type": "application/json",
                                                                     "Cache-Control": "no-store"})

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        bp.route(path, methods=[method], content_types=["*/*"])(view)
        return fn

    return decorate




def security_headers_middleware(event, get_response):
    """Headers every answer carries; pages add their CSP on top."""
    response = get_response(event)
    headers = {k.lower(): k for k in response.headers}
    defaults = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    for name, value in defaults.items():
        if name.lower() not in headers:
            response.headers[name] = value
    return response
