"""The portal's command line for administrators: accounts, patient import, follow-up, dead letters, audit, upgrades, backups.

`create-admin`, `create-staff`, `list-staff`, `disable-staff`, `enable-staff`, `set-role`, `mfa-reset`,
`import-patients`, `sweep`, `replay-dlq`, `lab-drop`, `export-audit`, `migrate`, `backup`, `restore`.
It runs the portal's own services with the operator's AWS credentials. `--stage` picks the
stage's settings from `.chalice/config.json`; variables already in the environment win, so the
local stack is reached with `AWS_ENDPOINT_URL_<SERVICE>` (see docs/command-line.md).
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help=__doc__.splitlines()[0], no_args_is_help=True, add_completion=False)

COLUMNS = ("name", "date_of_birth", "email", "mrn")
OPTIONAL_COLUMNS = ("phone", "language")


class Format(StrEnum):
    csv = "csv"
    json = "json"


@app.callback()
def stage_settings(stage: Annotated[str, typer.Option(envvar="PORTAL_STAGE", help="local, dev or prod")] = "local") -> None:
    """Load the stage's settings before any portal module reads them."""
    from chalicelib.settings import get_settings
    from chalicelib.stages import stage_environment

    try:
        environment = stage_environment(stage)
    except KeyError:
        raise typer.BadParameter(f"no stage {stage!r} in .chalice/config.json", param_hint="--stage") from None
    for name, value in environment.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    get_settings.cache_clear()


def _operator():
    """The audit trail names whoever ran the command."""
    from chalicelib.services.access.identity import Caller
    from chalicelib.services.access.sessions import Principal

    return Caller(Principal(f"operator:{getpass.getuser()}", "admin", False, "", ""), None)


def _fail(message: str, code: int = 1):
    typer.echo(message, err=True)
    raise typer.Exit(code)


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(prompt=True)],
    email: Annotated[str, typer.Option(prompt=True)],
    name: Annotated[str, typer.Option(prompt=True)] = "Clinic Administrator",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="PORTAL_ADMIN_PASSWORD", help="asked for when not given")] = "",
) -> None:
    """Create the first admin with a password you choose (the password policy applies)."""
    from chalicelib.errors import PortalError
    from chalicelib.services.accounts import registry as accounts

    try:
        account = accounts.ensure_account("admin", username, password, email, name)
    except PortalError as err:
        _fail(err.message)
    if account.role != "admin":
        _fail(f"{username} already exists and is not an admin.")
    typer.echo(f"admin {account.username} ready (id {account.id})")


@app.command("create-staff")
def create_staff(
    username: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="staff, admin or provider")] = "staff",
    npi: Annotated[str | None, typer.Option(help="a provider's NPI (ten digits)")] = None,
) -> None:
    """Create a staff account (or a provider's); a temporary password is emailed to them."""
    from chalicelib.errors import PortalError
    from chalicelib.services.accounts import registry as accounts

    try:
        account = accounts.create_staff(_operator(), username=username, email=email, name=name, role=role,
                                        npi=npi)
    except PortalError as err:
        _fail(err.message)
    typer.echo(f"{account.role} {account.username} created (id {account.id}); the welcome mail went to {account.email}")


def _staff_id(username_or_id: str) -> str:
    """A staff member's id, from their username or their id."""
    from chalicelib.store import accounts as account_store

    account = account_store.find_by_username(username_or_id) or account_store.get(username_or_id)
    if account is None or account.role not in ("staff", "admin", "provider"):
        _fail(f"no staff member {username_or_id!r}")
    return account.id


@app.command("list-staff")
def list_staff(output: Annotated[Format, typer.Option("--format", help="csv or json")] = Format.csv) -> None:
    """Every staff member and admin: id, username, name, email, role, active, mfa_enrolled."""
    from chalicelib.services.accounts import lifecycle

    staff = lifecycle.list_staff(_operator())
    if output is Format.json:
        typer.echo(json.dumps({"staff": staff}, indent=2))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=["id", "username", "name", "email", "role", "active", "mfa_enrolled"])
    writer.writeheader()
    writer.writerows(staff)


def _update_staff(who: str, **change) -> None:
    from chalicelib.errors import PortalError
    from chalicelib.services.accounts import lifecycle

    try:
        member = lifecycle.update_staff(_operator(), _staff_id(who), **change)
    except PortalError as err:
        _fail(err.message)
    state = "active" if member["active"] else "disabled"
    typer.echo(f"{member['role']} {member['username']} is {state} (id {member['id']}); their sessions ended")


