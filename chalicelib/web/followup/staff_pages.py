"""The office's home and its work queue: follow-ups, forms, quarantined uploads and bounced addresses."""


from chalice import Blueprint

from chalicelib.errors import PortalError
from chalicelib.services.followup import digest
from chalicelib.services.followup import sweep as followup
from chalicelib.services.followup import work_queue as queue
from chalicelib.web.framework import STAFF, FormErrors, PageCtx, page, redirect

bp = Blueprint(__name__)


@page(bp, "/staff", access=STAFF)
def staff_home(ctx: PageCtx):
    snapshot = queue.snapshot()
    counts = {"follow_ups": len(snapshot["follow_ups"]), "forms": len(snapshot["forms"]),
              "quarantine": len(snapshot["quarantine"]), "bad_emails": len(snapshot["bad_emails"])}
    return ctx.render("staff_home.html", counts=counts, report=digest.counts())


@page(bp, "/staff/queue", access=STAFF)
def work_queue(ctx: PageCtx):
    return ctx.render("staff_queue.html", queue=queue.snapshot())


@page(bp, "/staff/queue/forms/{form_id}/resolve", ("POST",), access=STAFF)
def resolve_form(ctx: PageCtx, form_id: str):
    try:
        body = ctx.validate("ResolveBody")
    except FormErrors as exc:
        raise PortalError(next(iter(exc.errors.values()))) from None
    queue.resolve(ctx.caller, form_id, body.note, kind="form")
    return redirect("/staff/queue#forms", notice="form-resolved")


@page(bp, "/staff/queue/{entry_id}/resolve", ("POST",), access=STAFF)
def resolve_follow_up(ctx: PageCtx, entry_id: str):
    """The patient was called (or a failed notice was dealt with): close the entry."""
    try:
        body = ctx.validate("ResolveBody")
    except FormErrors as exc:
        raise PortalError(next(iter(exc.errors.values()))) from None
    followup.resolve(ctx.caller, entry_id, body.note)
    return redirect("/staff/queue#follow-ups", notice="follow-up-resolved")
