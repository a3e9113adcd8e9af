"""Routes for My Profile, the office's patients, admins' staff accounts and account lifecycle."""
