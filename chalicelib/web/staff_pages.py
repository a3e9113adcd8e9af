"""Office pages: patients, their items' read status, the work queue; admin: staff and audit."""

from urllib.parse import quote, urlsplit

from chalice import Blueprint

from chalicelib.errors import PortalError
from chalicelib.services import accounts, audit, digest, followup, items, lifecycle, messaging, queue, uploads
from chalicelib.settings import get_settings
from chalicelib.web.framework import ADMIN, STAFF, FormErrors, PageCtx, page, redirect
from chalicelib.web.patient_pages import categories

bp = Blueprint(__name__)


@page(bp, "/staff", access=STAFF)
def staff_home(ctx: PageCtx):
    snapshot = queue.snapshot()
    counts = {name: len(snapshot.get(name, [])) for name in ("follow_ups", "forms", "quarantine", "bad_emails")}
    return ctx.render("staff_home.html", counts=counts, report=digest.counts())


@page(bp, "/staff/patients", access=STAFF)
def patients(ctx: PageCtx):
    q = ctx.query.get("q", "").strip()
    found = accounts.search_patients(ctx.caller, q) if q else []
    return ctx.render("staff_patients.html", q=q, patients=found)


@page(bp, "/staff/patients/new", ("GET", "POST"), access=STAFF)
def register_patient(ctx: PageCtx):
    if ctx.request.method == "GET":
        return ctx.render("staff_patient_new.html", errors={}, values={})
    account, problem = ctx.submit(
        "RegisterBody", lambda body: accounts.register_patient(ctx.caller, name=body.name, date_of_birth=body.date_of_birth,
                                                             email=body.email, mrn=body.mrn, phone=body.phone,
                                                             language=body.language),
        lambda status, errors: ctx.render("staff_patient_new.html", status=status, errors=errors, values=ctx.form))
    if problem:
        return problem
    return redirect(f"/staff/patients/{account.id}?notice=registered")


def _patient_page(ctx: PageCtx, patient_id: str, status: int = 200, **context):
    patient = items.staff_patient_view(ctx.caller, patient_id)
    defaults = {"errors": {}, "comment_errors": {}, "new_email": "", "can_upload": True, "can_message": True,
                "phone_errors": {}, "new_phone": None}
    return ctx.render("staff_patient.html", status=status, patient=patient, **{**defaults, **context})


@page(bp, "/staff/patients/{patient_id}", access=STAFF)
def patient(ctx: PageCtx, patient_id: str):
    return _patient_page(ctx, patient_id)


@page(bp, "/staff/patients/{patient_id}/email", ("POST",), access=STAFF)
def change_patient_email(ctx: PageCtx, patient_id: str):
    _, problem = ctx.submit(
        "PatientEmailBody", lambda body: accounts.staff_change_email(ctx.caller, patient_id, body.email),
        lambda status, errors: _patient_page(ctx, patient_id, status, errors=errors, new_email=ctx.form.get("email", "")))
    if problem:
        return problem
    return redirect(f"/staff/patients/{patient_id}?notice=patient-email-changed")


@page(bp, "/staff/patients/{patient_id}/phone", ("POST",), access=STAFF)
def change_patient_phone(ctx: PageCtx, patient_id: str):
    _, problem = ctx.submit(
        "PatientPhoneBody", lambda body: accounts.staff_change_phone(ctx.caller, patient_id, body.phone),
        lambda status, errors: _patient_page(ctx, patient_id, status, phone_errors=errors,
                                             new_phone=ctx.form.get("phone", "")))
    if problem:
        return problem
    return redirect(f"/staff/patients/{patient_id}?notice=patient-phone-changed")


@page(bp, "/staff/queue", access=STAFF)
def work_queue(ctx: PageCtx):
    return ctx.render("staff_queue.html", queue=queue.snapshot())


@page(bp, "/staff/queue/forms/{form_id}/resolve", ("POST",), access=STAFF)
def resolve_form(ctx: PageCtx, form_id: str):
    try:
        body = ctx.validate("ResolveBody")
    except FormErrors as exc:
        raise PortalError(next(iter(exc.errors.values()))) from None
    queue.resolve(ctx.caller, form_id, body.note, kind="form")
    return redirect("/staff/queue?notice=form-resolved#forms")


