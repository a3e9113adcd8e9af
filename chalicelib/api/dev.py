"""Routes of the local stage only (`/dev/*`): never registered in a deployed stage."""

from datetime import datetime

from chalice import Blueprint

from chalicelib.api.answers import Letters, Outbox, Texts
from chalicelib.api.http import PUBLIC, Ctx, route
from chalicelib.clock import clock, parse_iso
from chalicelib.errors import BadRequest
from chalicelib.i18n import N_
from chalicelib.services.accounts import letters
from chalicelib.services.followup import sweep as followup
from chalicelib.services.followup.answers import SweepSummary

bp = Blueprint(__name__)


# The sweep runs as of a time in these years only: it reaches days before and after `now`, which a
# time at either end of the calendar cannot (year 9999 and one day is no date).
SWEEP_YEARS = range(2000, 3000)


def _moment(text: str | None) -> datetime:
    if text is None:
        return clock.now()
    try:
        moment = parse_iso(text)
    except ValueError:
        raise BadRequest(N_("Not an ISO 8601 time such as 2026-11-28T09:00:00Z."), field="now", code="invalid_request") from None
    if moment.year not in SWEEP_YEARS:
        raise BadRequest(N_("Must be a time between the years {first} and {last}."), field="now",
                         params={"first": SWEEP_YEARS[0], "last": SWEEP_YEARS[-1]}, code="invalid_request")
    return moment


@route(bp, "/dev/outbox", access=PUBLIC, response=Outbox, query="OutboxQuery")
def outbox(ctx: Ctx):
    """Every mail the local SES accepted, oldest first (`?to=`: only those to one address)."""
    from chalicelib.mail import outbox_reader  # parses MIME (the email package): only this route needs it

    return {"messages": outbox_reader.messages(ctx.query.get("to") or None)}


@route(bp, "/dev/texts", access=PUBLIC, response=Texts, query="OutboxQuery")
def texts(ctx: Ctx):
    """Every text message the local SNS accepted, oldest first (`?to=`: only those to one number)."""
    from chalicelib.mail import texts as text_messages

    return {"messages": text_messages.accepted(ctx.query.get("to") or None)}


@route(bp, "/dev/letters", access=PUBLIC, response=Letters)
def enrolment_letters(ctx: Ctx):
    """Every enrolment letter made, oldest first: its words, as printed."""
    return {"letters": letters.local_letters()}


@route(bp, "/dev/sweep", "POST", access=PUBLIC, response=SweepSummary, body="SweepBody")
def sweep(ctx: Ctx):
    """Run the scheduled follow-up sweep as of `now` (default: the portal's clock); its summary."""
    return followup.run_schedule(_moment(ctx.body.now))
