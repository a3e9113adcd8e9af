"""The providers' pages."""
