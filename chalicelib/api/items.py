"""The patient's list of items (documents and office messages), newest first."""

from chalice import Blueprint

from chalicelib.api.http import PATIENT, Ctx, route
from chalicelib.services import items

bp = Blueprint(__name__)


@route(bp, "/api/items", access=PATIENT, response="Items", with_session=items.LIST_READ)
def list_items(ctx: Ctx):
    """Documents and office messages, newest first; unread ones have no read_at."""
    return {"items": items.list_for_patient(ctx.principal, ctx.with_session)}
