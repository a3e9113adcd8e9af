"""The CloudFormation resources merged into `chalice package` output (`--merge-template`).

Tables are generated from the PynamoDB models registered with `@table`, so the deployed key
schemas, indexes and TTL attributes are the ones the code and the local stack use. The rest
(results bucket, the publish and recovery queues with their dead-letter queues, SES configuration
set, SNS topic) is declared here with the names the stage's environment gives them. Chalice adds
the functions, the API and the schedules; `depends_on_event_sources` makes its SQS and SNS
subscriptions wait for the queues and topic declared here.

Operations: every function's log group (retention from the stage's `log_group_retention_days`,
365 by default), the API stage's access log (no query strings, no bodies), the results bucket's
server access log in a log bucket of its own, reserved concurrency for the event functions
(`.chalice/config.json`), a dead-letter queue for the mail feedback that SNS could not deliver or
the function could not handle. With the stage's `kms_key_arn`, that customer-managed key encrypts
the tables, the results bucket, the queues, the topic and the log groups (its key policy must let
CloudWatch Logs, S3's event notifications, SES and SNS use it); without it, AWS-owned keys do, and the topic gets a key of
its own (SES can publish only to a topic whose key policy names it).
"""

from __future__ import annotations

import json
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from infra import alarms, gateway

APP_NAME = "patient-portal"
# Lambda polls the queue; SQS wants the visibility timeout at least six times the function's.
FUNCTION_TIMEOUT_SECONDS = 60
PUBLISH_VISIBILITY_SECONDS = 6 * FUNCTION_TIMEOUT_SECONDS
PUBLISH_MAX_RECEIVES = 5
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
QUARANTINE_PREFIX = "quarantine/"
INCOMING_PREFIX = "incoming/"
EXPORT_PREFIX = "exports/"
LAB_PREFIX = "lab/"  # lab results (HL7 v2, FHIR) the lab interface or the EHR drops
LAB_KEEP_DAYS = 30  # a lab file, once read, moves to cheaper storage after this many days (never deleted)
EXPORT_KEEP_DAYS = 7  # a patient's take-away records zip; its link is handed out for minutes only
LETTER_PREFIX = "letters/"
LETTER_KEEP_DAYS = 45  # an enrolment letter's PDF, kept to print it (its code works ENROLMENT_CODE_DAYS, 30 by default)
EXPORT_FUNCTION = "build-exports"
EXPORT_SPOOL_MB = 4096  # the export function's /tmp, where its zip is written before it goes to S3 (512 MB by default)
MAIL_FEEDBACK_EVENTS = ["bounce", "complaint", "reject"]
ACCESS_LOG_PREFIX = "results/"
DEFAULT_LOG_RETENTION_DAYS = 365
# Lambda's SQS pollers run at most this many copies of a queue's function (2 is SQS's least).
SQS_MAXIMUM_CONCURRENCY = 2
API_FUNCTION = "api_handler"
API_LOGICAL_ID = "APIHandler"


def dead_letter_queue_name(publish_queue_name: str) -> str:
    return f"{publish_queue_name}-dlq"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-") if part)


def table_suffix(model: type[Model], current_prefix: str) -> str:
    """`accounts` for `portal-local-accounts`: the part of the name every stage shares."""
    name = model.Meta.table_name
    if not name.startswith(current_prefix + "-"):
        raise ValueError(f"table {name} does not start with the prefix {current_prefix}-")
    return name[len(current_prefix) + 1:]


def table_logical_id(suffix: str) -> str:
    return f"{_camel(suffix)}Table"


def ttl_attribute(model: type[Model]) -> str | None:
    for name, attribute in model.get_attributes().items():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name or name
    return None


def _key_schema(keys: list[dict]) -> list[dict]:
    # CloudFormation wants the HASH key first; PynamoDB lists index keys in attribute order.
    ordered = sorted(keys, key=lambda key: key["KeyType"] != "HASH")
    return [{"AttributeName": key["AttributeName"], "KeyType": key["KeyType"]} for key in ordered]


def _projection(projection: dict) -> dict:
    out = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        out["NonKeyAttributes"] = list(projection["NonKeyAttributes"])
    return out


