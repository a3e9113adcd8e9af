"""Documents: the patient opens one (which writes the read receipt) and its file link; the office
sees one document whole, retracts it, or refiles it to the right patient."""

from chalice import Blueprint

from chalicelib.api.http import PATIENT_RECORD, STAFF, Ctx, route
from chalicelib.services.publication import corrections, documents, refile
from chalicelib.services.publication.answers import (
    Document,
    FileLink,
    Refiled,
    Retracted,
    RetractedDocument,
    StaffDocument,
)

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


@route(bp, "/api/staff/documents/{document_id}/refile", "POST", access=STAFF, body="RefileBody", response=Refiled,
       status=201, responses={400: "not_a_document or invalid_request", 404: "not_found", 409: "already_refiled"})
def refile_document(ctx: Ctx, document_id: str):
    """A document posted to the wrong patient: retracted from them (unless it was already) and filed,
    the same file, as a new document of the right patient, who is notified; recorded as a privacy
    incident. Asked again, it answers the same id and files nothing twice."""
    return refile.refile(ctx.caller, document_id, ctx.body.patient_id, ctx.body.reason)
