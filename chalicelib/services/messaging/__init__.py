"""Secure messages between patients (or their caregivers) and the office."""
