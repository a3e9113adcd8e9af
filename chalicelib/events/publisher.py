"""The upload publisher: S3 ObjectCreated under `incoming/` -> SQS -> here.

The handler hands the batch's messages to the publisher and reports the ones to try again
(`batchItemFailures`), so one bad message never fails the batch; SQS delivers the failed ones
again and, after maxReceiveCount, keeps them in the dead-letter queue. The publisher takes the
batch whole: the batch's patients are found together and its published uploads leave
`incoming/` together.
"""

from chalice import Blueprint

from chalicelib.observability import failures_logged
from chalicelib.services.publication import publisher
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=get_settings().publish_queue_name, batch_size=10, name="publish-uploads")
def publish_uploads(event):
    """Publish (or quarantine) every upload the batch names; report the messages to retry."""
    records = [record.to_dict() for record in event]
    # Published and quarantined uploads are logged by the service; a failure here is retried.
    with failures_logged("upload batch not published", messages=len(records), outcome="retry"):
        retry = publisher.publish_messages([record["body"] for record in records])
    return {"batchItemFailures": [{"itemIdentifier": records[position]["messageId"]} for position in retry]}
