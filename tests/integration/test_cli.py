"""The `portal` command line against the test stack (Typer's CliRunner, in this process, so it
uses the same local stack settings the fixtures set)."""

from __future__ import annotations

import csv
import json
import os
import secrets

import pytest
from typer.testing import CliRunner

from chalicelib.localstack import pump
from portal_cli.cli import app
from tests.support.http import unique_email, unique_mrn

runner = CliRunner()


def portal_cli(*args: str):
    return runner.invoke(app, ["--stage", "local", *args], catch_exceptions=False)


def write_csv(path, rows, header=("name", "date_of_birth", "email", "mrn")):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def new_row(name="Ada Import"):
    return [name, "1970-01-31", unique_email("import"), unique_mrn()]


def find(staff, mrn):
    return staff.get("/api/staff/patients", params={"q": mrn}).json()["patients"]


def test_file_with_bad_rows_is_refused_with_line_numbers_and_nothing_imported(portal, staff, tmp_path):
    # Given a file with two good rows and bad ones on lines 3, 5 and 6
    good, other = new_row(), new_row()
    rows = [good,
            ["Bad Email", "1970-01-31", "not-an-email", unique_mrn()],
            other,
            ["Bad Date", "31/01/1970", unique_email(), unique_mrn()],
            ["Same Mrn", "1970-01-31", unique_email(), good[3]]]
    path = write_csv(tmp_path / "patients.csv", rows)

    # When it is imported
    result = portal_cli("import-patients", str(path))

    # Then the command fails and names each bad row with its line and reason
    assert result.exit_code == 1
    assert "line 3: email" in result.output
    assert "line 5: date_of_birth" in result.output
    assert "line 6: mrn: same MRN as line 2" in result.output
    assert "nothing imported" in result.output
    # And the good rows were not imported either
    assert find(staff, good[3]) == [] and find(staff, other[3]) == []


def test_import_invites_each_patient_and_a_rerun_imports_nothing_twice(portal, staff, tmp_path):
    # Given a clean file of three patients
    rows = [new_row(f"Grace Import {i}") for i in range(3)]
    path = write_csv(tmp_path / "patients.csv", rows)

    # When it is imported
    first = portal_cli("import-patients", str(path))

    # Then all three are registered and invited with a temporary password they can sign in with
    assert first.exit_code == 0, first.output
    assert "imported 3 patient(s)" in first.output
    for name, _, email, mrn in rows:
        [patient] = find(staff, mrn)
        assert patient["name"] == name and patient["username"] == email
        assert portal.login(email, portal.last_temporary_password(email)).status_code == 200

    # When the same file is imported again
    mails_before = len(portal.outbox())
    second = portal_cli("import-patients", str(path))

    # Then nothing is imported twice: every row is reported as skipped, and nobody is mailed again
    assert second.exit_code == 0, second.output
    assert "imported 0 patient(s)" in second.output and "skipped 3 already registered" in second.output
    assert "line 2: skipped" in second.output
    assert len(portal.outbox()) == mails_before
    assert all(len(find(staff, mrn)) == 1 for *_, mrn in rows)


def test_a_registered_mrn_with_other_details_is_a_bad_row(portal, staff, tmp_path):
    # Given a patient already registered
    patient = portal.register_patient(staff, name="Existing Person")

    # When a file names the same MRN for someone else
    path = write_csv(tmp_path / "patients.csv", [["Someone Else", "1990-02-02", unique_email(), patient.mrn]])
    result = portal_cli("import-patients", str(path))

    # Then the row is refused with the reason, and the existing patient is unchanged
    assert result.exit_code == 1
    assert "line 2: mrn: already registered to a patient with other details" in result.output
    assert find(staff, patient.mrn)[0]["name"] == "Existing Person"


def test_patients_imported_without_invitation_get_their_temporary_password_in_the_first_notice(portal, staff, tmp_path):
    # Given a patient imported with --no-invite
    row = new_row("Lin Deferred")
    path = write_csv(tmp_path / "patients.csv", [row])
    result = portal_cli("import-patients", "--no-invite", str(path))
    assert result.exit_code == 0, result.output
    email = row[2]
    assert portal.outbox(email) == []
    [patient] = find(staff, row[3])

    # When the office sends them a message (an item, so a notice)
    sent = staff.post(f"/api/staff/patients/{patient['id']}/messages", json={"subject": "Hello", "body": "Please call us."})
    assert sent.status_code == 201, sent.text
    pump.drain()

    # Then the notice carries a temporary password that signs them in
    temporary = portal.last_temporary_password(email)
    answer = portal.login(email, temporary)
    assert answer.status_code == 200 and answer.json()["must_change_password"] is True


# A file of this many new patients (PORTAL_IMPORT_ROWS; a clinic's whole roll of 10,000 takes
# about two and a half minutes on two cores, which `make test` cannot spare).
IMPORT_ROWS = int(os.environ.get("PORTAL_IMPORT_ROWS", "2500"))


