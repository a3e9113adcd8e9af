"""Pages for accounts over the years: signed-in devices on My Profile; an admin's staff list
(disable, enable, role, authenticator reset); a patient's portal access, invitation and lock on
the staff's patient page. Each calls the same service function as its API route."""

from urllib.parse import quote

from chalice import Blueprint

from chalicelib.errors import BadRequest
from chalicelib.services.access import mfa, sessions
from chalicelib.services.accounts import lifecycle
from chalicelib.vocabulary import OFFICE_ROLES
from chalicelib.web.accounts import staff_pages
from chalicelib.web.framework import (
    ADMIN,
    SESSION_COOKIE,
    SIGNED_IN,
    STAFF,
    PageCtx,
    expired_cookie,
    field_errors,
    page,
    redirect,
)

bp = Blueprint(__name__)


# ---------------------------------------------------------------- signed-in devices

@page(bp, "/profile/sessions/{session_id}/end", ("POST",), access=SIGNED_IN)
def end_session(ctx: PageCtx, session_id: str):
    """Sign a device out. Ending this very session signs this browser out too."""
    current = sessions.public_id(ctx.signed_in.token_hash) == session_id
    lifecycle.end_own_session(ctx.caller, session_id)
    if current:
        return redirect("/sign-in", notice="signed-out", cookies=[expired_cookie(SESSION_COOKIE)])
    return redirect("/profile#devices", notice="device-signed-out")


# ---------------------------------------------------------------- staff accounts (admins)

def _to_staff_list(staff_id: str, notice: str):
    """Back to the admin's staff list at this member's row, with a notice."""
    return redirect(f"/admin/staff#staff-{quote(staff_id, safe='')}", notice=notice)


def _choice(ctx: PageCtx, name: str, allowed: tuple[str, ...]) -> str | None:
    value = ctx.form.get(name, "").strip()
    return value if value in allowed else None


@page(bp, "/admin/staff/{staff_id}", ("POST",), access=ADMIN)
def update_staff(ctx: PageCtx, staff_id: str):
    """One button per change: enable, disable, or the role chosen beside it."""
    [action] = ctx.required("action", choices=("enable", "disable", "role"))
    active = {"enable": True, "disable": False}.get(action or "")
    role = _choice(ctx, "role", OFFICE_ROLES) if action == "role" else None
    lifecycle.update_staff(ctx.caller, staff_id, active=active, role=role)
    return _to_staff_list(staff_id, "staff-updated")


@page(bp, "/admin/staff/{staff_id}/mfa-reset", ("POST",), access=ADMIN)
def reset_staff_factor(ctx: PageCtx, staff_id: str):
    mfa.admin_reset(ctx.caller, staff_id)
    return _to_staff_list(staff_id, "staff-mfa-reset")


# ---------------------------------------------------------------- a patient's access (staff)

def _to_patient_page(patient_id: str, notice: str):
    """Back to the staff's page of this patient, with a notice."""
    return redirect(f"/staff/patients/{quote(patient_id, safe='')}", notice=notice)


@page(bp, "/staff/patients/{patient_id}/access", ("POST",), access=STAFF)
def patient_access(ctx: PageCtx, patient_id: str):
    """Close or reopen the patient's portal access; the reason is required either way."""
    [choice] = ctx.required("active", choices=("true", "false"))
    active, reason = choice == "true", ctx.form.get("reason", "")
    try:
        lifecycle.set_patient_access(ctx.caller, patient_id, active=active, reason=reason)
    except BadRequest as exc:
        return staff_pages.patient_record_page(ctx, patient_id, exc.status, access_errors=field_errors(exc),
                                         access_reason=reason)
    notice = "access-reopened" if active else "access-closed"
    return _to_patient_page(patient_id, notice)


@page(bp, "/staff/patients/{patient_id}/invitation", ("POST",), access=STAFF)
def resend_invitation(ctx: PageCtx, patient_id: str):
    lifecycle.resend_invitation(ctx.caller, patient_id)
    return _to_patient_page(patient_id, "invitation-sent")


@page(bp, "/staff/patients/{patient_id}/unlock", ("POST",), access=STAFF)
def unlock(ctx: PageCtx, patient_id: str):
    lifecycle.unlock(ctx.caller, patient_id)
    return _to_patient_page(patient_id, "unlocked")

