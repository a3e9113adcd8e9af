"""Providers: office accounts (role `provider`, an optional NPI, a second factor) that review lab
results, each routed to its ordering provider, and comment on them for the patient (see
docs/providers.md)."""
