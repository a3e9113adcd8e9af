"""The office's home and its work queue: follow-ups, forms, quarantined uploads and bounced addresses."""


from urllib.parse import urlencode

from chalice import Blueprint

from chalicelib.clock import clock, iso
from chalicelib.errors import PortalError
from chalicelib.services import paging
from chalicelib.services.accounts import chart_matches
from chalicelib.services.followup import digest, unread
from chalicelib.services.followup import sweep as followup
from chalicelib.services.followup import work_queue as queue
from chalicelib.web.framework import STAFF, FormErrors, PageCtx, page, redirect

bp = Blueprint(__name__)


@page(bp, "/staff", access=STAFF)
def staff_home(ctx: PageCtx):
    # The follow-up calls and bounced addresses are among the digest's figures: not counted twice.
    return ctx.render("staff_home.html", counts=queue.counts(("forms", "quarantine")), report=digest.counts())


@page(bp, "/staff/unread", access=STAFF)
def unread_items(ctx: PageCtx):
    """Every released, unread item, oldest first, with its days unread and the notices sent."""
    now = clock.now()
    shown = [{"item": u.item, "patient_name": u.patient_name, "published": iso(u.published_at),
              "days": u.days_unread(now)} for u in unread.listed(ctx.caller)]
    return ctx.render("staff_unread.html", unread=shown)


@page(bp, "/staff/queue", access=STAFF)
def work_queue(ctx: PageCtx):
    """A page of the queue: the oldest entries of each list (`?limit=`, 1..500), and a link to the
    next page while a list has more (`?cursor=`, the API's); each heading counts its whole list."""
    cursor = ctx.query.get("cursor") or None
    limit = paging.page_size(ctx.query.get("limit"), default=queue.QUEUE_PAGE, maximum=queue.QUEUE_PAGE_MAX)
    shown = queue.page(limit, cursor)
    more = f"/staff/queue?{urlencode({'cursor': shown['next_cursor'], 'limit': limit})}" if shown["next_cursor"] else None
    return ctx.render("staff_queue.html", queue=shown, counts=queue.counts(), continued=cursor is not None, more=more,
                      matches=_chart_matches(ctx, shown["forms"]))


def _chart_matches(ctx: PageCtx, forms: list) -> dict[str, list]:
    """Each forgot-username request's matching charts (name and date of birth), to link in one click."""
    found = {}
    for entry in forms:
        data = entry.get("data") or {}
        found[entry["id"]] = chart_matches.matching_charts(ctx.caller, str(data.get("name") or ""),
                                                           str(data.get("date_of_birth") or ""))
    return found


@page(bp, "/staff/queue/forms/{form_id}/link", ("POST",), access=STAFF)
def link_form(ctx: PageCtx, form_id: str):
    """Link a forgot-username request to the chart it is about."""
    chart_matches.link(ctx.caller, form_id, ctx.form.get("patient_id", "").strip())
    return redirect("/staff/queue#forms", notice="form-linked")


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
