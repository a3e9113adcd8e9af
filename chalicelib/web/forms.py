"""Forms on pages: a posted form checked by the API's own body model (blank optional fields left
out, dates typed as month/day/year), each problem worded beside its field in the page's language;
and the defences of every form post: the CSRF tokens (the session's, checked by the front door;
before sign-in, a token the portal signs, in a cookie the form echoes) and the same-origin check.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib import i18n
from chalicelib.clock import clock
from chalicelib.errors import Forbidden, PortalError
from chalicelib.frontdoor import body_model, read_cookie
from chalicelib.i18n import N_
from chalicelib.settings import get_settings
from chalicelib.web.rendering import cookie

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel


class FormErrors(Exception):
    """A form's own problems: field name (or "" for the whole form) -> a catalog id."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("form errors")
        self.errors = errors


def field_errors(exc: PortalError, language: str = i18n.DEFAULT) -> dict[str, str]:
    """Each of a domain error's sentences next to its field (or "" for the whole form), in `language`."""
    return exc.sentences(language)


# Dates typed on pages: as the hint says, month/day/year (04/30/1980), or as the API takes them
# (1980-04-30). A text box, not the browser's date control, whose own format follows the browser's
# language and could never agree with a hint.
DATE_FIELDS = ("date_of_birth",)
DATE_FORMAT_ERROR = N_("Enter the date as month/day/year, for example 04/30/1980.")
# What the request bodies' own checks (chalicelib/bodies.py) say, as a page shows them through the
# catalog (the API words them in English after the field's name).
BODY_CHECKS = (
    N_("Must not be empty."),
    N_("Must be a date like 1980-04-30."),
    N_("Must be a real date of birth."),
    N_("Contains characters that are not allowed."),
)


def typed_date(value: str) -> str:
    """A date typed as MM/DD/YYYY (or M/D/YYYY) in the API's form, YYYY-MM-DD; anything else as typed."""
    month, sep1, rest = value.partition("/")
    day, sep2, year = rest.partition("/")
    if sep1 and sep2 and month.isdigit() and day.isdigit() and year.isdigit() and len(year) == 4:
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return value


def _friendly(error: Mapping[str, Any], language: str = i18n.DEFAULT) -> str:
    """One of pydantic's problems as a page says it: a catalog id, or a sentence already in `language`."""
    kind, text = error["type"], str(error.get("msg", "is not valid"))
    limits = error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and limits.get("min_length") == 1):
        return N_("This field is required.")
    if kind == "string_pattern_mismatch":
        return N_("This is not in the expected format.")
    if kind == "string_too_short" and "min_length" in limits:
        return i18n.gettext(N_("Use at least {count} characters."), language).format(count=limits["min_length"])
    if kind == "string_too_long" and "max_length" in limits:
        return i18n.gettext(N_("Use at most {count} characters."), language).format(count=limits["max_length"])
    if kind == "literal_error":
        return N_("Choose one of the values offered.")
    text = text.removeprefix("Value error, ")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def check_form(form: Mapping[str, str], model: str | type[BaseModel], language: str = i18n.DEFAULT, *,
               fields: tuple[str, ...] | None = None) -> Any:
    """The form checked by the API's own body model (or the model of that name in chalicelib.bodies):
    blank optional fields are left out, a yes-or-no field is a checkbox (a box left unticked is a
    no). Raises FormErrors, one problem a field."""
    from pydantic import ValidationError  # loaded by the body model already

    if isinstance(model, str):
        model = body_model(model)
    names = fields or tuple(model.model_fields)
    data: dict[str, Any] = {}
    for name in names:
        value = form.get(name, "")
        if model.model_fields[name].annotation is bool:
            data[name] = value == "on"
        elif value.strip() or model.model_fields[name].is_required():
            data[name] = value if "password" in name else value.strip()
        if name in DATE_FIELDS and name in data:
            data[name] = typed_date(data[name])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = str(error["loc"][0]) if error.get("loc") else ""
            if loc not in errors:
                blank = isinstance(data.get(loc), str) and not data[loc].strip()
                errors[loc] = N_("This field is required.") if blank else _friendly(error, language)
                if loc in DATE_FIELDS and not blank and error["type"] == "string_pattern_mismatch":
                    errors[loc] = DATE_FORMAT_ERROR
        raise FormErrors(errors) from None


