"""Routes for the office's follow-up report and work queue."""
