"""Pages for the office's home and work queue."""