@pytest.mark.slow
def test_thousands_of_rows_import_in_batches_and_a_rerun_skips_them_all(portal, staff, tmp_path):
    # Given a file of thousands of new patients
    tag = secrets.token_hex(3).upper()
    rows = [[f"Bulk Patient {i}", "1965-07-04", f"bulk{i}.{tag}@example.com", f"BULK{tag}{i:05d}"]
            for i in range(IMPORT_ROWS)]
    path = write_csv(tmp_path / "bulk.csv", rows)

    # When it is imported with invitations deferred to the first notice
    result = portal_cli("import-patients", "--no-invite", str(path))

    # Then every row is registered once
    assert result.exit_code == 0, result.output
    assert f"imported {IMPORT_ROWS} patient(s)" in result.output
    for i in (0, 1, IMPORT_ROWS // 2 - 1, IMPORT_ROWS - 2, IMPORT_ROWS - 1):
        [patient] = find(staff, rows[i][3])
        assert patient["username"] == rows[i][2]

    # When the file is imported again
    again = portal_cli("import-patients", "--no-invite", str(path))

    # Then nothing is imported twice
    assert again.exit_code == 0, again.output
    assert "imported 0 patient(s)" in again.output and f"skipped {IMPORT_ROWS} already registered" in again.output


def test_create_staff_mails_a_temporary_password_and_create_admin_sets_a_chosen_one(portal, tmp_path):
    # When an admin creates a staff member, and a second admin with a chosen password
    username = f"nurse{secrets.token_hex(3)}"
    staff_email = unique_email("nurse")
    made = portal_cli("create-staff", "--username", username, "--email", staff_email, "--name", "Nurse Joy")
    admin_name, admin_password = f"boss{secrets.token_hex(3)}", "copper-Walrus-meadow-58-lantern"
    admin = portal_cli("create-admin", "--username", admin_name, "--email", unique_email("boss"),
                       "--name", "Second Admin", "--password", admin_password)

    # Then the staff member can sign in with the mailed temporary password
    assert made.exit_code == 0, made.output
    assert portal.login(username, portal.last_temporary_password(staff_email)).status_code == 200
    # And the admin with the chosen one, as an admin
    assert admin.exit_code == 0, admin.output
    answer = portal.login(admin_name, admin_password)
    assert answer.status_code == 200 and answer.json()["role"] == "admin"


def test_create_admin_refuses_a_weak_password(portal):
    # When the chosen password is too short
    result = portal_cli("create-admin", "--username", f"weak{secrets.token_hex(3)}", "--email", unique_email(),
                        "--name", "Weak Admin", "--password", "short")

    # Then nothing is created and the reason is given
    assert result.exit_code == 1
    assert "at least 12" in result.output


def test_export_audit_writes_the_patients_trail_as_json_and_csv(portal, staff, tmp_path):
    # Given a registered patient
    patient = portal.register_patient(staff)

    # When the audit trail is exported in both formats
    as_json = portal_cli("export-audit", "--patient", patient.id, "--format", "json")
    out = tmp_path / "audit.csv"
    as_csv = portal_cli("export-audit", "--patient", patient.id, "--format", "csv", "--output", str(out))

    # Then both hold the registration of that patient, and only that patient's events
    assert as_json.exit_code == 0 and as_csv.exit_code == 0
    events = json.loads(as_json.stdout)
    assert "patient.register" in [e["action"] for e in events]
    assert {e["patient_id"] for e in events} == {patient.id}
    rows = list(csv.DictReader(out.open()))
    assert "patient.register" in [r["action"] for r in rows]
    # And the first export is itself on the trail
    assert "audit.export" in [r["action"] for r in rows]


@pytest.mark.parametrize("queue", ["publish", "recovery", "export"])
def test_replay_dlq_moves_dead_letters_back_to_their_queue(portal, queue):
    # Given a message in the queue's dead-letter queue (a test event: its handler drops it harmlessly)
    from chalicelib import aws
    from chalicelib.settings import get_settings

    sqs, settings = aws.client("sqs"), get_settings()
    names = {"publish": (settings.publish_dead_letter_queue_name, settings.publish_queue_name),
             "recovery": (settings.recovery_dead_letter_queue_name, settings.recovery_queue_name),
             "export": (settings.export_dead_letter_queue_name, settings.export_queue_name)}[queue]
    dlq, target = (sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in names)
    body = json.dumps({"Event": "s3:TestEvent", "marker": secrets.token_hex(4)})
    sqs.send_message(QueueUrl=dlq, MessageBody=body)

    # When it is replayed
    result = portal_cli("replay-dlq", "--queue", queue)

    # Then it left the dead-letter queue and waits on its own queue
    assert result.exit_code == 0, result.output
    assert f"moved 1 message(s) back to the {queue} queue" in result.output
    assert sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages", []) == []
    moved = sqs.receive_message(QueueUrl=target, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    mine = [m for m in moved if m["Body"] == body]
    assert len(mine) == 1
    sqs.delete_message(QueueUrl=target, ReceiptHandle=mine[0]["ReceiptHandle"])


def test_sweep_runs_the_follow_up_at_the_given_time(portal, clock):
    # When the sweep is run for a chosen moment
    result = portal_cli("sweep", "--now", "2030-01-01T09:00:00Z")

    # Then it reports the run for that moment
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["now"].startswith("2030-01-01T09:00:00")


def test_sweep_refuses_a_time_that_is_not_iso(portal):
    result = runner.invoke(app, ["sweep", "--now", "tomorrow"])
    assert result.exit_code == 2
    assert "not an ISO 8601 time" in result.output