def table_resource(model: type[Model], table_name: str, kms_key: str | None = None) -> dict[str, Any]:
    schema = model._get_schema()
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    properties: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind} for name, kind in sorted(definitions.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        # Neither a stack update, a console click nor an API call deletes a table of patients' records.
        "DeletionProtectionEnabled": True,
        "SSESpecification": ({"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key} if kms_key
                             else {"SSEEnabled": True}),
    }
    indexes = sorted(schema.get("global_secondary_indexes") or [], key=lambda index: index["index_name"])
    if indexes:
        properties["GlobalSecondaryIndexes"] = [
            {"IndexName": index["index_name"], "KeySchema": _key_schema(index["key_schema"]),
             "Projection": _projection(index["projection"])}
            for index in indexes
        ]
    local_indexes = sorted(schema.get("local_secondary_indexes") or [], key=lambda index: index["index_name"])
    if local_indexes:
        properties["LocalSecondaryIndexes"] = [
            {"IndexName": index["index_name"], "KeySchema": _key_schema(index["key_schema"]),
             "Projection": _projection(index["projection"])}
            for index in local_indexes
        ]
    ttl = ttl_attribute(model)
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    # Patients' records outlive any stack update or deletion.
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": properties}


def table_resources(models: list[type[Model]], current_prefix: str, stage_prefix: str,
                    kms_key: str | None = None) -> dict[str, Any]:
    resources = {}
    for model in models:
        suffix = table_suffix(model, current_prefix)
        resources[table_logical_id(suffix)] = table_resource(model, f"{stage_prefix}-{suffix}", kms_key)
    return resources


def _bucket_encryption(kms_key: str | None) -> dict[str, Any]:
    default = ({"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key} if kms_key else {"SSEAlgorithm": "AES256"})
    return {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]}


def _tls_only(bucket_arn: str) -> dict[str, Any]:
    return {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def access_log_bucket_name(bucket: str) -> str:
    return f"{bucket}-access-logs"


def _log_bucket_resources(bucket: str, retention_days: int) -> dict[str, Any]:
    """Where S3 writes the results bucket's server access log (SSE-S3: S3's log delivery cannot
    write with a KMS key), kept as long as the functions' logs."""
    log_bucket = access_log_bucket_name(bucket)
    log_bucket_arn = f"arn:aws:s3:::{log_bucket}"
    return {
        "AccessLogBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": log_bucket,
                "BucketEncryption": _bucket_encryption(None),
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": [{
                    "Id": "retention", "Status": "Enabled", "ExpirationInDays": retention_days,
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }]},
            },
        },
        "AccessLogBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "AccessLogBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    _tls_only(log_bucket_arn),
                    {
                        "Sid": "ServerAccessLogDelivery",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{log_bucket_arn}/{ACCESS_LOG_PREFIX}*",
                        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                                      "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                    },
                ]},
            },
        },
    }


def _bucket_resources(bucket: str, kms_key: str | None = None) -> dict[str, Any]:
    bucket_arn = f"arn:aws:s3:::{bucket}"
    return {
        "ResultsBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            # S3 checks that it may send to the queue when the notification is created.
            "DependsOn": ["PublishQueuePolicy", "LabQueuePolicy", "AccessLogBucketPolicy"],
            "Properties": {
                "BucketName": bucket,
                "BucketEncryption": _bucket_encryption(kms_key),
                "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogBucket"},
                                         "LogFilePrefix": ACCESS_LOG_PREFIX},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": [
                    {
                        # Quarantined uploads wait for staff in the work queue; after a month they
                        # move to cheaper storage. Never expired: nothing uploaded is ever lost.
                        "Id": "quarantine",
                        "Status": "Enabled",
                        "Prefix": QUARANTINE_PREFIX,
                        "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}],
                    },
                    {
                        # An upload's own versions go a day after it leaves incoming/ (published:
                        # the filed copy holds it; quarantined: quarantine/ keeps it).
                        "Id": "published-uploads",
                        "Status": "Enabled",
                        "Prefix": INCOMING_PREFIX,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    },
                    {
                        # Lab files are read as they arrive (the results table holds their values,
                        # quarantine/lab/ any message that failed) and kept, as everything sent is:
                        # after a month in cheaper storage.
                        "Id": "lab-files",
                        "Status": "Enabled",
                        "Prefix": LAB_PREFIX,
                        "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": LAB_KEEP_DAYS}],
                    },
                    {
                        # Take-away records: a patient's zip is kept 7 days (and its versions
                        # one more), then gone; the patient can ask for a new one at any time.
                        "Id": "exports",
                        "Status": "Enabled",
                        "Prefix": EXPORT_PREFIX,
                        "ExpirationInDays": EXPORT_KEEP_DAYS,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    },
                    {
                        # Enrolment letters wait to be printed; each holds a one-time code that
                        # expires, so the PDF goes a while after (the office prints a new one).
                        "Id": "enrolment-letters",
                        "Status": "Enabled",
                        "Prefix": LETTER_PREFIX,
                        "ExpirationInDays": LETTER_KEEP_DAYS,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    },
                    {
                        "Id": "old-versions-and-unfinished-uploads",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                    },
                ]},
                "NotificationConfiguration": {"QueueConfigurations": [{
                    "Event": "s3:ObjectCreated:*",
                    "Queue": {"Fn::GetAtt": ["PublishQueue", "Arn"]},
                    "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": INCOMING_PREFIX}]}},
                }, {
                    "Event": "s3:ObjectCreated:*",
                    "Queue": {"Fn::GetAtt": ["LabQueue", "Arn"]},
                    "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": LAB_PREFIX}]}},
                }]},
            },
        },
        "ResultsBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "ResultsBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [_tls_only(bucket_arn)]},
            },
        },
    }


