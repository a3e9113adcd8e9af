"""Routes for caregivers' grants."""
