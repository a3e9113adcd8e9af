"""The upload publisher: S3 ObjectCreated under `incoming/` -> SQS -> here.

Powertools' BatchProcessor reports each failed message back (`batchItemFailures`), so one bad
message never fails the batch; SQS delivers the failed ones again and, after maxReceiveCount,
keeps them in the dead-letter queue. The Powertools idempotency is called inside the handler
(its decorators cannot sit on a Chalice event handler).
"""

from chalice import Blueprint

from chalicelib.services import publication
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=get_settings().publish_queue_name, batch_size=10, name="publish-uploads")
def publish_uploads(event):
    """Publish (or quarantine) every upload the batch names; report the messages to retry."""
    context = event.context

    def publish_record(record):
        return publication.publish_message(record.body, context)

    # Imported here: the app's one Lambda bundle serves HTTP too, whose cold starts don't need it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    return process_partial_response(event=event.to_dict(), record_handler=publish_record,
                                    processor=BatchProcessor(event_type=EventType.SQS),
                                    context=context)
