"""The schedules: the follow-up sweep (hourly; "now" is the scheduled event's time), and the
outbox sender every few minutes, so the office's new-message alert goes out soon after its window
ends and a notice that SES turned down is retried without waiting for the next sweep."""

from chalice import Blueprint, Rate

from chalicelib.clock import parse_iso
from chalicelib.observability import failures_logged, heartbeat
from chalicelib.services.followup import sweep as followup

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.HOURS), name="follow-up-sweep")
def follow_up_sweep(event):
    """Re-notify unread items, escalate the ones past MAX_NOTICES, retry busy sends, send the digest."""
    with failures_logged("follow-up sweep failed", scheduled_at=event.time):
        # Its summary is logged by the service, as `follow-up sweep`.
        summary = followup.run_schedule(parse_iso(event.time), remaining_ms=event.context.get_remaining_time_in_millis)
    heartbeat("follow-up-sweep")  # a run that raised sends none: its alarm sees runs that finish
    return summary


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="outbox-sender")
def outbox_sender(event):
    """Send what the outbox has due (the sweep does the same; claims keep every notice to one send)."""
    with failures_logged("outbox sender failed", scheduled_at=event.time):
        sent = followup.send_due(remaining_ms=event.context.get_remaining_time_in_millis)
    heartbeat("outbox-sender")
    return sent
