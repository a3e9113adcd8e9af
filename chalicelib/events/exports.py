"""Take-away records jobs, queued by the patient's request: SQS -> here.

One job per message (each builds a zip of every document the patient holds); a failed one is
reported back (`batchItemFailures`) for SQS to deliver again and, after maxReceiveCount, to keep
in the export dead-letter queue.
"""

from chalice import Blueprint

from chalicelib.observability import failures_logged
from chalicelib.services import exports
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=get_settings().export_queue_name, batch_size=1, name="build-exports")
def build_exports(event):
    """Build the zip of every export job in the batch; report the ones to deliver again."""
    # Imported here: the app's one Lambda bundle serves HTTP too, whose cold starts don't need it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def build(record):
        with failures_logged("export job failed", message_id=record.message_id, outcome="retry"):
            return exports.handle(record.body)

    return process_partial_response(event=event.to_dict(), record_handler=build,
                                    processor=BatchProcessor(event_type=EventType.SQS), context=event.context)
