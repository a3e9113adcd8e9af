"""Backups' rules without AWS: DynamoDB's point-in-time export is asked for every table as the
operator wants it (a stubbed client), and a table's digest knows its rows whatever their order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.stub import ANY, Stubber

from chalicelib.services.access.identity import Caller
from chalicelib.services.maintenance import backups
from chalicelib.store import backups as store
from chalicelib.store.base import connection


def test_an_aws_export_of_an_earlier_moment_asks_dynamodb_for_every_table_into_the_backups_folder(monkeypatch):
    # Given DynamoDB answering for every table of this release, and the manifest and audit kept aside
    # (PynamoDB makes its client again while it finds no credentials: give it some)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit")
    written, audited = {}, []
    monkeypatch.setattr(backups.bucket_store, "put_bytes", lambda bucket, key, data, kind: written.update({key: data}))
    monkeypatch.setattr(backups.audit, "record_for", lambda *args, **kwargs: audited.append((args, kwargs)))
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    client = connection().client
    tables = store.tables()
    with Stubber(client) as stub:
        for suffix, table in sorted(tables.items()):
            arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table.name}"
            stub.add_response("describe_table", {"Table": {"TableArn": arn}}, {"TableName": table.name})
            stub.add_response("export_table_to_point_in_time", {"ExportDescription": {"ExportArn": f"{arn}/export/{suffix}"}},
                              {"TableArn": arn, "S3Bucket": ANY, "S3Prefix": ANY, "ExportFormat": "DYNAMODB_JSON",
                               "S3SseAlgorithm": "AES256", "ExportTime": at})

        # When the operator backs up with DynamoDB's export, as the tables were at 08:00
        manifest = backups.backup(Caller(None, None), aws_export=True, at=at)

        # Then every table was exported under backups/<id>/<table>, and the manifest names each export
        stub.assert_no_pending_responses()
    assert set(manifest["tables"]) == set(tables) and manifest["as_of"] == "2026-12-01T08:00:00Z"
    assert all(entry["export_arn"].endswith(f"/export/{suffix}") for suffix, entry in manifest["tables"].items())
    assert list(written) == [f"backups/{manifest['id']}/manifest.json"] and len(audited) == 1


def test_a_backup_of_an_earlier_moment_needs_dynamodbs_export():
    # When the operator asks for an earlier moment without DynamoDB's export
    with pytest.raises(backups.BackupProblem) as refused:
        backups.backup(Caller(None, None), at=datetime(2026, 12, 1, tzinfo=UTC))

    # Then it is refused, saying what to add
    assert "--aws-export" in refused.value.message


def test_a_tables_digest_is_the_same_for_the_same_rows_in_any_order_and_sets_in_any_order():
    # Given the same rows in two orders, a set's members in two orders, and a different row
    rows = [{"id": {"S": "a"}, "tags": {"SS": ["x", "y"]}}, {"id": {"S": "b"}, "n": {"N": "1"}}]
    same = [{"n": {"N": "1"}, "id": {"S": "b"}}, {"tags": {"SS": ["y", "x"]}, "id": {"S": "a"}}]
    other = [rows[0], {"id": {"S": "b"}, "n": {"N": "2"}}]

    # When each is digested
    digests = []
    for table in (rows, same, other):
        digest = store.Digest()
        for row in table:
            digest.add(row)
        digests.append(digest.hex)

    # Then the first two agree and the third does not
    assert digests[0] == digests[1] != digests[2]


def test_a_row_whose_time_to_live_has_passed_counts_as_expired():
    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert store.expired({"ttl": {"N": str(int(now.timestamp()) - 1)}}, "ttl", now)
    assert not store.expired({"ttl": {"N": str(int(now.timestamp()) + 60)}}, "ttl", now)
    assert not store.expired({"other": {"S": "x"}}, "ttl", now) and not store.expired({"ttl": {"N": "1"}}, None, now)
