"""Looking after the data over the years: versioned data migrations after an upgrade, and backups
of every table with their restore into a fresh stack (run from the `portal` command line)."""
