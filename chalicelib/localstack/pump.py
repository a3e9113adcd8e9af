"""Plays the part of Lambda's event sources on the local stack.

- SQS sources: polls each queue and hands the messages to the handler as an SQS event; deletes
  what succeeded (honouring `batchItemFailures`), leaves the rest for SQS to redeliver and, after
  the queue's maxReceiveCount, to move to its dead-letter queue.
- SNS sources: the stack subscribes a queue to the topic; its messages reach the handler as an
  SNS event.
- Schedules: the handler is called every LOCAL_SCHEDULE_SECONDS with a scheduled event whose
  `time` is the portal clock's now.

Tests call `drain()` to run everything that is waiting, synchronously.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass

from chalice.app import ScheduledEventConfig, SNSEventConfig, SQSEventConfig

from chalicelib.clock import clock, iso
from chalicelib.observability import logger

ACCOUNT = "123456789012"


@dataclass
class LocalContext:
    """Enough of Lambda's context object for Powertools and for deadline checks."""

    function_name: str
    timeout_ms: int = 60_000

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:local:{ACCOUNT}:function:{self.function_name}"
        self.function_version = "$LATEST"
        self._started = time.monotonic()

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self._started) * 1000))


def _handler(handler_string: str):
    module, _, name = handler_string.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _sources():
    from app import app

    return list(app.event_sources)


def _region() -> str:
    from chalicelib.settings import get_settings

    return get_settings().region


def _queue_url(name: str) -> str:
    from chalicelib import aws

    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def sns_pump_queue(topic: str) -> str:
    return f"{topic}-local-pump"


def subscribe_sns_pumps() -> None:
    """Give every SNS-driven handler a queue subscribed to its topic (local stack only)."""
    from chalicelib import aws

    sqs, sns = aws.client("sqs"), aws.client("sns")
    for source in _sources():
        if isinstance(source, SNSEventConfig):
            topic_arn = sns.create_topic(Name=source.topic)["TopicArn"]
            url = sqs.create_queue(QueueName=sns_pump_queue(source.topic))["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)


def _sqs_record(message: dict, queue: str) -> dict:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
            "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", str(int(time.time() * 1000))),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{_region()}:{ACCOUNT}:{queue}",
        "awsRegion": _region(),
    }


def _sns_record(message: dict, topic: str) -> dict:
    envelope = json.loads(message["Body"])
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"arn:aws:sns:{_region()}:{ACCOUNT}:{topic}:local",
        "Sns": {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope.get("MessageId", str(uuid.uuid4())),
            "TopicArn": envelope.get("TopicArn", f"arn:aws:sns:{_region()}:{ACCOUNT}:{topic}"),
            "Subject": envelope.get("Subject"),
            "Message": envelope.get("Message", message["Body"]),
            "Timestamp": envelope.get("Timestamp", iso(clock.now())),
            "MessageAttributes": envelope.get("MessageAttributes", {}),
        },
    }


def _pump_queue(queue: str, handler_string: str, batch_size: int, as_sns_topic: str | None = None) -> int:
    """Receive one batch and hand it over; returns how many messages it received."""
    from chalicelib import aws

    sqs = aws.client("sqs")
    url = _queue_url(queue)
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, max(1, batch_size)),
                                 AttributeNames=["All"], WaitTimeSeconds=0)
    messages = answer.get("Messages", [])
    if not messages:
        return 0
    handler = _handler(handler_string)
    if as_sns_topic:
        done = []
        for message in messages:
            try:
                handler({"Records": [_sns_record(message, as_sns_topic)]}, LocalContext(handler_string))
                done.append(message)
            except Exception:  # noqa: BLE001 - left on the queue for redelivery, as Lambda would
                logger.exception("local SNS handler failed")
    else:
        event = {"Records": [_sqs_record(m, queue) for m in messages]}
        try:
            result = handler(event, LocalContext(handler_string)) or {}
        except Exception:  # noqa: BLE001 - the whole batch is redelivered, as Lambda would
            logger.exception("local SQS handler failed")
            result = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
        failed = {f["itemIdentifier"] for f in (result.get("batchItemFailures") or [])} if isinstance(result, dict) else set()
        done = [m for m in messages if m["MessageId"] not in failed]
        for message in messages:
            if message["MessageId"] in failed:
                # Lambda lets a failed message come back after the queue's visibility timeout;
                # locally it comes back at once, so retries (and the DLQ) don't wait on a clock.
                _ignore_stale_receipt(lambda m=message: sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0))
    for message in done:
        _ignore_stale_receipt(lambda m=message: sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"]))
    return len(messages)


def _ignore_stale_receipt(call) -> None:
    """A message handled for longer than its visibility timeout was delivered again meanwhile and
    its old receipt no longer counts, as in SQS; the redelivery is handled (idempotently) instead."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("ReceiptHandleIsInvalid", "InvalidParameterValue"):
            raise


def scheduled_event(time_iso: str | None = None, rule: str = "local-schedule") -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time_iso or iso(clock.now()),
        "region": _region(),
        "resources": [f"arn:aws:events:{_region()}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def run_schedules(time_iso: str | None = None, *, only: str | None = None) -> list:
    """Call every scheduled handler once (or only the one named `only`), as of `time_iso` (default: now).
    Each runs even when another failed, as separate Lambda functions do; the first failure is raised after."""
    results, failure = [], None
    for source in _sources():
        if isinstance(source, ScheduledEventConfig) and only in (None, source.name):
            try:
                results.append(_handler(source.handler_string)(scheduled_event(time_iso, source.name),
                                                               LocalContext(source.handler_string)))
            except Exception as failed:  # noqa: BLE001 - raised below, once every schedule has run
                failure = failure or failed
    if failure is not None:
        raise failure
    return results


def drain(max_rounds: int = 50) -> int:
    """Hand every waiting SQS/SNS message to its handler until the queues are quiet."""
    total = 0
    for _ in range(max_rounds):
        moved = 0
        for source in _sources():
            if isinstance(source, SQSEventConfig) and source.queue:
                moved += _pump_queue(source.queue, source.handler_string, source.batch_size)
            elif isinstance(source, SNSEventConfig):
                moved += _pump_queue(sns_pump_queue(source.topic), source.handler_string, 1, as_sns_topic=source.topic)
        total += moved
        if not moved:
            break
    return total


def start_all(stop: threading.Event) -> list[threading.Thread]:
    """Background threads for `make run`: queues every half second, schedules every minute."""
    subscribe_sns_pumps()
    schedule_seconds = float(os.environ.get("LOCAL_SCHEDULE_SECONDS", "60"))

    def queues() -> None:
        while not stop.is_set():
            try:
                drain(max_rounds=5)
            except Exception:  # noqa: BLE001 - keep the local stack alive
                logger.exception("local pump failed")
            stop.wait(0.5)

    def schedules() -> None:
        while not stop.wait(schedule_seconds):
            try:
                run_schedules()
            except Exception:  # noqa: BLE001 - keep the local stack alive
                logger.exception("local schedule failed")

    threads = [threading.Thread(target=queues, name="local-queues", daemon=True),
               threading.Thread(target=schedules, name="local-schedules", daemon=True)]
    for thread in threads:
        thread.start()
    return threads
