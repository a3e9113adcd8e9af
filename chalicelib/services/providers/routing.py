"""Which provider a result goes to: the one whose NPI the order names (OBR-16, else ORC-12,
component 1), else the one whose family and given names match the ordering provider's; a result
that matches no provider goes to every provider. Routed when the result is published (the review
entry records the route), so a provider's list reads only its own entries and every provider's;
a provider created later receives the results waiting for every provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.store import accounts as account_store
from chalicelib.store.accounts import Account
from chalicelib.vocabulary import Role


def providers() -> list[Account]:
    """Every enabled provider (one query on the staff shard of the name index)."""
    return [a for a in account_store.list_staff() if a.role == Role.PROVIDER and a.disabled_at is None]


def _named(provider: Account, family: str, given: str | None) -> bool:
    words = set(account_store.fold_words(provider.name))
    family_words = account_store.fold_words(family)
    given_words = account_store.fold_words(given or "")[:1]
    return bool(family_words) and set(family_words) <= words and set(given_words) <= words


def routed(order: Mapping[str, Any], among: list[Account]) -> tuple[list[Account], bool]:
    """(the providers this result goes to, whether it named them): by NPI, else by names, else
    every provider (False)."""
    npi = str(order.get("ordered_by_npi") or "").strip()
    if npi:
        by_npi = [p for p in among if p.npi and p.npi == npi]
        if by_npi:
            return by_npi, True
    family = str(order.get("ordered_by_family") or "").strip()
    if family:
        by_name = [p for p in among if _named(p, family, order.get("ordered_by_given"))]
        if by_name:
            return by_name, True
    return list(among), False
