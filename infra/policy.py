"""Each Lambda function's IAM policy for each deployed stage (`.chalice/policy-<stage>-<function>.json`).

Every function has its own role, holding only what that function does (`FUNCTIONS`): which
tables it reads or writes, which S3 actions under which prefixes, which queue it polls or sends
to, whether it sends mail. Generated from that table, the models and the stage's names so a new
table cannot be forgotten, and committed so a reviewer reads exactly what is granted; the policy
coverage test proves each function's recorded calls are allowed by its own role. Every action is
named (no `*` actions) and every resource is named (the account and region parts are wildcards;
X-Ray's two actions accept no resource but `*`). The audit table is append-only for every
function: put (conditional, never overwriting), get and query, nothing else.

    python -m infra.policy            # rewrite the policies of the dev and prod stages
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from chalicelib.stages import ROOT, deployment_settings, stage_environment
from infra.template import API_FUNCTION, dead_letter_queue_name, function_name, table_suffix

DEPLOYED_STAGES = ("dev", "prod")
APPEND_ONLY_TABLES = {"audit"}

READ_ACTIONS = ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:Query"]
TABLE_ACTIONS = sorted(READ_ACTIONS + ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"])
APPEND_ONLY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
INDEX_ACTIONS = ["dynamodb:Query"]
# What Lambda's SQS event source mapping does with the function's role, plus a handler's own calls.
POLL_QUEUE_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
]
# Queueing a job (finding the queue's URL once per process).
SEND_QUEUE_ACTIONS = ["sqs:GetQueueUrl", "sqs:SendMessage"]
MAIL_ACTIONS = ["ses:SendEmail", "ses:SendRawEmail"]
# Text messages straight to a phone number (no topic) and the check of SNS's opted-out list: IAM
# knows no resource for either, so they are granted on "*" (as X-Ray's two actions are).
TEXT_ACTIONS = ["sns:CheckIfPhoneNumberIsOptedOut", "sns:Publish"]
# The template declares every function's log group: the functions only write to it.
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
# X-Ray has no resource-level permissions: these two take "*" only.
TRACE_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
# With a customer-managed key: reading and writing the objects and messages it encrypts.
KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]

READ, WRITE, APPEND = "read", "write", "append"


@dataclass(frozen=True)
class Function:
    """What one Lambda function does with AWS."""

    tables: dict[str, str]  # table suffix -> READ or WRITE (the audit table: APPEND)
    objects: dict[str, tuple[str, ...]] = field(default_factory=dict)  # S3 action -> key prefixes ("" = any)
    polls: str | None = None  # the queue (an environment variable's name) whose messages invoke it
    sends_to: tuple[str, ...] = ()  # queues it sends jobs to
    dead_letters: str | None = None  # a queue its failed invocations go to (asynchronous invocations)
    mails: bool = False
    texts: bool = False  # item notices by text message (SNS SMS)


# What each function does (checked against the calls the suite records, per function).
FUNCTIONS: dict[str, Function] = {
    API_FUNCTION: Function(
        tables={"accounts": WRITE, "audit": APPEND, "counters": WRITE, "exports": WRITE, "grants": WRITE, "idempotency": WRITE,
                "incidents": WRITE, "item_lists": WRITE, "items": WRITE, "messages": WRITE, "name_words": WRITE,
                "outbox": WRITE, "pending_uploads": WRITE, "results": WRITE, "sessions": WRITE, "threads": WRITE,
                "uniques": WRITE, "work": WRITE},
        # Presigned uploads (incoming/) and downloads (documents, take-away zips, letters, quarantined
        # files for staff) are signed with the role's credentials, and staff send a quarantined upload
        # back through incoming/ (a lab message through lab/). A document refiled to the right patient
        # is a copy of its misfiled file (CopyObject: GetObject on it, PutObject on the copy), filed
        # under documents/refiled/ only: the API overwrites no filed upload. Backups (backups/) and
        # files still being published are out of its reach. The API deletes no object.
        objects={"s3:GetObject": ("documents/", "exports/", "letters/", "quarantine/"),
                 "s3:PutObject": ("documents/refiled/", "incoming/", "lab/", "letters/")},
        sends_to=("RECOVERY_QUEUE_NAME", "EXPORT_QUEUE_NAME"),
        mails=True,
        texts=True,
    ),
    # A new-item notice to a patient who never signed in carries a fresh temporary password.
    "publish-uploads": Function(
        tables={"accounts": WRITE, "audit": APPEND, "counters": WRITE, "idempotency": WRITE, "item_lists": WRITE,
                "items": WRITE, "outbox": WRITE, "pending_uploads": READ, "uniques": WRITE, "work": WRITE},
        objects={"s3:GetObject": ("incoming/",), "s3:GetObjectAttributes": ("incoming/",),
                 "s3:PutObject": ("documents/", "quarantine/"), "s3:DeleteObject": ("incoming/",)},
        polls="PUBLISH_QUEUE_NAME",
        mails=True,
        texts=True,
    ),
    # Lab results: reads the files under lab/, finds patients by MRN, writes each result (item, version,
    # list entry, notice, a critical value's work entry), keeps failed messages under quarantine/lab/
    # and writes the parts of a large file back under lab/split/. A notice to a patient who never
    # signed in carries a fresh temporary password.
    "lab-results": Function(
        tables={"accounts": WRITE, "audit": APPEND, "counters": WRITE, "item_lists": WRITE, "items": WRITE,
                "outbox": WRITE, "results": WRITE, "uniques": READ, "work": WRITE},
        objects={"s3:GetObject": ("lab/",), "s3:PutObject": ("lab/split/", "quarantine/lab/")},
        polls="LAB_QUEUE_NAME",
        mails=True,
        texts=True,
    ),
    "password-recovery": Function(
        tables={"accounts": WRITE, "audit": APPEND, "counters": WRITE, "outbox": WRITE, "uniques": READ},
        polls="RECOVERY_QUEUE_NAME",
        mails=True,
    ),
    # The sweep and the outbox sender share the sending path: an invitation sent again carries a
    # fresh temporary password, written to the account. The sweep releases the lab results whose
    # hold ran out (the version row records its release), as a provider's review does from the API.
    "follow-up-sweep": Function(
        tables={"accounts": WRITE, "audit": APPEND, "counters": WRITE, "item_lists": WRITE, "items": WRITE,
                "messages": READ, "outbox": WRITE, "results": WRITE, "threads": READ, "work": WRITE},
        mails=True,
        texts=True,
    ),
    "outbox-sender": Function(
        tables={"accounts": WRITE, "audit": APPEND, "counters": WRITE, "items": WRITE, "messages": READ,
                "outbox": WRITE, "threads": READ, "work": WRITE},
        mails=True,
        texts=True,
    ),
    # Take-away records: reads what the patient holds (their item list too, and the grants of the
    # caregivers who wrote for them), streams each document's file into a zip, puts it under
    # exports/, marks the export ready and mails the patient.
    "build-exports": Function(
        tables={"accounts": READ, "audit": APPEND, "counters": WRITE, "exports": WRITE, "grants": READ,
                "item_lists": READ, "items": READ, "messages": READ, "outbox": WRITE, "results": READ,
                "threads": READ},
        objects={"s3:GetObject": ("documents/",), "s3:PutObject": ("exports/",), "s3:DeleteObject": ("exports/",)},
        polls="EXPORT_QUEUE_NAME",
        mails=True,
    ),
    "mail-feedback": Function(
        tables={"accounts": WRITE, "audit": APPEND, "outbox": WRITE, "work": WRITE},
        dead_letters="MAIL_FEEDBACK_TOPIC",
    ),
}


def table_arn(table_name: str) -> str:
    return f"arn:aws:dynamodb:*:*:table/{table_name}"


def _sid(suffix: str) -> str:
    return "".join(part.capitalize() for part in suffix.replace("_", "-").split("-"))


def _table_statements(models: list, current_prefix: str, stage_prefix: str, access: dict[str, str]) -> list[dict[str, Any]]:
    statements = []
    known = set()
    for model in sorted(models, key=lambda m: m.Meta.table_name):
        suffix = table_suffix(model, current_prefix)
        known.add(suffix)
        if suffix not in access:
            continue
        name = f"{stage_prefix}-{suffix}"
        append_only = suffix in APPEND_ONLY_TABLES
        if append_only != (access[suffix] == APPEND):
            raise ValueError(f"table {suffix}: append-only tables are granted APPEND, and only they")
        actions = APPEND_ONLY_ACTIONS if append_only else TABLE_ACTIONS if access[suffix] == WRITE else READ_ACTIONS
        statements.append({
            "Sid": f"Table{_sid(suffix)}" + ("AppendOnly" if append_only else "" if access[suffix] == WRITE else "Read"),
            "Effect": "Allow",
            "Action": actions,
            "Resource": [table_arn(name)],
        })
        indexes = sorted(index.Meta.index_name for index in model._indexes.values())
        if indexes:
            statements.append({
                "Sid": f"Indexes{_sid(suffix)}",
                "Effect": "Allow",
                "Action": INDEX_ACTIONS,
                "Resource": [f"{table_arn(name)}/index/{index}" for index in indexes],
            })
    unknown = set(access) - known
    if unknown:
        raise ValueError(f"no such tables: {sorted(unknown)}")
    return statements


def build(environment: dict[str, str], stage: str, function: str, models: list, current_prefix: str,
          kms_key: str | None = None) -> dict[str, Any]:
    """The policy of one function of the stage whose environment variables are `environment`."""
    does = FUNCTIONS[function]
    bucket = environment["RESULTS_BUCKET"]
    sender = environment["MAIL_FROM"]
    log_group = function_name(stage, function)
    statements = _table_statements(models, current_prefix, environment["TABLE_PREFIX"], does.tables)
    for action, prefixes in sorted(does.objects.items()):
        statements.append({"Sid": "ResultsObjects" + action.split(":")[1], "Effect": "Allow", "Action": [action],
                           "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in prefixes]})
    if does.polls:
        statements.append({"Sid": "PolledQueue", "Effect": "Allow", "Action": POLL_QUEUE_ACTIONS,
                           "Resource": [f"arn:aws:sqs:*:*:{environment[does.polls]}"]})
    if does.sends_to:
        statements.append({"Sid": "JobQueues", "Effect": "Allow", "Action": SEND_QUEUE_ACTIONS,
                           "Resource": [f"arn:aws:sqs:*:*:{environment[queue]}" for queue in does.sends_to]})
    if does.dead_letters:
        statements.append({"Sid": "DeadLetters", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                           "Resource": [f"arn:aws:sqs:*:*:{dead_letter_queue_name(environment[does.dead_letters])}"]})
    if does.mails:
        statements.append({"Sid": "SendMail", "Effect": "Allow", "Action": MAIL_ACTIONS, "Resource": [
            f"arn:aws:ses:*:*:identity/{sender.rsplit('@', 1)[-1]}",
            f"arn:aws:ses:*:*:identity/{sender}",
            f"arn:aws:ses:*:*:configuration-set/{environment['SES_CONFIGURATION_SET']}",
        ]})
    if does.texts:
        statements.append({"Sid": "SendTexts", "Effect": "Allow", "Action": TEXT_ACTIONS, "Resource": "*"})
    if kms_key and (does.objects or does.polls or does.sends_to or does.dead_letters):
        statements.append({"Sid": "CustomerKey", "Effect": "Allow", "Action": KMS_ACTIONS, "Resource": [kms_key]})
    statements += [
        {"Sid": "Logs", "Effect": "Allow", "Action": LOG_ACTIONS,
         "Resource": [f"arn:aws:logs:*:*:log-group:/aws/lambda/{log_group}:*"]},
        {"Sid": "Traces", "Effect": "Allow", "Action": TRACE_ACTIONS, "Resource": "*"},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def policy_file(stage: str, function: str) -> str:
    """The file name `.chalice/config.json` gives the function's `iam_policy_file` in the stage."""
    return f"policy-{stage}-{function.removesuffix('_handler')}.json"


def policy_path(stage: str, function: str):
    return ROOT / ".chalice" / policy_file(stage, function)


def render(stage: str, function: str) -> str:
    from chalicelib.settings import get_settings
    from chalicelib.store.tables import all_models

    document = build(stage_environment(stage), stage, function, all_models(), get_settings().table_prefix,
                     deployment_settings(stage)["kms_key_arn"])
    return json.dumps(document, indent=2) + "\n"


def main() -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for stage in DEPLOYED_STAGES:
        for function in FUNCTIONS:
            policy_path(stage, function).write_text(render(stage, function))
            print(f"wrote {policy_path(stage, function).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
