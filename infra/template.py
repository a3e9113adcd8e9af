"""The CloudFormation resources merged into `chalice package` output (`--merge-template`).

Tables are generated from the PynamoDB models registered with `@table`, so the deployed key
schemas, indexes and TTL attributes are the ones the code and the local stack use. The rest
(results bucket, the publish and recovery queues with their dead-letter queues, SES configuration
set, SNS topic) is declared here with the names the stage's environment gives them. Chalice adds
the functions, the API and the schedules; `depends_on_event_sources` makes its SQS and SNS
subscriptions wait for the queues and topic declared here.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

APP_NAME = "patient-portal"
# Lambda polls the queue; SQS wants the visibility timeout at least six times the function's.
FUNCTION_TIMEOUT_SECONDS = 60
PUBLISH_VISIBILITY_SECONDS = 6 * FUNCTION_TIMEOUT_SECONDS
PUBLISH_MAX_RECEIVES = 5
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
QUARANTINE_PREFIX = "quarantine/"
INCOMING_PREFIX = "incoming/"
MAIL_FEEDBACK_EVENTS = ["bounce", "complaint", "reject"]


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


def table_resource(model: type[Model], table_name: str) -> dict[str, Any]:
    schema = model._get_schema()
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    properties: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind} for name, kind in sorted(definitions.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
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


def table_resources(models: list[type[Model]], current_prefix: str, stage_prefix: str) -> dict[str, Any]:
    resources = {}
    for model in models:
        suffix = table_suffix(model, current_prefix)
        resources[table_logical_id(suffix)] = table_resource(model, f"{stage_prefix}-{suffix}")
    return resources


def _bucket_resources(bucket: str) -> dict[str, Any]:
    bucket_arn = f"arn:aws:s3:::{bucket}"
    return {
        "ResultsBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            # S3 checks that it may send to the queue when the notification is created.
            "DependsOn": ["PublishQueuePolicy"],
            "Properties": {
                "BucketName": bucket,
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]},
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
                }]},
            },
        },
        "ResultsBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "ResultsBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }]},
            },
        },
    }


def _queue_with_dead_letters(logical_id: str, queue: str) -> dict[str, Any]:
    """`<Name>Queue` and `<Name>DeadLetterQueue`: an encrypted queue a Lambda function polls, whose
    messages that keep failing wait in the dead-letter queue for an operator."""
    dead_letters = logical_id.removesuffix("Queue") + "DeadLetterQueue"
    return {
        dead_letters: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": dead_letter_queue_name(queue), "SqsManagedSseEnabled": True,
                           "MessageRetentionPeriod": DEAD_LETTER_RETENTION_SECONDS},
        },
        logical_id: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue,
                "SqsManagedSseEnabled": True,
                "VisibilityTimeout": PUBLISH_VISIBILITY_SECONDS,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
                                  "maxReceiveCount": PUBLISH_MAX_RECEIVES},
            },
        },
    }


def _queue_resources(queue: str, bucket: str) -> dict[str, Any]:
    return {
        **_queue_with_dead_letters("PublishQueue", queue),
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


def _mail_resources(configuration_set: str, topic: str) -> dict[str, Any]:
    return {
        "MailFeedbackTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": topic}},
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
        if isinstance(source, SQSEventConfig):
            # Without this, Lambda ignores the handler's batchItemFailures and deletes a failed
            # record along with the batch's successes: a lost upload.
            name = to_cfn_resource_name(source.name)
            fragments.setdefault(name, {})["Properties"] = {"Events": {f"{name}SqsEventSource": {
                "Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}}}
    return fragments


def build(environment: dict[str, str], models: list[type[Model]], current_prefix: str,
          event_sources: list | None = None) -> dict[str, Any]:
    """The merge template for the stage whose environment variables are `environment`."""
    queue, topic = environment["PUBLISH_QUEUE_NAME"], environment["MAIL_FEEDBACK_TOPIC"]
    recovery_queue = environment["RECOVERY_QUEUE_NAME"]
    resources: dict[str, Any] = {}
    resources.update(table_resources(models, current_prefix, environment["TABLE_PREFIX"]))
    resources.update(_bucket_resources(environment["RESULTS_BUCKET"]))
    resources.update(_queue_resources(queue, environment["RESULTS_BUCKET"]))
    resources.update(_queue_with_dead_letters("RecoveryQueue", recovery_queue))
    resources.update(_mail_resources(environment["SES_CONFIGURATION_SET"], topic))
    resources.update(depends_on_event_sources(event_sources or [], {queue: "PublishQueue", recovery_queue: "RecoveryQueue"},
                                              topic))
    return {
        "Resources": resources,
        "Outputs": {
            "ResultsBucketName": {"Value": {"Ref": "ResultsBucket"}},
            "PublishQueueUrl": {"Value": {"Ref": "PublishQueue"}},
            "PublishDeadLetterQueueUrl": {"Value": {"Ref": "PublishDeadLetterQueue"}},
            "RecoveryQueueUrl": {"Value": {"Ref": "RecoveryQueue"}},
            "RecoveryDeadLetterQueueUrl": {"Value": {"Ref": "RecoveryDeadLetterQueue"}},
            "MailFeedbackTopicArn": {"Value": {"Ref": "MailFeedbackTopic"}},
        },
    }
