"""The behaviour of the portal. Handlers call one function here; stores do the table work."""
