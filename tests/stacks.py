"""Stacks of their own on the suite's local stand-ins, for the upgrade test and the restore drill.

A stack here is what a deployment is to the portal: its tables under a prefix of its own and its
own results bucket, on the same DynamoDB Local and moto server as the suite's stack. The portal
reads its settings and table names once per process, so the `portal` command line working on
such a stack and the portal serving it run in a process of the stack's own (`python -m tests.stacks`,
started once per stack): `portal()` runs a command of the command line's own Typer app there, and
`serving()` first creates whatever tables and bucket this release needs and the stack lacks (as a
deploy does), then serves the portal from it over HTTP.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
    _process: StackProcess | None = field(default=None, repr=False)

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

    def portal(self, *args: str, check: bool = True) -> Done:
        """`portal --stage local ARGS` on this stack (in the stack's process, started when first needed)."""
        done = self.process().cli(*args)
        if check:
            assert done.returncode == 0, f"portal {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def process(self) -> StackProcess:
        if self._process is None:
            self._process = StackProcess(self.environment())
        return self._process

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
        """Stop the stack's process, drop its tables and bucket."""
        self.close()
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

    def serving(self) -> str:
        """The portal on this stack, over HTTP from the stack's process; its address. Starting it
        deploys this release's tables and bucket where the stack lacks them."""
        return self.process().serve()

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None


@dataclass
class Done:
    """What one command did: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


class StackProcess:
    """A process of the stack's own (its settings, its table names) that runs `portal` commands
    sent to it (the command line's own Typer app, as tests/integration/test_cli.py runs it) and
    serves the portal over HTTP once asked to: one start-up for every command and request of a
    test, instead of one per command. Its logs go to a file, shown when it fails."""

    def __init__(self, environment: dict[str, str]):
        self.log = tempfile.NamedTemporaryFile(prefix="stack-", suffix=".log", delete=False)  # noqa: SIM115
        self._process = subprocess.Popen([sys.executable, "-m", "tests.stacks"], cwd=ROOT, env=environment,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)

    def _ask(self, request: dict) -> dict:
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the stack's process ended:\n{Path(self.log.name).read_text(errors='replace')}")
        return json.loads(line)

    def cli(self, *args: str) -> Done:
        answer = self._ask({"cli": ["--stage", "local", *args]})
        return Done(answer["exit"], answer["stdout"], answer["stderr"])

    def serve(self) -> str:
        url = self._ask({"serve": True})["url"]
        _wait_until_healthy(url, self._process)
        return url

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


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


def _serve() -> str:
    """Deploy what this release needs where the stack lacks it (tables, bucket), then serve the
    portal from a thread; its address."""
    from chalicelib import aws
    from chalicelib.localstack import server
    from chalicelib.localstack.stack import free_port
    from chalicelib.settings import get_settings
    from chalicelib.store import tables

    tables.create_all()
    s3 = aws.client("s3")
    bucket = get_settings().results_bucket
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    port = free_port()
    os.environ["PORTAL_URL"] = f"http://127.0.0.1:{port}"
    get_settings.cache_clear()
    server.serve("127.0.0.1", port)
    return os.environ["PORTAL_URL"]


def _work() -> None:
    """The stack's process: a JSON request a line on standard input ({"cli": [args]} or
    {"serve": true}), a JSON answer a line on the standard output it started with (everything
    else it prints, the portal's logs included, goes to standard error)."""
    from typer.testing import CliRunner

    from portal_cli.cli import app

    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    runner = CliRunner()
    for line in sys.stdin:
        request = json.loads(line)
        if "serve" in request:
            answer: dict = {"url": _serve()}
        else:
            result = runner.invoke(app, request["cli"], catch_exceptions=False)
            answer = {"exit": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    _work()
