"""SES bounces and complaints, from the configuration set's SNS topic."""

from chalice import Blueprint

from chalicelib.services import mail_feedback
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.on_sns_message(topic=get_settings().mail_feedback_topic, name="mail-feedback")
def on_mail_feedback(event):
    """A hard bounce or a complaint marks the address on file bad."""
    mail_feedback.handle(event.message)
