"""Event handlers: the upload publisher (SQS), the follow-up sweep (schedule), mail feedback (SNS)."""
