"""The SQS job handler shared by the password recovery and take-away records queues: each record's
body goes to the service; a failed job is logged by its message id (never its body) and handed
back for SQS to deliver again, while the batch's other jobs stand."""

from __future__ import annotations

import io
import json

from chalice.app import SQSEvent

from chalicelib.events import jobs
from chalicelib.observability import logger


class _Context:
    function_name = "password-recovery"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:password-recovery"
    aws_request_id = "request-1"


def _record(message_id: str, body: str) -> dict:
    return {"messageId": message_id, "receiptHandle": f"receipt-{message_id}", "body": body, "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:recovery", "awsRegion": "us-east-1"}


def test_a_failed_job_is_handed_back_logged_by_its_id_and_the_others_stand():
    # Given a batch of three jobs whose second fails, and the one logger writing to a buffer
    event = SQSEvent({"Records": [_record("m-1", '{"username": "ana"}'), _record("m-2", '{"username": "MRN 7734"}'),
                                  _record("m-3", '{"username": "bo"}')]}, _Context())
    ran = []

    def handle(body: str) -> str:
        ran.append(json.loads(body)["username"])
        if "7734" in body:
            raise RuntimeError("refused")
        return "ok"

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        # When the batch is run
        answer = jobs.run_each(event, handle, "recovery job failed")
    finally:
        logger.registered_handler.setStream(previous)

    # Then every job ran, and only the failed one is handed back for SQS to deliver again
    assert ran == ["ana", "MRN 7734", "bo"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    # And its failure is logged with its message id and the outcome, never the job's body
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    [failed] = [line for line in lines if line["message"] == "recovery job failed"]
    assert failed["message_id"] == "m-2" and failed["outcome"] == "retry" and failed["error_type"] == "RuntimeError"
    assert "7734" not in stream.getvalue()


def test_a_batch_that_all_succeeds_hands_nothing_back():
    # Given a batch of two jobs that both succeed
    event = SQSEvent({"Records": [_record("m-1", "{}"), _record("m-2", "{}")]}, _Context())

    # When it is run / Then nothing is handed back
    assert jobs.run_each(event, lambda body: "ok", "export job failed") == {"batchItemFailures": []}
