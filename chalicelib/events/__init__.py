"""Event handlers: the upload publisher, password recovery and take-away records jobs (SQS; the
jobs share `jobs.run_each`), the follow-up sweep and the outbox sender (schedule), mail feedback
(SNS)."""
