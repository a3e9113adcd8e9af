"""How every page is declared: `@page(bp, path, ...)` resolves the cookie session (with its CSRF
token on form posts), sends a temporary-password session to `/password`, checks the role, parses
the urlencoded form, and turns domain errors into pages instead of JSON. A handler gets a
`PageCtx`: its caller, its form (`ctx.submit`: check, act, then redirect or show the form again),
its language and `ctx.render`.

Pages call the same service functions (and validate with the same body models) as the JSON API;
the session lookup, CSRF check, roles and body limits are the API's own, from `chalicelib/frontdoor.py`.
The words and the answer are `chalicelib/web/rendering.py`'s, the forms and their tokens
`chalicelib/web/forms.py`'s; what a page module needs of either is named here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import quote, urlencode

from chalice import Blueprint, Response

from chalicelib import i18n
from chalicelib.errors import (
    BadRequest,
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
    check_ids,
    check_query,
    check_session_state,
    client_ip,
    named_ids,
    parse_form,
    read_cookie,
    resolve_session,
    session_cookie,
    user_agent,
)
from chalicelib.i18n import N_
from chalicelib.services.access import mfa
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from chalicelib.services.accounts import registry as accounts
from chalicelib.settings import get_settings
from chalicelib.web.forms import (
    FormErrors,
    check_form,
    check_public_form,
    check_same_origin,
    field_errors,
    public_form_token,
)
from chalicelib.web.rendering import (
    FLASH_COOKIE,
    check_markup,
    cookie,
    current_path,
    environment,
    expired_cookie,
    flash_key,
    home_for,
    notice_text,
    page_headers,
    redirect,
    safe_next,
    session_cookie_header,
    static_file,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["ADMIN", "PAGES", "PATIENT", "PUBLIC", "SESSION_COOKIE", "SIGNED_IN", "STAFF", "FormErrors", "PageCtx",
           "PageSpec", "environment", "expired_cookie", "field_errors", "home_for", "page", "page_headers", "redirect",
           "safe_next", "session_cookie_header", "static_file"]

# What a successful form post leads to: a path, or a function of what the action answered that
# gives a path (or the whole answer, when it needs more than a redirect).
Done = str | Callable[[Any], "str | Response"]


@dataclass
class PageCtx:
    """What a page handler gets."""

    request: Any
    principal: Principal | None
    form: dict[str, str]
    query: dict[str, str]
    client_ip: str | None
    account: Mapping[str, Any] | None = None
    form_token: str | None = None
    set_cookies: list[str] = field(default_factory=list)

    @property
    def caller(self) -> Caller:
        return Caller(self.principal, self.client_ip, user_agent(self.request))

    @property
    def signed_in(self) -> Principal:
        """The session's principal, on a page only a signed-in person reaches (`@page` sends
        anyone else to sign in before the handler runs): never missing there."""
        return self.caller.signed_in

    def validate(self, model: str | type[BaseModel], *, fields: tuple[str, ...] | None = None) -> Any:
        """The API's own body model (by its name in chalicelib.bodies) checks the form: blank
        optional fields are left out. Raises FormErrors."""
        return check_form(self.form, model, self.language(), fields=fields)

    def required(self, *names: str, choices: tuple[str, ...] = ()) -> list[str]:
        """The form's values of `names` (stripped), for a form read without a body model: a field
        missing, blank, or (with `choices`) none of them is a 400 page naming it."""
        values = []
        for name in names:
            value = self.form.get(name, "").strip()
            if not value or (choices and value not in choices):
                raise BadRequest(N_("The form's {field} field is missing or not valid; reload the page and try again."),
                                 field=name, params={"field": name}, code="invalid_request")
            values.append(value)
        return values

    @overload
    def submit(self, model: str | type[BaseModel], action: Callable[[Any], Any],
               show: Callable[[int, dict[str, str]], Response]) -> tuple[Any, Response | None]: ...

    @overload
    def submit(self, model: str | type[BaseModel], action: Callable[[Any], Any],
               show: Callable[[int, dict[str, str]], Response], *, done: Done,
               notice: str | None = None) -> Response: ...

    def submit(self, model: str | type[BaseModel], action: Callable[[Any], Any],
               show: Callable[[int, dict[str, str]], Response], *, done: Done | None = None,
               notice: str | None = None) -> tuple[Any, Response | None] | Response:
        """Check the form with `model` and hand it to `action`. A problem re-renders the form with
        `show(status, errors)`, each message next to its field in the page's language; "not found"
        stays the 404 page. With `done` (post/redirect/get), the answer is the redirect it names,
        leaving `notice` (a key of rendering.NOTICES) for the next page, or the form shown again.
        Without it, (what `action` answered, None) or (None, the page to send)."""
        try:
            answer, problem = action(self.validate(model)), None
        except FormErrors as exc:
            answer, problem = None, show(400, self.translated(exc.errors))
        except PortalError as exc:
            if isinstance(exc, NotFound | Unauthenticated | Forbidden):
                raise
            answer, problem = None, show(exc.status, field_errors(exc, self.language()))
            problem.headers.update(exc.headers)  # e.g. a 429's Retry-After
        if done is None:
            return answer, problem
        if problem is not None:
            return problem
        target = done(answer) if callable(done) else done
        return target if isinstance(target, Response) else redirect(target, notice=notice)

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
        """The page from `template` in the page's language, with the notice a redirect left for it
        (the flash cookie, cleared as it is shown)."""
        language = self.language()
        if read_cookie(self.request.headers, FLASH_COOKIE) is not None:
            context.setdefault("notice", notice_text(flash_key(self.request.headers), language))
            self.set_cookies.append(expired_cookie(FLASH_COOKIE))
        html = environment(language).get_template(template).render(
            language_switch=self.language_switch(language),
            principal=self.principal,
            account=self.account,
            csrf_token=self.principal.csrf_token if self.principal else self.form_token,
            path=current_path(self.request),
            **{"notice": "", **context},
        )
        if get_settings().check_answers:  # the suite only: every page it renders is checked
            check_markup(template, html)
        headers: dict[str, Any] = {**page_headers(form_origins), "Content-Language": language}
        if self.set_cookies:
            headers["Set-Cookie"] = list(self.set_cookies)
        return Response(body=html, status_code=status, headers=headers)


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
    (usually `ctx.render(...)`, `ctx.submit(..., done=...)` or `redirect(...)`). A session that must
    change its password is sent to /password, one that owes its second factor to /mfa/enroll or
    /mfa/verify, unless the page allows it (`allow_password_change`, `allow_factor_owed`)."""

    def decorate(fn: Callable) -> Callable:
        PAGES.append(PageSpec(path, tuple(methods), access))

        def view(**path_params: str) -> Response:
            request = bp.current_request
            ctx = PageCtx(request, None, {}, dict(request.query_params or {}), client_ip(request))
            try:
                check_ids(path_params)
                check_query(ctx.query)
                if request.method not in ("GET", "HEAD", "OPTIONS"):
                    check_same_origin(request)
                if request.method == "POST":
                    ctx.form = parse_form(request)
                    check_ids({name: value for name, value in named_ids(ctx.form).items() if value})
                if access == PUBLIC:
                    ctx.form_token, new_cookie = public_form_token(request.headers)
                    ctx.set_cookies.extend([new_cookie] if new_cookie else [])
                    if request.method == "POST":
                        check_public_form(ctx.form, request.headers)
                else:
                    principal = _sign_in_required(ctx, allow_password_change, allow_factor_owed)
                    if not allowed(principal, access):
                        raise NotFound(N_("There is no such page for your account."))
                response: Response = fn(ctx, **path_params)
                return response
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


