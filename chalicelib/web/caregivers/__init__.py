"""Pages for caregivers."""