def _queue_encryption(kms_key: str | None) -> dict[str, Any]:
    return {"KmsMasterKeyId": kms_key} if kms_key else {"SqsManagedSseEnabled": True}


def _queue_with_dead_letters(logical_id: str, queue: str, kms_key: str | None = None) -> dict[str, Any]:
    """`<Name>Queue` and `<Name>DeadLetterQueue`: an encrypted queue a Lambda function polls, whose
    messages that keep failing wait in the dead-letter queue for an operator."""
    dead_letters = logical_id.removesuffix("Queue") + "DeadLetterQueue"
    return {
        dead_letters: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": dead_letter_queue_name(queue), **_queue_encryption(kms_key),
                           "MessageRetentionPeriod": DEAD_LETTER_RETENTION_SECONDS},
        },
        logical_id: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue,
                **_queue_encryption(kms_key),
                "VisibilityTimeout": PUBLISH_VISIBILITY_SECONDS,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
                                  "maxReceiveCount": PUBLISH_MAX_RECEIVES},
            },
        },
    }


def _queue_resources(queue: str, bucket: str, kms_key: str | None = None) -> dict[str, Any]:
    return {
        **_queue_with_dead_letters("PublishQueue", queue, kms_key),
        "PublishQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "PublishQueue"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "ResultsBucketNotifications",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": {"Fn::GetAtt": ["PublishQueue", "Arn"]},
                    # The bucket's name, not a Ref: the bucket itself waits for this policy.
                    "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                                  "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
            },
        },
    }


def _lab_queue_resources(queue: str, bucket: str, kms_key: str | None = None) -> dict[str, Any]:
    """The lab queue (S3 sends it what is created under `lab/`), its dead-letter queue, and the
    policy that lets this bucket, and only it, send to it."""
    return {
        **_queue_with_dead_letters("LabQueue", queue, kms_key),
        "LabQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "LabQueue"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "ResultsBucketLabNotifications",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": {"Fn::GetAtt": ["LabQueue", "Arn"]},
                    "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                                  "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
            },
        },
    }


def _topic_key() -> dict[str, Any]:
    """The topics' own key, when the stage names no customer-managed key: SES publishes only to an
    encrypted topic whose key policy lets it (AWS's `aws/sns` key does not), and CloudWatch's alarms
    likewise. Kept when the stack goes: what it encrypted stays readable."""
    return {
        "MailFeedbackTopicKey": {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": "Encrypts the portal's SNS topics (SES bounces and complaints, alarms)",
                "EnableKeyRotation": True,
                "KeyPolicy": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "AccountAdministers", "Effect": "Allow",
                     "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                     "Action": "kms:*", "Resource": "*"},
                    {"Sid": "SesPublishes", "Effect": "Allow", "Principal": {"Service": "ses.amazonaws.com"},
                     "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                     "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
                    {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
                     "Principal": {"Service": "cloudwatch.amazonaws.com"},
                     "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                     "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
                ]},
            },
        },
    }


