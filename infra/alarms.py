"""Alarms that reach someone, and a dashboard of the same figures (merged into the packaged template).

One SNS topic, `AlarmTopic`, with the `AlarmEmail` deploy parameter subscribed to it; every alarm
sends to it when it fires and when it clears. The alarms (what each means and what to do:
docs/operations.md):

- every function's `Errors` and `Throttles` (the functions are the ones the template packages:
  the API and every event handler of the app, so a new handler gets its alarms with no edit here);
- every dead-letter queue's depth above 0 (the queues found in the template: any queue a redrive
  policy or a function's dead-letter setting points at);
- the API's 5XX rate;
- SES reputation: bounce rate at 5% and complaint rate at 0.1%, below the rates at which AWS
  reviews and then pauses an account's sending;
- a heartbeat per scheduled job (`chalicelib.observability.HEARTBEATS`): missing for 26 hours,
  missing data counting as breaching;
- the sign-in duration's p95 above 80% of the API function's timeout;
- with an SMS spend limit for the stage (`SMS_MONTHLY_SPEND_LIMIT_USD`), SNS's month-to-date SMS
  spend at 80% of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.observability import HEARTBEATS, NAMESPACE, SERVICE, SIGN_IN_DURATION

TOPIC = "AlarmTopic"
EMAIL_PARAMETER = "AlarmEmail"
API_STAGE = "api"  # Chalice's api_gateway_stage in .chalice/config.json
DOCS = "docs/operations.md"

FIVE_MINUTES = 300
HOUR = 3600
HEARTBEAT_MISSING_HOURS = 26  # the sweep is hourly, the outbox sender every 5 minutes: a day and more of nothing
API_5XX_RATE = 0.05  # of the API's requests in five minutes, two periods running
BOUNCE_RATE = 0.05  # AWS reviews an account at 5% and may pause it at 10%
COMPLAINT_RATE = 0.001  # AWS reviews an account at 0.1% and may pause it at 0.5%
SIGN_IN_SHARE_OF_TIMEOUT = 0.8
SMS_SPEND_SHARE = 0.8
SMS_SPEND_SETTING = "SMS_MONTHLY_SPEND_LIMIT_USD"


@dataclass(frozen=True)
class PackagedFunction:
    name: str  # its name in .chalice/config.json (`api_handler`, `follow-up-sweep`, …)
    logical_id: str  # its resource in the packaged template
    deployed_name: str  # the Lambda function's name
    timeout_seconds: int


def parameters() -> dict[str, Any]:
    return {EMAIL_PARAMETER: {
        "Type": "String",
        "Description": "Where the portal's alarms are mailed (the address confirms the subscription once).",
        "AllowedPattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        "ConstraintDescription": "an email address",
    }}


def dead_letter_queues(resources: dict[str, Any]) -> list[str]:
    """The logical ids of the template's queues that anything redrives to or sends failures to."""
    targets: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, value in node.items():
                walk(value, k)
        elif isinstance(node, list):
            for value in node:
                walk(value, key)
        if key in ("deadLetterTargetArn", "TargetArn") and isinstance(node, dict) and "Fn::GetAtt" in node:
            targets.add(node["Fn::GetAtt"][0])

    walk(resources)
    return sorted(t for t in targets if resources.get(t, {}).get("Type") == "AWS::SQS::Queue")


