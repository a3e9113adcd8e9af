"""Backups of every table to the results bucket, and their restore into a fresh stack.

A backup is `backups/<id>/` in the bucket:

- `manifest.json`: when, which stage, and for each table its name, how many rows, the data files
  and a digest of the rows (order-independent: see `store.backups.Digest`);
- `<table>/data/part-NNNNN.json.gz`: the rows, one `{"Item": <DynamoDB JSON>}` a line, which is
  also the layout of DynamoDB's own export to S3. With `aws_export`, DynamoDB writes the data
  itself (point-in-time, from the continuous backups the template turns on) under
  `<table>/AWSDynamoDB/<export id>/data/`, and the manifest holds each export's ARN.

A restore goes into a stack whose tables are all empty (a new deployment of the template): it
refuses any other, so it can never mix two clinics' rows or overwrite what is there. It writes
every row as it was, then reads each table back and compares its digest (or, for DynamoDB's
export, its row count) with the backup's. With `files_from`, it also copies the files the rows
point at from the old stack's bucket (`FILE_PREFIXES`).

Backups hold every patient's records: they stay in the portal's own encrypted bucket, and
making or restoring one is audited.
"""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.observability import logger
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.settings import get_settings
from chalicelib.store import backups as store
from chalicelib.store import bucket as bucket_store

BACKUPS = "backups/"
FORMAT = "portal-backup/1"
ROWS_PER_FILE = 10_000
# What the rows point at in the bucket: the filed documents (and their versions), quarantined
# uploads, take-away records not yet expired and enrolment letters.
FILE_PREFIXES = ("documents/", "quarantine/", "exports/", "letters/")

Progress = Callable[[str], None]


class BackupProblem(Exception):
    """A backup cannot be made, read or restored as asked; `message` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class TableRestored:
    """One table restored: the rows written, the rows left out because their time to live had
    passed (DynamoDB would delete them), and whether the table now holds exactly the rows
    written and the backup's files exactly the rows it was made with."""

    table: str
    rows: int
    verified: bool
    expired: int = 0
    problem: str | None = None


@dataclass
class Restored:
    backup_id: str
    tables: list[TableRestored] = field(default_factory=list)
    files: int = 0

    @property
    def verified(self) -> bool:
        return all(table.verified for table in self.tables)

    def as_json(self) -> dict[str, Any]:
        return {"backup": self.backup_id, "verified": self.verified, "files": self.files,
                "tables": {t.table: {"rows": t.rows, "expired": t.expired, "verified": t.verified}
                           for t in self.tables}}


def _prefix(backup_id: str) -> str:
    return f"{BACKUPS}{backup_id}/"


def new_backup_id() -> str:
    return clock.now().strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def _lines(rows: list[dict[str, Any]]) -> bytes:
    return gzip.compress("".join(json.dumps({"Item": row}, ensure_ascii=False) + "\n" for row in rows).encode(),
                         mtime=0)


# Reads a table's rows a page at a time: the local runner's stand-in for DynamoDB's export, which
# DynamoDB Local lacks (chalicelib/localstack/table_export.py); deployed stages use the export.
TableReader = Callable[[str], Iterable[list[dict[str, Any]]]]


