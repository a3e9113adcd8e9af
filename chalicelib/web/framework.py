"""How every page is declared: `@page(bp, path, ...)` resolves the cookie session (with its CSRF
token on form posts), sends a temporary-password session to `/password`, checks the role, parses
the urlencoded form, and turns domain errors into pages instead of JSON.

Pages call the same service functions (and validate with the same body models) as the JSON API;
the session lookup, CSRF check, roles and body limits are the API's own, from `chalicelib/frontdoor.py`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from chalice import Blueprint, Response

from chalicelib import i18n
from chalicelib.clock import clock, local_text, parse_iso
from chalicelib.errors import (
    Forbidden,
    MfaRequired,
    NotFound,
    PasswordChangeRequired,
    PortalError,
    Unauthenticated,
)
from chalicelib.frontdoor import (
    ADMIN,
    PATIENT,
    PUBLIC,
    SESSION_COOKIE,
    SIGNED_IN,
    STAFF,
    allowed,
    body_model,
    check_ids,
    check_session_state,
    client_ip,
    parse_form,
    read_cookie,
    resolve_principal,
    session_cookie,
    user_agent,
)
from chalicelib.i18n import N_
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from chalicelib.services.accounts import registry as accounts
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from pydantic import BaseModel

WEB_DIR = Path(__file__).resolve().parent
FORM_COOKIE = "portal_form"  # pre-session double-submit token for the public forms
__all__ = ["ADMIN", "PAGES", "PATIENT", "PUBLIC", "SIGNED_IN", "STAFF", "FormErrors", "PageCtx", "PageSpec", "page",
           "redirect"]

# Flash messages after a redirect come from this fixed list, so no query string can put text on a page.
NOTICES = {
    "caregiver-granted": N_("The caregiver was given access and was sent an email."),
    "caregiver-revoked": N_("The caregiver's access has ended."),
    "signed-out": N_("You have signed out."),
    "session-ended": N_("Your session ended after {idle} minutes without activity, to keep your information safe. "
                     "Please sign in again."),
    "password-changed": N_("Your password has been changed."),
    "username-changed": N_("Your username has been changed. Use the new one the next time you sign in."),
    "email-changed": N_("The email address on file has been changed. Your username stays as it was."),
    "message-sent": N_("Your message has been sent to the office."),
    "reply-sent": N_("Your reply has been sent."),
    "registered": N_("The patient is registered and an invitation with a temporary password has been emailed."),
    "patient-email-changed": N_("The email address on file has been changed; the username stays as it was."),
    "patient-phone-changed": N_("The phone number on file has been updated."),
    "form-resolved": N_("The form is marked as done."),
    "follow-up-resolved": N_("The follow-up is closed."),
    "staff-created": N_("The staff account is created and a temporary password has been emailed."),
    "uploaded": N_("The file has been uploaded. It appears in the list once it is published."),
    "comment-added": N_("The comment has been added and the patient will be notified."),
    "device-signed-out": N_("That device has been signed out."),
    "staff-updated": N_("The staff account has been updated; their sessions have ended."),
    "staff-mfa-reset": N_("The authenticator app has been reset; they set up a new one at their next sign-in."),
    "access-closed": N_("The patient's portal access is closed and their sessions have ended. Their records are kept."),
    "access-reopened": N_("The patient's portal access is open again."),
    "invitation-sent": N_("A new invitation with a temporary password has been emailed."),
    "unlocked": N_("The account is unlocked."),
    "language-changed": N_("Your language has been saved."),
    "mfa-removed": N_("The authenticator app has been turned off. Signing in now needs only your password."),
}

# Fixed texts that page modules and services hand to templates, which show them through the
# catalog (`_(back_label)`, a removed item's neutral title): listed here so the catalog holds them.
SHOWN_THROUGH_THE_CATALOG = (
    N_("Messages"),
    N_("Office inbox"),
    N_("Removed by your clinic"),
)
# The domain errors a patient meets on the pages, as a page shows them (the field's sentence,
# capitalised, next to its field): the page translates them through the catalog; the JSON API
# keeps the English `message` (its clients go by the `error` code).
PAGE_ERRORS = (
    N_("The username or password is not correct."),
    N_("The current password is not correct."),
    N_("Use at least 12 characters."),
    N_("Use at most 128 characters."),
    N_("That looks like a temporary password; choose one of your own."),
    N_("Must not contain your name, email address or username."),
    N_("Too easy to guess; try a longer phrase of unrelated words."),
    N_("The two new passwords are not the same."),
    N_("That username is taken."),
    N_("A username with an @ must be a valid email address."),
    N_("Too many username changes; try again later."),
    N_("Too many requests; try again later."),
    N_("The form has expired; reload the page and try again."),
    N_("This form was sent from another site; open the portal and try again."),
    N_("The form could not be read; reload the page and try again."),
    N_("The code is not correct (or was already used)."),
    N_("There is no such page for your account."),
    N_("Not found."),
    N_("Must not be blank."),
    N_("Must not be empty."),
    N_("Must be a date like 1980-04-30."),
    N_("Must be a real date of birth."),
    N_("Contains characters that are not allowed."),
)


def _when(value: str | None, with_time: bool = True, language: str = "en") -> str:
    if not value:
        return ""
    return local_text(parse_iso(value), get_settings().clinic_time_zone, with_time=with_time, language=language)


@lru_cache(maxsize=len(i18n.LANGUAGES))
def environment(language: str = i18n.DEFAULT):
    """The page templates in one language (Jinja2's i18n extension over that language's catalog),
    loaded with the first page rather than on every cold start."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(WEB_DIR / "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations(language), newstyle=True)
    env.filters["when"] = lambda value, with_time=True: _when(value, with_time, language)
    env.globals["lang"] = language
    env.globals["date_hint"] = i18n.gettext(DATE_HINT, language)
    env.globals["css_url"] = static_url("portal.css")
    return env


