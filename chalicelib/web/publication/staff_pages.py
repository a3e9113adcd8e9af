"""The office's uploads, comments on documents, and quarantined uploads."""

from urllib.parse import quote, urlsplit

from chalice import Blueprint

from chalicelib.services.accounts import registry as accounts
from chalicelib.services.followup import sweep as followup
from chalicelib.services.publication import uploads
from chalicelib.settings import get_settings
from chalicelib.web.accounts.staff_pages import patient_record_page
from chalicelib.web.framework import STAFF, PageCtx, page

bp = Blueprint(__name__)


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
    return ctx.submit("PublishAgainBody",
                      lambda body: uploads.publish_again(ctx.caller, entry_id, body.mrn, body.note),
                      lambda status, errors: _quarantine_page(ctx, entry_id, status, publish_errors=errors),
                      done=lambda entry: f"/staff/quarantine/{quote(entry['id'], safe='')}")


@page(bp, "/staff/quarantine/{entry_id}/close", ("POST",), access=STAFF)
def close_quarantined(ctx: PageCtx, entry_id: str):
    uploads.quarantine_entry(entry_id)  # this page closes quarantined uploads only: 404 for other entries
    return ctx.submit("ResolveBody", lambda body: followup.resolve(ctx.caller, entry_id, body.note),
                      lambda status, errors: _quarantine_page(ctx, entry_id, status, close_errors=errors),
                      done=lambda entry: f"/staff/quarantine/{quote(entry['id'], safe='')}")


FILE_TYPES = {"application/pdf": ("PDF", "pdf"), "image/png": ("PNG image", "png"), "image/jpeg": ("JPEG image", "jpg"),
              "text/plain": ("Plain text", "txt")}


def _upload_page(ctx: PageCtx, patient_id: str, status: int = 200, **context):
    patient = accounts.patient_json(accounts.get_patient(patient_id))
    defaults = {"errors": {}, "values": ctx.form, "upload": None}
    merged = {**defaults, **context}
    upload = merged["upload"]
    form_origins: tuple[str, ...] = ()
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
    patient_id, document_id = ctx.required("patient_id", "document_id")
    return ctx.submit("CommentBody", lambda body: uploads.add_comment(ctx.caller, document_id, body.text),
                      lambda status, errors: patient_record_page(ctx, patient_id, status, comment_errors=errors),
                      done=f"/staff/patients/{quote(patient_id, safe='')}", notice="comment-added")
