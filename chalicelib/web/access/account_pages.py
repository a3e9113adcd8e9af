"""Pages for signing in and out, passwords, the public forms, My Profile, and the patient's home."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import i18n
from chalicelib.frontdoor import SESSION_COOKIE
from chalicelib.i18n import N_
from chalicelib.services.access import enrolment, mfa, recovery, sessions
from chalicelib.services.access import sign_in as sign_in_service
from chalicelib.services.accounts import contact
from chalicelib.services.accounts import phone as phone_number
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.publication import items
from chalicelib.services.results import release
from chalicelib.vocabulary import Role
from chalicelib.web.access import device_names
from chalicelib.web.framework import (
    PATIENT,
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
    if ctx.signed_in.role != Role.PATIENT:
        return redirect(home_for(ctx.signed_in.role))
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
    forced = ctx.signed_in.must_change_password
    if ctx.request.method == "GET":
        return ctx.render("password.html", forced=forced, errors={})

    def change(body: models.PasswordBody) -> None:
        if ctx.form.get("confirm_password") != body.new_password:
            raise FormErrors({"confirm_password": "The two new passwords are not the same."})
        accounts.change_password(ctx.caller, body.current_password, body.new_password)

    return ctx.submit("PasswordBody", change, lambda status, errors: ctx.render(
        "password.html", status=status, forced=forced, errors=errors),
                      done=home_for(ctx.signed_in.role), notice="password-changed")


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
    defaults: dict[str, Any] = {"username_errors": {}, "email_errors": {}, "new_username": "", "new_email": "", "mfa_errors": {},
                "language_errors": {}, "languages": list(i18n.NAMES.items()), "phone_errors": {}, "new_phone": None,
                "notification_errors": {}, "release_errors": {}}
    context.setdefault("mfa", mfa.status(ctx.caller))
    context.setdefault("devices", device_names.named(sessions.listed(ctx.signed_in), ctx.language()))
    if ctx.signed_in.role == Role.PATIENT:
        reach = contact.my_reach(ctx.caller)
        context.setdefault("phone_shown", phone_number.shown(reach["phone"]))
        context.setdefault("texts_possible", reach["texts_possible"])
        context.setdefault("sms_opted_out_at", reach["sms_opted_out_at"])
        context.setdefault("result_hold_days", release.hold_days())
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


@page(bp, "/profile/phone", ("POST",), access=PATIENT)
def change_phone(ctx: PageCtx):
    """The patient's own number, confirmed by the password."""
    return ctx.submit(
        "PhoneBody", lambda body: contact.change_my_phone(ctx.caller, body.phone, body.current_password),
        lambda status, errors: _profile(ctx, status, phone_errors=errors, new_phone=ctx.form.get("phone", "")),
        done="/profile#phone", notice="phone-changed")


@page(bp, "/profile/notifications", ("POST",), access=PATIENT)
def choose_notifications(ctx: PageCtx):
    """Email, text messages, or both (a box left unticked is a no)."""
    return ctx.submit("NotificationsBody", lambda body: contact.choose_my_channels(ctx.caller, body.email, body.sms),
                      lambda status, errors: _profile(ctx, status, notification_errors=errors),
                      done="/profile#notifications", notice="notifications-changed")


@page(bp, "/profile/result-release", ("POST",), access=PATIENT)
def choose_result_release(ctx: PageCtx):
    """Results released at once, or once the provider has reviewed them."""
    return ctx.submit("ResultReleaseBody", lambda body: release.choose(ctx.caller, body.when),
                      lambda status, errors: _profile(ctx, status, release_errors=errors),
                      done="/profile#result-release", notice="result-release-changed")


@page(bp, "/enrol", ("GET", "POST"), access=PUBLIC)
def enrol(ctx: PageCtx):
    """"I have an enrolment code": the letter's code and the date of birth, a username and a password
    of one's own; then signed in, on one's items."""
    if ctx.request.method == "GET":
        return ctx.render("enrol.html", errors={}, values={})

    def join(body: models.EnrolBody):
        if ctx.form.get("confirm_password") != body.password:
            raise FormErrors({"confirm_password": N_("The two passwords are not the same.")})
        return enrolment.enrol(ctx.caller, body.code, body.date_of_birth, body.username, body.password)

    values = {name: ctx.form.get(name, "") for name in ("code", "date_of_birth", "username")}
    session, problem = ctx.submit("EnrolBody", join, lambda status, errors: ctx.render(
        "enrol.html", status=status, errors=errors, values=values))
    if problem:
        return problem
    return redirect(home_for(session.role), notice="enrolled", cookies=[session_cookie_header(session.token)])
