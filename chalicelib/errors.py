"""Domain errors and their HTTP mapping, in one place.

Services raise these; the HTTP middleware turns them into `{"error", "message"}` with a 4xx status.
Chalice's own error responses (wrong method, unsupported media type) are reshaped here too, and
anything unexpected becomes a 500 that names nothing internal.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from chalice import ChaliceUnhandledError, Response

from chalicelib.observability import failure, logger

if TYPE_CHECKING:
    from pydantic import ValidationError


class PortalError(ChaliceUnhandledError):
    """Raised by services; Chalice lets it through to the error middleware below."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, headers: dict[str, str] | None = None,
                 fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.headers = headers or {}
        # Field name -> what is wrong with it, when the problem is with more than one field
        # (answered as `fields`; the pages mark each one).
        self.fields = fields or {}


class BadRequest(PortalError):
    status = 400
    code = "bad_request"


class InvalidCredentials(PortalError):
    status = 401
    code = "invalid_credentials"

    def __init__(self, message: str = "The username or password is not correct."):
        super().__init__(message)


class Unauthenticated(PortalError):
    status = 401
    code = "unauthenticated"

    def __init__(self, message: str = "Sign in first: the session is missing or has expired."):
        super().__init__(message)


class Forbidden(PortalError):
    status = 403
    code = "forbidden"


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"

    def __init__(self) -> None:
        super().__init__("Choose a new password before doing anything else.")


class MfaRequired(Forbidden):
    """The session still owes its second factor (enrolment or a code)."""

    code = "mfa_required"

    def __init__(self, owed: str = "verify") -> None:
        super().__init__("Set up your authenticator app first." if owed == "enroll"
                         else "Enter the code from your authenticator app first.")
        self.owed = owed


class InvalidCode(PortalError):
    status = 401
    code = "invalid_code"

    def __init__(self, message: str = "code: the code is not correct (or was already used).") -> None:
        super().__init__(message)


class NotFound(PortalError):
    status = 404
    code = "not_found"

    def __init__(self, message: str = "Not found."):
        super().__init__(message)


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

    def __init__(self, retry_after_seconds: int, message: str = "Too many requests; try again later."):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after_seconds)))})


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


def validation_message(exc: ValidationError) -> str:
    """A sentence naming the first field that failed, e.g. "username: field required"."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return f"{field}: {first.get('msg', 'is not valid')}"


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


def http_error_middleware(event: Any, get_response: Any) -> Response:
    """Registered once for every route: domain errors and validation errors become 4xx answers."""
    try:
        response = get_response(event)
    except PortalError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers, exc.fields)
    except Exception as exc:  # noqa: BLE001 - the last line of defence must not leak internals
        if _is_validation_error(exc):
            return error_response(400, "invalid_request", validation_message(exc))
        logger.error("unhandled error", extra={"outcome": "internal_error", "status": 500,
                                               "route": getattr(event, "path", None), **failure(exc)})
        return error_response(500, "internal_error", "Something went wrong on our side. Please try again.")
    return _reshape_chalice_error(response)
