"""Office pages: patients, their items' read status, the work queue; admin: staff and audit."""

from chalice import Blueprint

from chalicelib.api.admin import StaffBody
from chalicelib.api.staff import EmailBody, RegisterBody, ResolveBody
from chalicelib.errors import PortalError
from chalicelib.services import accounts, audit, items, queue
from chalicelib.web.framework import ADMIN, STAFF, FormErrors, PageCtx, field_errors, page, redirect

bp = Blueprint(__name__)


@page(bp, "/staff", access=STAFF)
def staff_home(ctx: PageCtx):
    snapshot = queue.snapshot()
    counts = {name: len(snapshot.get(name, [])) for name in ("follow_ups", "forms", "quarantine", "bad_emails")}
    return ctx.render("staff_home.html", counts=counts)


@page(bp, "/staff/patients", access=STAFF)
def patients(ctx: PageCtx):
    q = ctx.query.get("q", "").strip()
    found = accounts.search_patients(ctx.caller, q) if q else []
    return ctx.render("staff_patients.html", q=q, patients=found)


@page(bp, "/staff/patients/new", ("GET", "POST"), access=STAFF)
def register_patient(ctx: PageCtx):
    if ctx.request.method == "GET":
        return ctx.render("staff_patient_new.html", errors={}, values={})
    try:
        body = ctx.validate(RegisterBody)
        account = accounts.register_patient(ctx.caller, name=body.name, date_of_birth=body.date_of_birth,
                                            email=body.email, mrn=body.mrn)
    except FormErrors as exc:
        return ctx.render("staff_patient_new.html", status=400, errors=exc.errors, values=ctx.form)
    except PortalError as exc:
        return ctx.render("staff_patient_new.html", status=exc.status, errors=field_errors(exc), values=ctx.form)
    return redirect(f"/staff/patients/{account.id}?notice=registered")


def _patient_page(ctx: PageCtx, patient_id: str, status: int = 200, **context):
    patient = items.staff_patient_view(ctx.caller, patient_id)
    defaults = {"errors": {}, "new_email": "", "can_upload": False, "can_message": False}
    return ctx.render("staff_patient.html", status=status, patient=patient, **{**defaults, **context})


@page(bp, "/staff/patients/{patient_id}", access=STAFF)
def patient(ctx: PageCtx, patient_id: str):
    return _patient_page(ctx, patient_id)


@page(bp, "/staff/patients/{patient_id}/email", ("POST",), access=STAFF)
def change_patient_email(ctx: PageCtx, patient_id: str):
    try:
        body = ctx.validate(EmailBody)
        accounts.staff_change_email(ctx.caller, patient_id, body.email)
    except FormErrors as exc:
        return _patient_page(ctx, patient_id, 400, errors=exc.errors, new_email=ctx.form.get("email", ""))
    except PortalError as exc:
        if exc.status == 404:
            raise
        return _patient_page(ctx, patient_id, exc.status, errors=field_errors(exc), new_email=ctx.form.get("email", ""))
    return redirect(f"/staff/patients/{patient_id}?notice=patient-email-changed")


@page(bp, "/staff/queue", access=STAFF)
def work_queue(ctx: PageCtx):
    return ctx.render("staff_queue.html", queue=queue.snapshot())


@page(bp, "/staff/queue/forms/{form_id}/resolve", ("POST",), access=STAFF)
def resolve_form(ctx: PageCtx, form_id: str):
    try:
        body = ctx.validate(ResolveBody)
    except FormErrors as exc:
        raise PortalError(next(iter(exc.errors.values()))) from None
    queue.resolve(ctx.caller, form_id, body.note, kind="form")
    return redirect("/staff/queue?notice=form-resolved#forms")


@page(bp, "/admin/staff", ("GET", "POST"), access=ADMIN)
def staff_accounts(ctx: PageCtx):
    if ctx.request.method == "GET":
        return ctx.render("admin_staff.html", errors={}, values={})
    try:
        body = ctx.validate(StaffBody)
        accounts.create_staff(ctx.caller, username=body.username, email=body.email, name=body.name, role=body.role)
    except FormErrors as exc:
        return ctx.render("admin_staff.html", status=400, errors=exc.errors, values=ctx.form)
    except PortalError as exc:
        return ctx.render("admin_staff.html", status=exc.status, errors=field_errors(exc), values=ctx.form)
    return redirect("/admin/staff?notice=staff-created")


@page(bp, "/admin/audit", access=ADMIN)
def audit_trail(ctx: PageCtx):
    patient_id, actor_id = ctx.query.get("patient_id", "").strip(), ctx.query.get("actor_id", "").strip()
    events = None
    if patient_id or actor_id:
        events = audit.read_trail(actor_id=ctx.caller.actor_id, actor_role=ctx.caller.actor_role,
                                  client_ip=ctx.client_ip, patient_id=patient_id or None, of_actor_id=actor_id or None)
    return ctx.render("admin_audit.html", errors={}, events=events, patient_id=patient_id, actor_id=actor_id)
