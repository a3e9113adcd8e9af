"""The portal's administrator command line (`portal`, or `python -m portal_cli`)."""