def backup(caller: Caller, *, aws_export: bool = False, kms_key: str | None = None, at: datetime | None = None,
           progress: Progress | None = None, read_table: TableReader | None = None) -> dict[str, Any]:
    """Back up every table into the stage's results bucket; returns the manifest (its `id` names
    the backup). With `aws_export`, DynamoDB's point-in-time export writes the data, of the tables
    as they are or as they were `at` a moment of the last 35 days (AWS only: it runs on for
    minutes after this returns; `export_states` follows it)."""
    if at is not None and not aws_export:
        raise BackupProblem("a backup of an earlier moment is DynamoDB's point-in-time export: add --aws-export")
    if not aws_export and read_table is None:
        raise BackupProblem("a deployed stage's backup is DynamoDB's point-in-time export: add --aws-export")
    settings = get_settings()
    bucket, backup_id = settings.results_bucket, new_backup_id()
    manifest: dict[str, Any] = {"format": FORMAT, "id": backup_id, "created_at": iso(clock.now()),
                                "stage": settings.stage, "table_prefix": settings.table_prefix,
                                "kind": "aws_export" if aws_export else "scan", "tables": {}}
    if at is not None:
        manifest["as_of"] = iso(at)
    total = 0
    for suffix, table in sorted(store.tables().items()):
        table_name = table.name
        prefix = f"{_prefix(backup_id)}{suffix}/"
        if aws_export:
            arn = store.start_export(table_name, bucket, prefix.rstrip("/"), kms_key, at)
            manifest["tables"][suffix] = {"table": table_name, "export_arn": arn}
            if progress:
                progress(f"{suffix}: export started ({arn})")
            continue
        digest, files, chunk = store.Digest(), list[str](), list[dict[str, Any]]()
        assert read_table is not None  # checked above: a backup of rows read by the portal
        for page in read_table(table_name):
            for row in page:
                digest.add(row)
                chunk.append(row)
                if len(chunk) == ROWS_PER_FILE:
                    files.append(_put_part(bucket, prefix, len(files), chunk))
                    chunk = []
        if chunk or not files:
            files.append(_put_part(bucket, prefix, len(files), chunk))
        manifest["tables"][suffix] = {"table": table_name, "rows": digest.rows, "digest": digest.hex, "files": files}
        total += digest.rows
        if progress:
            progress(f"{suffix}: {digest.rows} row(s)")
    bucket_store.put_bytes(bucket, f"{_prefix(backup_id)}manifest.json",
                           json.dumps(manifest, indent=2).encode(), "application/json")
    logger.info("backup made", extra={"backup": backup_id, "kind": manifest["kind"], "rows": total,
                                      "tables": len(manifest["tables"])})
    audit.record_for(caller, "maintenance.backup", target_id=backup_id,
                     detail={"kind": manifest["kind"], "tables": len(manifest["tables"]), "rows": total})
    return manifest


def _put_part(bucket: str, prefix: str, number: int, rows: list[dict[str, Any]]) -> str:
    key = f"{prefix}data/part-{number:05d}.json.gz"
    bucket_store.put_bytes(bucket, key, _lines(rows), "application/gzip")
    return key


def manifest_of(backup_id: str, bucket: str | None = None) -> dict[str, Any]:
    bucket = bucket or get_settings().results_bucket
    try:
        manifest: dict[str, Any] = json.loads(bucket_store.read_bytes(bucket, f"{_prefix(backup_id)}manifest.json"))
    except bucket_store.UploadMissing:
        raise BackupProblem(f"no backup {backup_id} in the bucket {bucket} (`portal backup --list` lists them)") from None
    if manifest.get("format") != FORMAT:
        raise BackupProblem(f"backup {backup_id} is in a format this release does not read: {manifest.get('format')}")
    return manifest


def list_backups(bucket: str | None = None) -> list[str]:
    """The ids of the backups in the bucket, oldest first."""
    bucket = bucket or get_settings().results_bucket
    return [key[len(BACKUPS):-len("/manifest.json")] for key in bucket_store.keys_under(bucket, BACKUPS)
            if key.endswith("/manifest.json")]


def export_states(backup_id: str, bucket: str | None = None) -> dict[str, str]:
    """For a backup made with DynamoDB's export: each table's export state."""
    manifest = manifest_of(backup_id, bucket)
    return {suffix: store.export_state(entry["export_arn"])[0]
            for suffix, entry in manifest["tables"].items() if entry.get("export_arn")}


