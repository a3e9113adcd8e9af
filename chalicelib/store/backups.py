"""Every table's rows out and back in: the store's side of `portal backup` and `portal restore`.

Rows travel as DynamoDB JSON, exactly as the table holds them (no model in between, so a backup
made by one release restores under another, and `portal migrate` brings old rows up to date).
The files of a backup are written and read in `store/bucket.py`; the same functions start and
follow DynamoDB's own export to S3 (point-in-time, from the table's continuous backups), whose
data files hold the same lines as the portal's own backups.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import TTLAttribute

from chalicelib.settings import get_settings
from chalicelib.store.base import connection
from chalicelib.store.tables import all_models

_BATCH_WRITE = 25  # BatchWriteItem takes at most 25 rows


@dataclass(frozen=True)
class Table:
    """One table of this release: its name in this stage, and the attribute DynamoDB's time to
    live reads (None: its rows never expire)."""

    name: str
    ttl_attribute: str | None


def tables() -> dict[str, Table]:
    """Every table of this release, by its name without the stage's prefix (`accounts`, ...)."""
    prefix = get_settings().table_prefix + "-"
    found = {}
    for model in all_models():
        name = model.Meta.table_name
        ttl = next((attribute.attr_name for attribute in model.get_attributes().values()
                    if isinstance(attribute, TTLAttribute)), None)
        found[name[len(prefix):] if name.startswith(prefix) else name] = Table(name, ttl)
    return found


def expired(row: dict[str, Any], ttl_attribute: str | None, now: datetime) -> bool:
    """Whether DynamoDB's time to live has passed for the row (it deletes such rows on its own)."""
    value = row.get(ttl_attribute or "", {}).get("N") if ttl_attribute else None
    return value is not None and float(value) <= now.timestamp()


def holds_rows(table_name: str) -> bool:
    """Whether the table holds rows, as DynamoDB's table description counts them: no row is read.
    AWS refreshes that count about every six hours: a fresh stack's tables read 0, and a table in
    use for longer than that reads its rows (DynamoDB Local counts at once)."""
    return bool(connection().client.describe_table(TableName=table_name)["Table"].get("ItemCount"))


def write(table_name: str, rows: Iterable[dict[str, Any]]) -> int:
    """Put rows as they are, 25 to a BatchWriteItem; rows DynamoDB leaves unprocessed (throttling)
    are sent again, a little later each time. Returns how many were written."""
    client = connection().client
    batch: list[dict[str, Any]] = []
    written = 0
    for row in rows:
        batch.append({"PutRequest": {"Item": row}})
        if len(batch) == _BATCH_WRITE:
            written += _write_batch(client, table_name, batch)
            batch = []
    if batch:
        written += _write_batch(client, table_name, batch)
    return written


def _write_batch(client: Any, table_name: str, batch: list[dict[str, Any]]) -> int:
    pending: dict[str, Any] = {table_name: batch}
    attempt = 0
    while pending:
        if attempt:
            time.sleep(min(0.05 * 2**attempt, 2.0))
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        attempt += 1
    return len(batch)


def canonical(row: dict[str, Any]) -> str:
    """One row as one line of JSON, the same for the same row whatever order DynamoDB gave its
    attributes or set members in."""
    return json.dumps(_sorted_sets(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sorted_sets(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: sorted(inner) if key in ("SS", "NS", "BS") else _sorted_sets(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_sorted_sets(inner) for inner in value]
    return value


class Digest:
    """A fingerprint of a table's rows that does not depend on their order: the sum of each row's
    SHA-256 (of its canonical line), modulo 2^256. Two tables with the same rows have the same one."""

    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def add(self, row: dict[str, Any]) -> None:
        self.total = (self.total + int.from_bytes(hashlib.sha256(canonical(row).encode()).digest(), "big")) % 2**256
        self.rows += 1

    @property
    def hex(self) -> str:
        return f"{self.total:064x}"


# ---------------------------------------------------------------- DynamoDB's own export to S3

def start_export(table_name: str, bucket: str, prefix: str, kms_key: str | None = None,
                 at: datetime | None = None) -> str:
    """Start DynamoDB's export of the table as it is now, or as it was at `at` (any moment of the
    last 35 days: point-in-time recovery must be on, as the template sets it), into the bucket
    under `prefix`; returns the export's ARN."""
    client = connection().client
    arn = client.describe_table(TableName=table_name)["Table"]["TableArn"]
    options: dict[str, Any] = {"S3SseAlgorithm": "KMS", "S3SseKmsKeyId": kms_key} if kms_key else {"S3SseAlgorithm": "AES256"}
    if at is not None:
        options["ExportTime"] = at
    answer = client.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, S3Prefix=prefix,
                                                  ExportFormat="DYNAMODB_JSON", **options)
    export_arn: str = answer["ExportDescription"]["ExportArn"]
    return export_arn


def export_state(export_arn: str) -> tuple[str, int | None]:
    """(IN_PROGRESS, COMPLETED or FAILED; the rows it exported once completed)."""
    described = connection().client.describe_export(ExportArn=export_arn)["ExportDescription"]
    count = described.get("ItemCount")
    return str(described["ExportStatus"]), int(count) if count is not None else None


# ---------------------------------------------------------------- the stack's tables against the code's

def schema_gaps() -> list[str]:
    """What the code's tables need that the stack lacks: a table, or an index of one. Empty when
    this release's template (or the local stack) made them all."""
    client = connection().client
    gaps = []
    for model in all_models():
        name = model.Meta.table_name
        try:
            described = client.describe_table(TableName=name)["Table"]
        except client.exceptions.ResourceNotFoundException:
            gaps.append(f"table {name}")
            continue
        present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes") or []}
        wanted = {index.Meta.index_name for index in model._indexes.values()}
        gaps.extend(f"index {index} of {name}" for index in sorted(wanted - present))
    return gaps
