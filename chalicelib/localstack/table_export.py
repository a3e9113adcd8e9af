"""DynamoDB's export to S3, played by the local runner: DynamoDB Local has no point-in-time export,
so on the local stage `portal backup` reads each table's rows here, a page at a time, in the
export's own DynamoDB JSON. Deployed stages never come here: their backups are DynamoDB's export
(`portal backup` asks for it on every stage but local), which reads no row through the portal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.store.base import connection


def rows(table_name: str, page_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """The table's rows as DynamoDB holds them, a page at a time (consistent reads)."""
    client = connection().client
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True, "Limit": page_size}
        if start:
            params["ExclusiveStartKey"] = start
        answer = client.scan(**params)
        yield answer.get("Items", [])
        start = answer.get("LastEvaluatedKey")
        if not start:
            return