def _sign_in_required(ctx: PageCtx, allow_password_change: bool, allow_factor_owed: bool = False) -> Principal:
    """The session, and the account the page greets (its name, role and language), read in the
    session's own round trip (the session's check reads that row already)."""
    principal, account = resolve_session(ctx.request, csrf_form_value=ctx.form.get("csrf_token"),
                                         with_session=mfa.ACCOUNT_READ)
    ctx.principal = principal
    check_session_state(principal, allow_password_change=allow_password_change, allow_factor_owed=allow_factor_owed)
    if not principal.must_change_password:
        if account is None:
            raise NotFound(N_("The account no longer exists."))
        ctx.account = accounts.account_json(account)
    return principal


def _to_second_factor(request: Any, owed: str) -> Response:
    """A session that owes its second factor: to setting up the app, or to entering a code (and
    from there back to the page asked for)."""
    if owed == "enroll":
        return redirect("/mfa/enroll")
    here = current_path(request) if request.method == "GET" else ""
    return redirect("/mfa/verify" + (f"?next={quote(here, safe='/')}" if here and here != "/" else ""))


def _to_sign_in(request: Any) -> Response:
    """No session: to the sign-in page (and from there back to the page asked for). A session that
    was there and has ended says so."""
    had_session = session_cookie(request.headers) is not None
    target = "/sign-in"
    if request.method == "GET":
        here = current_path(request)
        if here and here not in ("/", "/sign-in"):
            target += "?next=" + quote(here, safe="/")
    if had_session:
        return redirect(target, cookies=[expired_cookie(SESSION_COOKIE)], notice="session-ended")
    return redirect(target)
