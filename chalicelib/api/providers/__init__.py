"""The JSON API of providers: their results to review and their reviews."""
