"""The deployed stages' IAM policies: current with the models, named actions on named resources,
an append-only audit table, and the permissions Lambda's own event sources and logs need."""

from __future__ import annotations

import json

import pytest
from chalice.app import SQSEventConfig

from chalicelib.stages import ROOT, stage_environment
from infra import policy
from tests.app_calls import allows

CONFIG = json.loads((ROOT / ".chalice/config.json").read_text())


def _policy(stage: str) -> dict:
    return json.loads(policy.policy_path(stage).read_text())


@pytest.mark.parametrize("stage", policy.DEPLOYED_STAGES)
def test_committed_policy_is_the_one_generated_from_the_models(stage):
    # Given the policy file committed for the stage
    committed = policy.policy_path(stage).read_text()

    # Then it is what `python -m infra.policy` writes for today's tables (re-run it after adding one)
    assert committed == policy.render(stage), "out of date: run `.venv/bin/python -m infra.policy` and review the diff"
    assert CONFIG["stages"][stage]["iam_policy_file"] == f"policy-{stage}.json"
    assert CONFIG["autogen_policy"] is False


@pytest.mark.parametrize("stage", policy.DEPLOYED_STAGES)
def test_every_action_is_named_and_every_resource_is_the_stages_own(stage):
    # Given the stage's policy and its names
    document, env = _policy(stage), stage_environment(stage)
    names = (env["TABLE_PREFIX"] + "-", env["RESULTS_BUCKET"], env["PUBLISH_QUEUE_NAME"], env["SES_CONFIGURATION_SET"],
             env["MAIL_FROM"].rsplit("@", 1)[-1], f"patient-portal-{stage}")

    for statement in document["Statement"]:
        # Then no action is a wildcard
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
        # And only X-Ray's actions, which take no resource, are granted on "*"
        if statement["Resource"] == "*":
            assert set(statement["Action"]) == set(policy.TRACE_ACTIONS)
            continue
        for resource in statement["Resource"]:
            assert any(name in resource for name in names), resource
            assert "portal-local" not in resource


@pytest.mark.parametrize("stage", policy.DEPLOYED_STAGES)
def test_the_audit_table_is_append_only(stage):
    # Given the stage's audit table
    document = _policy(stage)
    audit = f"arn:aws:dynamodb:us-east-1:123456789012:table/{stage_environment(stage)['TABLE_PREFIX']}-audit"

    # Then rows can be put, read and queried
    for action in ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"):
        assert allows(document, action, audit)
    # And never changed or removed, in any way
    for action in ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan",
                   "dynamodb:DeleteTable", "dynamodb:UpdateTable"):
        assert not allows(document, action, audit)


def test_no_table_may_be_scanned_or_dropped():
    # Given the prod policy and every prod table
    document = _policy("prod")
    env = stage_environment("prod")
    for statement in document["Statement"]:
        for resource in statement["Resource"] if statement["Resource"] != "*" else []:
            if ":table/" in resource:
                # Then no table or index can be scanned, deleted or reshaped
                for action in ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:CreateTable"):
                    assert not allows(document, action, resource)
                assert env["TABLE_PREFIX"] in resource


def test_lambda_can_poll_every_queue_it_is_subscribed_to_and_write_its_logs():
    # Given the app's SQS-triggered handlers
    from app import app

    document = _policy("prod")
    local, prod = stage_environment("local"), stage_environment("prod")
    queues = [s.queue.replace(local["TABLE_PREFIX"], prod["TABLE_PREFIX"])
              for s in app.event_sources if isinstance(s, SQSEventConfig)]
    assert {prod["PUBLISH_QUEUE_NAME"], prod["RECOVERY_QUEUE_NAME"]} <= set(queues)

    # Then the role lets Lambda's event source mapping receive, delete and inspect their messages
    for queue in queues:
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            assert allows(document, action, f"arn:aws:sqs:us-east-1:123456789012:{queue}")
    # And the functions can write their logs and traces
    log_group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/patient-portal-prod-publish:log-stream:x"
    assert allows(document, "logs:PutLogEvents", log_group)
    assert allows(document, "xray:PutTraceSegments", "*")
    # But not another app's logs
    assert not allows(document, "logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/other:x")


def test_the_coverage_check_refuses_what_the_policy_does_not_grant():
    # Given a policy that grants reads on one table only
    document = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"],
                               "Resource": ["arn:aws:dynamodb:*:*:table/portal-prod-items"]}]}

    # Then the evaluator the policy coverage test uses allows exactly that
    assert allows(document, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items")
    assert not allows(document, "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items")
    assert not allows(document, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items-2")
    assert not allows(document, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/portal-prod-items/index/x")
