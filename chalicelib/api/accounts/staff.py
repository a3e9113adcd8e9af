"""Office staff: patients, their email on file, and the work queue."""

from chalice import Blueprint

from chalicelib.api.answers import Patients, Registered
from chalicelib.api.http import STAFF, Ctx, route
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.accounts.answers import Patient
from chalicelib.services.followup import work_queue as queue
from chalicelib.services.followup.answers import Queue, Resolved
from chalicelib.services.publication import items
from chalicelib.services.publication.answers import PatientDetail

bp = Blueprint(__name__)


@route(bp, "/api/staff/patients", "POST", access=STAFF, response=Registered, body="RegisterBody", status=201,
       responses={409: "mrn_taken or username_taken"})
def register_patient(ctx: Ctx):
    """Register a patient; the invitation email carries a temporary password."""
    b = ctx.body
    account = accounts.register_patient(ctx.caller, name=b.name, date_of_birth=b.date_of_birth, email=b.email, mrn=b.mrn,
                                        phone=b.phone, language=b.language)
    return {"id": account.id, "username": account.username}


@route(bp, "/api/staff/patients", access=STAFF, response=Patients, query="PatientSearchQuery")
def search_patients(ctx: Ctx):
    """Find patients by MRN, username or the start of their name (`?q=`)."""
    return {"patients": accounts.search_patients(ctx.caller, ctx.query.get("q", ""))}


@route(bp, "/api/staff/patients/{patient_id}", access=STAFF, response=PatientDetail)
def patient_detail(ctx: Ctx, patient_id: str):
    """A patient with their items' notices and read status."""
    return items.staff_patient_view(ctx.caller, patient_id)


@route(bp, "/api/staff/patients/{patient_id}/email", "PUT", access=STAFF, response=Patient, body="PatientEmailBody")
def change_patient_email(ctx: Ctx, patient_id: str):
    """Update the email on file for a patient who called in; the username stays."""
    account = accounts.staff_change_email(ctx.caller, patient_id, ctx.body.email)
    return accounts.patient_json(account)


@route(bp, "/api/staff/patients/{patient_id}/phone", "PUT", access=STAFF, response=Patient, body="PatientPhoneBody")
def change_patient_phone(ctx: Ctx, patient_id: str):
    """The phone the office calls for follow-up (null or blank removes it)."""
    account = accounts.staff_change_phone(ctx.caller, patient_id, ctx.body.phone)
    return accounts.patient_json(account)


@route(bp, "/api/staff/queue", access=STAFF, response=Queue)
def work_queue(ctx: Ctx):
    """Follow-ups, forms, quarantined uploads and bad email addresses."""
    return queue.snapshot()


@route(bp, "/api/staff/forms/{form_id}/resolve", "POST", access=STAFF, response=Resolved, body="ResolveBody")
def resolve_form(ctx: Ctx, form_id: str):
    """Mark a forgot-username form done."""
    return queue.resolve(ctx.caller, form_id, ctx.body.note, kind="form")
