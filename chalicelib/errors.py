"""Domain errors and their HTTP mapping, in one place.

Services raise these; the HTTP middleware turns them into `{"error", "message"}` with a 4xx status.
Chalice's own error responses (wrong method, unsupported media type) are reshaped here too, and
anything unexpected becomes a 500 that names nothing internal.

An error carries a code (the contract's `error`, which never changes with the language) and its
message as a catalog id: an English sentence marked with `N_()`, written as a page shows it
("Must not be blank."), with `{placeholders}` filled from `params`, and the `field` it is about.
The message is put into words where it is shown, in the reader's language (`text(language)`):
the JSON API's `message` in the language its `Accept-Language` asks for (English by default) as
`"<field>: <sentence>"`, a page's form beside its field (`sentences(language)`), a page's error in
the page's language. `message` and `fields` are the English words (logs, the command line's reports).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalice import ChaliceUnhandledError, Response

from chalicelib import i18n
from chalicelib.i18n import N_
from chalicelib.observability import failure, logger

if TYPE_CHECKING:
    from pydantic import ValidationError


def _lower_first(text: str) -> str:
    """A sentence as it follows "field: " (an acronym such as "MRN" keeps its capitals)."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class PortalError(ChaliceUnhandledError):
    """Raised by services; Chalice lets it through to the error middleware below.

    `message` is a catalog id (`N_("…")`); `field` the field it is about; `params` fill its
    `{placeholders}` (values, never words that need translating); `fields` maps several fields
    to their own ids (a registration whose email and MRN are both taken); `plain` is the catalog's
    general sentence shown instead in a language other than English when `params` carry English
    words from outside the catalog (email-validator's reason)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str = "", code: str | None = None, headers: dict[str, str] | None = None,
                 fields: Mapping[str, str] | None = None, *, field: str | None = None,
                 params: Mapping[str, Any] | None = None, plain: str | None = None):
        self.message_id = message
        self.field = field
        self.params = dict(params or {})
        self.plain = plain
        self.field_ids = dict(fields or {})
        if code:
            self.code = code
        self.headers = headers or {}
        self.message = self.text(i18n.DEFAULT)
        # Field name -> what is wrong with it, when the problem is with more than one field
        # (answered as `fields`; the pages mark each one).
        self.fields = self.fields_text(i18n.DEFAULT)
        super().__init__(self.message)

    def _words(self, message_id: str, language: str) -> str:
        if self.plain and self.params and i18n.of(language) != i18n.DEFAULT:
            message_id = self.plain  # its `{placeholders}`, if any, are values, as the message's
        words = i18n.gettext(message_id, language)
        return words.format(**self.params) if self.params else words

    def sentence(self, language: str) -> str:
        """The message alone, as a page shows it beside its field, in `language`."""
        return _upper_first(self._words(self.message_id, language))

    def text(self, language: str) -> str:
        """The whole message in `language`, as the JSON API answers it: `field: sentence`."""
        if not self.message_id and self.field_ids:
            return "; ".join(f"{name}: {text}" for name, text in self.fields_text(language).items())
        words = self._words(self.message_id, language)
        return f"{self.field}: {_lower_first(words)}" if self.field else words

    def fields_text(self, language: str) -> dict[str, str]:
        """`fields` as the JSON API answers them, in `language`."""
        return {name: _lower_first(self._words(message_id, language)) for name, message_id in self.field_ids.items()}

    def sentences(self, language: str) -> dict[str, str]:
        """Field name (or "" for the whole form) -> the sentence a page shows beside it, in `language`."""
        if self.field_ids:
            return {name: _upper_first(self._words(message_id, language))
                    for name, message_id in self.field_ids.items()}
        return {self.field or "": self.sentence(language)}


class BadRequest(PortalError):
    status = 400
    code = "bad_request"


class InvalidCredentials(PortalError):
    status = 401
    code = "invalid_credentials"

    def __init__(self, message: str = N_("The username or password is not correct."), **kw: Any):
        super().__init__(message, **kw)


class Unauthenticated(PortalError):
    status = 401
    code = "unauthenticated"

    def __init__(self, message: str = N_("Sign in first: the session is missing or has expired."), **kw: Any):
        super().__init__(message, **kw)


class Forbidden(PortalError):
    status = 403
    code = "forbidden"


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"

    def __init__(self) -> None:
        super().__init__(N_("Choose a new password before doing anything else."))


class MfaRequired(Forbidden):
    """The session still owes its second factor (enrolment or a code)."""

    code = "mfa_required"

    def __init__(self, owed: str = "verify") -> None:
        super().__init__(N_("Set up your authenticator app first.") if owed == "enroll"
                         else N_("Enter the code from your authenticator app first."))
        self.owed = owed


class InvalidCode(PortalError):
    status = 401
    code = "invalid_code"

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        if message is None:  # the usual case: the code typed is wrong
            message, kw["field"] = N_("The code is not correct (or was already used)."), "code"
        super().__init__(message, **kw)


class NotFound(PortalError):
    status = 404
    code = "not_found"

    def __init__(self, message: str = N_("Not found."), **kw: Any):
        super().__init__(message, **kw)


class Conflict(PortalError):
    status = 409
    code = "conflict"


class Gone(PortalError):
    """What was here was taken back on purpose (a retracted document's file)."""

    status = 410
    code = "gone"


class PayloadTooLarge(PortalError):
    status = 413
    code = "body_too_large"


class RateLimited(PortalError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int, message: str = N_("Too many requests; try again later."),
                 **kw: Any):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after_seconds)))}, **kw)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   fields: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


