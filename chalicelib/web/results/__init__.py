"""The pages of lab results."""
