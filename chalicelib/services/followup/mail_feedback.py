"""What SES tells us about our mails: a hard bounce or a complaint marks the address on file bad.

SES publishes through the configuration set to an SNS topic. Both of its formats are read: event
publishing (`eventType`) and identity notifications (`notificationType`). A soft (transient)
bounce changes nothing. A flagged account gets no more notices (its items escalate at the next
sweep), staff see it in their queue, and the patient is asked to update the address; changing
the email on file clears the flag.
"""

from __future__ import annotations

import json
from email.utils import parseaddr
from typing import Any

from chalicelib.clock import clock
from chalicelib.observability import logger, metrics
from chalicelib.services import audit
from chalicelib.store import accounts as account_store
from chalicelib.vocabulary import Role

HARD_BOUNCE = "hard_bounce"
COMPLAINT = "complaint"


def _parse(message: str | dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(message, dict):
        return message
    try:
        parsed = json.loads(message)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def bad_addresses(notification: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(reason, addresses) that the notification says are bad; (None, []) when it says none."""
    kind = notification.get("eventType") or notification.get("notificationType")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return None, []
        recipients, reason = bounce.get("bouncedRecipients") or [], HARD_BOUNCE
    elif kind == "Complaint":
        recipients, reason = (notification.get("complaint") or {}).get("complainedRecipients") or [], COMPLAINT
    else:
        return None, []
    addresses = [parseaddr(str(r.get("emailAddress", "")))[1] for r in recipients if isinstance(r, dict)]
    return reason, [a for a in addresses if a]


def handle(message: str | dict[str, Any]) -> dict[str, Any]:
    """Flag every account whose email on file is named as bad. Returns counts."""
    notification = _parse(message)
    if notification is None:
        logger.warning("mail feedback is not JSON; ignored")
        return {"flagged": 0, "ignored": "not_json"}
    reason, addresses = bad_addresses(notification)
    flagged = 0
    now = clock.now()
    for address in addresses:
        assert reason is not None  # a notification that names addresses names why
        for account in account_store.find_by_email(address):
            if account_store.mark_email_bad(account, reason, now):
                flagged += 1
                patient_id = account.id if account.role == Role.PATIENT else None
                audit.record("account.email_bad", actor_role="system", patient_id=patient_id, target_id=account.id,
                             detail={"reason": reason})
    if flagged:
        metrics.add_metric(name="EmailFlaggedBad", unit="Count", value=flagged)
    logger.info("mail feedback", extra={"reason": reason, "recipients": len(addresses), "flagged": flagged})
    return {"flagged": flagged, "reason": reason}
