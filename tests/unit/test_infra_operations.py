"""What an operator needs from the merge template (`infra/template.py`): log groups with
retention for every function, access logs for the API and the results bucket, a durable
mail-feedback path, an encrypted topic, and an optional customer-managed key used everywhere.
And the skip file the checkov scan reads: a check it does not list is reported."""

from __future__ import annotations

import pytest

from chalicelib.settings import get_settings
from chalicelib.stages import deployment_settings, stage_environment
from chalicelib.store.tables import all_models
from infra import scan, template

# The app's event sources name the queues and topic of the stage the tests run (local), as
# `make package` sees the prod ones under the prod environment.
ENV = stage_environment("local")
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _event_sources() -> list:
    from app import app

    return list(app.event_sources)


def _build(**deployment) -> dict:
    return template.build(ENV, all_models(), get_settings().table_prefix, _event_sources(),
                          {**deployment_settings("prod"), **deployment})["Resources"]


def _of_type(resources: dict, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r.get("Type") == kind}


def test_every_function_has_a_log_group_with_the_stages_retention_that_it_waits_for():
    # Given the prod stage's retention setting (365 days unless the stage says otherwise)
    assert deployment_settings("prod")["log_group_retention_days"] == 365

    # When the template is built with another retention
    resources = _build(log_group_retention_days=30)

    # Then every function has its log group, with that retention, created before the function
    functions = template.function_logical_ids(_event_sources())
    assert set(functions) >= {template.API_FUNCTION, "publish-uploads", "password-recovery", "follow-up-sweep",
                              "outbox-sender", "mail-feedback"}
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    for logical_id in functions.values():
        group = groups[f"{logical_id}LogGroup"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}
        assert group["RetentionInDays"] == 30
        assert f"{logical_id}LogGroup" in resources[logical_id]["DependsOn"]
    # And each function is named for the stage, the name its role's log permissions use
    for function, logical_id in functions.items():
        assert resources[logical_id]["Properties"]["FunctionName"] == template.function_name("local", function)
    assert template.function_name("prod", template.API_FUNCTION) == "patient-portal-prod"
    assert template.function_name("prod", "follow-up-sweep") == "patient-portal-prod-follow-up-sweep"
    assert groups["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == 30


def test_the_api_access_log_names_routes_and_statuses_never_query_strings_or_bodies():
    # When the template is built
    access = _build()["RestAPI"]["Properties"]["AccessLogSetting"]

    # Then the API stage writes its access log to its own group
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fmt = access["Format"]
    for field in ("$context.requestId", "$context.resourcePath", "$context.status", "$context.httpMethod"):
        assert field in fmt
    # And neither the raw path (ids), the query string nor any body is in it
    for leak in ("$context.path", "querystring", "$input.body", "$context.requestOverride", "$input.params"):
        assert leak not in fmt


def test_the_results_bucket_logs_its_access_into_a_log_bucket_only_s3_may_write():
    # When the template is built
    resources = _build()

    # Then the results bucket's server access log goes to the log bucket
    logging = resources["ResultsBucket"]["Properties"]["LoggingConfiguration"]
    assert logging == {"DestinationBucketName": {"Ref": "AccessLogBucket"}, "LogFilePrefix": template.ACCESS_LOG_PREFIX}
    # And only S3's log delivery, for this bucket and account, may write there; it expires with the logs
    statements = resources["AccessLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    delivery = next(s for s in statements if s["Effect"] == "Allow")
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{ENV['RESULTS_BUCKET']}"
    rules = resources["AccessLogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules[0]["ExpirationInDays"] == 365


def test_mail_feedback_is_kept_when_sns_or_the_function_fails_and_its_topic_is_encrypted():
    # When the template is built
    resources = _build()
    function = resources["MailFeedback"]
    dead_letters = {"Fn::GetAtt": ["MailFeedbackDeadLetterQueue", "Arn"]}

    # Then what SNS cannot deliver and what the function still fails on wait in a dead-letter queue
    assert function["Properties"]["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": dead_letters}
    subscription = function["Properties"]["Events"]["MailFeedbackSnsSubscription"]["Properties"]
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": dead_letters}
    queue_policy = resources["MailFeedbackDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert queue_policy["Principal"] == {"Service": "sns.amazonaws.com"}
    assert queue_policy["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "MailFeedbackTopic"}
    # And the topic is encrypted with a key SES may use
    assert resources["MailFeedbackTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "MailFeedbackTopicKey"}
    key_policy = resources["MailFeedbackTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "ses.amazonaws.com"} for s in key_policy)


def test_queue_pollers_never_run_more_copies_than_the_functions_reserved_concurrency():
    # Given the reserved concurrency of the queue functions
    import json

    from chalicelib.stages import ROOT

    config = json.loads((ROOT / ".chalice/config.json").read_text())["lambda_functions"]
    resources = _build()

    # Then each SQS mapping's maximum concurrency fits inside its function's reservation
    for name, logical_id in (("publish-uploads", "PublishUploads"), ("password-recovery", "PasswordRecovery"),
                             ("lab-results", "LabResults")):
        events = resources[logical_id]["Properties"]["Events"][f"{logical_id}SqsEventSource"]["Properties"]
        assert events["ScalingConfig"]["MaximumConcurrency"] <= config[name]["reserved_concurrency"]
    # And every event function has reserved concurrency
    for name in ("publish-uploads", "password-recovery", "follow-up-sweep", "outbox-sender", "mail-feedback",
                 "lab-results"):
        assert config[name]["reserved_concurrency"] >= 1


def test_without_a_customer_key_aws_keys_encrypt_everything():
    # When the template is built without kms_key_arn (the default)
    resources = _build()

    # Then tables, bucket and queues use AWS's keys, and no customer key is named
    assert all(t["Properties"]["SSESpecification"] == {"SSEEnabled": True}
               for t in _of_type(resources, "AWS::DynamoDB::Table").values())
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in _of_type(resources, "AWS::SQS::Queue").values())
    assert KEY not in str(resources)


def test_a_customer_managed_key_encrypts_tables_bucket_queues_topic_and_log_groups():
    # When the stage names a customer-managed key
    resources = _build(kms_key_arn=KEY)

    # Then every table, queue and log group, the results bucket and the topic use it
    tables = _of_type(resources, "AWS::DynamoDB::Table")
    assert tables and all(t["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                                                  "KMSMasterKeyId": KEY} for t in tables.values())
    queues = _of_type(resources, "AWS::SQS::Queue")
    assert len(queues) >= 5 and all(q["Properties"]["KmsMasterKeyId"] == KEY for q in queues.values())
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) == len(template.function_logical_ids(_event_sources())) + 1
    assert all(g["Properties"]["KmsKeyId"] == KEY for g in groups.values())
    encryption = resources["ResultsBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
    assert resources["MailFeedbackTopic"]["Properties"]["KmsMasterKeyId"] == KEY
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == KEY
    # And every function's environment is encrypted with it (CKV_AWS_173)
    functions = template.function_logical_ids(_event_sources())
    assert all(resources[logical_id]["Properties"]["KmsKeyArn"] == KEY for logical_id in functions.values())
    # And the template makes no key of its own
    assert not _of_type(resources, "AWS::KMS::Key")


def test_without_a_customer_key_no_function_names_one_and_the_topics_share_the_templates_key():
    # When the template is built without kms_key_arn
    resources = _build()

    # Then no function sets KmsKeyArn (Lambda's AWS-owned key), and both topics use the template's key
    functions = template.function_logical_ids(_event_sources())
    assert not any("KmsKeyArn" in resources[logical_id].get("Properties", {}) for logical_id in functions.values())
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "MailFeedbackTopicKey"}
    assert resources["MailFeedbackTopicKey"]["DeletionPolicy"] == "Retain"


def test_the_scan_reports_a_failed_check_the_skip_file_does_not_list():
    # Given a skip file covering one check on one resource, and every resource for another
    skips = {"CKV_AWS_1": {"resources": ["A"], "reason": "r"}, "CKV_AWS_2": {"resources": ["*"], "reason": "r"}}
    failures = [scan.Failure("CKV_AWS_1", "AWS::X::Y.A", "n"), scan.Failure("CKV_AWS_1", "AWS::X::Y.B", "n"),
                scan.Failure("CKV_AWS_2", "AWS::X::Y.C", "n"), scan.Failure("CKV_AWS_3", "AWS::X::Y.A", "n")]

    # Then only the unlisted ones are left
    assert scan.unexpected(failures, skips) == [failures[1], failures[3]]


def test_every_skip_in_the_repositorys_file_has_resources_and_a_reason(tmp_path):
    # Given the committed skip file
    assert scan.load_skips()

    # Then a skip without a reason is refused
    bad = tmp_path / "skips.yaml"
    bad.write_text("CKV_AWS_1:\n  resources: ['*']\n")
    with pytest.raises(ValueError, match="reason"):
        scan.load_skips(bad)
