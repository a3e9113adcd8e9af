"""Every table of the portal, for the local stack and the infrastructure checks."""

from pynamodb.models import Model

from chalicelib.store import (  # noqa: F401
    accounts,
    audit,
    counters,
    exports,
    grants,
    idempotency,
    incidents,
    item_lists,
    items,
    messages,
    migrations,
    outbox,
    results,
    sessions,
    uploads,
    work,
)
from chalicelib.store.base import ALL_MODELS


def all_models() -> list[type[Model]]:
    return list(ALL_MODELS)


def create_all(wait: bool = True) -> None:
    """Create every table that does not exist yet (the local stack; AWS uses infra/)."""
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
