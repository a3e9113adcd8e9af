"""Take-away records: a patient asks for a zip of everything the portal holds for them (built by
an SQS job), then fetches its short-lived link once it is ready."""

from chalice import Blueprint

from chalicelib.api.http import PATIENT, Ctx, route
from chalicelib.services.answers import Created
from chalicelib.services.records import exports
from chalicelib.services.records.answers import ExportStatus

bp = Blueprint(__name__)


@route(bp, "/api/me/exports", "POST", access=PATIENT, status=202, response=Created, responses={429: "rate_limited"})
def request_export(ctx: Ctx):
    """Queue the building of a zip of your records: every document's file, a FHIR R4 bundle and an
    index page; answers its id at once (patients only)."""
    return exports.request_export(ctx.caller)


@route(bp, "/api/me/exports/{export_id}", access=PATIENT, response=ExportStatus, responses={404: "not_found"})
def export_status(ctx: Ctx, export_id: str):
    """`pending` while the zip is built; then `ready` with a link valid for at most five minutes."""
    return exports.export_status(ctx.caller, export_id)
