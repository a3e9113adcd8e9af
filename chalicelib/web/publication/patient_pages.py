"""The patient's documents."""

from chalice import Blueprint

from chalicelib.services.publication import documents
from chalicelib.web.framework import PATIENT, PageCtx, page, redirect

bp = Blueprint(__name__)


@page(bp, "/documents/{document_id}", access=PATIENT)
def document(ctx: PageCtx, document_id: str):
    return ctx.render("document.html", doc=documents.open_document(ctx.caller, document_id))


@page(bp, "/documents/{document_id}/file", access=PATIENT)
def document_file(ctx: PageCtx, document_id: str):
    """Straight to the short-lived link; it is made at the moment of the click."""
    return redirect(documents.file_link(ctx.caller, document_id)["url"])