@lru_cache(maxsize=8)
def static_file(name: str) -> tuple[bytes, str]:
    """The bytes of a file in static/ and a short content hash (for cache-busting URLs)."""
    import hashlib

    data = (WEB_DIR / "static" / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={static_file(name)[1]}"


def content_security_policy(form_origins: tuple[str, ...] = ()) -> str:
    form_action = " ".join(("'self'", *form_origins))
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def page_headers(form_origins: tuple[str, ...] = ()) -> dict[str, str]:
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": content_security_policy(form_origins),
        "Cache-Control": "no-store",
    }
    if get_settings().secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers


def cookie(name: str, value: str, *, max_age: int | None = None, same_site: str = "Lax") -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if get_settings().secure_cookies:
        parts.append("Secure")
    return "; ".join(parts)


def session_cookie_header(token: str) -> str:
    return cookie(SESSION_COOKIE, token, max_age=get_settings().session_max_hours * 3600)


def expired_cookie(name: str) -> str:
    return cookie(name, "", max_age=0)


def redirect(location: str, *, cookies: list[str] | None = None) -> Response:
    """See Other: every successful form post ends here (post/redirect/get)."""
    headers: dict[str, Any] = {"Location": location, "Cache-Control": "no-store"}
    if cookies:
        headers["Set-Cookie"] = cookies
    return Response(body="", status_code=303, headers=headers)


def safe_next(value: str | None, default: str) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        parts = urlsplit(value)
        if not parts.netloc and not parts.scheme:
            return value
    return default


def home_for(role: str) -> str:
    return {"patient": "/", "proxy": "/caregiver"}.get(role, "/staff")


class FormErrors(Exception):
    """Raised by `PageCtx.validate`: field name (or "" for the whole form) -> message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("form errors")
        self.errors = errors


def field_errors(exc: PortalError, language: str = i18n.DEFAULT) -> dict[str, str]:
    """Each of the error's sentences next to its field (or "" for the whole form), in `language`."""
    if not exc.field and not exc.field_ids:  # an error still worded "field: sentence" in one string
        name, sep, text = exc.message.partition(": ")
        if sep and name.replace("_", "").isalnum() and name.islower():
            return {name: text[:1].upper() + text[1:]}
    return exc.sentences(language)


# Dates typed on pages: as the hint says, month/day/year (04/30/1980), or as the API takes them
# (1980-04-30). A text box, not the browser's date control, whose own format follows the browser's
# language and could never agree with a hint.
DATE_FIELDS = ("date_of_birth",)
DATE_HINT = N_("Month/day/year, for example 04/30/1980.")
DATE_FORMAT_ERROR = N_("Enter the date as month/day/year, for example 04/30/1980.")


def typed_date(value: str) -> str:
    """A date typed as MM/DD/YYYY (or M/D/YYYY) in the API's form, YYYY-MM-DD; anything else as typed."""
    month, sep1, rest = value.partition("/")
    day, sep2, year = rest.partition("/")
    if sep1 and sep2 and month.isdigit() and day.isdigit() and year.isdigit() and len(year) == 4:
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return value


def _friendly(error: dict, language: str = i18n.DEFAULT) -> str:
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


def current_path(request) -> str:
    """This page's path (without any API Gateway stage prefix)."""
    pattern = (request.context or {}).get("resourcePath", "/")
    for name, value in (request.uri_params or {}).items():
        pattern = pattern.replace("{" + name + "}", quote(value, safe=""))
    return pattern


