"""The `portal` command line's staff commands against the test stack: list staff, disable and
enable a member (their sessions end), change a role, reset an authenticator app."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from portal_cli.cli import app
from tests.support.lifecycle import new_member

runner = CliRunner()


def portal_cli(*args: str):
    return runner.invoke(app, ["--stage", "local", *args], catch_exceptions=False)


def test_list_staff_names_every_member_with_their_state(portal, admin):
    # Given a staff member
    member = new_member(portal, admin)

    # When the operator lists staff as CSV and as JSON
    as_csv = portal_cli("list-staff")
    as_json = portal_cli("list-staff", "--format", "json")

    # Then both have the member, active, with an authenticator app
    assert as_csv.exit_code == 0 and as_json.exit_code == 0, as_csv.output
    row = next(r for r in csv.DictReader(io.StringIO(as_csv.output)) if r["id"] == member.id)
    assert (row["username"], row["role"], row["active"], row["mfa_enrolled"]) == (member.username, "staff", "True", "True")
    listed = {m["id"]: m for m in json.loads(as_json.output)["staff"]}
    assert listed[member.id]["active"] is True


def test_disable_enable_and_set_role_from_the_command_line(portal, admin):
    # Given a signed-in staff member
    member = new_member(portal, admin)

    # When the operator disables them
    disabled = portal_cli("disable-staff", member.username)

    # Then their session has ended and their sign-in is refused
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    assert member.api.get("/api/me").status_code == 401
    assert portal.login(member.username, member.password).status_code == 401

    # When the operator enables them and makes them an admin (by id)
    assert portal_cli("enable-staff", member.username).exit_code == 0
    promoted = portal_cli("set-role", member.id, "admin")

    # Then they sign in again, as an admin
    assert promoted.exit_code == 0 and promoted.output.startswith("admin ")
    assert portal.signed_in(member.username, member.password).get("/api/admin/staff").status_code == 200


def test_mfa_reset_and_unknown_names_from_the_command_line(portal, admin):
    # Given a staff member with an authenticator app
    member = new_member(portal, admin)

    # When the operator resets it, and names someone who is not staff
    reset = portal_cli("mfa-reset", member.username)
    nobody = portal_cli("disable-staff", "no-such-member")

    # Then the member's next sign-in sets up a new app, and the unknown name fails plainly
    assert reset.exit_code == 0
    assert portal.login(member.username, member.password).json()["mfa"] == "enroll"
    assert nobody.exit_code == 1 and "no staff member" in nobody.output
