"""Password recovery jobs, queued by the forgot-password request: SQS -> here.

Each job is one record; a failed one is reported back (`batchItemFailures`) for SQS to deliver
again and, after maxReceiveCount, to keep in the recovery dead-letter queue.
"""

from chalice import Blueprint

from chalicelib.observability import failures_logged
from chalicelib.services import recovery
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=get_settings().recovery_queue_name, batch_size=10, name="password-recovery")
def recover_passwords(event):
    """Run every recovery job in the batch; report the ones to deliver again."""
    # Imported here: the app's one Lambda bundle serves HTTP too, whose cold starts don't need it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def recover(record):
        with failures_logged("recovery job failed", message_id=record.message_id, outcome="retry"):
            return recovery.handle(record.body)

    return process_partial_response(event=event.to_dict(), record_handler=recover,
                                    processor=BatchProcessor(event_type=EventType.SQS), context=event.context)