@dataclass
class PageCtx:
    """What a page handler gets."""

    request: Any
    principal: Principal | None
    form: dict[str, str]
    query: dict[str, str]
    client_ip: str | None
    account: dict[str, Any] | None = None
    form_token: str | None = None
    set_cookies: list[str] = field(default_factory=list)

    @property
    def caller(self) -> Caller:
        return Caller(self.principal, self.client_ip, user_agent(self.request))

    def validate(self, model: str | type[BaseModel], *, fields: tuple[str, ...] | None = None) -> Any:
        """The API's own body model (by its name in chalicelib.bodies) checks the form: blank
        optional fields are left out."""
        from pydantic import ValidationError  # loaded by the body model already

        if isinstance(model, str):
            model = body_model(model)
        names = fields or tuple(model.model_fields)
        data = {}
        for name in names:
            value = self.form.get(name, "")
            if value.strip() or model.model_fields[name].is_required():
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
                    errors[loc] = N_("This field is required.") if blank else _friendly(error, self.language())
                    if loc in DATE_FIELDS and not blank and error["type"] == "string_pattern_mismatch":
                        errors[loc] = DATE_FORMAT_ERROR
            raise FormErrors(errors) from None

    def submit(self, model: str | type[BaseModel], action: Callable[[Any], Any],
               show: Callable[[int, dict[str, str]], Response]) -> tuple[Any, Response | None]:
        """Check the form with `model` and hand it to `action`. A problem re-renders the form with
        `show(status, errors)`, each message next to its field; "not found" stays the 404 page.
        Returns (what `action` answered, None) or (None, the page to send)."""
        try:
            return action(self.validate(model)), None
        except FormErrors as exc:
            return None, show(400, self.translated(exc.errors))
        except PortalError as exc:
            if isinstance(exc, NotFound | Unauthenticated | Forbidden):
                raise
            page = show(exc.status, field_errors(exc, self.language()))
            page.headers.update(exc.headers)  # e.g. a 429's Retry-After
            return None, page

    def translated(self, errors: dict[str, str]) -> dict[str, str]:
        """A form's own errors (catalog ids) in the page's language."""
        language = self.language()
        return {name: i18n.gettext(text, language) for name, text in errors.items()}

    def language(self) -> str:
        """The page's language: a signed-in person's own (My Profile); before signing in, the
        switch's `?lang=` (kept in a cookie), the cookie, or else the browser's Accept-Language."""
        if self.account:
            return i18n.of(self.account.get("language"))
        if self.principal is not None and not self.form_token:
            # signed in, before the account is loaded (a temporary password's forced change)
            try:
                self.account = accounts.me(self.principal)
                return i18n.of(self.account.get("language"))
            except PortalError:
                pass
        asked = i18n.valid(self.query.get("lang"))
        if asked:
            cookie_text = cookie(i18n.LANGUAGE_COOKIE, asked, max_age=365 * 24 * 3600)
            if cookie_text not in self.set_cookies:
                self.set_cookies.append(cookie_text)
            return asked
        return (i18n.valid(read_cookie(self.request.headers, i18n.LANGUAGE_COOKIE))
                or i18n.negotiate(self.request.headers.get("accept-language")) or i18n.DEFAULT)

    def language_switch(self, language: str) -> list[dict[str, str]]:
        """Links to this page in the other languages (signed-out pages show them)."""
        query = {name: value for name, value in self.query.items() if name != "lang"}
        links = []
        for other in i18n.LANGUAGES:
            if other != language:
                target = current_path(self.request) + "?" + urlencode({**query, "lang": other})
                links.append({"href": target, "lang": other, "name": i18n.NAMES[other]})
        return links

    def render(self, template: str, *, status: int = 200, form_origins: tuple[str, ...] = (),
               **context: Any) -> Response:
        notice_key = self.query.get("notice", "")
        language = self.language()
        notice = i18n.gettext(NOTICES.get(notice_key, ""), language).format(idle=get_settings().session_idle_minutes)
        html = environment(language).get_template(template).render(
            language_switch=self.language_switch(language),
            principal=self.principal,
            account=self.account,
            csrf_token=self.principal.csrf_token if self.principal else self.form_token,
            notice=notice,
            path=current_path(self.request),
            **context,
        )
        headers: dict[str, Any] = {**page_headers(form_origins), "Content-Language": language}
        if self.set_cookies:
            headers["Set-Cookie"] = list(self.set_cookies)
        return Response(body=html, status_code=status, headers=headers)


# A signed-out form's token works this long after the page was shown.
FORM_TOKEN_SECONDS = 12 * 3600


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


def _public_form_token(ctx: PageCtx) -> None:
    """Token for forms shown before there is a session (sign-in, forgot password, forgot username):
    signed by the portal (`new_form_token`), kept in a SameSite=Strict cookie and echoed by the form."""
    existing = read_cookie(ctx.request.headers, form_cookie_name())
    if existing and form_token_valid(existing):
        ctx.form_token = existing
    else:
        ctx.form_token = new_form_token()
        ctx.set_cookies.append(cookie(form_cookie_name(), ctx.form_token, same_site="Strict"))