# ---------------------------------------------------------------- a signed-out form's token

FORM_COOKIE = "portal_form"  # pre-session double-submit token for the public forms
FORM_TOKEN_SECONDS = 12 * 3600  # a signed-out form's token works this long after the page was shown


def form_cookie_name() -> str:
    """Over HTTPS the cookie carries the `__Host-` prefix: the browser then takes it only from this
    very host, over HTTPS, so no sibling subdomain or plain-HTTP answer can plant one."""
    return f"__Host-{FORM_COOKIE}" if get_settings().secure_cookies else FORM_COOKIE


def _form_mac(issued: str, nonce: str) -> str:
    import hashlib

    return hmac.new(get_settings().form_token_key, f"form:{issued}:{nonce}".encode(), hashlib.sha256).hexdigest()


def new_form_token() -> str:
    """`<issued>.<nonce>.<HMAC>`: only the portal (which holds the key) makes tokens, so a visitor
    can no longer pick one of their own to plant in a browser."""
    issued, nonce = str(int(clock.now().timestamp())), secrets.token_urlsafe(18)
    return f"{issued}.{nonce}.{_form_mac(issued, nonce)}"


def form_token_valid(token: str) -> bool:
    """Made by this portal (its HMAC checks out) and recent."""
    issued, nonce, mac = (token.split(".") + ["", "", ""])[:3] if len(token) < 200 else ("", "", "")
    if not (issued.isdigit() and nonce and mac):
        return False
    if abs(clock.now().timestamp() - int(issued)) > FORM_TOKEN_SECONDS:
        return False
    return hmac.compare_digest(_form_mac(issued, nonce), mac)


def public_form_token(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """The token for forms shown before there is a session (sign-in, forgot password, forgot
    username): the browser's own while it is valid, else a new one. (token, the Set-Cookie that
    keeps a new one in a SameSite=Strict cookie, or None)."""
    existing = read_cookie(headers, form_cookie_name())
    if existing and form_token_valid(existing):
        return existing, None
    token = new_form_token()
    return token, cookie(form_cookie_name(), token, same_site="Strict")


def check_public_form(form: Mapping[str, str], headers: Mapping[str, str]) -> None:
    """The form echoes the cookie's token, and the portal made that token."""
    supplied = form.get("csrf_token", "")
    expected = read_cookie(headers, form_cookie_name()) or ""
    if not (supplied and expected and hmac.compare_digest(supplied, expected) and form_token_valid(supplied)):
        raise Forbidden(N_("The form has expired; reload the page and try again."), code="csrf_failed")


def check_same_origin(request: Any) -> None:
    """A second line behind the CSRF tokens, on every state-changing page request: a browser that
    says the request comes from another site (`Sec-Fetch-Site`), or from another origin (`Origin`),
    is refused. `Origin: null` says nothing either way (the pages' `Referrer-Policy: no-referrer`
    makes browsers send it on their own forms), and a client that sends neither header (not a
    browser, or an old one) relies on the tokens."""
    refused = Forbidden(N_("This form was sent from another site; open the portal and try again."), code="cross_site")
    if (request.headers.get("sec-fetch-site") or "").strip().lower() in ("cross-site", "same-site"):
        raise refused
    origin = (request.headers.get("origin") or "").strip()
    if not origin or origin == "null":
        return
    ours = {(request.headers.get("host") or "").lower(), urlsplit(get_settings().portal_url).netloc.lower()}
    if urlsplit(origin).netloc.lower() not in ours:
        raise refused
