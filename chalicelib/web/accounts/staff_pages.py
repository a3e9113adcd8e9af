"""The office's patients (search, registration, the record, email and phone on file) and admins' staff accounts."""


from chalice import Blueprint

from chalicelib import i18n
from chalicelib.services.accounts import contact, letters, lifecycle
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.followup import sweep as followup
from chalicelib.services.publication import items
from chalicelib.web.framework import ADMIN, STAFF, PageCtx, page, redirect

bp = Blueprint(__name__)


@page(bp, "/staff/patients", access=STAFF)
def patients(ctx: PageCtx):
    q = ctx.query.get("q", "").strip()
    found = accounts.search_patients(ctx.caller, q) if q else []
    return ctx.render("staff_patients.html", q=q, patients=found)


@page(bp, "/staff/patients/new", ("GET", "POST"), access=STAFF)
def register_patient(ctx: PageCtx):
    if ctx.request.method == "GET":
        return ctx.render("staff_patient_new.html", errors={}, values={})
    return ctx.submit(
        "RegisterBody", lambda body: accounts.register_patient(ctx.caller, name=body.name, date_of_birth=body.date_of_birth,
                                                             email=body.email, mrn=body.mrn, phone=body.phone,
                                                             language=body.language),
        lambda status, errors: ctx.render("staff_patient_new.html", status=status, errors=errors, values=ctx.form),
        done=lambda account: redirect(f"/staff/patients/{account.id}",
                                      notice="registered" if account.email else "registered-no-email"))


def patient_record_page(ctx: PageCtx, patient_id: str, status: int = 200, **context):
    patient = items.staff_patient_view(ctx.caller, patient_id)
    defaults = {"errors": {}, "comment_errors": {}, "new_email": "", "can_upload": True, "can_message": True,
                "phone_errors": {}, "new_phone": None, "notification_errors": {}, "language_errors": {},
                "languages": i18n.NAMES}
    if not patient["has_signed_in"] and patient["active"]:
        context.setdefault("letter", letters.status(patient_id))
    context.setdefault("calls", followup.call_history(patient_id))
    return ctx.render("staff_patient.html", status=status, patient=patient, **{**defaults, **context})


@page(bp, "/staff/patients/{patient_id}", access=STAFF)
def patient(ctx: PageCtx, patient_id: str):
    return patient_record_page(ctx, patient_id)


@page(bp, "/staff/patients/{patient_id}/email", ("POST",), access=STAFF)
def change_patient_email(ctx: PageCtx, patient_id: str):
    return ctx.submit(
        "PatientEmailBody", lambda body: accounts.staff_change_email(ctx.caller, patient_id, body.email),
        lambda status, errors: patient_record_page(ctx, patient_id, status, errors=errors, new_email=ctx.form.get("email", "")),
        done=f"/staff/patients/{patient_id}", notice="patient-email-changed")


@page(bp, "/staff/patients/{patient_id}/phone", ("POST",), access=STAFF)
def change_patient_phone(ctx: PageCtx, patient_id: str):
    return ctx.submit(
        "PatientPhoneBody", lambda body: accounts.staff_change_phone(ctx.caller, patient_id, body.phone),
        lambda status, errors: patient_record_page(ctx, patient_id, status, phone_errors=errors,
                                             new_phone=ctx.form.get("phone", "")),
        done=f"/staff/patients/{patient_id}", notice="patient-phone-changed")


@page(bp, "/staff/patients/{patient_id}/language", ("POST",), access=STAFF)
def change_patient_language(ctx: PageCtx, patient_id: str):
    """The patient's language (pages, mails, texts, letters), for a patient who asked."""
    return ctx.submit(
        "LanguageBody", lambda body: accounts.staff_change_language(ctx.caller, patient_id, body.language),
        lambda status, errors: patient_record_page(ctx, patient_id, status, language_errors=errors),
        done=f"/staff/patients/{patient_id}#language", notice="patient-language-changed")


@page(bp, "/admin/staff", ("GET", "POST"), access=ADMIN)
def staff_accounts(ctx: PageCtx):
    if ctx.request.method == "GET":
        return ctx.render("admin_staff.html", errors={}, values={}, staff=lifecycle.list_staff(ctx.caller))
    return ctx.submit(
        "StaffBody", lambda body: accounts.create_staff(ctx.caller, username=body.username, email=body.email,
                                                      name=body.name, role=body.role, npi=body.npi),
        lambda status, errors: ctx.render("admin_staff.html", status=status, errors=errors, values=ctx.form,
                                          staff=lifecycle.list_staff(ctx.caller)),
        done="/admin/staff", notice="staff-created")


@page(bp, "/staff/patients/{patient_id}/notifications", ("POST",), access=STAFF)
def patient_notifications(ctx: PageCtx, patient_id: str):
    """Email, text messages, or both, for a patient who asked (a box left unticked is a no)."""
    return ctx.submit(
        "NotificationsBody", lambda body: contact.choose_for_patient(ctx.caller, patient_id, body.email, body.sms),
        lambda status, errors: patient_record_page(ctx, patient_id, status, notification_errors=errors),
        done=f"/staff/patients/{patient_id}#notifications", notice="patient-notifications-changed")


@page(bp, "/staff/patients/{patient_id}/enrolment-letter", ("GET", "POST"), access=STAFF)
def enrolment_letter(ctx: PageCtx, patient_id: str):
    """POST: a new letter (the old code stops working); GET: the current letter's PDF, to print."""
    if ctx.request.method == "GET":
        return redirect(letters.letter_link(ctx.caller, patient_id))
    letters.make_letter(ctx.caller, patient_id)
    return redirect(f"/staff/patients/{patient_id}#letter", notice="letter-made")
