"""Pages for the office's patients, staff accounts and account lifecycle."""
