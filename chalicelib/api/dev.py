"""Routes of the local stage only (`/dev/*`): never registered in a deployed stage."""

from chalice import Blueprint

from chalicelib.api.http import PUBLIC, Ctx, route
from chalicelib.mail import outbox_reader

bp = Blueprint(__name__)


@route(bp, "/dev/outbox", access=PUBLIC)
def outbox(ctx: Ctx):
    """Every mail the local SES accepted, oldest first."""
    return {"messages": outbox_reader.messages()}
