"""Follow-up: notices, the sweep, the office digest, the work queue and mail feedback."""
