"""Pages for signing in, passwords, the second factor and My Profile."""