# What a body that fails its model is told in a language other than English, by pydantic's kind of
# error (English keeps pydantic's own words, which name the limit: "String should have at most 200
# characters").
_VALIDATION_SENTENCES = {
    "missing": N_("{field}: this field is required."),
    "extra_forbidden": N_("{field}: this field is not one the request takes."),
    "string_too_short": N_("{field}: too short."),
    "string_too_long": N_("{field}: too long."),
    "string_pattern_mismatch": N_("{field}: not in the expected format."),
    "literal_error": N_("{field}: not one of the values allowed."),
}
_NOT_VALID = N_("{field}: not a valid value.")
_AS_PYDANTIC_SAYS = "{field}: {reason}"  # English: the field and pydantic's own sentence


def validation_error(exc: ValidationError) -> BadRequest:
    """400 `invalid_request` naming the first field that failed: in English with pydantic's sentence
    ("username: Field required"), in another language with the catalog's for its kind of error."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return BadRequest(_AS_PYDANTIC_SAYS, code="invalid_request",
                      params={"field": field, "reason": first.get("msg", "is not valid")},
                      plain=_VALIDATION_SENTENCES.get(str(first.get("type")), _NOT_VALID))


# Chalice answers some requests itself with {"Code", "Message"}; map them to the contract.
_CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequestError": "bad_request",
    "BadRequest": "bad_request",
    "NotFoundError": "not_found",
    "UnauthorizedError": "unauthenticated",
    "ForbiddenError": "forbidden",
    "ConflictError": "conflict",
    "TooManyRequestsError": "rate_limited",
    "RequestTimeoutError": "timeout",
    "EntityTooLargeError": "body_too_large",
}


def _reshape_chalice_error(response: Response) -> Response:
    body: Any = response.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except (ValueError, TypeError):
            return response
    if isinstance(body, dict) and "Code" in body and "error" not in body:
        code = _CHALICE_CODES.get(body["Code"], "internal_error")
        if response.status_code >= 500:
            message = "Something went wrong on our side; nothing was changed. Please try again."
        else:
            message = str(body.get("Message", ""))
        response.body = {"error": code, "message": message}
        response.headers = {**response.headers, "Content-Type": "application/json"}
    return response


def _is_validation_error(exc: Exception) -> bool:
    # pydantic loads with the first request body (chalicelib.bodies): until then none can be raised.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(exc, pydantic.ValidationError)


ON_OUR_SIDE = N_("Something went wrong on our side. Please try again.")


def request_language(request: Any) -> str:
    """The language an API client asks for in `Accept-Language` (q-values honoured), English when it
    names none of the portal's."""
    headers = getattr(request, "headers", None) or {}
    asked = headers.get("accept-language")
    return (i18n.negotiate(asked) if asked else None) or i18n.DEFAULT


def http_error_middleware(event: Any, get_response: Any) -> Response:
    """Registered once for every route: domain errors and validation errors become 4xx answers,
    their `message` in the language the request's `Accept-Language` asks for (the `error` code is
    the same in every language). The answer keeps the error (`response.portal_error`) for the
    page middleware above, which words it in the page's language."""
    try:
        response = get_response(event)
    except PortalError as exc:
        language = request_language(event)
        response = error_response(exc.status, exc.code, exc.text(language), exc.headers, exc.fields_text(language))
        response.portal_error = exc  # type: ignore[attr-defined]
        return response
    except Exception as exc:  # noqa: BLE001 - the last line of defence must not leak internals
        if _is_validation_error(exc):
            refused = validation_error(exc)  # type: ignore[arg-type]
            language = request_language(event)
            return error_response(400, refused.code, refused.text(language))
        logger.error("unhandled error", extra={"outcome": "internal_error", "status": 500,
                                               "route": getattr(event, "path", None), **failure(exc)})
        return error_response(500, "internal_error", i18n.gettext(ON_OUR_SIDE, request_language(event)))
    return _reshape_chalice_error(response)
