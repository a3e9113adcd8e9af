"""Every table of the portal, for the local stack and the infrastructure checks."""

import time

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
from chalicelib.store.base import ALL_MODELS, connection


def all_models() -> list[type[Model]]:
    return list(ALL_MODELS)


def create_all(wait: bool = True) -> None:
    """Create every table that does not exist yet, and every index a table made by an earlier
    release lacks, as a deploy of this release's template would (the local stack; AWS uses infra/)."""
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
        else:
            _add_missing_indexes(model, wait)


def _add_missing_indexes(model: type[Model], wait: bool) -> None:
    client = connection().client
    name = model.Meta.table_name
    described = client.describe_table(TableName=name)["Table"]
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes") or []}
    schema = model._get_schema()
    for index in schema["global_secondary_indexes"]:
        if index["index_name"] in present:
            continue
        # DynamoDB creates one index per UpdateTable, and the next only once it is active.
        client.update_table(TableName=name, AttributeDefinitions=schema["attribute_definitions"],
                            GlobalSecondaryIndexUpdates=[{"Create": {
                                "IndexName": index["index_name"],
                                "KeySchema": sorted(index["key_schema"], key=lambda key: key["KeyType"] != "HASH"),
                                "Projection": index["projection"]}}])
        while wait and _index_status(name, index["index_name"]) != "ACTIVE":
            time.sleep(0.2)


def _index_status(table_name: str, index_name: str) -> str:
    described = connection().client.describe_table(TableName=table_name)["Table"]
    return next((str(i.get("IndexStatus")) for i in described.get("GlobalSecondaryIndexes") or []
                 if i["IndexName"] == index_name), "")
