"""Admins: the privacy incidents (documents filed to the wrong patient, and who opened them)."""

from chalice import Blueprint

from chalicelib.api.http import ADMIN, Ctx, route
from chalicelib.services.publication import refile
from chalicelib.services.publication.answers import Incidents

bp = Blueprint(__name__)


@route(bp, "/api/admin/incidents", access=ADMIN, response=Incidents)
def incidents(ctx: Ctx):
    """Each misfiled document, newest first: from and to which patient, why, who refiled it and
    when, and everyone who opened it while it was misfiled."""
    return refile.incidents(ctx.caller)
