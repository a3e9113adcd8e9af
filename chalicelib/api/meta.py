"""Health, the OpenAPI document, and the 404 answer for every path no route claims."""

from chalice import Blueprint

from chalicelib.api.answers import Health, OpenApiDocument
from chalicelib.api.http import PUBLIC, Ctx, route
from chalicelib.errors import NotFound
from chalicelib.i18n import N_

bp = Blueprint(__name__)


@route(bp, "/api/health", access=PUBLIC, response=Health)
def health(ctx: Ctx):
    """Liveness."""
    return {"status": "ok"}


@route(bp, "/api/openapi.json", access=PUBLIC, response=OpenApiDocument)
def openapi_document(ctx: Ctx):
    """This document."""
    from chalicelib.api import openapi  # built from pydantic models: loaded when first asked for

    return openapi.document()


# API Gateway and `chalice local` answer unknown paths with 403 "Missing Authentication Token";
# these catch-alls (tried after every concrete route) make them the contract's 404 instead.
_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
CATCH_ALL_DEPTH = 7


def _not_found(**_):
    raise NotFound(N_("No such page or API route."))


def register_catch_all(app) -> None:
    path = ""
    for depth in range(1, CATCH_ALL_DEPTH + 1):
        path += f"/{{p{depth}}}"
        app.route(path, methods=_ALL_METHODS, content_types=["*/*"], name=f"not_found_{depth}")(_not_found)