@app.command("disable-staff")
def disable_staff(who: Annotated[str, typer.Argument(help="username or id")]) -> None:
    """Disable a staff member: every session of theirs ends now, and they can no longer sign in."""
    _update_staff(who, active=False)


@app.command("enable-staff")
def enable_staff(who: Annotated[str, typer.Argument(help="username or id")]) -> None:
    """Enable a disabled staff member again."""
    _update_staff(who, active=True)


@app.command("set-role")
def set_role(who: Annotated[str, typer.Argument(help="username or id")],
             role: Annotated[str, typer.Argument(help="staff or admin")]) -> None:
    """Make a staff member an admin, or an admin staff (their sessions end)."""
    _update_staff(who, role=role)


@app.command("mfa-reset")
def mfa_reset(who: Annotated[str, typer.Argument(help="username or id")]) -> None:
    """Reset a staff member's authenticator app: their next sign-in sets up a new one."""
    from chalicelib.errors import PortalError
    from chalicelib.services.access import mfa

    try:
        mfa.admin_reset(_operator(), _staff_id(who))
    except PortalError as err:
        _fail(err.message)
    typer.echo(f"the authenticator app of {who} is reset; they set up a new one at their next sign-in")


def _read_rows(path: Path):
    """Rows checked one by one with the same rules as the registration API; (rows, problems)."""
    from pydantic import ValidationError

    from chalicelib.bodies import RegisterBody
    from chalicelib.services.accounts.patient_import import Problem, Row

    rows, problems = [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            _fail(f"{path}: line 1: the header needs the columns {', '.join(COLUMNS)} (missing: {', '.join(missing)})", 2)
        for record in reader:
            line = reader.line_num
            if None in record or any(record.get(column) is None for column in COLUMNS):
                problems.append(Problem(line, f"expected {len(COLUMNS)} columns"))
                continue
            try:
                optional = {column: (record.get(column) or "").strip() for column in OPTIONAL_COLUMNS}
                body = RegisterBody(**{column: record[column].strip() for column in COLUMNS},
                                    **{column: value for column, value in optional.items() if value})
            except ValidationError as err:
                reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in err.errors())
                problems.append(Problem(line, reasons))
                continue
            rows.append(Row(line, body.name, body.date_of_birth, body.email, body.mrn, body.phone, body.language))
    return rows, problems


@app.command("import-patients")
def import_patients(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV: name,date_of_birth,email,mrn (optionally phone,language)")],
    invite: Annotated[bool, typer.Option("--invite/--no-invite",
                                         help="mail each patient an invitation now, or let their first notice carry "
                                              "the temporary password (fast: for large files)")] = True,
    workers: Annotated[int, typer.Option(min=1, max=32)] = 8,
) -> None:
    """Register patients from a CSV file. Every row is checked first; a file with a bad row imports
    nothing. Rows already registered with the same details are skipped, so a re-run is safe."""
    from chalicelib.services.accounts import patient_import

    rows, problems = _read_rows(file)
    plan = patient_import.plan(rows, problems)
    for row in plan.already_registered:
        typer.echo(f"line {row.line}: skipped, MRN {row.mrn} is already registered with these details")
    if plan.problems:
        for problem in plan.problems:
            typer.echo(f"line {problem.line}: {problem.reason}", err=True)
        _fail(f"{len(plan.problems)} bad row(s) in {file}: nothing imported. Fix them and run the import again.")

    with typer.progressbar(length=len(plan.new), label="Importing", file=sys.stderr) as bar:
        outcome = patient_import.run(_operator(), plan.new, invite=invite, workers=workers, progress=bar.update)
    for problem in outcome.failed:
        typer.echo(f"line {problem.line}: not imported: {problem.reason}", err=True)
    invitations = "invitations mailed" if invite else "the first notice to each carries a temporary password"
    typer.echo(f"imported {outcome.imported} patient(s) ({invitations}); "
               f"skipped {len(plan.already_registered)} already registered")
    if outcome.failed:
        raise typer.Exit(1)


