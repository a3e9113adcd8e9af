"""Public forms: forgot my username."""

from typing import Annotated

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.http import PUBLIC, Body, Ctx, Text, route
from chalicelib.api.models import DateOfBirth, EmailText, Name
from chalicelib.services import accounts

bp = Blueprint(__name__)


class ForgotUsernameBody(Body):
    name: Name
    date_of_birth: DateOfBirth
    email: EmailText | None = None
    phone: Annotated[Text, Field(max_length=40, pattern=r"^[0-9+()\-. ]*$")] | None = None
    note: Annotated[Text, Field(max_length=2000)] | None = None


@route(bp, "/api/forms/forgot-username", "POST", access=PUBLIC, body=ForgotUsernameBody, status=202)
def forgot_username(ctx: Ctx):
    """Ask the office for help signing in; the answer never says whether anything matched."""
    return {"message": accounts.forgot_username(ctx.caller, ctx.body.model_dump())}