@page(bp, "/staff/queue/{entry_id}/resolve", ("POST",), access=STAFF)
def resolve_follow_up(ctx: PageCtx, entry_id: str):
    """The patient was called (or a failed notice was dealt with): close the entry."""
    try:
        body = ctx.validate("ResolveBody")
    except FormErrors as exc:
        raise PortalError(next(iter(exc.errors.values()))) from None
    followup.resolve(ctx.caller, entry_id, body.note)
    return redirect("/staff/queue?notice=follow-up-resolved#follow-ups")


# ---------------------------------------------------------------- quarantined uploads

def _quarantine_page(ctx: PageCtx, entry_id: str, status: int = 200, **context):
    defaults = {"publish_errors": {}, "close_errors": {}, "values": ctx.form}
    return ctx.render("staff_quarantine.html", status=status, entry=uploads.quarantine_entry(entry_id),
                      **{**defaults, **context})


@page(bp, "/staff/quarantine/{entry_id}", access=STAFF)
def quarantined_upload(ctx: PageCtx, entry_id: str):
    """One quarantined upload: why, and the two ways to deal with it (or how it was dealt with)."""
    return _quarantine_page(ctx, entry_id)


@page(bp, "/staff/quarantine/{entry_id}/publish", ("POST",), access=STAFF)
def publish_quarantined_again(ctx: PageCtx, entry_id: str):
    if not ctx.form.get("mrn", "").strip():
        ctx.form.pop("mrn", None)  # an empty box keeps the MRN of the upload's key
    done, problem = ctx.submit("PublishAgainBody",
                               lambda body: uploads.publish_again(ctx.caller, entry_id, body.mrn, body.note),
                               lambda status, errors: _quarantine_page(ctx, entry_id, status, publish_errors=errors))
    return problem or redirect(f"/staff/quarantine/{quote(done['id'], safe='')}")


@page(bp, "/staff/quarantine/{entry_id}/close", ("POST",), access=STAFF)
def close_quarantined(ctx: PageCtx, entry_id: str):
    uploads.quarantine_entry(entry_id)  # this page closes quarantined uploads only: 404 for other entries
    done, problem = ctx.submit("ResolveBody", lambda body: followup.resolve(ctx.caller, entry_id, body.note),
                               lambda status, errors: _quarantine_page(ctx, entry_id, status, close_errors=errors))
    return problem or redirect(f"/staff/quarantine/{quote(done['id'], safe='')}")


@page(bp, "/admin/staff", ("GET", "POST"), access=ADMIN)
def staff_accounts(ctx: PageCtx):
    if ctx.request.method == "GET":
        return ctx.render("admin_staff.html", errors={}, values={}, staff=lifecycle.list_staff(ctx.caller))
    _, problem = ctx.submit(
        "StaffBody", lambda body: accounts.create_staff(ctx.caller, username=body.username, email=body.email,
                                                      name=body.name, role=body.role),
        lambda status, errors: ctx.render("admin_staff.html", status=status, errors=errors, values=ctx.form,
                                          staff=lifecycle.list_staff(ctx.caller)))
    if problem:
        return problem
    return redirect("/admin/staff?notice=staff-created")


@page(bp, "/admin/audit", access=ADMIN)
def audit_trail(ctx: PageCtx):
    patient_id, actor_id = ctx.query.get("patient_id", "").strip(), ctx.query.get("actor_id", "").strip()
    events = None
    if patient_id or actor_id:
        events = audit.read_trail(ctx.caller, patient_id=patient_id or None, of_actor_id=actor_id or None)
    return ctx.render("admin_audit.html", errors={}, events=events, patient_id=patient_id, actor_id=actor_id)


# ---------------------------------------------------------------- results and comments

FILE_TYPES = {"application/pdf": ("PDF", "pdf"), "image/png": ("PNG image", "png"), "image/jpeg": ("JPEG image", "jpg"),
              "text/plain": ("Plain text", "txt")}


