"""The deployed tables are the tables the code declares: keys, indexes, projections, TTL, and the
protections every table of patient data needs."""

from __future__ import annotations

import pytest
from pynamodb.attributes import TTLAttribute

from chalicelib.settings import get_settings
from chalicelib.stages import stage_environment
from chalicelib.store.tables import all_models
from infra import template

PROD = stage_environment("prod")


@pytest.fixture(scope="module")
def prod_resources() -> dict:
    return template.build(PROD, all_models(), get_settings().table_prefix)["Resources"]


def _tables(resources: dict) -> dict[str, dict]:
    return {r["Properties"]["TableName"]: r["Properties"] for r in resources.values() if r.get("Type") == "AWS::DynamoDB::Table"}


def _suffix(model) -> str:
    return model.Meta.table_name.removeprefix(get_settings().table_prefix + "-")


def _keys(model_or_index_attributes: dict) -> list[dict]:
    keys = [{"AttributeName": a.attr_name, "KeyType": "HASH"} for a in model_or_index_attributes.values() if a.is_hash_key]
    keys += [{"AttributeName": a.attr_name, "KeyType": "RANGE"} for a in model_or_index_attributes.values() if a.is_range_key]
    return keys


def test_every_model_has_exactly_one_table_named_for_the_stage(prod_resources):
    # Given the models registered with @table
    expected = {f"{PROD['TABLE_PREFIX']}-{_suffix(model)}" for model in all_models()}

    # When the prod merge template is built
    tables = _tables(prod_resources)

    # Then there is one table per model, under the prod prefix, and no other
    assert set(tables) == expected


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
def test_table_keys_indexes_and_ttl_match_the_model(prod_resources, model):
    # Given a model and its CloudFormation table
    table = _tables(prod_resources)[f"{PROD['TABLE_PREFIX']}-{_suffix(model)}"]
    attributes = model.get_attributes()

    # Then the primary key is the model's
    assert table["KeySchema"] == _keys(attributes)

    # And every global index has the model's keys and projection, and nothing else is indexed
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {index.Meta.index_name for index in model._indexes.values()}
    for index in model._indexes.values():
        declared = indexes[index.Meta.index_name]
        index_attributes = {a.attr_name: a for a in index.Meta.attributes.values()}
        assert declared["KeySchema"] == _keys(index_attributes)
        assert declared["Projection"]["ProjectionType"] == index.Meta.projection.projection_type
        assert sorted(declared["Projection"].get("NonKeyAttributes", [])) == sorted(
            index.Meta.projection.non_key_attributes or [])

    # And every key attribute is defined with the model's type
    key_names = {k["AttributeName"] for k in table["KeySchema"]}
    key_names |= {k["AttributeName"] for i in indexes.values() for k in i["KeySchema"]}
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    by_name = {a.attr_name: a for a in attributes.values()}
    assert set(types) == key_names
    assert all(types[name] == by_name[name].attr_type for name in key_names)

    # And the TTL attribute is the model's TTLAttribute, if it has one
    ttl = [a.attr_name for a in attributes.values() if isinstance(a, TTLAttribute)]
    if ttl:
        assert table["TimeToLiveSpecification"] == {"AttributeName": ttl[0], "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in table


def test_every_table_is_on_demand_encrypted_recoverable_and_retained(prod_resources):
    # When the tables are declared
    resources = [r for r in prod_resources.values() if r.get("Type") == "AWS::DynamoDB::Table"]

    # Then each has point-in-time recovery, encryption at rest, on-demand billing, and survives stack deletion
    assert resources
    for resource in resources:
        properties = resource["Properties"]
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
        assert properties["DeletionProtectionEnabled"] is True


def test_results_bucket_is_private_encrypted_versioned_and_notifies_the_publish_queue(prod_resources):
    # Given the results bucket of prod
    bucket = prod_resources["ResultsBucket"]["Properties"]

    # Then it is named for the stage, encrypted, versioned and closed to the public
    assert bucket["BucketName"] == PROD["RESULTS_BUCKET"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())

    # And quarantined files move to cheaper storage, but no rule ever expires a current file
    # (documents, quarantined uploads): nothing uploaded is ever lost
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("Prefix") == "quarantine/" and rule.get("Transitions") for rule in rules)
    assert not any("ExpirationInDays" in rule or "ExpirationDate" in rule for rule in rules
                   if rule.get("Prefix") not in ("exports/", "letters/"))
    # (only what the portal makes for a while goes: a patient's take-away records zip under exports/
    # after 7 days, an enrolment letter's PDF under letters/ after 45, its code long expired)
    expiring = {rule["Prefix"]: rule for rule in rules if "ExpirationInDays" in rule or "ExpirationDate" in rule}
    assert sorted(expiring) == ["exports/", "letters/"]
    assert expiring["exports/"]["ExpirationInDays"] == 7 and expiring["exports/"]["Status"] == "Enabled"
    assert expiring["letters/"]["ExpirationInDays"] == 45 and expiring["letters/"]["Status"] == "Enabled"

    # And only new objects under incoming/ go to the publish queue, which lets this bucket send
    # (and only new objects under lab/ go to the lab queue, which lets this bucket send likewise)
    notifications = {n["Filter"]["S3Key"]["Rules"][0]["Value"]: n
                     for n in bucket["NotificationConfiguration"]["QueueConfigurations"]}
    assert sorted(notifications) == ["incoming/", "lab/"]
    for prefix, queue in (("incoming/", "PublishQueue"), ("lab/", "LabQueue")):
        assert notifications[prefix]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert notifications[prefix]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": prefix}]
        statement = prod_resources[f"{queue}Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
        assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{PROD['RESULTS_BUCKET']}"
        assert f"{queue}Policy" in prod_resources["ResultsBucket"]["DependsOn"]


@pytest.mark.parametrize(("name", "setting"), [("Publish", "PUBLISH_QUEUE_NAME"), ("Recovery", "RECOVERY_QUEUE_NAME"),
                                               ("Export", "EXPORT_QUEUE_NAME"), ("Lab", "LAB_QUEUE_NAME")])
def test_each_queue_redrives_to_its_dead_letter_queue(prod_resources, name, setting):
    # Given the publish queue or the password recovery queue
    queue = prod_resources[f"{name}Queue"]["Properties"]

    # Then it is encrypted, and failed messages end up in its dead-letter queue, after a few tries
    assert queue["QueueName"] == PROD[setting]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{name}DeadLetterQueue", "Arn"]}
    assert 1 < queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    dead_letters = prod_resources[f"{name}DeadLetterQueue"]["Properties"]
    assert dead_letters["QueueName"] == template.dead_letter_queue_name(PROD[setting])


def test_mail_bounces_and_complaints_reach_the_feedback_topic(prod_resources):
    # Given the SES configuration set and its event destination
    configuration_set = prod_resources["MailConfigurationSet"]["Properties"]
    destination = prod_resources["MailFeedbackDestination"]["Properties"]["EventDestination"]

    # Then the set is the one the sender names, and bounces and complaints go to the topic the handler reads
    assert configuration_set["Name"] == PROD["SES_CONFIGURATION_SET"]
    assert {"bounce", "complaint"} <= set(destination["MatchingEventTypes"])
    assert destination["SnsDestination"]["TopicARN"] == {"Ref": "MailFeedbackTopic"}
    assert prod_resources["MailFeedbackTopic"]["Properties"]["TopicName"] == PROD["MAIL_FEEDBACK_TOPIC"]


def test_the_api_signs_form_tokens_with_one_generated_secret_per_stage(prod_resources):
    # Given the packaged prod template's resources
    secret = prod_resources["FormTokenKey"]
    api_environment = prod_resources[template.API_LOGICAL_ID]["Properties"]["Environment"]["Variables"]

    # Then Secrets Manager generates the key once for the stage
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    # And every API instance reads that same secret at deployment, never a key of its own
    assert api_environment["FORM_TOKEN_KEY"] == {"Fn::Sub": "{{resolve:secretsmanager:${FormTokenKey}:SecretString}}"}


def test_a_stage_key_encrypts_the_form_token_secret_too():
    # Given a stage with a customer-managed key
    key = "arn:aws:kms:us-east-1:123456789012:key/portal"
    resources = template.build(PROD, all_models(), get_settings().table_prefix,
                               deployment={"kms_key_arn": key})["Resources"]

    # Then the secret is encrypted with it
    assert resources["FormTokenKey"]["Properties"]["KmsKeyId"] == key
