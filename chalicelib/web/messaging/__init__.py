"""Pages for secure messages."""