def _mail_resources(configuration_set: str, topic: str, kms_key: str | None = None) -> dict[str, Any]:
    dead_letters = dead_letter_queue_name(topic)
    topic_key = kms_key or {"Ref": "MailFeedbackTopicKey"}
    return {
        **({} if kms_key else _topic_key()),
        "MailFeedbackTopic": {"Type": "AWS::SNS::Topic",
                              "Properties": {"TopicName": topic, "KmsMasterKeyId": topic_key}},
        # Feedback SNS could not hand to the function, or the function failed on after Lambda's
        # retries, waits here (SNS's redrive and the function's own dead-letter queue).
        "MailFeedbackDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": dead_letters, **_queue_encryption(kms_key),
                           "MessageRetentionPeriod": DEAD_LETTER_RETENTION_SECONDS},
        },
        "MailFeedbackDeadLetterQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "MailFeedbackDeadLetterQueue"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "UndeliveredMailFeedback",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": {"Fn::GetAtt": ["MailFeedbackDeadLetterQueue", "Arn"]},
                    "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "MailFeedbackTopic"}}},
                }]},
            },
        },
        "MailFeedbackTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "MailFeedbackTopic"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "SesEventPublishing",
                    "Effect": "Allow",
                    "Principal": {"Service": "ses.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": {"Ref": "MailFeedbackTopic"},
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
            },
        },
        "MailConfigurationSet": {
            "Type": "AWS::SES::ConfigurationSet",
            "Properties": {
                "Name": configuration_set,
                "DeliveryOptions": {"TlsPolicy": "REQUIRE"},
                "ReputationOptions": {"ReputationMetricsEnabled": True},
                "SendingOptions": {"SendingEnabled": True},
            },
        },
        "MailFeedbackDestination": {
            "Type": "AWS::SES::ConfigurationSetEventDestination",
            "DependsOn": ["MailFeedbackTopicPolicy"],
            "Properties": {
                "ConfigurationSetName": {"Ref": "MailConfigurationSet"},
                "EventDestination": {
                    "Name": "bounces-and-complaints",
                    "Enabled": True,
                    "MatchingEventTypes": MAIL_FEEDBACK_EVENTS,
                    "SnsDestination": {"TopicARN": {"Ref": "MailFeedbackTopic"}},
                },
            },
        },
    }


def function_logical_ids(event_sources: list) -> dict[str, str]:
    """Each Lambda function's name in `.chalice/config.json` -> its resource in the packaged template."""
    from chalice.utils import to_cfn_resource_name

    return {API_FUNCTION: API_LOGICAL_ID, **{source.name: to_cfn_resource_name(source.name) for source in event_sources}}


def packaged_functions(stage: str, event_sources: list) -> list[alarms.PackagedFunction]:
    """Every function the stage packages: its config name, logical id, deployed name and timeout
    (read from `.chalice/config.json` as `chalice package` reads it)."""
    from chalice.config import Config

    from chalicelib.stages import ROOT

    on_disk = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return [alarms.PackagedFunction(name, logical_id, function_name(stage, name),
                                    int(Config(chalice_stage=stage, function_name=name,
                                               config_from_disk=on_disk).lambda_timeout or FUNCTION_TIMEOUT_SECONDS))
            for name, logical_id in function_logical_ids(event_sources).items()]


def function_name(stage: str, function: str) -> str:
    """The deployed function's name, as `chalice deploy` names it; each role's log permissions name it."""
    return f"{APP_NAME}-{stage}" + ("" if function == API_FUNCTION else f"-{function}")


def log_group_resources(functions: dict[str, str], retention_days: int, kms_key: str | None = None,
                        stage: str | None = None) -> dict[str, Any]:
    """A log group per function (Lambda would otherwise create one that never expires), and the
    API stage's access log; each function, named for the stage, waits for its group, so Lambda
    never creates it first."""
    resources: dict[str, Any] = {}
    names = {logical_id: function for function, logical_id in functions.items()}
    for logical_id in sorted(functions.values()):
        resources[f"{logical_id}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"},
                           "RetentionInDays": retention_days, **({"KmsKeyId": kms_key} if kms_key else {})},
        }
        resources[logical_id] = {"DependsOn": [f"{logical_id}LogGroup"]}
        if stage:
            resources[logical_id]["Properties"] = {"FunctionName": function_name(stage, names[logical_id])}
    resources["ApiAccessLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {"RetentionInDays": retention_days, **({"KmsKeyId": kms_key} if kms_key else {})},
    }
    return resources


