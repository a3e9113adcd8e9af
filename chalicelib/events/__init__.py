"""Event handlers: the upload publisher and password recovery (SQS), the follow-up sweep (schedule),
mail feedback (SNS)."""
