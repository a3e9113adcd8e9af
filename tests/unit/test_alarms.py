"""The packaged template's alarms reach someone: one topic, the AlarmEmail parameter subscribed to
it, every alarm acting on it; every function and every dead-letter queue found in the packaged
template has its alarms (a new function or queue is covered without an edit to this test); the
API, SES, heartbeat and sign-in alarms watch the figures the portal really publishes; a dashboard
shows them all."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.stages import stage_environment
from infra import alarms
from infra.package import cached

PROD = stage_environment("prod")


@pytest.fixture(scope="module")
def packaged() -> dict:
    return json.loads((cached("prod") / "sam.json").read_text())


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == kind}


def _alarms(template: dict) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in _of_type(template, "AWS::CloudWatch::Alarm").items()}


def _refs_to(node: Any, key: str) -> set[str]:
    """The logical ids a `{"Fn::GetAtt": [id, "Arn"]}` under `key` names, anywhere in `node`."""
    found: set[str] = set()
    if isinstance(node, dict):
        for k, value in node.items():
            if k == key and isinstance(value, dict) and "Fn::GetAtt" in value:
                found.add(value["Fn::GetAtt"][0])
            found |= _refs_to(value, key)
    elif isinstance(node, list):
        for value in node:
            found |= _refs_to(value, key)
    return found


def dead_letter_queues(template: dict) -> set[str]:
    """Every queue something sends failures to: a queue's or an SNS subscription's redrive
    policy, a function's dead-letter setting (read from the packaged template, independently of
    the code that makes the alarms)."""
    queues = _of_type(template, "AWS::SQS::Queue")
    resources = template["Resources"]
    targets = _refs_to(resources, "deadLetterTargetArn")
    for function in _of_type(template, "AWS::Serverless::Function").values():
        targets |= _refs_to(function["Properties"].get("DeadLetterQueue", {}), "TargetArn")
    return targets & set(queues)


def _dimension(alarm: dict, name: str) -> Any:
    return next((d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == name), None)


def missing_alarms(template: dict) -> list[str]:
    """Each function without an Errors and a Throttles alarm, each dead-letter queue without a
    depth alarm, each alarm that acts on nothing."""
    watched = _alarms(template)
    missing = []
    for logical_id, function in _of_type(template, "AWS::Serverless::Function").items():
        name = function["Properties"]["FunctionName"]
        for metric in ("Errors", "Throttles"):
            if not any(a["Namespace"] == "AWS/Lambda" and a["MetricName"] == metric
                       and _dimension(a, "FunctionName") == name for a in watched.values()):
                missing.append(f"{logical_id} {metric}")
    for queue in dead_letter_queues(template):
        if not any(a["Namespace"] == "AWS/SQS" and _dimension(a, "QueueName") == {"Fn::GetAtt": [queue, "QueueName"]}
                   and a["ComparisonOperator"] == "GreaterThanThreshold" and a["Threshold"] == 0
                   for a in watched.values()):
            missing.append(f"{queue} depth")
    for logical_id, alarm in watched.items():
        if {"Ref": alarms.TOPIC} not in alarm.get("AlarmActions", []):
            missing.append(f"{logical_id} action")
    return missing


def test_every_function_and_dead_letter_queue_of_the_package_has_its_alarms(packaged):
    # Given the packaged prod template's functions and dead-letter queues
    functions = _of_type(packaged, "AWS::Serverless::Function")
    assert {"APIHandler", "FollowUpSweep", "OutboxSender", "MailFeedback", "PublishUploads"} <= set(functions)
    assert {"PublishDeadLetterQueue", "RecoveryDeadLetterQueue", "MailFeedbackDeadLetterQueue"} <= dead_letter_queues(packaged)

    # Then none lacks an alarm, and every alarm acts on the topic
    assert missing_alarms(packaged) == []


def test_a_function_or_dead_letter_queue_added_without_alarms_is_reported(packaged):
    # Given the packaged template with one more function and one more queue redriving to a
    # dead-letter queue, neither with an alarm (as a new handler would be if the alarms forgot it)
    template = copy.deepcopy(packaged)
    resources = template["Resources"]
    resources["Extra"] = copy.deepcopy(resources["PublishUploads"])
    resources["Extra"]["Properties"]["FunctionName"] = "patient-portal-prod-extra"
    resources["ExtraDeadLetterQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "extra-dlq"}}
    resources["ExtraQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"RedrivePolicy": {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ExtraDeadLetterQueue", "Arn"]}, "maxReceiveCount": 5}}}
    resources["Api5xxAlarm"]["Properties"]["AlarmActions"] = []

    # Then the check names each
    assert sorted(missing_alarms(template)) == ["Api5xxAlarm action", "Extra Errors", "Extra Throttles",
                                                "ExtraDeadLetterQueue depth"]


def test_one_topic_mails_the_alarm_email_parameter_and_every_alarm_acts_on_it(packaged):
    # Given the packaged template
    resources = packaged["Resources"]

    # Then AlarmEmail is a deploy parameter, subscribed by email to the alarm topic
    assert packaged["Parameters"]["AlarmEmail"]["Type"] == "String"
    assert "Default" not in packaged["Parameters"]["AlarmEmail"]
    subscriptions = _of_type(packaged, "AWS::SNS::Subscription")
    assert [s["Properties"] for s in subscriptions.values()] == [
        {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    # And the topic is encrypted with a key CloudWatch may use, and lets this account's alarms publish
    key = resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    statements = resources[key["Ref"]]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in statements)
    policy = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and policy["Action"] == "sns:Publish"
    # And every alarm mails it when it fires and when it clears
    watched = _alarms(packaged)
    assert len(watched) >= 20
    for alarm in watched.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] and alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
        assert "docs/operations.md" in alarm["AlarmDescription"]


def test_api_and_mail_reputation_alarms(packaged):
    # Given the packaged template's alarms
    watched = _alarms(packaged)
    api = packaged["Resources"]["RestAPI"]["Properties"]

    # Then the API's 5XX rate is watched on the API as deployed (its name and stage)
    five = watched["Api5xxAlarm"]
    assert (five["Namespace"], five["MetricName"], five["Statistic"]) == ("AWS/ApiGateway", "5XXError", "Average")
    assert _dimension(five, "ApiName") == api["Name"] == "patient-portal-prod"
    assert _dimension(five, "Stage") == api["StageName"]
    # And SES's bounce rate at 5% and complaint rate at 0.1%, before AWS pauses sending
    bounce, complaint = watched["MailBounceRateAlarm"], watched["MailComplaintRateAlarm"]
    assert (bounce["MetricName"], bounce["Threshold"]) == ("Reputation.BounceRate", 0.05)
    assert (complaint["MetricName"], complaint["Threshold"]) == ("Reputation.ComplaintRate", 0.001)
    assert {bounce["ComparisonOperator"], complaint["ComparisonOperator"]} == {"GreaterThanOrEqualToThreshold"}


def test_heartbeats_watch_what_the_jobs_publish_and_fire_when_missing_for_26_hours(packaged):
    # Given what the portal's one Metrics object publishes for a heartbeat (and nothing an earlier test left in it)
    observability.metrics.clear_metrics()
    observability.heartbeat("follow-up-sweep")
    published = observability.metrics.serialize_metric_set()
    observability.metrics.clear_metrics()
    directive = published["_aws"]["CloudWatchMetrics"][0]

    # Then each scheduled job's alarm watches that metric, in that namespace, with those dimensions
    watched = _alarms(packaged)
    for job, metric in observability.HEARTBEATS.items():
        [alarm] = [a for a in watched.values() if a["MetricName"] == metric]
        assert alarm["Namespace"] == directive["Namespace"]
        assert {d["Name"] for d in alarm["Dimensions"]} == set(directive["Dimensions"][0])
        assert _dimension(alarm, "service") == published["service"]
        assert _dimension(alarm, "stage") == PROD["PORTAL_STAGE"]
        # And no run finished in 26 hours (no data at all counts) fires it
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
        assert alarm["TreatMissingData"] == "breaching"
    assert {m["Name"] for m in directive["Metrics"]} == {"FollowUpSweepHeartbeat"}


def test_sign_in_p95_alarms_at_80_percent_of_the_api_functions_timeout(packaged):
    # Given the API function's timeout in the package
    timeout_s = packaged["Resources"]["APIHandler"]["Properties"]["Timeout"]

    # Then the sign-in duration's p95 alarms above 80% of it (milliseconds)
    alarm = _alarms(packaged)["SignInDurationAlarm"]
    assert (alarm["MetricName"], alarm["ExtendedStatistic"]) == (observability.SIGN_IN_DURATION, "p95")
    assert alarm["Threshold"] == round(timeout_s * 1000 * 0.8)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_text_spend_alarms_when_the_stage_has_a_spend_limit(packaged):
    # Given the stage's SMS spend limit, if it has one
    limit = (PROD.get("SMS_MONTHLY_SPEND_LIMIT_USD") or "").strip()
    watched = _alarms(packaged)

    # Then SNS's month-to-date SMS spend alarms at 80% of it (and there is no such alarm without one)
    if limit and float(limit) > 0:
        alarm = watched["SmsSpendAlarm"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SNS", "SMSMonthToDateSpentUSD")
        assert alarm["Threshold"] == round(float(limit) * 0.8, 2)
    else:
        assert "SmsSpendAlarm" not in watched
    # (the template's own code, given a limit, makes it)
    made = alarms.alarm_resources("prod", "patient-portal", [], {}, {"SMS_MONTHLY_SPEND_LIMIT_USD": "50"})
    assert made["SmsSpendAlarm"]["Properties"]["Threshold"] == 40


def test_the_dashboard_shows_every_alarm_and_the_figures_behind_them(packaged):
    # Given the packaged dashboard
    [dashboard] = _of_type(packaged, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    widgets = {w["properties"]["title"]: w["properties"] for w in body["widgets"]}

    # Then its alarm widget lists every alarm
    assert sorted(widgets["Alarms"]["alarms"]) == sorted(f"${{{name}.Arn}}" for name in _alarms(packaged))
    # And a graph shows each alarm's figure: every function, dead-letter queue, the API, SES, heartbeats, sign-in
    lines = json.dumps([w.get("metrics", []) for w in widgets.values()])
    for function in _of_type(packaged, "AWS::Serverless::Function").values():
        assert function["Properties"]["FunctionName"] in lines
    for queue in dead_letter_queues(packaged):
        assert f"${{{queue}.QueueName}}" in lines
    for figure in ("5XXError", "Reputation.BounceRate", "Reputation.ComplaintRate", observability.SIGN_IN_DURATION,
                   *observability.HEARTBEATS.values()):
        assert figure in lines


def test_the_cached_package_is_the_command_line_package(packaged):
    # Given the package the tests share
    folder = cached("prod")

    # Then it is `python -m infra.package`'s output, checked by cfn-lint
    assert "cfn-lint: no errors" in (folder / "package.log").read_text()
    assert Path(folder / "deployment.zip").exists()
