"""Upgrading a deployment of the first release: its tables in that release's shapes, with the rows
that release's own code wrote (tests/integration/data/make_first_release.py), deployed over by this
release, migrated with `portal migrate`, then served by this release's code: a patient signs in
and reads, the sweep finds what is due, the admin's staff list has the first release's staff.

The stack is one of its own (tests/stacks.py): the portal serving it and the command line run in
processes of their own, on the suite's DynamoDB Local and moto."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from chalicelib import aws
from tests.stacks import document_body, first_release_stack
from tests.support.http import Api, Portal


@pytest.fixture(scope="module")
def first_release(stack):
    own, release = first_release_stack("upgrade")
    yield own, release
    own.remove()


def migrate(own, *args: str, exit_code: int = 0) -> dict:
    done = own.portal("migrate", "--json", *args, check=False)
    assert done.returncode == exit_code, done.stdout + done.stderr
    return {row["id"]: row for row in json.loads(done.stdout)["migrations"]}


def staff_usernames(own) -> set[str]:
    return {member["username"] for member in json.loads(own.portal("list-staff", "--format", "json").stdout)["staff"]}


def office_sessions_without_factor(own) -> list[dict]:
    return [row for row in own.rows("sessions") if row["role"]["S"] in ("staff", "admin") and "mfa" not in row]


def test_migrate_refuses_a_stack_this_release_has_not_been_deployed_to(first_release):
    # Given the first release's tables, before this release's template made the new ones
    own, _ = first_release
    accounts_before = own.rows("accounts")

    # When an operator runs the migrations
    done = own.portal("migrate", check=False)

    # Then it refuses, naming what the stack lacks and saying to deploy first, and changes nothing
    assert done.returncode == 1
    assert f"table {own.table('migrations')}" in done.stderr and "Deploy this release first" in done.stderr
    assert own.rows("accounts") == accounts_before


def second_release_rows(own, release) -> None:
    """What the second release added to such a stack, as it wrote it: phones as the office typed
    them, and pending uploads (one of a document published three weeks ago, one published two days
    ago, one still waiting for its file), for the migrations of later schema changes to meet."""
    patients = release["patients"]
    now = datetime.now(UTC)
    dynamodb = aws.client("dynamodb")
    for patient_id, typed in ((patients["R1-0002"], "(919) 555-0142"), (patients["R1-0001"], "ext. 12")):
        dynamodb.update_item(TableName=own.table("accounts"), Key={"id": {"S": patient_id}},
                             UpdateExpression="SET phone = :p", ExpressionAttributeValues={":p": {"S": typed}})
    template = next(row for row in release["rows"]["items"] if row["id"]["S"] == release["documents"]["read"])
    rows = {"items": [], "pending_uploads": []}
    for upload_id, age, published in (("u_published", 21, True), ("u_recent", 2, True), ("u_waiting", 0, False)):
        created = now - timedelta(days=age, hours=1)
        stamp = created.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
        if published:
            rows["items"].append({**copy.deepcopy(template), "id": {"S": f"d_{upload_id}"},
                                  "created_at": {"S": stamp},
                                  "source": {"M": {"key": {"S": f"incoming/{upload_id}"}}}})
        rows["pending_uploads"].append({
            "id": {"S": upload_id}, "patient_id": {"S": patients["R1-0001"]}, "title": {"S": "Lipid panel"},
            "category": {"S": "lab"}, "provider": {"S": "Dr. Osei"}, "file_name": {"S": "lipids.pdf"},
            "content_type": {"S": "application/pdf"}, "created_at": {"S": stamp},
            "expires_at": {"N": str(int((created + timedelta(days=30)).timestamp()))}})
    own.put_rows(rows)


def test_the_first_releases_rows_are_migrated_once_resumably_and_served_by_this_release(first_release):
    own, release = first_release
    ana = ("ana.rio@example.com", release["passwords"]["ana.rio@example.com"])
    url = own.serving()
    # Given this release deployed over the first release's data, whose staff have no keys in
    # the name index yet and whose office sessions predate the second factor, and the second
    # release's phones as typed and pending uploads
    second_release_rows(own, release)
    portal = Portal(url)
    assert [row for row in own.rows("accounts") if "search_shard" not in row] != []
    assert len(office_sessions_without_factor(own)) == 3
    accounts_before = own.rows("accounts")

    # When the migrations run dry
    dry = migrate(own, "--dry-run")

    # Then each says what it would change, and nothing changed or was recorded
    assert dry["0001-staff-in-name-index"]["status"] == "dry_run"
    assert dry["0001-staff-in-name-index"]["changed"] == 2  # the admin and the front desk
    assert dry["0002-office-sessions-before-second-factor"]["changed"] == 3
    assert dry["0003-pending-uploads-finished"]["changed"] == 1  # published three weeks ago
    assert dry["0004-phones-in-e164"]["changed"] == 1  # Ben's; Ana's "ext. 12" is no number
    assert own.rows("accounts") == accounts_before and own.rows("migrations") == []

    # When a run is stopped after its first page (one row a page)
    stopped = migrate(own, "--page-size", "1", "--max-pages", "1", exit_code=3)

    # Then it stopped partway through the first migration, which records where it got to
    assert list(stopped) == ["0001-staff-in-name-index"] and stopped["0001-staff-in-name-index"]["status"] == "stopped"
    [record] = own.rows("migrations")
    assert record["status"]["S"] == "in_progress" and "cursor" in record

    # When the migrations are run again, to the end
    finished = migrate(own, "--page-size", "1")

    # Then the first carried on where it stopped and every one is done, each row changed once
    assert {row["status"] for row in finished.values()} == {"done"}
    records = {row["id"]["S"]: row for row in own.rows("migrations")}
    assert records["0001-staff-in-name-index"]["changed"]["N"] == "2"
    assert records["0001-staff-in-name-index"]["runs"]["N"] == "2"
    assert records["0002-office-sessions-before-second-factor"]["changed"]["N"] == "3"
    assert office_sessions_without_factor(own) == []
    assert {row["id"]["S"] for row in own.rows("pending_uploads")} == {"u_recent", "u_waiting"}
    phones = {row["id"]["S"]: row.get("phone", {}).get("S") for row in own.rows("accounts")}
    assert phones[release["patients"]["R1-0002"]] == "+19195550142"
    assert phones[release["patients"]["R1-0001"]] == "ext. 12"
    migrated_accounts = own.rows("accounts")

    # When they are run once more
    again = migrate(own)

    # Then none runs twice, nothing changes, and the admin's staff list has the first release's staff
    assert {row["status"] for row in again.values()} == {"already_done"}
    assert own.rows("accounts") == migrated_accounts
    assert staff_usernames(own) == {"admin", "frontdesk"}

    # When the hourly sweep runs after the first release's follow-up time has come
    swept = requests.post(f"{url}/dev/sweep", json={"now": "2026-11-29T10:00:00Z"}, timeout=60).json()

    # Then it finds every item that release left unread and mails each patient again
    assert swept["due"] == 3 and swept["notified"] == 3
    assert any("new" in mail["subject"].lower() for mail in portal.outbox("ben.okafor@example.com"))

    # When Ana signs in with the password she chose under the first release
    patient: Api = portal.signed_in(*ana)

    # Then she sees her items as that release left them, and reads the unread document and its file
    items = {item["id"]: item for item in patient.get("/api/items").json()["items"]}
    documents = release["documents"]
    assert items[documents["read"]]["read_at"] is not None and items[documents["unread"]]["read_at"] is None
    opened = patient.get(f"/api/documents/{documents['unread']}")
    assert opened.status_code == 200 and opened.json()["title"] == "Chest X-ray report"
    link = patient.get(f"/api/documents/{documents['unread']}/file").json()["url"]
    assert requests.get(link, timeout=30).content == document_body("Chest X-ray report")
    assert {i["id"]: i for i in patient.get("/api/items").json()["items"]}[documents["unread"]]["read_at"]
    # And the message the office answered under the first release is still hers to read
    threads = patient.get("/api/messages").json()["threads"]
    assert [thread["subject"] for thread in threads] == ["Question"]
