"""Public forms: forgot my username."""

from chalice import Blueprint

from chalicelib.api.answers import Message
from chalicelib.api.http import PUBLIC, Ctx, route
from chalicelib.services.access import recovery

bp = Blueprint(__name__)


@route(bp, "/api/forms/forgot-username", "POST", access=PUBLIC, response=Message, body="ForgotUsernameBody", status=202)
def forgot_username(ctx: Ctx):
    """Ask the office for help signing in; the answer never says whether anything matched."""
    return {"message": recovery.forgot_username(ctx.caller, ctx.body.model_dump())}