# One JSON line per request: who, when, which route and what answer. `resourcePath` is the route's
# template (`/api/items/{item_id}`), so neither ids nor query strings are logged; nor is any body.
API_ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","requestTime":"$context.requestTime","sourceIp":"$context.identity.sourceIp",'
    '"httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","status":"$context.status",'
    '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
    '"integrationLatency":"$context.integrationLatency","userAgent":"$context.identity.userAgent"}'
)


def api_access_log_resources() -> dict[str, Any]:
    """The API stage's access log, written by API Gateway through the account's CloudWatch role
    (set by this stack only when asked: `infra.gateway.account_role_resources`)."""
    return {
        "RestAPI": {
            "Properties": {"AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                                                "Format": API_ACCESS_LOG_FORMAT}},
        },
    }


def _merge(into: dict[str, Any], fragments: dict[str, Any]) -> None:
    """Merge resource fragments (dicts merged key by key, lists added to) into `into`."""
    for key, value in fragments.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = into[key] + [v for v in value if v not in into[key]]
        else:
            into[key] = value


def depends_on_event_sources(event_sources: list, queues: dict[str, str], topic: str) -> dict[str, Any]:
    """Chalice subscribes functions to the queues (name -> logical id) and topic by name; make those
    functions wait until the queue and topic exist (merged into Chalice's own function resources)."""
    from chalice.app import SNSEventConfig, SQSEventConfig
    from chalice.utils import to_cfn_resource_name

    fragments: dict[str, Any] = {}
    for source in event_sources:
        needs = []
        if isinstance(source, SQSEventConfig) and source.queue in queues:
            needs = [queues[source.queue]]
        elif isinstance(source, SNSEventConfig) and source.topic == topic:
            needs = ["MailFeedbackTopic"]
        if needs:
            fragments[to_cfn_resource_name(source.name)] = {"DependsOn": needs}
        name = to_cfn_resource_name(source.name)
        if isinstance(source, SQSEventConfig):
            # Without this, Lambda ignores the handler's batchItemFailures and deletes a failed
            # record along with the batch's successes: a lost upload. The mapping never runs more
            # copies than the function's reserved concurrency (throttled messages would count as
            # failed receives and reach the dead-letter queue).
            fragments.setdefault(name, {})["Properties"] = {"Events": {f"{name}SqsEventSource": {
                "Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"],
                               "ScalingConfig": {"MaximumConcurrency": SQS_MAXIMUM_CONCURRENCY}}}}}
        elif isinstance(source, SNSEventConfig) and source.topic == topic:
            # SNS invokes the function asynchronously: what SNS could not deliver, and what the
            # function still failed on after Lambda's two retries, waits in the dead-letter queue.
            dead_letters = {"Fn::GetAtt": ["MailFeedbackDeadLetterQueue", "Arn"]}
            fragments[name]["DependsOn"].append("MailFeedbackDeadLetterQueuePolicy")
            fragments[name]["Properties"] = {
                "DeadLetterQueue": {"Type": "SQS", "TargetArn": dead_letters},
                "Events": {f"{name}SnsSubscription": {"Properties": {
                    "RedrivePolicy": {"deadLetterTargetArn": dead_letters}}}},
            }
    return fragments


def form_token_key_resources(kms_key: str | None = None) -> dict[str, Any]:
    """The key that signs the signed-out forms' CSRF tokens: one secret for the stage, generated by
    Secrets Manager and handed to the API function at deployment (a key of each instance's own
    would refuse a form shown by one instance and posted to another)."""
    secret: dict[str, Any] = {
        "Description": "Signs the portal's signed-out form tokens (FORM_TOKEN_KEY)",
        "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
    }
    if kms_key:
        secret["KmsKeyId"] = kms_key
    return {
        "FormTokenKey": {"Type": "AWS::SecretsManager::Secret", "Properties": secret},
        API_LOGICAL_ID: {"Properties": {"Environment": {"Variables": {
            "FORM_TOKEN_KEY": {"Fn::Sub": "{{resolve:secretsmanager:${FormTokenKey}:SecretString}}"},
        }}}},
    }


