"""The patient's documents: opening one (which writes the read receipt) and its file link."""

from chalice import Blueprint

from chalicelib.api.http import PATIENT, Ctx, route
from chalicelib.services import documents

bp = Blueprint(__name__)


@route(bp, "/api/documents/{document_id}", access=PATIENT, response="Document", responses={404: "not_found"})
def open_document(ctx: Ctx, document_id: str):
    """Title, category, provider, comments; the first open records the read receipt."""
    return documents.open_document(ctx.caller, document_id)


@route(bp, "/api/documents/{document_id}/file", access=PATIENT, response="FileLink", responses={404: "not_found"})
def document_file(ctx: Ctx, document_id: str):
    """A link to the file, valid for at most five minutes."""
    return documents.file_link(ctx.caller, document_id)
