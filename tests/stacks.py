"""Stacks of their own on the suite's local stand-ins, for the upgrade test and the restore drill.

A stack here is what a deployment is to the portal: its tables under a prefix of its own and its
own results bucket, on the same DynamoDB Local and moto server as the suite's stack. The portal
reads its settings and table names once per process, so the portal serving such a stack and the
`portal` command line working on it run in processes of their own: `serving()` starts
`python -m tests.stacks serve PORT` (which first creates whatever tables and bucket this release
needs and the stack lacks, as a deploy does), and `portal()` runs `bin/portal`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
FIRST_RELEASE = Path(__file__).parent / "integration" / "data" / "first_release.json"
# What each process of a stack must not inherit from the suite's: its own names come from its prefix.
_SUITE_ONLY = ("RESULTS_BUCKET", "APP_CALLS_DIR", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST", "PORTAL_URL")


def _client(service: str):
    from chalicelib import aws

    return aws.client(service)


@dataclass
class OwnStack:
    """Tables named `<prefix>-<table>` and the bucket `<prefix>-results`."""

    prefix: str

    @classmethod
    def new(cls, name: str) -> OwnStack:
        return cls(f"{name}-{secrets.token_hex(3)}")

    @property
    def bucket(self) -> str:
        return f"{self.prefix}-results"

    def environment(self, **extra: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name not in _SUITE_ONLY}
        env.update(TABLE_PREFIX=self.prefix, RESULTS_BUCKET=self.bucket, PORTAL_STAGE="local",
                   PYTHONPATH=str(ROOT), **extra)
        return env

    def portal(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`bin/portal --stage local ARGS` on this stack."""
        done = subprocess.run([str(ROOT / "bin" / "portal"), "--stage", "local", *args], env=self.environment(),
                              capture_output=True, text=True, timeout=120, check=False)
        if check:
            assert done.returncode == 0, f"portal {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    # ---------------------------------------------------------------- tables and rows, from outside

    def table(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    def tables(self) -> list[str]:
        """The table suffixes this stack has."""
        names: list[str] = []
        for page in _client("dynamodb").get_paginator("list_tables").paginate():
            names += [n[len(self.prefix) + 1:] for n in page["TableNames"] if n.startswith(self.prefix + "-")]
        return sorted(names)

    def create_tables(self, shapes: dict[str, dict]) -> None:
        """Tables of the given shapes (DescribeTable's keys, attributes and indexes), on demand."""
        dynamodb = _client("dynamodb")
        for suffix, shape in shapes.items():
            extra = {}
            if shape.get("GlobalSecondaryIndexes"):
                extra["GlobalSecondaryIndexes"] = shape["GlobalSecondaryIndexes"]
            dynamodb.create_table(TableName=self.table(suffix), BillingMode="PAY_PER_REQUEST",
                                  AttributeDefinitions=shape["AttributeDefinitions"], KeySchema=shape["KeySchema"],
                                  **extra)

    def put_rows(self, rows: dict[str, list[dict]]) -> None:
        dynamodb = _client("dynamodb")
        for suffix, items in rows.items():
            for start in range(0, len(items), 25):
                requests_ = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
                dynamodb.batch_write_item(RequestItems={self.table(suffix): requests_})

    def rows(self, suffix: str) -> list[dict]:
        found: list[dict] = []
        for page in _client("dynamodb").get_paginator("scan").paginate(TableName=self.table(suffix),
                                                                        ConsistentRead=True):
            found += page["Items"]
        return found

    def every_row(self) -> dict[str, list[dict]]:
        """Every row of every table, each table's rows in a fixed order (by their JSON)."""
        return {suffix: sorted(self.rows(suffix), key=lambda row: json.dumps(row, sort_keys=True))
                for suffix in self.tables()}

    def put_file(self, key: str, body: bytes) -> None:
        s3 = _client("s3")
        s3.put_object(Bucket=self.bucket, Key=key, Body=body, ServerSideEncryption="AES256")

    def remove(self) -> None:
        """Drop the stack's tables and bucket."""
        dynamodb, s3 = _client("dynamodb"), _client("s3")
        for suffix in self.tables():
            dynamodb.delete_table(TableName=self.table(suffix))
        try:
            versions = s3.list_object_versions(Bucket=self.bucket).get("Versions") or []
        except s3.exceptions.ClientError:
            return
        for version in versions:
            s3.delete_object(Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"])
        s3.delete_bucket(Bucket=self.bucket)

    # ---------------------------------------------------------------- the portal serving it

    @contextmanager
    def serving(self) -> Iterator[str]:
        """The portal on this stack, over HTTP from a process of its own; yields its address.
        Starting it deploys this release's tables and bucket where the stack lacks them."""
        from chalicelib.localstack.stack import free_port

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen([sys.executable, "-m", "tests.stacks", "serve", str(port)], cwd=ROOT,
                                   env=self.environment(PORTAL_URL=url), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            _wait_until_healthy(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_healthy(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the stack's portal ended: {process.stdout.read() if process.stdout else ''}")
        try:
            if requests.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the stack's portal did not answer at {url}")


def first_release() -> dict:
    """What the first release wrote (tests/integration/data/make_first_release.py made it)."""
    return json.loads(FIRST_RELEASE.read_text(encoding="utf-8"))


def first_release_stack(name: str) -> tuple[OwnStack, dict]:
    """A stack as the first release left it: its tables in that release's shapes, its rows, and
    the lab's documents in its bucket where that release filed them."""
    release = first_release()
    stack = OwnStack.new(name)
    stack.create_tables(release["tables"])
    stack.put_rows(release["rows"])
    s3 = _client("s3")
    s3.create_bucket(Bucket=stack.bucket)
    for item in release["rows"]["items"]:
        if item["kind"]["S"] == "document":
            stack.put_file(item["s3_key"]["S"], document_body(item["title"]["S"]))
    return stack, release


def document_body(title: str) -> bytes:
    """The file the lab dropped for a document of this title (make_first_release.py's)."""
    return b"%PDF-1.4\n" + title.encode() + b"\n%%EOF\n"


def _serve(port: int) -> None:
    """Deploy what this release needs where the stack lacks it (tables, bucket), then serve."""
    from chalicelib import aws
    from chalicelib.localstack import server
    from chalicelib.settings import get_settings
    from chalicelib.store import tables

    tables.create_all()
    s3 = aws.client("s3")
    bucket = get_settings().results_bucket
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    server.serve("127.0.0.1", port)
    print(f"serving {get_settings().table_prefix} on {port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _serve(int(sys.argv[2]))
