"""One SQS job queue's handler shape, shared by the password recovery and take-away records jobs.

Each record is one job, run by the service's `handle(body)`. A failed job is logged (its message id
and the failure, never its body) and reported back (`batchItemFailures`): SQS delivers it again
and, after maxReceiveCount, keeps it in that queue's dead-letter queue; the batch's other jobs
stand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.observability import failures_logged

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse


def run_each(event: Any, handle: Callable[[str], Any], failure: str) -> PartialItemFailureResponse:
    """Run `handle` on every record's body; the answer names the records to deliver again."""
    # Imported here: the app's one Lambda bundle serves HTTP too, whose cold starts don't need it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def run(record):
        with failures_logged(failure, message_id=record.message_id, outcome="retry"):
            return handle(record.body)

    return process_partial_response(event=event.to_dict(), record_handler=run,
                                    processor=BatchProcessor(event_type=EventType.SQS), context=event.context)
