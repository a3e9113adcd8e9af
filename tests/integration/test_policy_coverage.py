"""The prod IAM policy allows every AWS call the portal's functions made in this test session.

`conftest.py` records, for the whole session, the calls made while a Lambda entry point runs
(routes and event handlers; see `tests/app_calls.py` for what is left out and why) and runs
this file last, so with `pytest tests` it checks the calls of the whole suite. Run alone, it
still checks the requests it makes itself.
"""

from __future__ import annotations

import json

from chalicelib.localstack import pump
from chalicelib.stages import ROOT, stage_environment
from tests.app_calls import not_allowed

PROD_POLICY = json.loads((ROOT / ".chalice/policy-prod.json").read_text())


def _tour(portal, staff) -> None:
    """A patient's and the office's everyday requests, so this check never runs on nothing."""
    patient = portal.new_patient(staff)
    assert patient.api.get("/api/items").status_code == 200
    assert staff.get(f"/api/staff/patients/{patient.id}").status_code == 200
    assert staff.get("/api/staff/queue").status_code == 200
    pump.drain()
    pump.run_schedules()


_RENAMED = ("TABLE_PREFIX", "RESULTS_BUCKET", "PUBLISH_QUEUE_NAME", "RECOVERY_QUEUE_NAME", "SES_CONFIGURATION_SET",
            "MAIL_FEEDBACK_TOPIC", "MAIL_FROM")
LOCAL, PROD = stage_environment("local"), stage_environment("prod")


def _prod_names(resource: str) -> str:
    """The test stack runs the local stage; the same call in prod names the prod resources."""
    for name in sorted(_RENAMED, key=lambda n: -len(LOCAL[n])):
        resource = resource.replace(LOCAL[name], PROD[name])
    return resource


def test_prod_policy_allows_every_call_the_app_made(portal, staff, app_calls):
    # Given the calls the app made during the session, and a tour of everyday requests
    _tour(portal, staff)
    requirements = {
        tuple((action, _prod_names(arn)) for action, arn in need): example
        for need, example in dict(app_calls.requirements).items()
    }
    actions = {action for need in requirements for action, _ in need}
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "ses:SendEmail"} <= actions

    # When each is checked against the prod policy
    missing = not_allowed(PROD_POLICY, requirements)

    # Then none is refused
    assert not missing, "the prod policy refuses:\n" + "\n".join(
        f"  {' or '.join(f'{a} on {r}' for a, r in need)}   (from {requirements[need]})" for need in missing)
