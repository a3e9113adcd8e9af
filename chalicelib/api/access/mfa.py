"""The second factor: enrol an authenticator app, confirm it, verify a sign-in with a code or a
recovery code, remove it (patients), reset a staff member's (admins).

`/api/auth/mfa/*` is what a session that still owes its factor may call (and sign-out).
"""

from chalice import Blueprint

from chalicelib.api.answers import MfaEnrollment, RecoveryCodes
from chalicelib.api.http import ADMIN, SIGNED_IN, Ctx, route
from chalicelib.services.access import mfa

bp = Blueprint(__name__)


@route(bp, "/api/auth/mfa/enroll", "POST", access=SIGNED_IN, response=MfaEnrollment, allow_factor_owed=True,
       responses={409: "mfa_already_enrolled"})
def enroll(ctx: Ctx):
    """A new base32 secret for an authenticator app, not active until a code confirms it."""
    enrolment = mfa.enroll(ctx.caller)
    return {"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}


@route(bp, "/api/auth/mfa/confirm", "POST", access=SIGNED_IN, body="MfaCodeBody", response=RecoveryCodes,
       allow_factor_owed=True, responses={401: "invalid_code", 409: "mfa_not_started"})
def confirm(ctx: Ctx):
    """The first code from the app activates it; answers the ten recovery codes, shown only now."""
    return {"recovery_codes": mfa.confirm(ctx.caller, ctx.body.code)}


@route(bp, "/api/auth/mfa/verify", "POST", access=SIGNED_IN, body="MfaVerifyBody", status=204,
       allow_factor_owed=True, responses={401: "invalid_code"}, with_session=mfa.ACCOUNT_READ)
def verify(ctx: Ctx):
    """A code from the app, or a recovery code (each works once): the session is whole."""
    mfa.verify(ctx.caller, code=ctx.body.code, recovery_code=ctx.body.recovery_code, account=ctx.with_session)


@route(bp, "/api/me/mfa", "DELETE", access=SIGNED_IN, body="MfaRemoveBody", status=204,
       responses={401: "invalid_code", 409: "mfa_not_enrolled"})
def remove(ctx: Ctx):
    """Remove the authenticator app (patients; staff and admins must keep theirs)."""
    mfa.remove_own(ctx.caller, ctx.body.current_password, ctx.body.code)


@route(bp, "/api/admin/staff/{staff_id}/mfa-reset", "POST", access=ADMIN, status=204)
def reset(ctx: Ctx, staff_id: str):
    """Reset a staff member's authenticator app: their sessions end, their next sign-in enrols again."""
    mfa.admin_reset(ctx.caller, staff_id)
