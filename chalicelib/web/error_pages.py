"""Error answers as pages for browser addresses: a mistyped address (`/nope`), a wrong method, a
refusal or a failure on our side gets the portal's layout, a heading, the page's language and a
way back (home, sign in), instead of the API's JSON. Paths under `/api/` (and the local stage's
`/dev/`) keep their JSON errors: the choice is by path, as the contract promises JSON there.

A middleware between the security headers and the error mapping (see app.py): it sees the JSON
error the mapping made and, for a browser path, answers the same status as a page.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

from chalicelib import i18n
from chalicelib.i18n import N_

JSON_PREFIXES = ("/api/", "/dev/")
TITLES = {
    400: N_("This request could not be read"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("This page cannot do that"),
    413: N_("Too large"),
    415: N_("This request could not be read"),
    429: N_("Please wait a moment"),
}
MESSAGES = {
    404: N_("There is no page at this address. Check the address, or start again from the portal's start page."),
    405: N_("This address does not take that kind of request. Start again from the portal's start page."),
    500: N_("Something went wrong on our side; nothing was changed. Please try again in a moment."),
}


def wants_page(path: str | None) -> bool:
    """Whether an address is a browser's (a page) rather than the JSON API's."""
    path = path or "/"
    return not any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in JSON_PREFIXES)


def _path(request: Any) -> str:
    """The address asked for: the route's pattern with its parameters filled in (for the catch-all
    routes, `/{p1}/{p2}` with `api` and `nope` is `/api/nope`)."""
    pattern = (getattr(request, "context", None) or {}).get("resourcePath") or getattr(request, "path", None) or "/"
    for name, value in (getattr(request, "uri_params", None) or {}).items():
        pattern = pattern.replace("{" + name + "}", value)
    return pattern


def _json_error(response: Response) -> dict[str, Any] | None:
    body = response.body
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except (TypeError, ValueError):
            return None
    return body if isinstance(body, dict) and "error" in body else None


def language_of(request: Any) -> str:
    """A browser's language for an error page: its switch cookie, else its Accept-Language."""
    from chalicelib.frontdoor import read_cookie

    headers = getattr(request, "headers", None) or {}
    return (i18n.valid(read_cookie(headers, i18n.LANGUAGE_COOKIE))
            or i18n.negotiate(headers.get("accept-language")) or i18n.DEFAULT)


def error_page(status: int, message: str | None = None, language: str = i18n.DEFAULT) -> str:
    """The page for an error status, in the browser's language: its heading, what happened and
    the ways back."""
    from chalicelib.web.framework import environment

    title = TITLES.get(status, N_("Something went wrong") if status >= 500 else N_("Something is not right"))
    text = MESSAGES.get(status) if status in MESSAGES or not message else message
    title, text = i18n.gettext(title, language), (i18n.gettext(text, language) if text else "")
    return environment(language).get_template("error.html").render(
        principal=None, account=None, csrf_token=None, notice="", path="", title=title, message=text,
        status=status, signed_out=True)


def html_error_middleware(event: Any, get_response: Any) -> Response:
    """A JSON error answered to a browser path becomes the same error as a page."""
    response = get_response(event)
    if response.status_code < 400 or not wants_page(_path(event)):
        return response
    error = _json_error(response)
    if error is None:
        return response
    from chalicelib.web.framework import page_headers

    headers = {name: value for name, value in response.headers.items() if name.lower() != "content-type"}
    headers.update(page_headers())
    language = language_of(event)
    exc = getattr(response, "portal_error", None)  # the domain error itself, worded here in the page's language
    message = " ".join(exc.sentences(language).values()) if exc is not None else str(error.get("message") or "")
    return Response(body=error_page(response.status_code, message, language),
                    status_code=response.status_code, headers=headers)
