"""The follow-up sweep, on a schedule (hourly by default). "Now" is the scheduled event's time."""

from chalice import Blueprint, Rate

from chalicelib.clock import parse_iso
from chalicelib.services import followup

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.HOURS), name="follow-up-sweep")
def follow_up_sweep(event):
    """Re-notify unread items, escalate the ones past MAX_NOTICES, retry busy sends, send the digest."""
    return followup.run_schedule(parse_iso(event.time), remaining_ms=event.context.get_remaining_time_in_millis)
