"""Sign-in, sign-out, password change and forgot-password."""

from typing import cast

from chalice import Blueprint

from chalicelib.api.answers import Message, Session
from chalicelib.api.http import PUBLIC, SIGNED_IN, Ctx, route
from chalicelib.clock import iso
from chalicelib.services.access import enrolment, recovery, sign_in
from chalicelib.services.access.sessions import NewSession
from chalicelib.services.accounts import registry as accounts

bp = Blueprint(__name__)


def _session_answer(session: NewSession) -> Session:
    """A new session as the sign-in answers it (enrolling answers the same)."""
    return cast(Session, {"token": session.token, "expires_at": iso(session.expires_at),
                          "must_change_password": session.must_change_password, "role": session.role,
                          "mfa": session.mfa})


@route(bp, "/api/auth/login", "POST", access=PUBLIC, response=Session, body="LoginBody", responses={401: "invalid_credentials"})
def login(ctx: Ctx):
    """Sign in with username and password (or a temporary password)."""
    return _session_answer(sign_in.login(ctx.caller, ctx.body.username, ctx.body.password))


@route(bp, "/api/auth/logout", "POST", access=SIGNED_IN, status=204, allow_password_change=True,
       allow_factor_owed=True)
def logout(ctx: Ctx):
    """End this session at once."""
    sign_in.logout(ctx.caller)


@route(bp, "/api/auth/password", "POST", access=SIGNED_IN, body="PasswordBody", status=204,
       allow_password_change=True, responses={400: "weak_password", 401: "invalid_credentials"})
def change_password(ctx: Ctx):
    """Change the password; ends every other session."""
    accounts.change_password(ctx.caller, ctx.body.current_password, ctx.body.new_password)


@route(bp, "/api/auth/forgot-password", "POST", access=PUBLIC, response=Message, body="ForgotPasswordBody", status=202)
def forgot_password(ctx: Ctx):
    """Email a temporary password to the address on file; the same answer for every username."""
    return {"message": recovery.forgot_password(ctx.caller, ctx.body.username)}


@route(bp, "/api/auth/enrol", "POST", access=PUBLIC, response=Session, body="EnrolBody",
       responses={401: "invalid_code", 409: "username_taken", 400: "weak_password or invalid_username",
                  429: "rate_limited"})
def enrol(ctx: Ctx):
    """Join with an enrolment letter's code and your date of birth, choosing a username and a
    password: answered like a sign-in."""
    b = ctx.body
    return _session_answer(enrolment.enrol(ctx.caller, b.code, b.date_of_birth, b.username, b.password))
