"""Routes for signing in, the second factor and the public recovery forms."""
