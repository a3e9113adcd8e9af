"""Access: who the caller is, signing in, sessions, passwords, recovery, the second factor and rate limits."""
