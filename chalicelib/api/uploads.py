"""Office staff: upload a result for a patient, and add a provider comment to a document later."""

from typing import Annotated, Literal

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.http import STAFF, Body, Ctx, Text, route
from chalicelib.services import publication

bp = Blueprint(__name__)


class UploadBody(Body):
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    category: Annotated[Text, Field(min_length=1, max_length=100)]
    provider: Annotated[Text, Field(min_length=1, max_length=200)]
    comment: Annotated[Text, Field(max_length=4000)] | None = None
    filename: Annotated[Text, Field(min_length=1, max_length=255)]
    content_type: Literal["application/pdf", "image/png", "image/jpeg", "text/plain"]


class CommentBody(Body):
    text: Annotated[Text, Field(min_length=1, max_length=4000)]


@route(bp, "/api/staff/patients/{patient_id}/uploads", "POST", access=STAFF, body=UploadBody, status=201,
       responses={404: "not_found"})
def upload_form(ctx: Ctx, patient_id: str):
    """A presigned S3 POST into the results bucket, locked to this patient, type, metadata and size."""
    b = ctx.body
    return publication.upload_form(ctx.caller, patient_id, title=b.title, category=b.category, provider=b.provider,
                                   comment=b.comment, filename=b.filename, content_type=b.content_type)


@route(bp, "/api/staff/documents/{document_id}/comments", "POST", access=STAFF, body=CommentBody, status=201,
       responses={404: "not_found"})
def add_comment(ctx: Ctx, document_id: str):
    """Add a provider comment: the document is unread again and the patient is notified."""
    return publication.add_comment(ctx.caller, document_id, ctx.body.text)