def check_public_form(ctx: PageCtx) -> None:
    """The form echoes the cookie's token, and the portal made that token."""
    supplied = ctx.form.get("csrf_token", "")
    expected = read_cookie(ctx.request.headers, form_cookie_name()) or ""
    if not (supplied and expected and hmac.compare_digest(supplied, expected) and form_token_valid(supplied)):
        raise Forbidden(N_("The form has expired; reload the page and try again."), code="csrf_failed")


def check_same_origin(request) -> None:
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


def _error_page(ctx: PageCtx, exc: PortalError) -> Response:
    titles = {403: N_("Not allowed"), 404: N_("Page not found"), 429: N_("Please wait a moment")}
    language = ctx.language()
    response = ctx.render("error.html", status=exc.status,
                          title=i18n.gettext(titles.get(exc.status, N_("Something is not right")), language),
                          message=" ".join(exc.sentences(language).values()))
    response.headers.update(exc.headers)
    return response


@dataclass(frozen=True)
class PageSpec:
    path: str
    methods: tuple[str, ...]
    access: str


# Every page, as declared (the bad-input tests are generated from it, as from the API's ROUTES).
PAGES: list[PageSpec] = []


def page(bp: Blueprint, path: str, methods: tuple[str, ...] = ("GET",), *, access: str = SIGNED_IN,
         allow_password_change: bool = False, allow_factor_owed: bool = False) -> Callable:
    """Declare a page. The handler is called as `fn(ctx, **path_params)` and returns a Response
    (usually `ctx.render(...)` or `redirect(...)`). A session that must change its password is sent
    to /password, one that owes its second factor to /mfa/enroll or /mfa/verify, unless the page
    allows it (`allow_password_change`, `allow_factor_owed`)."""

    def decorate(fn: Callable) -> Callable:
        PAGES.append(PageSpec(path, tuple(methods), access))

        def view(**path_params):
            request = bp.current_request
            ctx = PageCtx(request, None, {}, dict(request.query_params or {}), client_ip(request))
            try:
                check_ids(path_params)
                if request.method not in ("GET", "HEAD", "OPTIONS"):
                    check_same_origin(request)
                if request.method == "POST":
                    ctx.form = parse_form(request)
                if access == PUBLIC:
                    _public_form_token(ctx)
                    if request.method == "POST":
                        check_public_form(ctx)
                else:
                    _sign_in_required(ctx, allow_password_change, allow_factor_owed)
                    if not allowed(ctx.principal, access):
                        raise NotFound(N_("There is no such page for your account."))
                return fn(ctx, **path_params)
            except Unauthenticated:
                return _to_sign_in(request)
            except PasswordChangeRequired:
                return redirect("/password")
            except MfaRequired as owed:
                return _to_second_factor(request, owed.owed)
            except PortalError as exc:
                return _error_page(ctx, exc)

        view.__name__ = "page_" + fn.__name__
        view.__doc__ = fn.__doc__
        # Any content type reaches the view (a browser's GET has none); form posts are checked in parse_form.
        bp.route(path, methods=list(methods), content_types=["*/*"], name=view.__name__)(view)
        return fn

    return decorate


def _sign_in_required(ctx: PageCtx, allow_password_change: bool, allow_factor_owed: bool = False) -> None:
    ctx.principal = resolve_principal(ctx.request, csrf_form_value=ctx.form.get("csrf_token"))
    check_session_state(ctx.principal, allow_password_change=allow_password_change,
                        allow_factor_owed=allow_factor_owed)
    if not ctx.principal.must_change_password:
        ctx.account = accounts.me(ctx.principal)


def _to_second_factor(request, owed: str) -> Response:
    """A session that owes its second factor: to setting up the app, or to entering a code (and
    from there back to the page asked for)."""
    if owed == "enroll":
        return redirect("/mfa/enroll")
    here = current_path(request) if request.method == "GET" else ""
    return redirect("/mfa/verify" + (f"?next={quote(here, safe='/')}" if here and here != "/" else ""))


def _to_sign_in(request) -> Response:
    """No session: to the sign-in page. A session that was there and has ended says so."""
    had_session = session_cookie(request.headers) is not None
    target = "/sign-in"
    query = []
    if had_session:
        query.append("notice=session-ended")
    if request.method == "GET":
        here = current_path(request)
        if here and here not in ("/", "/sign-in"):
            query.append("next=" + quote(here, safe="/"))
    if query:
        target += "?" + "&".join(query)
    return redirect(target, cookies=[expired_cookie(SESSION_COOKIE)] if had_session else None)
