"""Office staff: patients, their email and phone on file, how notices reach them, enrolment letters,
and the work queue."""

from chalice import Blueprint, Response

from chalicelib.api.answers import Language, Patients, Registered
from chalicelib.api.http import STAFF, Ctx, route
from chalicelib.services import paging
from chalicelib.services.accounts import chart_matches, contact, letters
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.accounts.answers import Notifications, Patient
from chalicelib.services.accounts.chart_matches import ChartMatches, Linked
from chalicelib.services.accounts.letters import LetterMade
from chalicelib.services.followup import work_queue as queue
from chalicelib.services.followup.answers import QueuePage, Resolved
from chalicelib.services.publication import items
from chalicelib.services.publication.answers import PatientDetail

bp = Blueprint(__name__)


@route(bp, "/api/staff/patients", "POST", access=STAFF, response=Registered, body="RegisterBody", status=201,
       responses={409: "mrn_taken or username_taken"})
def register_patient(ctx: Ctx):
    """Register a patient; the invitation email carries a temporary password. Without an email (a
    phone only, or neither) nothing is mailed: print an enrolment letter."""
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


@route(bp, "/api/staff/patients/{patient_id}/language", "PUT", access=STAFF, response=Language, body="LanguageBody",
       responses={404: "not_found"})
def change_patient_language(ctx: Ctx, patient_id: str):
    """The language of the patient's pages, mails and texts (en, es), for a patient who asked the office."""
    return {"language": accounts.staff_change_language(ctx.caller, patient_id, ctx.body.language)}


@route(bp, "/api/staff/queue", access=STAFF, response=QueuePage, query="QueueQuery")
def work_queue(ctx: Ctx):
    """Follow-ups, forms, quarantined uploads, failed notices, critical results and bad email
    addresses, oldest first: every open entry, or a page at a time with `?limit=` entries of each
    list (1..500) and `?cursor=` the page before's `next_cursor` (it continues every list that has more)."""
    limit, cursor = ctx.query.get("limit"), ctx.query.get("cursor") or None
    if not limit and cursor is None:
        return queue.page(None)
    return queue.page(paging.page_size(limit, default=queue.QUEUE_PAGE, maximum=queue.QUEUE_PAGE_MAX), cursor)


@route(bp, "/api/staff/forms/{form_id}/resolve", "POST", access=STAFF, response=Resolved, body="ResolveBody")
def resolve_form(ctx: Ctx, form_id: str):
    """Mark a forgot-username form done."""
    return queue.resolve(ctx.caller, form_id, ctx.body.note, kind="form")


@route(bp, "/api/staff/patients/{patient_id}/notifications", "PUT", access=STAFF, response=Notifications,
       body="NotificationsBody", responses={400: "no_mobile_number, no_email_address or no_channel"})
def choose_patient_notifications(ctx: Ctx, patient_id: str):
    """How notices reach a patient who asked the office: email, text messages (SMS), or both."""
    return contact.choose_for_patient(ctx.caller, patient_id, ctx.body.email, ctx.body.sms)


@route(bp, "/api/staff/patients/{patient_id}/enrolment-letter", "POST", access=STAFF, response=LetterMade, status=201,
       responses={409: "already_signed_in or access_closed"})
def make_enrolment_letter(ctx: Ctx, patient_id: str):
    """A new enrolment letter (PDF) with a one-time code; the previous letter's code stops working."""
    return letters.make_letter(ctx.caller, patient_id)


@route(bp, "/api/staff/patients/{patient_id}/enrolment-letter", access=STAFF, status=303)
def enrolment_letter(ctx: Ctx, patient_id: str):
    """The current enrolment letter, a PDF: 303 to a short-lived link (404 when there is none)."""
    return Response(body="", status_code=303, headers={"Location": letters.letter_link(ctx.caller, patient_id),
                                                      "Cache-Control": "no-store"})


@route(bp, "/api/staff/forms/{form_id}/matches", access=STAFF, response=ChartMatches)
def form_matches(ctx: Ctx, form_id: str):
    """The charts a forgot-username request may be about: same date of birth, matching name."""
    return {"patients": chart_matches.for_form(ctx.caller, form_id)}


@route(bp, "/api/staff/forms/{form_id}/link", "POST", access=STAFF, response=Linked, body="LinkChartBody",
       responses={409: "already_resolved"})
def link_form(ctx: Ctx, form_id: str):
    """Link a forgot-username request to the patient's chart (then call the number on file)."""
    return chart_matches.link(ctx.caller, form_id, ctx.body.patient_id)
