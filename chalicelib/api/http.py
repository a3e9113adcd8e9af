"""How every API route is declared: `@route(...)` resolves the caller, enforces the role, parses
and validates the JSON body with a pydantic model, names the model of its answer, and records the
route for the OpenAPI document (`chalicelib/api/openapi.py`), which is generated from these records.

Handlers then only call one service function and shape its answer. What the API shares with the
pages (session, CSRF, roles, body parsing) is in `chalicelib/frontdoor.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.errors import Forbidden
from chalicelib.frontdoor import (
    ADMIN,
    PATIENT,
    PATIENT_RECORD,
    PUBLIC,
    SIGNED_IN,
    STAFF,
    acting_for,
    allowed,
    body_model,
    check_ids,
    check_session_state,
    client_ip,
    parse_json,
    resolve_record_session,
    resolve_session,
    user_agent,
)
from chalicelib.i18n import N_
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["ADMIN", "PATIENT", "PATIENT_RECORD", "PUBLIC", "ROUTES", "SIGNED_IN", "STAFF", "Ctx", "RouteSpec", "answer_model",
           "body_model", "route"]


def answer_model(name: str) -> type[BaseModel]:
    """The answer model called `name` in chalicelib.api.answers. Only the OpenAPI document (and the
    tests) read them: no request loads that module."""
    from chalicelib.api import answers

    return getattr(answers, name)


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
    response_name: str | None = None
    query_name: str | None = None
    allow_factor_owed: bool = False

    @property
    def body(self) -> type[BaseModel] | None:
        return body_model(self.body_name) if self.body_name else None

    @property
    def response(self) -> type[BaseModel] | None:
        return answer_model(self.response_name) if self.response_name else None

    @property
    def query(self) -> type[BaseModel] | None:
        return body_model(self.query_name) if self.query_name else None


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
    user_agent: str | None = None
    # A caregiver's request: the patient a live grant lets them act for, and its scope.
    acting_for: str | None = None
    scope: str | None = None

    @property
    def caller(self) -> Caller:
        return Caller(self.principal, self.client_ip, self.user_agent, self.acting_for, self.scope)


def route(bp: Blueprint, path: str, method: str = "GET", *, access: str = SIGNED_IN,
          body: str | None = None, response: str | None = None, query: str | None = None,
          status: int = 200, summary: str = "", allow_password_change: bool = False, allow_factor_owed: bool = False,
          responses: dict[int, str] | None = None, with_session: Callable | None = None,
          needs: str | None = None) -> Callable:
    """Declare an API route. The handler is called as `fn(ctx, **path_params)` and returns a
    dict (sent with `status`), None (204), or a chalice Response.

    `body` names the request body's model in `chalicelib/bodies.py` (loaded on first use);
    `response` names the answer's model in `chalicelib/api/answers.py` (every route that answers
    with a body names one: it is the one description of that answer); `query` names the model of
    the query string the handler reads, in `chalicelib/bodies.py`; `responses` adds error
    statuses beyond the common ones, with their codes. `with_session(account_id)` names a row of the
    caller's account to read in the same round trip as the session (`ctx.with_session`); on a
    PATIENT_RECORD route it is keyed by the patient whose records are read (a caregiver's is read
    with the session and their grant, `frontdoor.resolve_record_session`), and may be None (the
    handler's service then reads it).
    `allow_password_change` / `allow_factor_owed` open the route to a session that must still change
    its password / still owes its second factor (see `frontdoor.check_session_state`). On a
    PATIENT_RECORD route a caregiver's request is checked against their grant for `?patient_id=`
    (`frontdoor.acting_for`; `needs="message"` asks for a grant that lets them write)."""

    def decorate(fn: Callable) -> Callable:
        ROUTES.append(RouteSpec(path, method, access, body, status, summary or (fn.__doc__ or "").strip(),
                                allow_password_change, responses or {}, response, query, allow_factor_owed))

        def view(**path_params):
            request = bp.current_request
            check_ids(path_params)
            principal, read, acting, scope, patient_id, found = None, None, None, None, None, None
            if access == PATIENT_RECORD:
                patient_id = (request.query_params or {}).get("patient_id")
                principal, read, found = resolve_record_session(request, patient_id, with_session=with_session)
            elif access != PUBLIC:
                principal, read = resolve_session(request, with_session=with_session)
            if access != PUBLIC:
                check_session_state(principal, allow_password_change=allow_password_change,
                                    allow_factor_owed=allow_factor_owed)
                if not allowed(principal, access):
                    raise Forbidden(N_("Your account is not allowed to do this."))
                if access == PATIENT_RECORD:
                    acting, scope, row = acting_for(principal, patient_id, needs=needs, with_session=with_session,
                                                    found=found)
                    read = row if acting else read
            parsed = parse_json(request, body) if body is not None else None
            ctx = Ctx(principal, parsed, dict(request.query_params or {}), client_ip(request), read,
                      user_agent(request), acting, scope)
            answer = fn(ctx, **path_params)
            if response is not None and isinstance(answer, dict) and get_settings().check_answers:
                from chalicelib.api import answers  # the tests' check only: no deployed request loads it

                answers.check(f"{method} {path}", response, answer)
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
