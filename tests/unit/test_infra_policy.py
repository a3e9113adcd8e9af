"""The deployed stages' IAM policies, one per Lambda function: current with the models, named
actions on named resources, an append-only audit table, the permissions Lambda's own event
sources and logs need, and nothing a function never does."""

from __future__ import annotations

import json

import pytest
from chalice.app import SQSEventConfig

from chalicelib.stages import ROOT, stage_environment
from infra import policy
from tests.support.app_calls import AppCallRecorder, allows

CONFIG = json.loads((ROOT / ".chalice/config.json").read_text())
STAGE_FUNCTIONS = [(stage, function) for stage in policy.DEPLOYED_STAGES for function in policy.FUNCTIONS]
ACCOUNT_ARN = "arn:{service}:us-east-1:123456789012:{resource}"


def _policy(stage: str, function: str) -> dict:
    return json.loads(policy.policy_path(stage, function).read_text())


def _arn(service: str, resource: str) -> str:
    return ACCOUNT_ARN.format(service=f"aws:{service}", resource=resource)


def test_every_function_of_the_app_has_a_role_of_its_own():
    # Given the app's Lambda functions as Chalice packages them
    from app import app

    functions = {policy.API_FUNCTION} | {source.name for source in app.event_sources}

    # Then each has its own policy file in each deployed stage, and no policy is left over
    assert set(policy.FUNCTIONS) == functions, (
        "each Lambda function needs what it does in infra/policy.py FUNCTIONS and its iam_policy_file in "
        ".chalice/config.json (then run `.venv/bin/python -m infra.policy`)")
    for stage in policy.DEPLOYED_STAGES:
        assert "iam_policy_file" not in CONFIG["stages"][stage]
        files = {name: settings["iam_policy_file"] for name, settings in CONFIG["stages"][stage]["lambda_functions"].items()}
        assert files == {function: policy.policy_file(stage, function) for function in functions}
        assert len(set(files.values())) == len(functions)
    on_disk = {path.name for path in (ROOT / ".chalice").glob("policy-*.json")}
    assert on_disk == {policy.policy_file(stage, function) for stage, function in STAGE_FUNCTIONS}


@pytest.mark.parametrize(("stage", "function"), STAGE_FUNCTIONS)
def test_committed_policy_is_the_one_generated_from_the_models(stage, function):
    # Given the policy file committed for the stage's function
    committed = policy.policy_path(stage, function).read_text()

    # Then it is what `python -m infra.policy` writes for today's tables (re-run it after adding one)
    assert committed == policy.render(stage, function), "out of date: run `.venv/bin/python -m infra.policy` and review the diff"
    assert CONFIG["autogen_policy"] is False


@pytest.mark.parametrize(("stage", "function"), STAGE_FUNCTIONS)
def test_every_action_is_named_and_every_resource_is_the_stages_own(stage, function):
    # Given the stage's policy for the function and the stage's names
    document, env = _policy(stage, function), stage_environment(stage)
    names = (env["TABLE_PREFIX"] + "-", env["RESULTS_BUCKET"], env["PUBLISH_QUEUE_NAME"], env["RECOVERY_QUEUE_NAME"],
             env["MAIL_FEEDBACK_TOPIC"], env["SES_CONFIGURATION_SET"], env["MAIL_FROM"].rsplit("@", 1)[-1],
             f"patient-portal-{stage}")

    for statement in document["Statement"]:
        # Then no action is a wildcard
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
        # And only X-Ray's actions and text messages, which take no resource, are granted on "*"
        if statement["Resource"] == "*":
            assert set(statement["Action"]) in (set(policy.TRACE_ACTIONS), set(policy.TEXT_ACTIONS))
            continue
        for resource in statement["Resource"]:
            assert any(name in resource for name in names), resource
            assert "portal-local" not in resource


@pytest.mark.parametrize(("stage", "function"), STAGE_FUNCTIONS)
def test_the_audit_table_is_append_only_for_every_function(stage, function):
    # Given the stage's audit table
    document = _policy(stage, function)
    audit = _arn("dynamodb", f"table/{stage_environment(stage)['TABLE_PREFIX']}-audit")

    # Then rows can be put, read and queried
    for action in ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"):
        assert allows(document, action, audit)
    # And never changed or removed, in any way, by any function
    for action in ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan",
                   "dynamodb:DeleteTable", "dynamodb:UpdateTable"):
        assert not allows(document, action, audit)


@pytest.mark.parametrize("function", policy.FUNCTIONS)
def test_no_table_may_be_scanned_or_dropped(function):
    # Given the prod policy of the function and every table it names
    document = _policy("prod", function)
    env = stage_environment("prod")
    for statement in document["Statement"]:
        for resource in statement["Resource"] if statement["Resource"] != "*" else []:
            if ":table/" in resource:
                # Then no table or index can be scanned, deleted or reshaped
                for action in ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:CreateTable"):
                    assert not allows(document, action, resource)
                assert env["TABLE_PREFIX"] in resource


