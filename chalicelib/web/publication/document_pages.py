"""The office's page for one document: its patient, receipts, notices, comments and versions, and
what staff do with it (comment, retract with a reason, replace the file with a corrected one,
refile it to the right patient)."""

from urllib.parse import quote, urlsplit

from chalice import Blueprint

from chalicelib.i18n import N_
from chalicelib.services.publication import corrections, refile, uploads
from chalicelib.settings import get_settings
from chalicelib.web.framework import STAFF, PageCtx, page, redirect
from chalicelib.web.publication.staff_pages import FILE_TYPES

bp = Blueprint(__name__)


def _path(document_id: str, *rest: str) -> str:
    return "/".join([f"/staff/documents/{quote(document_id, safe='')}", *rest])


def _document_page(ctx: PageCtx, document_id: str, status: int = 200, **context):
    item = corrections.office_document(document_id)
    doc = corrections.staff_view(ctx.caller, item)
    defaults = {"comment_errors": {}, "retract_errors": {}, "replace_errors": {}, "refile_errors": {},
                "values": ctx.form, "upload": None}
    merged = {**defaults, **context}
    form_origins: tuple[str, ...] = ()
    if merged["upload"]:
        parts = urlsplit(merged["upload"]["url"])
        form_origins = (f"{parts.scheme}://{parts.netloc}",)  # the browser posts the file straight to S3
    return ctx.render("staff_document.html", status=status, form_origins=form_origins, doc=doc,
                      refiling=refile.refiling(item),
                      types=[(value, label) for value, (label, _) in FILE_TYPES.items()],
                      type_label=FILE_TYPES.get(merged["values"].get("content_type", ""), ("", ""))[0],
                      max_mb=get_settings().max_upload_bytes // (1024 * 1024), **merged)


@page(bp, "/staff/documents/{document_id}", access=STAFF)
def staff_document(ctx: PageCtx, document_id: str):
    return _document_page(ctx, document_id)


@page(bp, "/staff/documents/{document_id}/comment", ("POST",), access=STAFF)
def comment(ctx: PageCtx, document_id: str):
    return ctx.submit("CommentBody", lambda body: uploads.add_comment(ctx.caller, document_id, body.text),
                      lambda status, errors: _document_page(ctx, document_id, status, comment_errors=errors),
                      done=_path(document_id), notice="document-commented")


@page(bp, "/staff/documents/{document_id}/retract", ("POST",), access=STAFF)
def retract(ctx: PageCtx, document_id: str):
    return ctx.submit("RetractBody", lambda body: corrections.retract(ctx.caller, document_id, body.reason),
                      lambda status, errors: _document_page(ctx, document_id, status, retract_errors=errors),
                      done=_path(document_id), notice="document-retracted")


@page(bp, "/staff/documents/{document_id}/refile", ("POST",), access=STAFF)
def refile_document(ctx: PageCtx, document_id: str):
    """The right patient is named by their MRN or their portal id; one the portal does not know is
    marked next to the field (the API's 404)."""
    typed = ctx.form.get("patient_id", "")
    found = refile.patient_id_for(typed)
    if typed.strip() and found is None:
        errors = {"patient_id": N_("No patient with that MRN or id.")}
        if not ctx.form.get("reason", "").strip():
            errors["reason"] = N_("Say why the document is refiled.")
        return _document_page(ctx, document_id, 404, refile_errors=ctx.translated(errors))
    typed_values = dict(ctx.form)  # a refused form shows what was typed: the MRN, not the id it names
    if found is not None:
        ctx.form["patient_id"] = found
    return ctx.submit("RefileBody", lambda body: refile.refile(ctx.caller, document_id, body.patient_id, body.reason),
                      lambda status, errors: _document_page(ctx, document_id, status, refile_errors=errors,
                                                            values=typed_values),
                      done=lambda answer: _path(answer["id"]))  # the new document's page says where it came from


@page(bp, "/staff/documents/{document_id}/replace", ("POST",), access=STAFF)
def replace(ctx: PageCtx, document_id: str):
    """Step 1 names the corrected file's type (and a comment); step 2 posts the file to S3."""
    extension = FILE_TYPES.get(ctx.form.get("content_type", ""), ("", "bin"))[1]
    ctx.form["filename"] = f"corrected.{extension}"
    answer, problem = ctx.submit(
        "ReplaceBody", lambda body: uploads.replace_form(ctx.caller, document_id, filename=body.filename,
                                                         content_type=body.content_type, comment=body.comment,
                                                         received_path=_path(document_id, "replaced")),
        lambda status, errors: _document_page(ctx, document_id, status, replace_errors=errors))
    return problem or _document_page(ctx, document_id, upload=answer)


@page(bp, "/staff/documents/{document_id}/replaced", access=STAFF)
def replaced(ctx: PageCtx, document_id: str):
    """Where S3 sends the browser back after storing the corrected file."""
    return redirect(_path(document_id), notice="document-replaced")
