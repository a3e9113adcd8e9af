"""The JSON API of lab results."""
