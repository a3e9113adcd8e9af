"""The patient's list of items (documents and office messages), newest first."""

from chalice import Blueprint

from chalicelib.api.answers import Items
from chalicelib.api.http import PATIENT_RECORD, Ctx, route
from chalicelib.services.publication import items

bp = Blueprint(__name__)


@route(bp, "/api/items", access=PATIENT_RECORD, response=Items, query="PatientRecordQuery",
       with_session=items.LIST_READ, responses={404: "not_found"})
def list_items(ctx: Ctx):
    """Documents and office messages, newest first; unread ones have no read_at. A caregiver names
    the patient (`?patient_id=`)."""
    return {"items": items.list_for_patient(ctx.caller, ctx.with_session)}
