"""Take-away records jobs, queued by the patient's request: SQS -> here.

One job per message (each builds a zip of every document the patient holds); a failed one is
reported back (`batchItemFailures`) for SQS to deliver again and, after maxReceiveCount, to keep
in the export dead-letter queue.
"""

from chalice import Blueprint

from chalicelib.events import jobs
from chalicelib.services.records import exports
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=get_settings().export_queue_name, batch_size=1, name="build-exports")
def build_exports(event):
    """Build the zip of every export job in the batch; report the ones to deliver again."""
    return jobs.run_each(event, exports.handle, "export job failed")
