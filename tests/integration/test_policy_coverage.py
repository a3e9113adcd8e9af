"""Each function's prod IAM role allows every AWS call that function made in this test session.

`conftest.py` records, for the whole session, the calls made while a Lambda entry point runs
(routes and event handlers; see `tests/support/app_calls.py` for what is left out and why), each with
the Lambda function that made it, and runs this file last, so with `pytest tests` it checks the
calls of the whole suite. `make test` runs the suite in several worker processes, each saving
its calls into `APP_CALLS_DIR`, then runs this file alone, which adds every saved file to its own.
Run alone without it, it still checks the requests it makes itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from chalicelib.localstack import pump
from chalicelib.stages import ROOT, stage_environment
from infra.policy import FUNCTIONS, policy_file
from tests.conftest import APP_CALLS_DIR
from tests.support.app_calls import API_FUNCTION, not_allowed


def _prod_policy(function: str) -> dict:
    return json.loads((ROOT / ".chalice" / policy_file("prod", function)).read_text())


def _tour(portal, staff) -> None:
    """A patient's and the office's everyday requests and the schedules, so this check never runs on nothing."""
    patient = portal.new_patient(staff)
    assert patient.api.get("/api/items").status_code == 200
    assert staff.get(f"/api/staff/patients/{patient.id}").status_code == 200
    assert staff.get("/api/staff/queue").status_code == 200
    pump.drain()
    pump.run_schedules()


_RENAMED = ("TABLE_PREFIX", "RESULTS_BUCKET", "PUBLISH_QUEUE_NAME", "RECOVERY_QUEUE_NAME", "LAB_QUEUE_NAME",
            "SES_CONFIGURATION_SET",
            "MAIL_FEEDBACK_TOPIC", "MAIL_FROM")
LOCAL, PROD = stage_environment("local"), stage_environment("prod")


def _prod_names(resource: str) -> str:
    """The test stack runs the local stage; the same call in prod names the prod resources."""
    for name in sorted(_RENAMED, key=lambda n: -len(LOCAL[n])):
        resource = resource.replace(LOCAL[name], PROD[name])
    return resource


def _add_saved_calls(app_calls) -> None:
    """The calls the suite's worker processes saved, when `make test` ran them before this check."""
    if not os.environ.get(APP_CALLS_DIR):
        return
    saved = sorted(Path(os.environ[APP_CALLS_DIR]).glob("*.json"))
    assert saved, f"{APP_CALLS_DIR} is set but holds no saved calls: the suite's workers saved nothing"
    for path in saved:
        app_calls.merge(path)


def test_each_functions_prod_role_allows_every_call_that_function_made(portal, staff, app_calls):
    # Given the calls each function made during the session (every worker's, under `make test`),
    # and a tour of everyday requests and schedules
    _add_saved_calls(app_calls)
    _tour(portal, staff)
    by_function = {
        function: {tuple((action, _prod_names(arn)) for action, arn in need): example
                   for need, example in dict(needs).items()}
        for function, needs in dict(app_calls.by_function).items()
    }
    assert {API_FUNCTION, "follow-up-sweep", "outbox-sender"} <= set(by_function)
    assert set(by_function) <= set(FUNCTIONS), "a call was made by a function that has no role"
    api_actions = {action for need in by_function[API_FUNCTION] for action, _ in need}
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "ses:SendEmail"} <= api_actions

    # When each function's calls are checked against that function's own prod role
    refused = {function: not_allowed(_prod_policy(function), requirements)
               for function, requirements in by_function.items()}

    # Then none is refused
    assert not any(refused.values()), "a function's own prod role refuses:\n" + "\n".join(
        f"  {function}: {' or '.join(f'{a} on {r}' for a, r in need)}   (from {by_function[function][need]})"
        for function, needs in refused.items() for need in needs)
