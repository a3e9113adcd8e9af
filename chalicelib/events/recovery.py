"""Password recovery jobs, queued by the forgot-password request: SQS -> here.

Each job is one record; a failed one is reported back (`batchItemFailures`) for SQS to deliver
again and, after maxReceiveCount, to keep in the recovery dead-letter queue.
"""

from chalice import Blueprint

from chalicelib.events import jobs
from chalicelib.services.access import recovery
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=get_settings().recovery_queue_name, batch_size=10, name="password-recovery")
def recover_passwords(event):
    """Run every recovery job in the batch; report the ones to deliver again."""
    return jobs.run_each(event, recovery.handle, "recovery job failed")
