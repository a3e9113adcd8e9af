"""Pages for take-away records."""
