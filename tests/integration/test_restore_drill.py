"""The restore drill: a stack is backed up with `portal backup`, restored with `portal restore` into
a fresh one (this release deployed, every table empty), and no row is lost: every row of every
table is compared, and a patient signs in on the restored stack and reads her document and its
file. The stacks are of their own (tests/stacks.py): the first release's rows, and rows this
release's code wrote on top of them, on the suite's DynamoDB Local and moto."""

from __future__ import annotations

import json

import pytest
import requests

from chalicelib.store.backups import expired, tables
from tests.stacks import OwnStack, document_body, first_release_stack
from tests.support.http import Portal


@pytest.fixture(scope="module")
def stacks(stack):
    old, release = first_release_stack("drill")
    new = OwnStack.new("restored")
    yield old, new, release
    old.remove()
    new.remove()


def live_rows(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Every table's rows but those whose time to live has passed: DynamoDB deletes those on its
    own, whenever it gets to them (DynamoDB Local within seconds), so no drill can count on them."""
    from chalicelib.clock import clock

    ttl = {suffix: table.ttl_attribute for suffix, table in tables().items()}
    return {suffix: [row for row in table_rows if not expired(row, ttl.get(suffix), clock.now())]
            for suffix, table_rows in rows.items()}


def test_a_backup_restored_into_a_fresh_stack_loses_no_row_and_serves_its_patients(stacks):
    old, new, release = stacks
    ana = ("ana.rio@example.com", release["passwords"]["ana.rio@example.com"])
    unread = release["documents"]["unread"]
    # Given a stack holding the first release's rows and rows this release's code wrote: Ana reads
    # a document, asks the office a question and switches to Spanish
    url = old.serving()
    patient = Portal(url).signed_in(*ana)
    assert patient.get(f"/api/documents/{unread}").status_code == 200
    assert patient.post("/api/messages", json={"subject": "Results", "body": "Is this normal?",
                                               "category": "results_question"}).status_code == 201
    assert patient.put("/api/me/language", json={"language": "es"}).status_code == 200
    before = live_rows(old.every_row())

    # When it is backed up
    backup_id = old.portal("backup").stdout.strip()

    # Then the backup is listed in the stack's bucket
    assert backup_id in old.portal("backup", "--list").stdout.split()

    url = new.serving()
    # When it is restored into a fresh stack, from the old stack's bucket, files included
    done = new.portal("restore", backup_id, "--from-bucket", old.bucket, "--files-from", old.bucket, "--json")
    restored = json.loads(done.stdout)

    # Then the restore found every table holding exactly the backup's rows
    assert restored["verified"] is True and restored["files"] == 3
    assert set(restored["tables"]) == set(before)

    # And every row of every table is the old stack's, the restore itself added to the trail
    after = live_rows(new.every_row())
    [restore_event] = [row for row in after["audit"] if row["action"]["S"] == "maintenance.restore"]
    after["audit"].remove(restore_event)
    assert after == before
    assert sum(map(len, before.values())) > 50

    # When the same backup is restored into it again (no longer a fresh stack)
    refused = new.portal("restore", backup_id, "--from-bucket", old.bucket, check=False)

    # Then it is refused, naming the tables that hold rows, and nothing changes
    assert refused.returncode == 1 and "already hold rows: accounts" in refused.stderr
    assert live_rows(new.every_row())["accounts"] == after["accounts"]

    # When Ana signs in on the restored stack
    patient = Portal(url).signed_in(*ana)

    # Then she finds her items as they were, her language, and her document and its file
    items = {item["id"]: item for item in patient.get("/api/items").json()["items"]}
    assert items[unread]["read_at"] is not None
    assert patient.get("/api/me").json()["language"] == "es"
    assert patient.get(f"/api/documents/{unread}").json()["title"] == "Chest X-ray report"
    link = patient.get(f"/api/documents/{unread}/file").json()["url"]
    assert requests.get(link, timeout=30).content == document_body("Chest X-ray report")
    assert {thread["subject"] for thread in patient.get("/api/messages").json()["threads"]} == {"Question", "Results"}
