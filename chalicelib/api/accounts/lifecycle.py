"""Accounts over the years: signed-in devices (everyone), staff accounts (admins), a patient's
portal access, invitation and lock (staff)."""

from chalice import Blueprint

from chalicelib.api.answers import Devices, Message, StaffList
from chalicelib.api.http import ADMIN, SIGNED_IN, STAFF, Ctx, route
from chalicelib.services.access import sessions
from chalicelib.services.accounts import lifecycle
from chalicelib.services.accounts.answers import Patient, StaffMember

bp = Blueprint(__name__)


@route(bp, "/api/me/sessions", access=SIGNED_IN, response=Devices)
def my_sessions(ctx: Ctx):
    """The account's signed-in devices: when each session started and was last used, from where."""
    return {"sessions": sessions.listed(ctx.signed_in)}


@route(bp, "/api/me/sessions/{session_id}", "DELETE", access=SIGNED_IN, status=204)
def end_session(ctx: Ctx, session_id: str):
    """End one of the account's sessions at once (another account's id answers 404)."""
    lifecycle.end_own_session(ctx.caller, session_id)


@route(bp, "/api/admin/staff", access=ADMIN, response=StaffList)
def list_staff(ctx: Ctx):
    """Every staff member and admin, with whether they are active and have a second factor."""
    return {"staff": lifecycle.list_staff(ctx.caller)}


@route(bp, "/api/admin/staff/{staff_id}", "PUT", access=ADMIN, body="StaffUpdateBody", response=StaffMember,
       responses={409: "cannot_disable_self or cannot_change_own_role"})
def update_staff(ctx: Ctx, staff_id: str):
    """Disable or enable a staff member, or change their role: their sessions end at once."""
    return lifecycle.update_staff(ctx.caller, staff_id, active=ctx.body.active, role=ctx.body.role)


@route(bp, "/api/staff/patients/{patient_id}/access", "PUT", access=STAFF, body="PatientAccessBody",
       response=Patient)
def patient_access(ctx: Ctx, patient_id: str):
    """Close or reopen a patient's portal access, with the reason. Closing ends their sessions and
    refuses their sign-in; notices and follow-up stop; their records are kept."""
    return lifecycle.set_patient_access(ctx.caller, patient_id, active=ctx.body.active, reason=ctx.body.reason)


@route(bp, "/api/staff/patients/{patient_id}/invitation", "POST", access=STAFF, status=202, response=Message,
       responses={409: "access_closed"})
def resend_invitation(ctx: Ctx, patient_id: str):
    """Email the patient a fresh temporary password, as the invitation did."""
    lifecycle.resend_invitation(ctx.caller, patient_id)
    return {"message": "A new invitation with a temporary password has been emailed."}


@route(bp, "/api/staff/patients/{patient_id}/unlock", "POST", access=STAFF, status=204)
def unlock(ctx: Ctx, patient_id: str):
    """Clear the lock and the count of failed sign-ins, for a patient who called in."""
    lifecycle.unlock(ctx.caller, patient_id)
