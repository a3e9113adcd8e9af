"""The Lambda functions' IAM policy for each deployed stage (`.chalice/policy-<stage>.json`).

Generated from the models and the stage's names so a new table cannot be forgotten, and
committed so a reviewer reads exactly what is granted. Every action is named (no `*` actions)
and every resource is named (the account and region parts are wildcards; X-Ray's two actions
accept no resource but `*`). The audit table is append-only: put, get and query, nothing else.

    python -m infra.policy            # rewrite .chalice/policy-dev.json and policy-prod.json
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from chalicelib.stages import ROOT, stage_environment
from infra.template import APP_NAME, table_suffix

DEPLOYED_STAGES = ("dev", "prod")
APPEND_ONLY_TABLES = {"audit"}

TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
APPEND_ONLY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
INDEX_ACTIONS = ["dynamodb:Query"]
# What Lambda's SQS event source mapping does with the function's role, plus the publisher's own calls.
PUBLISH_QUEUE_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
]
# The forgot-password request queues recovery jobs (finding the queue's URL once per process).
RECOVERY_QUEUE_ACTIONS = sorted(PUBLISH_QUEUE_ACTIONS + ["sqs:GetQueueUrl", "sqs:SendMessage"])
OBJECT_ACTIONS = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
MAIL_ACTIONS = ["ses:SendEmail", "ses:SendRawEmail"]
LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
# X-Ray has no resource-level permissions: these two take "*" only.
TRACE_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def table_arn(table_name: str) -> str:
    return f"arn:aws:dynamodb:*:*:table/{table_name}"


def _table_statements(models: list, current_prefix: str, stage_prefix: str) -> list[dict[str, Any]]:
    statements = []
    for model in sorted(models, key=lambda m: m.Meta.table_name):
        suffix = table_suffix(model, current_prefix)
        name = f"{stage_prefix}-{suffix}"
        sid = "".join(part.capitalize() for part in suffix.replace("_", "-").split("-"))
        append_only = suffix in APPEND_ONLY_TABLES
        statements.append({
            "Sid": f"Table{sid}" + ("AppendOnly" if append_only else ""),
            "Effect": "Allow",
            "Action": APPEND_ONLY_ACTIONS if append_only else TABLE_ACTIONS,
            "Resource": [table_arn(name)],
        })
        indexes = sorted(index.Meta.index_name for index in model._indexes.values())
        if indexes:
            statements.append({
                "Sid": f"Indexes{sid}",
                "Effect": "Allow",
                "Action": INDEX_ACTIONS,
                "Resource": [f"{table_arn(name)}/index/{index}" for index in indexes],
            })
    return statements


def build(environment: dict[str, str], stage: str, models: list, current_prefix: str) -> dict[str, Any]:
    bucket = environment["RESULTS_BUCKET"]
    queue = environment["PUBLISH_QUEUE_NAME"]
    sender = environment["MAIL_FROM"]
    functions = f"{APP_NAME}-{stage}"
    statements = _table_statements(models, current_prefix, environment["TABLE_PREFIX"])
    statements += [
        {"Sid": "ResultsObjects", "Effect": "Allow", "Action": OBJECT_ACTIONS,
         "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        {"Sid": "PublishQueue", "Effect": "Allow", "Action": PUBLISH_QUEUE_ACTIONS,
         "Resource": [f"arn:aws:sqs:*:*:{queue}"]},
        {"Sid": "RecoveryQueue", "Effect": "Allow", "Action": RECOVERY_QUEUE_ACTIONS,
         "Resource": [f"arn:aws:sqs:*:*:{environment['RECOVERY_QUEUE_NAME']}"]},
        {"Sid": "SendMail", "Effect": "Allow", "Action": MAIL_ACTIONS,
         "Resource": [
             f"arn:aws:ses:*:*:identity/{sender.rsplit('@', 1)[-1]}",
             f"arn:aws:ses:*:*:identity/{sender}",
             f"arn:aws:ses:*:*:configuration-set/{environment['SES_CONFIGURATION_SET']}",
         ]},
        {"Sid": "Logs", "Effect": "Allow", "Action": LOG_ACTIONS,
         "Resource": [
             f"arn:aws:logs:*:*:log-group:/aws/lambda/{functions}:*",
             f"arn:aws:logs:*:*:log-group:/aws/lambda/{functions}-*:*",
         ]},
        {"Sid": "Traces", "Effect": "Allow", "Action": TRACE_ACTIONS, "Resource": "*"},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def policy_path(stage: str):
    return ROOT / ".chalice" / f"policy-{stage}.json"


def render(stage: str) -> str:
    from chalicelib.settings import get_settings
    from chalicelib.store.tables import all_models

    document = build(stage_environment(stage), stage, all_models(), get_settings().table_prefix)
    return json.dumps(document, indent=2) + "\n"


def main() -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for stage in DEPLOYED_STAGES:
        policy_path(stage).write_text(render(stage))
        print(f"wrote {policy_path(stage).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
