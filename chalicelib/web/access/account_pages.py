"""Pages for signing in and out, passwords, the public forms, My Profile, and the patient's home."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import i18n
from chalicelib.frontdoor import SESSION_COOKIE
from chalicelib.services.access import mfa, recovery, sessions
from chalicelib.services.access import sign_in as sign_in_service
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.publication import items
from chalicelib.vocabulary import Role
from chalicelib.web.framework import (
    PUBLIC,
    FormErrors,
    PageCtx,
    expired_cookie,
    home_for,
    page,
    redirect,
    safe_next,
    session_cookie_header,
    static_file,
)

if TYPE_CHECKING:
    from chalicelib import bodies as models

bp = Blueprint(__name__)


@bp.route("/static/{name}", methods=["GET"])
def static(name: str) -> Response:
    """The stylesheet. Its URL carries a content hash, so it may be cached for a long time."""
    if name != "portal.css":
        return Response(body="Not found", status_code=404, headers={"Content-Type": "text/plain"})
    data, _ = static_file(name)
    return Response(body=data.decode("utf-8"), status_code=200,
                    headers={"Content-Type": "text/css; charset=utf-8",
                             "Cache-Control": "public, max-age=31536000, immutable"})


def item_href(item: Mapping[str, Any]) -> str:
    folder = {"document": "documents", "result": "results"}.get(item["kind"], "messages")
    return f"/{folder}/{item['id']}"


@page(bp, "/")
def home(ctx: PageCtx):
    if ctx.principal.role != Role.PATIENT:
        return redirect(home_for(ctx.principal.role))
    listed = [{**item, "href": item_href(item)} for item in items.list_for_patient(ctx.caller)]
    return ctx.render("home.html", items=listed, unread=sum(1 for item in listed
                                                              if not item["read_at"] and item["status"] != "retracted"))


@page(bp, "/sign-in", ("GET", "POST"), access=PUBLIC)
def sign_in(ctx: PageCtx):
    next_path = safe_next(ctx.form.get("next") or ctx.query.get("next"), "")
    if ctx.request.method == "GET":
        return ctx.render("sign_in.html", errors={}, username="", next_path=next_path)
    session, problem = ctx.submit(
        "LoginBody", lambda body: sign_in_service.login(ctx.caller, body.username, body.password),
        lambda status, errors: ctx.render("sign_in.html", status=status, errors=errors,
                                          username=ctx.form.get("username", ""), next_path=next_path))
    if problem:
        return problem
    target = "/password" if session.must_change_password else safe_next(next_path, home_for(session.role))
    return redirect(target, cookies=[session_cookie_header(session.token)])


@page(bp, "/sign-out", ("POST",), allow_password_change=True, allow_factor_owed=True)
def sign_out(ctx: PageCtx):
    sign_in_service.logout(ctx.caller)
    return redirect("/sign-in", notice="signed-out", cookies=[expired_cookie(SESSION_COOKIE)])


@page(bp, "/password", ("GET", "POST"), allow_password_change=True)
def password(ctx: PageCtx):
    forced = ctx.principal.must_change_password
    if ctx.request.method == "GET":
        return ctx.render("password.html", forced=forced, errors={})

    def change(body: models.PasswordBody) -> None:
        if ctx.form.get("confirm_password") != body.new_password:
            raise FormErrors({"confirm_password": "The two new passwords are not the same."})
        accounts.change_password(ctx.caller, body.current_password, body.new_password)

    return ctx.submit("PasswordBody", change, lambda status, errors: ctx.render(
        "password.html", status=status, forced=forced, errors=errors),
                      done=home_for(ctx.principal.role), notice="password-changed")


@page(bp, "/forgot-password", ("GET", "POST"), access=PUBLIC)
def forgot_password(ctx: PageCtx):
    if ctx.request.method == "GET":
        answer = recovery.FORGOT_PASSWORD_ANSWER if ctx.query.get("sent") else None
        return ctx.render("forgot_password.html", errors={}, username="", answer=answer)
    return ctx.submit("ForgotPasswordBody", lambda body: recovery.forgot_password(ctx.caller, body.username),
                      lambda status, errors: ctx.render("forgot_password.html", status=status, errors=errors,
                                                        username=ctx.form.get("username", "")),
                      done="/forgot-password?sent=1")


@page(bp, "/forms", access=PUBLIC)
def forms(ctx: PageCtx):
    return ctx.render("forms.html")


@page(bp, "/forms/forgot-username", ("GET", "POST"), access=PUBLIC)
def forgot_username(ctx: PageCtx):
    if ctx.request.method == "GET":
        answer = recovery.FORGOT_USERNAME_ANSWER if ctx.query.get("sent") else None
        return ctx.render("forgot_username.html", errors={}, values={}, answer=answer)
    return ctx.submit("ForgotUsernameBody", lambda body: recovery.forgot_username(ctx.caller, body.model_dump()),
                      lambda status, errors: ctx.render("forgot_username.html", status=status, errors=errors,
                                                        values=ctx.form),
                      done="/forms/forgot-username?sent=1")


def _profile(ctx: PageCtx, status: int = 200, **context):
    defaults = {"username_errors": {}, "email_errors": {}, "new_username": "", "new_email": "", "mfa_errors": {},
                "language_errors": {}, "languages": list(i18n.NAMES.items())}
    context.setdefault("mfa", mfa.status(ctx.caller))
    context.setdefault("devices", sessions.listed(ctx.principal))
    return ctx.render("profile.html", status=status, **{**defaults, **context})


@page(bp, "/profile")
def profile(ctx: PageCtx):
    return _profile(ctx)


@page(bp, "/profile/username", ("POST",))
def change_username(ctx: PageCtx):
    return ctx.submit(
        "UsernameBody", lambda body: accounts.change_username(ctx.caller, body.username, body.current_password),
        lambda status, errors: _profile(ctx, status, username_errors=errors, new_username=ctx.form.get("username", "")),
        done="/profile", notice="username-changed")


@page(bp, "/profile/language", ("POST",))
def change_language(ctx: PageCtx):
    """The language of the account's pages and mails; the next page is already in it."""
    return ctx.submit("LanguageBody", lambda body: accounts.change_language(ctx.caller, body.language),
                      lambda status, errors: _profile(ctx, status, language_errors=errors),
                      done="/profile#language", notice="language-changed")


@page(bp, "/profile/email", ("POST",))
def change_email(ctx: PageCtx):
    return ctx.submit(
        "EmailBody", lambda body: accounts.change_email(ctx.caller, body.email, body.current_password),
        lambda status, errors: _profile(ctx, status, email_errors=errors, new_email=ctx.form.get("email", "")),
        done="/profile", notice="email-changed")
