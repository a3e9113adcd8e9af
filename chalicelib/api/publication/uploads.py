"""Office staff: upload a result for a patient, add a provider comment to a document later, and
replace a document's file with a corrected version."""

from chalice import Blueprint

from chalicelib.api.http import STAFF, Ctx, route
from chalicelib.services.publication import uploads
from chalicelib.services.publication.answers import Commented, UploadForm

bp = Blueprint(__name__)


@route(bp, "/api/staff/patients/{patient_id}/uploads", "POST", access=STAFF, response=UploadForm, body="UploadBody", status=201,
       responses={404: "not_found"})
def upload_form(ctx: Ctx, patient_id: str):
    """A presigned S3 POST into the results bucket, locked to this patient, type, metadata and size."""
    b = ctx.body
    return uploads.upload_form(ctx.caller, patient_id, title=b.title, category=b.category, provider=b.provider,
                                   comment=b.comment, filename=b.filename, content_type=b.content_type)


@route(bp, "/api/staff/documents/{document_id}/comments", "POST", access=STAFF, response=Commented, body="CommentBody",
       status=201,
       responses={404: "not_found", 409: "already_retracted"})
def add_comment(ctx: Ctx, document_id: str):
    """Add a provider comment: the document is unread again and the patient is notified."""
    return uploads.add_comment(ctx.caller, document_id, ctx.body.text)


@route(bp, "/api/staff/documents/{document_id}/replace", "POST", access=STAFF, response=UploadForm,
       body="ReplaceBody", status=201, responses={404: "not_found", 409: "already_retracted"})
def replace_form(ctx: Ctx, document_id: str):
    """A presigned S3 POST for a corrected file: once it lands and passes the publisher's checks, it
    is the document's next version, unread again, and the patient is notified."""
    b = ctx.body
    return uploads.replace_form(ctx.caller, document_id, filename=b.filename, content_type=b.content_type,
                                comment=b.comment)