def restore(caller: Caller, backup_id: str, *, source_bucket: str | None = None, files_from: str | None = None,
            progress: Progress | None = None) -> Restored:
    """Restore a backup into this stack, whose tables must all exist and be empty; then check
    every table against the backup. `source_bucket`: the bucket holding the backup (the old
    stack's; default this stack's own). `files_from`: a bucket to copy the files the rows point at
    from (the old stack's: documents, quarantined uploads, take-away records, letters)."""
    settings = get_settings()
    source = source_bucket or settings.results_bucket
    manifest = manifest_of(backup_id, source)
    here = store.tables()
    unknown = sorted(set(manifest["tables"]) - set(here))
    if unknown:
        raise BackupProblem(f"the backup holds tables this release does not know ({', '.join(unknown)}): restore it "
                            "with the release that made it, then upgrade")
    gaps = store.schema_gaps()
    if gaps:
        raise BackupProblem("this stack lacks what this release needs: " + "; ".join(gaps) + ". Deploy it first.")
    if manifest.get("kind") == "aws_export":
        unfinished = {suffix: state for suffix, state in export_states(backup_id, source).items() if state != "COMPLETED"}
        if unfinished:
            raise BackupProblem("DynamoDB's export is not complete for every table ("
                                + ", ".join(f"{suffix}: {state}" for suffix, state in sorted(unfinished.items()))
                                + "): wait for it (`portal backup --status ID`), or restore another backup")
    occupied = [suffix for suffix in sorted(manifest["tables"]) if store.holds_rows(here[suffix].name)]
    if occupied:
        raise BackupProblem("a restore goes into a fresh stack, but these tables already hold rows: "
                            + ", ".join(occupied) + ". Nothing was restored.")
    restored = Restored(backup_id)
    for suffix, entry in sorted(manifest["tables"].items()):
        restored.tables.append(_restore_table(suffix, here[suffix], entry, source, _prefix(backup_id)))
        if progress:
            table = restored.tables[-1]
            progress(f"{suffix}: {table.rows} row(s)" + (f", {table.expired} expired left out" if table.expired else ""))
    if files_from:
        for prefix in FILE_PREFIXES:
            for key in bucket_store.keys_under(files_from, prefix):
                bucket_store.copy_to(files_from, key, settings.results_bucket)
                restored.files += 1
        if progress:
            progress(f"files: {restored.files} copied from {files_from}")
    logger.info("backup restored", extra={"backup": backup_id, "verified": restored.verified,
                                          "rows": sum(t.rows for t in restored.tables), "files": restored.files})
    audit.record_for(caller, "maintenance.restore", target_id=backup_id,
                     detail={"verified": restored.verified, "tables": len(restored.tables),
                             "rows": sum(t.rows for t in restored.tables), "files": restored.files})
    return restored


def _rows_of(bucket: str, key: str) -> list[dict[str, Any]]:
    text = gzip.decompress(bucket_store.read_bytes(bucket, key)).decode()
    return [json.loads(line)["Item"] for line in text.splitlines() if line.strip()]


def _restore_table(suffix: str, table: store.Table, entry: dict[str, Any], bucket: str, prefix: str) -> TableRestored:
    """Write one table's rows from the backup's files (those whose time to live has passed left
    out; every row DynamoDB leaves unprocessed is sent again until written): the files must hold
    exactly the rows the backup counted (its digest, for the portal's own; DynamoDB's count, for an
    export). The table is not read back: that would read every row of it again."""
    keys = [key for key in bucket_store.keys_under(bucket, f"{prefix}{suffix}/")
            if "/data/" in key and key.endswith(".json.gz")]
    in_files, written, now = store.Digest(), store.Digest(), clock.now()
    skipped = 0
    for key in keys:
        rows = _rows_of(bucket, key)
        for row in rows:
            in_files.add(row)
        kept = [row for row in rows if not store.expired(row, table.ttl_attribute, now)]
        skipped += len(rows) - len(kept)
        for row in kept:
            written.add(row)
        store.write(table.name, kept)
    problem = None
    if entry.get("digest") and (in_files.hex != entry["digest"] or in_files.rows != entry["rows"]):
        problem = f"the backup's files hold {in_files.rows} row(s) that do not match its manifest ({entry['rows']})"
    elif entry.get("export_arn") and store.export_state(entry["export_arn"])[1] != in_files.rows:
        problem = f"DynamoDB's export counted {store.export_state(entry['export_arn'])[1]} row(s), its files hold {in_files.rows}"
    return TableRestored(suffix, written.rows, problem is None, skipped, problem)