@app.command("sweep")
def sweep(now: Annotated[str, typer.Option(help="the sweep's time, ISO 8601 (default: now)")] = "") -> None:
    """Run the follow-up sweep once, as the hourly schedule does."""
    from chalicelib.clock import clock, parse_iso
    from chalicelib.services.followup import sweep as followup

    moment = clock.now()
    if now:
        try:
            moment = parse_iso(now)
        except ValueError:
            raise typer.BadParameter(f"not an ISO 8601 time: {now}", param_hint="--now") from None
    typer.echo(json.dumps(followup.run_schedule(moment), indent=2, default=str))


class DeadLetterQueue(StrEnum):
    publish = "publish"
    recovery = "recovery"
    export = "export"
    lab = "lab"


@app.command("replay-dlq")
def replay_dlq(
    limit: Annotated[int | None, typer.Option(min=1, help="move at most this many (default: all)")] = None,
    queue: Annotated[DeadLetterQueue, typer.Option("--queue", help="whose dead letters")] = DeadLetterQueue.publish,
) -> None:
    """Move dead letters back to their queue: failed uploads (publish), password recovery jobs
    (recovery), take-away records jobs (export) or lab files (lab)."""
    from chalicelib.services import operations

    moved = operations.replay_dead_letters(limit, queue.value)
    typer.echo(f"moved {moved} message(s) back to the {queue.value} queue")


@app.command("lab-drop")
def lab_drop(file: Annotated[Path, typer.Argument(help="an HL7 v2 or FHIR R4 JSON file", exists=True, dir_okay=False)]) -> None:
    """Put a lab file under lab/ in the results bucket, as the lab interface does: the lab function
    reads it (docs/results.md), publishing its results or quarantining what it cannot read."""
    from chalicelib.errors import PortalError
    from chalicelib.services.results import intake

    try:
        key = intake.drop(file.name, file.read_bytes())
    except PortalError as refused:
        _fail(f"refused: {refused.message}")
    typer.echo(f"put {file.name} at {key}; the lab function reads it from the lab queue")


@app.command("export-audit")
def export_audit(
    patient: Annotated[str, typer.Option(help="the patient's id")],
    format: Annotated[Format, typer.Option("--format")] = Format.json,
    output: Annotated[Path | None, typer.Option(help="file to write (default: standard output)")] = None,
) -> None:
    """A patient's whole audit trail, oldest first."""
    from chalicelib.services import operations

    rows = operations.export_audit(_operator(), patient)
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if format is Format.json:
            json.dump(rows, handle, indent=2)
            handle.write("\n")
        else:
            columns = ["id", "at", "action", "outcome", "actor_id", "actor_role", "patient_id", "target_id",
                       "client_ip", "detail"]
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "detail": json.dumps(row["detail"]) if row["detail"] else ""})
    finally:
        if output:
            handle.close()
    if output:
        typer.echo(f"wrote {len(rows)} event(s) to {output}", err=True)


# ---------------------------------------------------------------- upgrades, backups and restores