def _alarm(name: str, description: str, metric: dict[str, Any], threshold: float, comparison: str, *,
           periods: int = 1, missing: str = "notBreaching") -> dict[str, Any]:
    properties = {
        "AlarmName": name,
        "AlarmDescription": f"{description} What to do: {DOCS}.",
        **metric,
        "Threshold": threshold,
        "ComparisonOperator": comparison,
        "EvaluationPeriods": periods,
        "DatapointsToAlarm": periods,
        "TreatMissingData": missing,
        "AlarmActions": [{"Ref": TOPIC}],
        "OKActions": [{"Ref": TOPIC}],
    }
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def _metric(namespace: str, name: str, dimensions: dict[str, Any], *, statistic: str = "Sum",
            period: int = FIVE_MINUTES) -> dict[str, Any]:
    stat = {"ExtendedStatistic": statistic} if statistic.startswith("p") else {"Statistic": statistic}
    return {"Namespace": namespace, "MetricName": name, "Period": period, **stat,
            "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()]}


def portal_dimensions(stage: str) -> dict[str, str]:
    """The dimensions the portal's one Metrics object gives every figure (`chalicelib.observability`)."""
    return {"service": SERVICE, "stage": stage}


def api_name(stage: str, app_name: str) -> str:
    return f"{app_name}-{stage}"


def alarm_resources(stage: str, app_name: str, functions: list[PackagedFunction], resources: dict[str, Any],
                    environment: dict[str, str]) -> dict[str, Any]:
    prefix = f"{app_name}-{stage}"
    alarms: dict[str, Any] = {}
    for function in functions:
        dimensions = {"FunctionName": function.deployed_name}
        alarms[f"{function.logical_id}ErrorsAlarm"] = _alarm(
            f"{prefix} {function.name} errors",
            f"The {function.name} function failed (an exception it did not handle, a timeout or a crash).",
            _metric("AWS/Lambda", "Errors", dimensions), 1, "GreaterThanOrEqualToThreshold")
        alarms[f"{function.logical_id}ThrottlesAlarm"] = _alarm(
            f"{prefix} {function.name} throttles",
            f"Lambda turned away invocations of the {function.name} function: it was at its concurrency limit.",
            _metric("AWS/Lambda", "Throttles", dimensions), 1, "GreaterThanOrEqualToThreshold")
    for queue in dead_letter_queues(resources):
        alarms[f"{queue}DepthAlarm"] = _alarm(
            f"{prefix} {resources[queue]['Properties']['QueueName']} not empty",
            "Messages wait in a dead-letter queue: work the portal gave up on after its retries.",
            _metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}},
                    statistic="Maximum"), 0, "GreaterThanThreshold")
    alarms["Api5xxAlarm"] = _alarm(
        f"{prefix} API 5XX rate",
        f"More than {API_5XX_RATE:.0%} of the API's answers were server errors, ten minutes running.",
        _metric("AWS/ApiGateway", "5XXError", {"ApiName": api_name(stage, app_name), "Stage": API_STAGE},
                statistic="Average"), API_5XX_RATE, "GreaterThanThreshold", periods=2)
    alarms["MailBounceRateAlarm"] = _alarm(
        f"{prefix} SES bounce rate",
        f"The account's SES bounce rate reached {BOUNCE_RATE:.0%}; AWS may pause sending at 10%.",
        _metric("AWS/SES", "Reputation.BounceRate", {}, statistic="Maximum", period=HOUR), BOUNCE_RATE,
        "GreaterThanOrEqualToThreshold")
    alarms["MailComplaintRateAlarm"] = _alarm(
        f"{prefix} SES complaint rate",
        f"The account's SES complaint rate reached {COMPLAINT_RATE:.1%}; AWS may pause sending at 0.5%.",
        _metric("AWS/SES", "Reputation.ComplaintRate", {}, statistic="Maximum", period=HOUR), COMPLAINT_RATE,
        "GreaterThanOrEqualToThreshold")
    names = {f.name for f in functions}
    for job, metric in HEARTBEATS.items():
        if job not in names:
            continue
        logical_id = next(f.logical_id for f in functions if f.name == job)
        alarms[f"{logical_id}HeartbeatAlarm"] = _alarm(
            f"{prefix} {job} heartbeat missing",
            f"The {job} job has not finished a run for {HEARTBEAT_MISSING_HOURS} hours: follow-up notices and "
            "the office's alerts are not going out.",
            _metric(NAMESPACE, metric, portal_dimensions(stage), period=HOUR), 1, "LessThanThreshold",
            periods=HEARTBEAT_MISSING_HOURS, missing="breaching")
    api = next((f for f in functions if f.logical_id == "APIHandler"), None)
    if api is not None:
        limit_ms = round(api.timeout_seconds * 1000 * SIGN_IN_SHARE_OF_TIMEOUT)
        alarms["SignInDurationAlarm"] = _alarm(
            f"{prefix} sign-in slow",
            f"The p95 of sign-in took over {limit_ms} ms ({SIGN_IN_SHARE_OF_TIMEOUT:.0%} of the API function's "
            f"{api.timeout_seconds} s timeout), fifteen minutes running: sign-ins are about to time out.",
            _metric(NAMESPACE, SIGN_IN_DURATION, portal_dimensions(stage), statistic="p95"), limit_ms,
            "GreaterThanThreshold", periods=3)
    spend = (environment.get(SMS_SPEND_SETTING) or "").strip()
    if spend and float(spend) > 0:
        threshold = round(float(spend) * SMS_SPEND_SHARE, 2)
        alarms["SmsSpendAlarm"] = _alarm(
            f"{prefix} SMS spend",
            f"Text messages this month cost ${threshold} or more: {SMS_SPEND_SHARE:.0%} of the stage's "
            f"${float(spend):g} limit, at which the portal stops texting.",
            _metric("AWS/SNS", "SMSMonthToDateSpentUSD", {}, statistic="Maximum", period=HOUR), threshold,
            "GreaterThanOrEqualToThreshold")
    return alarms


