"""The lab intake: S3 ObjectCreated under `lab/` -> the lab queue -> here.

The handler hands the batch's messages to the intake and reports the ones to try again
(`batchItemFailures`), so one file that fails in passing never fails the batch; a file's own
problems are quarantined by the intake, never retried into the dead-letter queue.
"""

from chalice import Blueprint

from chalicelib.observability import failures_logged
from chalicelib.services.results import intake
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=get_settings().lab_queue_name, batch_size=10, name="lab-results")
def lab_results(event):
    """Publish (or quarantine) every report the batch's lab files hold; report the messages to retry."""
    records = [record.to_dict() for record in event]
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    with failures_logged("lab batch not read", messages=len(records), outcome="retry"):
        retry = intake.handle([record["body"] for record in records], remaining)
    return {"batchItemFailures": [{"itemIdentifier": records[position]["messageId"]} for position in retry]}
