"""Accounts: registration, profiles, lifecycle, patient import, email addresses and phone numbers."""
