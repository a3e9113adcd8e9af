"""SES bounces and complaints, from the configuration set's SNS topic."""

from chalice import Blueprint

from chalicelib.observability import failures_logged
from chalicelib.services.followup import mail_feedback
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sns_message(topic=get_settings().mail_feedback_topic, name="mail-feedback")
def on_mail_feedback(event):
    """A hard bounce or a complaint marks the address on file bad."""
    with failures_logged("mail feedback failed", message_id=event.to_dict()["Records"][0]["Sns"].get("MessageId"),
                         outcome="retry"):
        mail_feedback.handle(event.message)