def test_each_queue_function_can_poll_its_queue_and_every_function_write_its_own_logs():
    # Given the app's SQS-triggered handlers
    from app import app

    local, prod = stage_environment("local"), stage_environment("prod")
    polled = {s.name: s.queue.replace(local["TABLE_PREFIX"], prod["TABLE_PREFIX"])
              for s in app.event_sources if isinstance(s, SQSEventConfig)}
    assert set(polled.values()) >= {prod["PUBLISH_QUEUE_NAME"], prod["RECOVERY_QUEUE_NAME"]}

    # Then each one's role lets Lambda's event source mapping receive, delete and inspect its messages
    for function, queue in polled.items():
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            assert allows(_policy("prod", function), action, _arn("sqs", queue))
        # And not another queue's
        for other in set(polled.values()) - {queue}:
            assert not allows(_policy("prod", function), "sqs:ReceiveMessage", _arn("sqs", other))
    # And each function can write its own logs and traces, not another function's or app's
    for function in policy.FUNCTIONS:
        document = _policy("prod", function)
        name = "patient-portal-prod" + ("" if function == policy.API_FUNCTION else f"-{function}")
        assert allows(document, "logs:PutLogEvents", _arn("logs", f"log-group:/aws/lambda/{name}:log-stream:x"))
        assert allows(document, "xray:PutTraceSegments", "*")
        assert not allows(document, "logs:PutLogEvents", _arn("logs", "log-group:/aws/lambda/other:x"))
        assert not allows(document, "logs:CreateLogGroup", _arn("logs", f"log-group:/aws/lambda/{name}:*"))
    assert not allows(_policy("prod", "follow-up-sweep"), "logs:PutLogEvents",
                      _arn("logs", "log-group:/aws/lambda/patient-portal-prod:log-stream:x"))


def test_a_function_is_refused_what_it_never_does():
    # Given the prod roles and resources
    env = stage_environment("prod")
    bucket_object = f"arn:aws:s3:::{env['RESULTS_BUCKET']}/documents/p_1/d_1"
    items = _arn("dynamodb", f"table/{env['TABLE_PREFIX']}-items")
    sweep, feedback, recovery = (_policy("prod", f) for f in ("follow-up-sweep", "mail-feedback", "password-recovery"))

    # Then the sweep reads no file and deletes none
    assert not allows(sweep, "s3:DeleteObject", bucket_object)
    assert not allows(sweep, "s3:GetObject", bucket_object)
    # And mail feedback writes no item, touches no file and sends no mail
    assert not allows(feedback, "dynamodb:PutItem", items)
    assert not allows(feedback, "s3:DeleteObject", bucket_object)
    assert not allows(feedback, "ses:SendRawEmail", _arn("ses", f"identity/{env['MAIL_FROM']}"))
    # And password recovery neither reads documents nor polls the publish queue
    assert not allows(recovery, "s3:GetObject", bucket_object)
    assert not allows(recovery, "sqs:ReceiveMessage", _arn("sqs", env["PUBLISH_QUEUE_NAME"]))
    # While the functions that do these things may
    assert allows(_policy("prod", "publish-uploads"), "dynamodb:PutItem", items)
    assert allows(_policy("prod", policy.API_FUNCTION), "s3:GetObject", bucket_object)
    # And the API, which signs uploads and downloads, deletes no file and writes none outside incoming/
    assert not allows(_policy("prod", policy.API_FUNCTION), "s3:DeleteObject", bucket_object)
    assert not allows(_policy("prod", policy.API_FUNCTION), "s3:PutObject", bucket_object)


def test_a_customer_managed_key_is_granted_to_the_functions_that_read_or_write_what_it_encrypts():
    # Given a stage with a customer-managed key
    from chalicelib.settings import get_settings
    from chalicelib.store.tables import all_models

    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    env = stage_environment("prod")

    def document(function: str) -> dict:
        return policy.build(env, "prod", function, all_models(), get_settings().table_prefix, kms_key=key)

    # Then the publisher (objects, its queue) and the API (objects, the recovery queue) may use it
    for function in ("publish-uploads", policy.API_FUNCTION, "password-recovery"):
        assert allows(document(function), "kms:Decrypt", key)
        assert allows(document(function), "kms:GenerateDataKey", key)
    # And no other key
    assert not allows(document("publish-uploads"), "kms:Decrypt", key.replace("1234abcd", "99999999"))
    # And without the setting, no function is granted any key
    assert not any(statement["Sid"] == "CustomerKey" for statement in _policy("prod", "publish-uploads")["Statement"])


def test_the_coverage_check_refuses_what_the_policy_does_not_grant():
    # Given a policy that grants reads on one table only
    document = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"],
                               "Resource": ["arn:aws:dynamodb:*:*:table/portal-prod-items"]}]}

    # Then the evaluator the policy coverage test uses allows exactly that
    assert allows(document, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items")
    assert not allows(document, "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items")
    assert not allows(document, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items-2")
    assert not allows(document, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items/index/x")


def test_calls_a_worker_saved_reach_the_coverage_check_unchanged(tmp_path):
    # Given what two worker processes recorded: the same call by one function, and calls of their own
    first, second = AppCallRecorder(), AppCallRecorder()
    shared = (("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/portal-local-items"),)
    first.by_function["api_handler"] = {shared: "dynamodb:GetItem on items"}
    second.by_function["api_handler"] = {shared: "dynamodb:GetItem on items (again)"}
    second.by_function["outbox-sender"] = {
        (("ses:SendEmail", "arn:aws:ses:us-east-1:1:identity/a"), ("ses:SendRawEmail", "arn:aws:ses:us-east-1:1:*")):
            "sesv2:SendEmail"}

    # When each saves its calls and the check's own recorder adds both files
    first.save(tmp_path / "gw0.json")
    second.save(tmp_path / "gw1.json")
    check = AppCallRecorder()
    for path in sorted(tmp_path.glob("*.json")):
        check.merge(path)

    # Then every requirement of every function is there, alternatives kept together, the first example kept
    assert check.by_function == {"api_handler": {shared: "dynamodb:GetItem on items"},
                                 "outbox-sender": second.by_function["outbox-sender"]}
    assert set(check.requirements) == {shared, *second.by_function["outbox-sender"]}