def topic_resources(kms_key: str | None, topic_key: dict[str, Any]) -> dict[str, Any]:
    """The alarm topic (encrypted with `topic_key`, whose policy lets CloudWatch use it), the
    email subscription, and a topic policy that lets this account's alarms publish."""
    return {
        TOPIC: {"Type": "AWS::SNS::Topic",
                "Properties": {"DisplayName": "Patient portal alarms", "KmsMasterKeyId": kms_key or topic_key}},
        "AlarmTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": TOPIC}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "CloudWatchAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": {"Ref": TOPIC},
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
            },
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"TopicArn": {"Ref": TOPIC}, "Protocol": "email", "Endpoint": {"Ref": EMAIL_PARAMETER}},
        },
    }


def _widget(title: str, metrics: list[list[Any]], *, stat: str = "Sum", period: int = FIVE_MINUTES,
            annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"title": title, "view": "timeSeries", "region": "${AWS::Region}",
                                  "stat": stat, "period": period, "metrics": metrics}
    if annotations:
        properties["annotations"] = {"horizontal": annotations}
    return {"type": "metric", "width": 12, "height": 6, "properties": properties}


def dashboard_resource(stage: str, app_name: str, alarms: dict[str, Any]) -> dict[str, Any]:
    """A dashboard of every alarm's state and of the figures behind them, one graph a kind."""
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms.values():
        by_metric.setdefault(alarm["Properties"]["MetricName"], []).append(alarm["Properties"])

    def lines(metric: str) -> list[list[Any]]:
        out = []
        for properties in by_metric.get(metric, []):
            line: list[Any] = [properties["Namespace"], metric]
            for dimension in properties["Dimensions"]:
                value = dimension["Value"]
                if isinstance(value, dict):  # a queue's name, from its resource
                    value = "${" + value["Fn::GetAtt"][0] + ".QueueName}"
                line += [dimension["Name"], value]
            out.append(line)
        return out

    def threshold(metric: str) -> list[dict[str, Any]]:
        first = by_metric.get(metric, [{}])[0]
        return [{"label": "alarm", "value": first["Threshold"]}] if "Threshold" in first else []

    widgets = [
        {"type": "alarm", "width": 24, "height": 6, "properties": {
            "title": "Alarms", "alarms": ["${" + logical_id + ".Arn}" for logical_id in sorted(alarms)]}},
        _widget("Function errors", lines("Errors")),
        _widget("Function throttles", lines("Throttles")),
        _widget("Dead-letter queue depth", lines("ApproximateNumberOfMessagesVisible"), stat="Maximum",
                annotations=threshold("ApproximateNumberOfMessagesVisible")),
        _widget("API 5XX rate", lines("5XXError"), stat="Average", annotations=threshold("5XXError")),
        _widget("SES reputation", lines("Reputation.BounceRate") + lines("Reputation.ComplaintRate"),
                stat="Maximum", period=HOUR),
        _widget("Heartbeats (runs an hour)", [line for metric in HEARTBEATS.values() for line in lines(metric)],
                period=HOUR),
        _widget("Sign-in duration p95 (ms)", lines(SIGN_IN_DURATION), stat="p95",
                annotations=threshold(SIGN_IN_DURATION)),
    ]
    if "SMSMonthToDateSpentUSD" in by_metric:
        widgets.append(_widget("SMS spend this month (USD)", lines("SMSMonthToDateSpentUSD"), stat="Maximum",
                               period=HOUR, annotations=threshold("SMSMonthToDateSpentUSD")))
    for n, widget in enumerate(widgets[1:]):
        widget["x"], widget["y"] = 12 * (n % 2), 6 + 6 * (n // 2)
    widgets[0]["x"], widgets[0]["y"] = 0, 0
    body = json.dumps({"widgets": widgets}, sort_keys=True)
    return {"Dashboard": {"Type": "AWS::CloudWatch::Dashboard",
                          "Properties": {"DashboardName": f"{app_name}-{stage}", "DashboardBody": {"Fn::Sub": body}}}}
