"""Staff follow-up: the live read report, and closing follow-up entries of the work queue."""

from chalice import Blueprint

from chalicelib.api.http import STAFF, Ctx, route
from chalicelib.services.followup import digest, unread
from chalicelib.services.followup import sweep as followup
from chalicelib.services.followup.answers import FollowUpCalled, FollowUpReport, ResolvedEntry, UnreadItems
from chalicelib.services.publication import uploads
from chalicelib.services.publication.answers import PublishedAgain

bp = Blueprint(__name__)


@route(bp, "/api/staff/follow-up", access=STAFF, response=FollowUpReport)
def follow_up_report(ctx: Ctx):
    """The office digest's figures, live: read since the last digest, unread, escalated, bad addresses."""
    return digest.counts()


@route(bp, "/api/staff/unread", access=STAFF, response=UnreadItems)
def unread_items(ctx: Ctx):
    """Every released item its patient has not read, oldest first, with the notices sent."""
    return unread.unread_items(ctx.caller)


@route(bp, "/api/staff/queue/{entry_id}/resolve", "POST", access=STAFF, response=ResolvedEntry, body="ResolveBody",
       responses={404: "not_found", 409: "already_resolved"})
def resolve_entry(ctx: Ctx, entry_id: str):
    """Close a follow-up (the patient was called), a failed notice, or a quarantined upload without publishing it."""
    return followup.resolve(ctx.caller, entry_id, ctx.body.note)


@route(bp, "/api/staff/queue/{entry_id}/publish", "POST", access=STAFF, response=PublishedAgain, body="PublishAgainBody",
       responses={404: "not_found", 409: "already_resolved"})
def publish_again(ctx: Ctx, entry_id: str):
    """Send a quarantined upload back through the publisher (optionally under the right MRN)."""
    return uploads.publish_again(ctx.caller, entry_id, ctx.body.mrn, ctx.body.note)


@route(bp, "/api/staff/queue/follow-ups/{item_id}/called", "POST", access=STAFF, response=FollowUpCalled,
       body="CriticalCallBody", responses={404: "not_found"})
def follow_up_called(ctx: Ctx, item_id: str):
    """Mark called: the outcome (reached, left_message, no_answer, wrong_number) and a note close
    the item's follow-up; the patient's audit trail keeps the call."""
    return followup.record_call(ctx.caller, item_id, ctx.body.outcome, ctx.body.note)
