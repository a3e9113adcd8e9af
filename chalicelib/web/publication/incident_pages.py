"""Admins' page of the privacy incidents: each document filed to the wrong patient, and who opened
it while it was misfiled."""

from chalice import Blueprint

from chalicelib.services.publication import refile
from chalicelib.web.framework import ADMIN, PageCtx, page

bp = Blueprint(__name__)


@page(bp, "/admin/incidents", access=ADMIN)
def incidents(ctx: PageCtx):
    incidents, patients = refile.incidents_named(ctx.caller)
    return ctx.render("admin_incidents.html", incidents=incidents, patients=patients)