def build(environment: dict[str, str], models: list[type[Model]], current_prefix: str,
          event_sources: list | None = None, deployment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The merge template for the stage whose environment variables are `environment` and whose
    deployment settings (`chalicelib.stages.deployment_settings`) are `deployment`."""
    deployment = deployment or {}
    kms_key = deployment.get("kms_key_arn") or None
    retention = int(deployment.get("log_group_retention_days") or DEFAULT_LOG_RETENTION_DAYS)
    queue, topic = environment["PUBLISH_QUEUE_NAME"], environment["MAIL_FEEDBACK_TOPIC"]
    recovery_queue, bucket = environment["RECOVERY_QUEUE_NAME"], environment["RESULTS_BUCKET"]
    export_queue = environment["EXPORT_QUEUE_NAME"]
    lab_queue = environment["LAB_QUEUE_NAME"]
    event_sources = event_sources or []
    resources: dict[str, Any] = {}
    resources.update(table_resources(models, current_prefix, environment["TABLE_PREFIX"], kms_key))
    resources.update(_bucket_resources(bucket, kms_key))
    resources.update(_log_bucket_resources(bucket, retention))
    resources.update(_queue_resources(queue, bucket, kms_key))
    resources.update(_queue_with_dead_letters("RecoveryQueue", recovery_queue, kms_key))
    resources.update(_queue_with_dead_letters("ExportQueue", export_queue, kms_key))
    resources.update(_lab_queue_resources(lab_queue, bucket, kms_key))
    resources.update(_mail_resources(environment["SES_CONFIGURATION_SET"], topic, kms_key))
    _merge(resources, depends_on_event_sources(event_sources, {queue: "PublishQueue", recovery_queue: "RecoveryQueue",
                                                                export_queue: "ExportQueue", lab_queue: "LabQueue"},
                                               topic))
    _merge(resources, log_group_resources(function_logical_ids(event_sources), retention, kms_key,
                                          environment.get("PORTAL_STAGE")))
    _merge(resources, api_access_log_resources())
    _merge(resources, form_token_key_resources(kms_key))
    exporter = function_logical_ids(event_sources).get(EXPORT_FUNCTION)
    if exporter:
        _merge(resources, {exporter: {"Properties": {"EphemeralStorage": {"Size": EXPORT_SPOOL_MB}}}})
    stage = environment.get("PORTAL_STAGE", "local")
    functions = packaged_functions(stage, event_sources)
    if kms_key:
        # The functions' environment under the stage's key too (the form-token secret among it).
        _merge(resources, {function.logical_id: {"Properties": {"KmsKeyArn": kms_key}} for function in functions})
    _merge(resources, gateway.stage_resources(alarms.api_name(stage, APP_NAME)))
    _merge(resources, gateway.account_role_resources())
    resources.update(gateway.waf_resources(stage, APP_NAME))
    resources.update(gateway.domain_resources())
    watched = alarms.alarm_resources(stage, APP_NAME, functions, resources, environment)
    resources.update(alarms.topic_resources(kms_key, {"Ref": "MailFeedbackTopicKey"}))
    resources.update(watched)
    resources.update(alarms.dashboard_resource(stage, APP_NAME, watched))
    return {
        "Parameters": {**alarms.parameters(), **gateway.parameters()},
        "Conditions": gateway.conditions(),
        "Resources": resources,
        "Outputs": {
            **gateway.outputs(),
            "AlarmTopicArn": {"Value": {"Ref": alarms.TOPIC}},
            "ResultsBucketName": {"Value": {"Ref": "ResultsBucket"}},
            "PublishQueueUrl": {"Value": {"Ref": "PublishQueue"}},
            "PublishDeadLetterQueueUrl": {"Value": {"Ref": "PublishDeadLetterQueue"}},
            "RecoveryQueueUrl": {"Value": {"Ref": "RecoveryQueue"}},
            "RecoveryDeadLetterQueueUrl": {"Value": {"Ref": "RecoveryDeadLetterQueue"}},
            "ExportQueueUrl": {"Value": {"Ref": "ExportQueue"}},
            "ExportDeadLetterQueueUrl": {"Value": {"Ref": "ExportDeadLetterQueue"}},
            "LabQueueUrl": {"Value": {"Ref": "LabQueue"}},
            "LabDeadLetterQueueUrl": {"Value": {"Ref": "LabDeadLetterQueue"}},
            "MailFeedbackTopicArn": {"Value": {"Ref": "MailFeedbackTopic"}},
            "MailFeedbackDeadLetterQueueUrl": {"Value": {"Ref": "MailFeedbackDeadLetterQueue"}},
            "AccessLogBucketName": {"Value": {"Ref": "AccessLogBucket"}},
        },
    }
