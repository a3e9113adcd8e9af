"""Helpers for the load, fuzz and fault runs: accounts of their own, uploads, and the bookkeeping
that proves nothing was lost or sent twice. The checks read the tables directly (a test may scan;
the portal never does)."""

from __future__ import annotations

import secrets
import time
from collections import Counter

from chalicelib import aws
from chalicelib.localstack import pump
from chalicelib.services.followup.notices import ITEM_NOTICE
from chalicelib.settings import get_settings
from chalicelib.store import items as item_store
from chalicelib.store import outbox
from chalicelib.store import work as work_store
from chalicelib.store.audit import AuditEvent
from tests.support.http import Api
from tests.support.lifecycle import new_member

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
NOT_ALLOWED = b"\x00\x01\x02 an executable, not a result"
META = {"title": "Lipid panel", "category": "lab result", "provider": "Dr. Ines Varga"}


def own_staff(portal) -> Api:
    """A staff member of the caller's own (created by the admin), signed in with their own password."""
    from tests.conftest import ADMIN_PASSWORD

    admin = portal.live("admin", ADMIN_PASSWORD)
    return new_member(portal, admin, name="Office Member", prefix="staff").api  # enrolled at the first sign-in


def upload_key(mrn: str) -> str:
    return f"incoming/{mrn}/result-{secrets.token_hex(6)}.pdf"


def put_upload(key: str, body: bytes = PDF, metadata: dict[str, str] | None = None) -> None:
    """A direct put into the results bucket, as a lab system would."""
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=key, Body=body,
                                Metadata=META if metadata is None else metadata)


def drain_until_quiet(quiet_rounds: int = 3, pause: float = 1.0, limit_seconds: float = 60) -> None:
    """Drain the queues until several rounds in a row find nothing (a message taken by a pump that
    failed comes back only after the queue's visibility timeout)."""
    deadline, quiet = time.monotonic() + limit_seconds, 0
    while quiet < quiet_rounds and time.monotonic() < deadline:
        quiet = quiet + 1 if pump.drain() == 0 else 0
        time.sleep(pause)


def incoming_keys(among: set[str]) -> list[str]:
    """This run's uploads still waiting in `incoming/` (other tests may leave theirs on purpose)."""
    listed = aws.client("s3").list_objects_v2(Bucket=get_settings().results_bucket, Prefix="incoming/")
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"] in among]


def dead_letters() -> int:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().publish_dead_letter_queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                        "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def unaccounted_uploads(keys: set[str]) -> set[str]:
    """The keys that are neither a published document's source nor a quarantine entry."""
    published = {item.source["key"] for item in item_store.Item.scan(item_store.Item.source.exists())
                 if item.source and item.source.as_dict().get("key") in keys}
    quarantined = {entry.data.as_dict().get("key")
                   for entry in work_store.WorkEntry.scan(work_store.WorkEntry.kind == "quarantine") if entry.data}
    return keys - published - quarantined


def items_of(patient_ids: set[str]) -> list[item_store.Item]:
    return [item for patient_id in patient_ids for item in item_store.Item.by_patient.query(patient_id)]


def item_notices_of(patient_ids: set[str]) -> list[outbox.Notice]:
    return [n for n in outbox.Notice.scan(outbox.Notice.kind == ITEM_NOTICE) if n.account_id in patient_ids]


def notice_mails(portal) -> Counter:
    """Item notice mails in the local mailbox, per recipient (lower case)."""
    return Counter(m["to"].casefold() for m in portal.outbox() if m["kind"] == ITEM_NOTICE)


def audit_of(patient_id: str) -> list[AuditEvent]:
    return list(AuditEvent.by_patient.query(patient_id))


def notice_numbers_are_whole(notices: list[outbox.Notice]) -> list[str]:
    """Problems with the rows of each item's round: every round's notices numbered 1..n, none missing."""
    rounds: dict[tuple[str, str], list[int]] = {}
    for notice in notices:
        item_id, round_, number = notice.id.rsplit("#", 2)
        rounds.setdefault((item_id, round_), []).append(int(number))
    return [f"{item} round {round_}: notices {sorted(numbers)}" for (item, round_), numbers in rounds.items()
            if sorted(numbers) != list(range(1, len(numbers) + 1))]
