"""Routes for take-away records."""
