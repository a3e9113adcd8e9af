"""Pages of the second factor: setting up an authenticator app (QR code and key, then the recovery
codes, shown once), entering a code after the password, and turning it off on My Profile.

A session that still owes its factor is sent here by the page framework from any other page.
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.errors import Conflict
from chalicelib.services.access import mfa
from chalicelib.services.access.mfa import Enrolment
from chalicelib.services.access.mfa_policy import ENROLL, VERIFY
from chalicelib.vocabulary import Role
from chalicelib.web.access.account_pages import _profile as profile_page
from chalicelib.web.framework import PageCtx, home_for, page, redirect, safe_next

bp = Blueprint(__name__)


def _enroll_page(ctx: PageCtx, enrolment: Enrolment, errors: dict[str, str], status: int = 200):
    return ctx.render("mfa_enroll.html", status=status, errors=errors, qr_svg=enrolment.qr_svg(),
                      grouped_secret=enrolment.grouped_secret, required=ctx.signed_in.is_staff)


@page(bp, "/mfa/enroll", ("GET", "POST"), allow_factor_owed=True)
def enroll(ctx: PageCtx):
    """The key (as a QR code and as text) stays the same on reload until a code confirms it."""
    if ctx.request.method == "GET":
        try:
            enrolment = mfa.enroll(ctx.caller, keep_pending=True)
        except Conflict:  # already set up
            return redirect("/profile#mfa")
        return _enroll_page(ctx, enrolment, {})
    codes, problem = ctx.submit(
        "MfaCodeBody", lambda body: mfa.confirm(ctx.caller, body.code),
        lambda status, errors: _enroll_page(ctx, mfa.enroll(ctx.caller, keep_pending=True), errors, status))
    if problem:
        return problem
    continue_to = "/profile#mfa" if ctx.signed_in.role == Role.PATIENT else home_for(ctx.signed_in.role)
    return ctx.render("mfa_recovery_codes.html", recovery_codes=codes, continue_to=continue_to)


def _verify_page(ctx: PageCtx, next_path: str, status: int = 200, errors: dict | None = None,
                 recovery_errors: dict | None = None):
    return ctx.render("mfa_verify.html", status=status, errors=errors or {}, recovery_errors=recovery_errors or {},
                      next_path=next_path)


@page(bp, "/mfa/verify", ("GET", "POST"), allow_factor_owed=True)
def verify(ctx: PageCtx):
    """A code from the app, or (in the second form) a recovery code."""
    next_path = safe_next(ctx.form.get("next") or ctx.query.get("next"), "")
    done = safe_next(next_path, home_for(ctx.signed_in.role))
    if ctx.signed_in.mfa == ENROLL:
        return redirect("/mfa/enroll")
    if ctx.signed_in.mfa != VERIFY:
        return redirect(done)
    if ctx.request.method == "GET":
        return _verify_page(ctx, next_path)
    if "recovery_code" in ctx.form:
        _, problem = ctx.submit("MfaRecoveryBody", lambda body: mfa.verify(ctx.caller, recovery_code=body.recovery_code),
                                lambda status, errors: _verify_page(ctx, next_path, status, recovery_errors=errors))
    else:
        _, problem = ctx.submit("MfaCodeBody", lambda body: mfa.verify(ctx.caller, code=body.code),
                                lambda status, errors: _verify_page(ctx, next_path, status, errors=errors))
    return problem or redirect(done)


@page(bp, "/profile/mfa/remove", ("POST",))
def remove(ctx: PageCtx):
    """Patients turn the app off with their password and a current code."""
    return ctx.submit(
        "MfaRemoveBody", lambda body: mfa.remove_own(ctx.caller, body.current_password, body.code),
        lambda status, errors: profile_page(ctx, status, mfa_errors=errors),
        done="/profile", notice="mfa-removed")