@app.command("migrate")
def migrate(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what each migration would change; write nothing")] = False,
    status: Annotated[bool, typer.Option("--status", help="list this release's migrations and where each stands")] = False,
    only: Annotated[str | None, typer.Option(help="run only this migration (its id or its version, such as 0002)")] = None,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="rows read per page")] = 100,
    max_pages: Annotated[int | None, typer.Option(min=1, help="stop after this many pages; the next run carries on")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Run the data migrations this release needs, in order of their version (after deploying it).
    Each is recorded when done and never runs twice; a run stopped or interrupted carries on where it
    stopped. See docs/upgrading.md."""
    from chalicelib.services.maintenance import migrations

    if status:
        rows = migrations.status()
        if as_json:
            typer.echo(json.dumps({"migrations": rows}, indent=2))
            return
        for row in rows:
            counts = f" ({row['examined']} row(s) looked at, {row['changed']} changed)" if row["status"] != "pending" else ""
            typer.echo(f"{row['id']}: {row['status']}{counts} - {row['title']}")
        return

    def show(outcome: migrations.Outcome) -> None:
        if as_json:
            return
        verb = {"done": "done", "already_done": "already done", "stopped": "stopped (run again to carry on)",
                "dry_run": "dry run"}[outcome.status]
        changed = "would change" if outcome.status == "dry_run" else "changed"
        counts = "" if outcome.status == "already_done" else \
            f": {outcome.examined} row(s) looked at, {outcome.changed} {changed}"
        typer.echo(f"{outcome.id}: {verb}{counts}")

    try:
        outcomes = migrations.run(_operator(), dry_run=dry_run, only=only, page_size=page_size, max_pages=max_pages,
                                  progress=show)
    except KeyError:
        _fail(f"no migration {only!r}: `portal migrate --status` lists them", 2)
    except migrations.SchemaBehind as behind:
        _fail("the stack lacks what this release needs: " + "; ".join(behind.gaps)
              + ". Deploy this release first (on the local stack, `make run` creates them); nothing was migrated.")
    except migrations.MigrationHeld as held:
        _fail(held.message)
    if as_json:
        typer.echo(json.dumps({"dry_run": dry_run, "migrations": [o.as_json() for o in outcomes]}, indent=2))
    if any(o.status == "stopped" for o in outcomes):
        raise typer.Exit(3)


@app.command("backup")
def backup(
    aws_export: Annotated[bool, typer.Option("--aws-export", help="have DynamoDB export each table to the bucket "
                                                                   "(point-in-time; AWS only, finishes minutes later)")] = False,
    kms_key: Annotated[str | None, typer.Option(help="with --aws-export: the KMS key the export is encrypted with")] = None,
    at: Annotated[str | None, typer.Option(help="with --aws-export: the tables as they were at this moment of the "
                                                "last 35 days (ISO 8601), from point-in-time recovery")] = None,
    list_them: Annotated[bool, typer.Option("--list", help="list the backups in the bucket")] = False,
    status: Annotated[str | None, typer.Option(help="a backup made with --aws-export: how far each table's export is")] = None,
) -> None:
    """Back up every table into the results bucket (backups/<id>/), to restore with `portal restore`."""
    from chalicelib.clock import parse_iso
    from chalicelib.localstack import table_export
    from chalicelib.services.maintenance import backups
    from chalicelib.settings import get_settings

    try:
        moment = parse_iso(at) if at else None
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {at}", param_hint="--at") from None
    try:
        if list_them:
            for backup_id in backups.list_backups():
                typer.echo(backup_id)
            return
        if status:
            for table, state in sorted(backups.export_states(status).items()):
                typer.echo(f"{table}: {state}")
            return
        # DynamoDB Local has no export to S3: on the local stage the local runner plays it.
        local = get_settings().stage == "local" and not aws_export
        read_table = table_export.rows if local else None
        manifest = backups.backup(_operator(), aws_export=not local, kms_key=kms_key, at=moment,
                                  progress=lambda line: typer.echo(line, err=True), read_table=read_table)
    except backups.BackupProblem as problem:
        _fail(problem.message)
    rows = sum(entry.get("rows", 0) for entry in manifest["tables"].values())
    what = "exports started" if manifest["kind"] == "aws_export" else f"{rows} row(s)"
    typer.echo(f"backup {manifest['id']}: {len(manifest['tables'])} table(s), {what}", err=True)
    typer.echo(manifest["id"])


@app.command("restore")
def restore(
    backup_id: Annotated[str, typer.Argument(help="the backup's id (`portal backup --list`)")],
    from_bucket: Annotated[str | None, typer.Option(help="the bucket holding the backup (the old stack's; "
                                                         "default: this stack's own)")] = None,
    files_from: Annotated[str | None, typer.Option(help="also copy the files the rows point at (documents, "
                                                        "quarantined uploads, records, letters) from this bucket "
                                                        "(the old stack's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Restore a backup into this stage's stack, which must be fresh (every table empty); then check
    every table against the backup. See docs/operations.md, "Backup and restore"."""
    from chalicelib.services.maintenance import backups

    try:
        restored = backups.restore(_operator(), backup_id, source_bucket=from_bucket, files_from=files_from,
                                   progress=None if as_json else lambda line: typer.echo(line, err=True))
    except backups.BackupProblem as problem:
        _fail(problem.message)
    if as_json:
        typer.echo(json.dumps(restored.as_json(), indent=2))
    else:
        rows = sum(table.rows for table in restored.tables)
        expired = sum(table.expired for table in restored.tables)
        left_out = f" ({expired} whose time to live had passed left out)" if expired else ""
        typer.echo(f"restored {backup_id}: {rows} row(s){left_out} in {len(restored.tables)} table(s), "
                   f"{restored.files} file(s); "
                   + ("every table matches the backup" if restored.verified else "SOME TABLES DO NOT MATCH THE BACKUP"))
    for table in restored.tables:
        if not table.verified:
            typer.echo(f"{table.table}: {table.problem}", err=True)
    if not restored.verified:
        raise typer.Exit(1)
