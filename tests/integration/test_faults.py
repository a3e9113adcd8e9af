"""Publication and notices while AWS misbehaves: SES refuses 30% of sends (throttling or a 5xx) and
DynamoDB refuses 10% of writes with `ProvisionedThroughputExceededException`, injected in-process
where every botocore call passes (`BaseClient._make_api_call`, as `chalicelib.localstack.calls`
records them), so the portal sees each fault as it would after botocore gave up retrying.

A batch of uploads is published, and then, as an operator and the schedule would, the queues are
drained, dead letters are replayed and the sweep (which retries the outbox) runs with the clock
moved past each backoff, until everything is quiet. Then nothing is lost (every upload published
or quarantined, every outbox row sent) and nothing was sent twice (one mail per sent row). The
faults come from a seeded generator, so a run can be replayed (`PORTAL_FAULT_SEED`).
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.clock import iso
from chalicelib.localstack import pump
from chalicelib.services import operations
from chalicelib.settings import get_settings
from tests.support.http import unique_mrn
from tests.support.load import (
    NOT_ALLOWED,
    dead_letters,
    drain_until_quiet,
    incoming_keys,
    item_notices_of,
    notice_mails,
    notice_numbers_are_whole,
    own_staff,
    put_upload,
    unaccounted_uploads,
    upload_key,
)

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("PORTAL_FAULT_SEED", "4242"))
SES_FAULT_RATE, DYNAMODB_FAULT_RATE = 0.3, 0.1
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
SES_FAULTS = (("Throttling", 400), ("ServiceUnavailable", 503), ("InternalFailure", 500))
MAX_ROUNDS = 30


class Faults:
    """While installed, refuses a seeded share of SES sends and DynamoDB writes before they happen."""

    def __init__(self, seed: int):
        self.rng, self.lock = random.Random(seed), threading.Lock()
        self.injected, self.passed = Counter(), Counter()
        self._original = None

    def _fault(self, service: str, operation: str) -> tuple[str, int] | None:
        with self.lock:
            if service == "email" and operation == "SendEmail" and self.rng.random() < SES_FAULT_RATE:
                return self.rng.choice(SES_FAULTS)
            if service == "dynamodb" and operation in DYNAMODB_WRITES and self.rng.random() < DYNAMODB_FAULT_RATE:
                return "ProvisionedThroughputExceededException", 400
        return None

    def __enter__(self) -> Faults:
        original = self._original = BaseClient._make_api_call
        faults = self

        def call(client, operation_name, api_params):
            fault = faults._fault(client.meta.service_model.endpoint_prefix, operation_name)
            if fault is not None:
                code, status = fault
                faults.injected[f"{operation_name}:{code}"] += 1
                raise ClientError({"Error": {"Code": code, "Message": "injected fault"},
                                   "ResponseMetadata": {"HTTPStatusCode": status}}, operation_name)
            faults.passed[operation_name] += 1
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = call
        return self

    def __exit__(self, *exc) -> None:
        BaseClient._make_api_call = self._original


@pytest.fixture
def short_publisher_timeout(monkeypatch):
    """The publisher's Lambda timeout as 3 s instead of 60: a failed attempt's in-progress
    idempotency record (kept when deleting it failed too) expires within the test, as it would
    before the production queue's visibility timeout brings the message back."""

    class LocalContext(pump.LocalContext):
        def __post_init__(self) -> None:
            super().__post_init__()
            if "publisher" in self.function_name:
                self.timeout_ms = 3_000

    monkeypatch.setattr(pump, "LocalContext", LocalContext)


def dead_letters_about(keys: set[str]) -> int:
    """Dead letters naming this run's uploads (the queue is shared with the rest of the suite, so a
    message another test left there must not hold this run up, nor pass for one of its own)."""
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().publish_dead_letter_queue_name)["QueueUrl"]
    bodies = {}
    for _ in range(5):  # a peek: what is received stays visible (VisibilityTimeout 0)
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           VisibilityTimeout=0).get("Messages", []):
            bodies[message["MessageId"]] = message["Body"]
    return sum(1 for body in bodies.values() if any(key in body for key in keys))  # the keys need no URL-encoding


def until_quiet(clock, keys: set[str], patient_ids: set[str]) -> int:
    """Drain, replay dead letters, run the schedule past every backoff; the rounds it took."""
    for round_ in range(1, MAX_ROUNDS + 1):
        drain_until_quiet(quiet_rounds=2, pause=1.5)
        operations.replay_dead_letters()
        clock.advance(timedelta(hours=3))  # past the longest backoff and every send lease
        try:
            pump.run_schedules(iso(clock.now()))
        except ClientError:
            pass  # a failed scheduled run, as Lambda would report it: the next run carries on
        except Exception as failed:  # noqa: BLE001 - PynamoDB wraps the ClientError
            if not isinstance(getattr(failed, "cause", None), ClientError):
                raise
        waiting = [n for n in item_notices_of(patient_ids) if n.status != "sent"]
        if not waiting and not incoming_keys(keys) and not unaccounted_uploads(keys) and not dead_letters_about(keys):
            return round_
    raise AssertionError(f"still busy after {MAX_ROUNDS} rounds: uploads unaccounted {unaccounted_uploads(keys)}, "
                         f"in incoming/ {incoming_keys(keys)}, dead letters {dead_letters_about(keys)} of ours "
                         f"({dead_letters()} in all), notices not sent {[(n.id, n.status, n.attempts) for n in waiting]}")


def test_uploads_and_notices_survive_ses_and_dynamodb_faults(portal, clock, short_publisher_timeout):
    # Given patients (some never signed in, so their notices also carry a fresh temporary password)
    staff = own_staff(portal)
    patients = [portal.new_patient(staff) for _ in range(4)] + [portal.register_patient(staff) for _ in range(4)]
    patient_ids = {p.id for p in patients}
    mails_before = notice_mails(portal)
    # And a batch of uploads for them, some of which can only be quarantined
    keys = set()
    rng = random.Random(SEED)
    for n in range(48):
        patient = patients[n % len(patients)]
        key = upload_key(unique_mrn() if n % 12 == 5 else patient.mrn)
        keys.add(key)
        put_upload(key, body=NOT_ALLOWED if n % 12 == 7 else b"%PDF-1.5\n" + rng.randbytes(64))

    # When they are published while SES and DynamoDB fail, and the portal is run until quiet
    with Faults(SEED) as faults:
        rounds = until_quiet(clock, keys, patient_ids)

    # Then faults really happened, on both services
    assert sum(n for op, n in faults.injected.items() if op.startswith("SendEmail")) >= 5, faults.injected
    assert sum(n for op, n in faults.injected.items() if not op.startswith("SendEmail")) >= 5, faults.injected
    # And nothing was lost: every upload is a document or a quarantine entry, nothing waits or is dead
    assert not unaccounted_uploads(keys), f"after {rounds} rounds"
    assert not incoming_keys(keys) and dead_letters_about(keys) == 0
    # And every notice was sent, exactly once: one mail per sent outbox row, numbered without gaps
    notices = item_notices_of(patient_ids)
    assert len(notices) >= 40 - 8
    assert not [n.id for n in notices if n.status != "sent"]
    assert not notice_numbers_are_whole(notices)
    mails = notice_mails(portal)
    sent_rows = Counter(n.account_id for n in notices)
    for patient in patients:
        email = patient.email.casefold()
        assert mails[email] - mails_before[email] == sent_rows[patient.id], patient.email