def _upload_page(ctx: PageCtx, patient_id: str, status: int = 200, **context):
    patient = accounts.patient_json(accounts.get_patient(patient_id))
    defaults = {"errors": {}, "values": ctx.form, "upload": None}
    merged = {**defaults, **context}
    upload = merged["upload"]
    form_origins = ()
    if upload:
        parts = urlsplit(upload["url"])
        form_origins = (f"{parts.scheme}://{parts.netloc}",)  # the browser posts the file straight to S3
    return ctx.render("staff_upload.html", status=status, form_origins=form_origins, patient=patient,
                      types=[(value, label) for value, (label, _) in FILE_TYPES.items()],
                      type_label=FILE_TYPES.get(merged["values"].get("content_type", ""), ("", ""))[0],
                      max_mb=get_settings().max_upload_bytes // (1024 * 1024), **merged)


@page(bp, "/staff/patients/{patient_id}/upload", ("GET", "POST"), access=STAFF)
def upload(ctx: PageCtx, patient_id: str):
    """Step 1 describes the document; step 2 is a form that posts the file to the presigned S3 POST."""
    if ctx.request.method == "GET":
        return _upload_page(ctx, patient_id, values={"content_type": "application/pdf"})
    extension = FILE_TYPES.get(ctx.form.get("content_type", ""), ("", "bin"))[1]
    ctx.form["filename"] = f"{ctx.form.get('title', '').strip() or 'document'}.{extension}"
    answer, problem = ctx.submit(
        "UploadBody", lambda body: uploads.upload_form(ctx.caller, patient_id, title=body.title, category=body.category,
                                                         provider=body.provider, comment=body.comment,
                                                         filename=body.filename, content_type=body.content_type,
                                                         received_path=f"/staff/patients/{quote(patient_id, safe='')}/uploaded"),
        lambda status, errors: _upload_page(ctx, patient_id, status, errors=errors))
    if problem:
        return problem
    return _upload_page(ctx, patient_id, upload=answer)


@page(bp, "/staff/patients/{patient_id}/uploaded", access=STAFF)
def upload_received(ctx: PageCtx, patient_id: str):
    """Where S3 sends the browser back after storing the file (its `success_action_redirect`)."""
    patient = accounts.patient_json(accounts.get_patient(patient_id))
    file_name = uploads.received_file_name(patient_id, ctx.query.get("key", ""))  # S3 adds bucket, key and ETag
    return ctx.render("staff_uploaded.html", patient=patient, file_name=file_name)


@page(bp, "/staff/documents/comment", ("POST",), access=STAFF)
def add_comment(ctx: PageCtx):
    patient_id = ctx.form.get("patient_id", "")
    _, problem = ctx.submit("CommentBody", lambda body: uploads.add_comment(ctx.caller, ctx.form.get("document_id", ""),
                                                                               body.text),
                            lambda status, errors: _patient_page(ctx, patient_id, status, comment_errors=errors))
    if problem:
        return problem
    return redirect(f"/staff/patients/{quote(patient_id, safe='')}?notice=comment-added")


# ---------------------------------------------------------------- messages

@page(bp, "/staff/inbox", access=STAFF)
def inbox(ctx: PageCtx):
    return ctx.render("staff_inbox.html", inbox=messaging.office_inbox(ctx.caller, messaging.paging(None, None)))


def _office_thread(ctx: PageCtx, thread_id: str, status: int = 200, errors: dict | None = None):
    thread = messaging.open_for_office(ctx.caller, thread_id, messaging.paging(None, None))
    return ctx.render("message_thread.html", status=status, thread=thread, errors=errors or {},
                      reply_body=ctx.form.get("body", ""), reply_action=f"/staff/messages/{thread['id']}",
                      back_href="/staff/inbox", back_label="Office inbox", office_view=True)


@page(bp, "/staff/messages/{thread_id}", ("GET", "POST"), access=STAFF)
def office_thread(ctx: PageCtx, thread_id: str):
    if ctx.request.method == "GET":
        return _office_thread(ctx, thread_id)
    _, problem = ctx.submit("ReplyBody", lambda body: messaging.reply_by_office(ctx.caller, thread_id, body.body),
                            lambda status, errors: _office_thread(ctx, thread_id, status, errors))
    if problem:
        return problem
    return redirect(f"/staff/messages/{thread_id}?notice=reply-sent")


@page(bp, "/staff/patients/{patient_id}/message", ("GET", "POST"), access=STAFF)
def message_patient(ctx: PageCtx, patient_id: str):
    patient = accounts.get_patient(patient_id)

    def compose(status: int = 200, errors: dict | None = None):
        return ctx.render("message_new.html", status=status, errors=errors or {}, values=ctx.form,
                          action=f"/staff/patients/{patient.id}/message", categories=categories(),
                          recipient=patient.name)

    if ctx.request.method == "GET":
        return compose()
    started, problem = ctx.submit(
        "OfficeThreadBody", lambda body: messaging.start_by_office(ctx.caller, patient.id, body.subject, body.body,
                                                                 body.category), compose)
    if problem:
        return problem
    return redirect(f"/staff/messages/{started['id']}?notice=message-sent")
