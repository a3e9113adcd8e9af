"""How every API route is declared: `@route(...)` resolves the caller, enforces the role, parses
and validates the JSON body with a pydantic model, names the model of its answer, and records the
route for the OpenAPI document (`chalicelib/api/openapi.py`), which is generated from these records.

Handlers then only call one service function and shape its answer. What the API shares with the
pages (session, CSRF, roles, body parsing) is in `chalicelib/frontdoor.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from typing_extensions import is_typeddict

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
    check_query,
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
    from pydantic import BaseModel, TypeAdapter

__all__ = ["ADMIN", "PATIENT", "PATIENT_RECORD", "PUBLIC", "ROUTES", "SIGNED_IN", "STAFF", "AnswerMismatch", "Ctx",
           "RouteSpec", "answer_name", "body_model", "check_answer", "declares_answer", "route"]


def declares_answer(declared: Any) -> bool:
    """Whether `declared` is an answer's declaration: a TypedDict, or a choice of TypedDicts
    (`Document | RetractedDocument`)."""
    if is_typeddict(declared):
        return True
    members = getattr(declared, "__args__", ())
    return bool(members) and not hasattr(declared, "__name__") and all(is_typeddict(m) for m in members)


def answer_name(declared: Any) -> str:
    """What the OpenAPI document and the logs call an answer's declaration: its class name, or
    the names of a choice's members (`Document | RetractedDocument`)."""
    members = getattr(declared, "__args__", None)
    if members and not hasattr(declared, "__name__"):
        return " | ".join(answer_name(member) for member in members)
    return str(getattr(declared, "__name__", declared))


class AnswerMismatch(Exception):
    """An answer that is not the shape its route declares (only checked in the suite)."""


@cache
def _strict(declared: Any) -> TypeAdapter:
    """The suite's validator of one declaration: every declared key present (unless `NotRequired`),
    of its declared type, and no key the declaration lacks, at any depth (a TypedDict without a
    config of its own takes the adapter's; wrapping in a list lets the adapter carry one)."""
    from pydantic import ConfigDict, TypeAdapter

    return TypeAdapter(list[declared], config=ConfigDict(extra="forbid"))


def check_answer(route: str, declared: Any, answer: dict) -> None:
    """Raise AnswerMismatch when `answer` is not the shape `declared` says (settings.check_answers:
    the suite only). The mismatch is logged by field and kind of error, never by value."""
    from pydantic import ValidationError

    from chalicelib.observability import logger

    try:
        _strict(declared).validate_python([answer])
    except ValidationError as mismatch:
        fields = [f"{'.'.join(str(part) for part in error['loc'][1 if error['loc'][:1] == (0,) else 0:])}: "
                  f"{error['type']}" for error in mismatch.errors()]
        name = answer_name(declared)
        logger.error("answer.mismatch", extra={"route": route, "model": name, "fields": fields[:20]})
        raise AnswerMismatch(f"{route}: the answer does not match {name}: {fields[:20]}") from None


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
    # The answer's declaration: a TypedDict beside the service that returns it (or a choice of them).
    answer: Any = None
    query_name: str | None = None
    allow_factor_owed: bool = False

    @property
    def body(self) -> type[BaseModel] | None:
        return body_model(self.body_name) if self.body_name else None

    @property
    def response(self) -> Any:
        """The answer's declaration."""
        return self.answer

    @property
    def response_name(self) -> str | None:
        return None if self.answer is None else answer_name(self.answer)

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

    @property
    def signed_in(self) -> Principal:
        """The session's principal, on a route that is not public (never missing there)."""
        return self.caller.signed_in


def route(bp: Blueprint, path: str, method: str = "GET", *, access: str = SIGNED_IN,
          body: str | None = None, response: Any = None, query: str | None = None,
          status: int = 200, summary: str = "", allow_password_change: bool = False, allow_factor_owed: bool = False,
          responses: dict[int, str] | None = None, with_session: Callable | None = None,
          needs: str | None = None) -> Callable:
    """Declare an API route. The handler is called as `fn(ctx, **path_params)` and returns a
    dict (sent with `status`), None (204), or a chalice Response.

    `body` names the request body's model in `chalicelib/bodies.py` (loaded on first use);
    `response` is the answer's declaration, the TypedDict the service function returns (declared
    beside it: `services/<capability>/answers.py`), or one of the envelopes of `api/answers.py` that
    only a route builds; every route that answers with a body names one, the one description of that
    answer (the OpenAPI document and the suite's check read it); `query` names the model of
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

    if response is not None and not declares_answer(response):
        raise TypeError(f"{method} {path}: response= takes the answer's TypedDict (declared beside its service), "
                        f"not {response!r}")

    def decorate(fn: Callable) -> Callable:
        ROUTES.append(RouteSpec(path, method, access, body, status, summary or (fn.__doc__ or "").strip(),
                                allow_password_change, responses or {}, response, query, allow_factor_owed))

        def view(**path_params):
            request = bp.current_request
            check_ids(path_params)
            check_query(request.query_params or {})
            principal, read, acting, scope, patient_id, found = None, None, None, None, None, None
            if access == PATIENT_RECORD:
                patient_id = request.query_params.get("patient_id") if request.query_params else None
                principal, read, found = resolve_record_session(request, patient_id, with_session=with_session)
            elif access != PUBLIC:
                principal, read = resolve_session(request, with_session=with_session)
            if access != PUBLIC:
                assert principal is not None  # resolved above for every route that is not public
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
                check_answer(f"{method} {path}", response, answer)  # the suite's check only
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
