"""Documents: the patient opens one (which writes the read receipt) and its file link; the office
sees one document whole and retracts it."""

from chalice import Blueprint

from chalicelib.api.http import PATIENT_RECORD, STAFF, Ctx, route
from chalicelib.services.publication import corrections, documents
from chalicelib.services.publication.answers import Document, FileLink, Retracted, RetractedDocument, StaffDocument

bp = Blueprint(__name__)


@route(bp, "/api/documents/{document_id}", access=PATIENT_RECORD, response=Document | RetractedDocument,
       query="PatientRecordQuery", responses={404: "not_found"})
def open_document(ctx: Ctx, document_id: str):
    """Title, category, provider, comments; the first open records the read receipt. A retracted
    document answers only its id, status, neutral title and when it was retracted."""
    return documents.open_document(ctx.caller, document_id)


@route(bp, "/api/documents/{document_id}/file", access=PATIENT_RECORD, response=FileLink, query="PatientRecordQuery",
       responses={404: "not_found", 410: "retracted"})
def document_file(ctx: Ctx, document_id: str):
    """A link to the file (named after the document's title), valid for at most five minutes."""
    return documents.file_link(ctx.caller, document_id)


@route(bp, "/api/staff/documents/{document_id}", access=STAFF, response=StaffDocument, responses={404: "not_found"})
def staff_document(ctx: Ctx, document_id: str):
    """One document for the office: patient, status, version, receipts, notices, comments, versions."""
    return corrections.staff_document(ctx.caller, document_id)


@route(bp, "/api/staff/documents/{document_id}/retract", "POST", access=STAFF, body="RetractBody",
       response=Retracted, responses={404: "not_found", 409: "already_retracted"})
def retract_document(ctx: Ctx, document_id: str):
    """Take a document back from its patient, with a reason; 409 when it was retracted already."""
    return corrections.retract(ctx.caller, document_id, ctx.body.reason)
