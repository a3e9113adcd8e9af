"""The deployment bundle works on its own: `deployment.zip` (as `make package` makes it, trimmed)
unzipped into an empty folder and run in a fresh interpreter whose only path beyond the standard
library is that folder, as Lambda runs it. There the app is imported and every function of the
packaged template is invoked with a real-shaped event against the local stack: the API's routes
(sign-in, the item list, a Spanish page, forgot password, a take-away request, an enrolment
letter), each queue's handler with the messages the portal and S3 really queued, the mail-feedback
handler with what SNS delivered, and each schedule. A model or module the trims removed but the
code needs fails here, not in production."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from chalicelib import aws
from chalicelib.localstack import pump
from chalicelib.observability import HEARTBEATS, NAMESPACE, SIGN_IN_DURATION
from chalicelib.settings import get_settings
from infra.package import cached
from tests.fixtures.lab import FIXTURES, personalised

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
UPLOAD = {"title": "Lipid panel", "category": "lab", "provider": "Dr. Bundle"}

# Runs inside the bundle's interpreter (`python -I -S -B`: no site-packages, no environment
# PYTHON* variables, no script folder on the path, no bytecode written, as on Lambda's read-only
# disk). It reads the plan, invokes each step's handler with a real-shaped event, and writes what
# each answered; the portal's own JSON logs and metrics go to stdout.
DRIVER = r'''
import importlib, json, os, sys, sysconfig, time, traceback, uuid
bundle, plan_path, out_path = sys.argv[1:4]
sys.path.insert(0, bundle)
REGION, ACCOUNT = os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), "123456789012"


class Context:
    def __init__(self, name, timeout_ms=60000):
        self.function_name, self.function_version, self.memory_limit_in_mb = name, "$LATEST", 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def handler_of(spec):
    module, _, name = spec.rpartition(".")
    return getattr(importlib.import_module(module), name)


def http_event(step):
    headers = {"host": "portal.clinic.example", "user-agent": "standalone-bundle-test",
               "x-forwarded-proto": "https", **step.get("headers", {})}
    body = step.get("body")
    if body is not None:
        headers["content-type"] = "application/json"
    return {
        "resource": step["resource"], "path": step["path"], "httpMethod": step["method"], "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": step.get("pathParameters"),
        "stageVariables": None,
        "requestContext": {"resourcePath": step["resource"], "httpMethod": step["method"], "path": "/api" + step["path"],
                           "stage": "api", "requestId": str(uuid.uuid4()), "accountId": ACCOUNT,
                           "identity": {"sourceIp": "127.0.0.1", "userAgent": "standalone-bundle-test"}},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def received(queue, want):
    from chalicelib import aws
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    messages, deadline = [], time.monotonic() + 20
    while len(messages) < want and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1)
        messages += answer.get("Messages", [])
    return sqs, url, messages


def sqs_record(message, queue):
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": message["Attributes"].get("ApproximateReceiveCount", "1"),
                           "SentTimestamp": message["Attributes"].get("SentTimestamp", "0"),
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "0"},
            "messageAttributes": {}, "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}", "awsRegion": REGION}


def sns_record(message, topic):
    envelope = json.loads(message["Body"])
    return {"EventSource": "aws:sns", "EventVersion": "1.0",
            "EventSubscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}:{uuid.uuid4()}",
            "Sns": {"Type": envelope["Type"], "MessageId": envelope["MessageId"], "TopicArn": envelope["TopicArn"],
                    "Subject": envelope.get("Subject"), "Message": envelope["Message"],
                    "Timestamp": envelope["Timestamp"], "SignatureVersion": "1", "Signature": "",
                    "SigningCertUrl": "", "UnsubscribeUrl": "", "MessageAttributes": {}}}


def run(step):
    handler = handler_of(step["handler"])
    context = Context(step["function"])
    if step["kind"] == "http":
        answer = handler(http_event(step), context)
        return {"status": answer["statusCode"], "headers": answer.get("headers", {}), "body": answer.get("body", "")}
    if step["kind"] == "schedule":
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": ACCOUNT, "time": step["time"], "region": REGION,
                 "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{step['function']}"], "detail": {}}
        return {"answer": handler(event, context)}
    sqs, url, messages = received(step["queue"], step["messages"])
    if step["kind"] == "sns":
        answers = [handler({"Records": [sns_record(m, step["topic"])]}, context) for m in messages]
        failed = set()
    else:
        answers = [handler({"Records": [sqs_record(m, step["queue"]) for m in messages]}, context)]
        failed = {f["itemIdentifier"] for f in (answers[0] or {}).get("batchItemFailures", [])}
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return {"messages": [m["Body"] for m in messages], "failed": sorted(failed), "answers": answers}


plan = json.loads(open(plan_path).read())
results = {"steps": []}
for step in plan:
    try:
        results["steps"].append({"name": step["name"], "function": step["function"], **run(step)})
    except Exception as error:
        results["steps"].append({"name": step["name"], "function": step["function"],
                                 "error": type(error).__name__, "trace": traceback.format_exc()[-3000:]})
stdlib = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
results["outside"] = sorted({f for f in (getattr(m, "__file__", None) for m in list(sys.modules.values())) if f
                             and not f.startswith(bundle + "/") and not any(f.startswith(p + "/") for p in stdlib)})
results["sys_path"] = sys.path
open(out_path, "w").write(json.dumps(results, default=str))
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, dict]:
    """The prod package's zip unzipped into an empty folder, and its template."""
    package = cached("prod")
    folder = tmp_path_factory.mktemp("bundle") / "task"
    folder.mkdir()
    with zipfile.ZipFile(package / "deployment.zip") as zipped:
        zipped.extractall(folder)
    return folder, json.loads((package / "sam.json").read_text())


def _functions(template: dict) -> dict[str, str]:
    """Every packaged function's logical id -> its handler."""
    return {name: r["Properties"]["Handler"] for name, r in template["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


def _queue_of(function_name: str) -> str:
    """The local stage's queue that feeds a function (the app's event source of that name)."""
    from app import app

    return next(source.queue for source in app.event_sources if source.name == function_name)


def _register(portal, staff, fixture: str):
    return portal.register_patient(staff, name="Bundle Lab Patient", date_of_birth=FIXTURES[fixture].birth_dates[0])


def test_the_unzipped_bundle_runs_every_function_in_a_bare_interpreter(portal, staff, bundle, tmp_path):
    folder, template = bundle
    functions = _functions(template)
    settings = get_settings()
    # Given quiet queues, a patient, an upload the office made through the presigned POST, lab files
    # (HL7 and FHIR) dropped under lab/, and a bounce SES published to the feedback topic
    pump.drain()
    patient = portal.new_patient(staff)
    form = staff.post(f"/api/staff/patients/{patient.id}/uploads",
                      json={**UPLOAD, "filename": "lipids.pdf", "content_type": "application/pdf"}).json()
    assert requests.post(form["url"], data=form["fields"], files={"file": ("lipids.pdf", PDF)},
                         timeout=30).status_code in (200, 201, 204)
    steps: list[dict] = []
    lab = []
    if "LabResults" in functions:
        tag = secrets.token_hex(3)
        for fixture in ("cbc_final.hl7", "fhir_lipid_bundle.json"):
            registered = _register(portal, staff, fixture)
            aws.client("s3").put_object(Bucket=settings.results_bucket, Key=f"lab/{tag}/{fixture}",
                                        Body=personalised(fixture, [registered.mrn], tag))
            lab.append(registered)
        steps.append({"name": "lab intake", "function": "LabResults", "kind": "sqs",
                      "queue": _queue_of("lab-results"), "messages": 2})
    sns = aws.client("sns")
    sns.publish(TopicArn=sns.create_topic(Name=settings.mail_feedback_topic)["TopicArn"],
                Message=json.dumps(_bounce(patient.email)))
    mails_before = len(portal.outbox(patient.email))

    # When the bundle's interpreter runs the API's routes, then each queue's and topic's handler
    # on what was queued (the API's own jobs included), then each schedule
    def http(name: str, method: str, resource: str, path: str, **extra) -> dict:
        return {"name": name, "function": "APIHandler", "handler": functions["APIHandler"], "kind": "http",
                "method": method, "resource": resource, "path": path, **extra}

    unenrolled = portal.register_patient(staff)  # not signed in yet: the one an enrolment letter is for
    bearer = {"authorization": f"Bearer {patient.api.token}", "accept": "application/json"}
    office = {"authorization": f"Bearer {staff.token}", "accept": "application/json"}
    letter = "/api/staff/patients/{patient_id}/enrolment-letter"  # a PDF made with fpdf2, without Pillow
    routes = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    plan = [
        http("sign-in", "POST", "/api/auth/login", "/api/auth/login", headers={"accept": "application/json"},
             body={"username": patient.username, "password": patient.password}),
        http("item list", "GET", "/api/items", "/api/items", headers=bearer),
        http("page in Spanish", "GET", "/sign-in", "/sign-in", headers={"accept-language": "es", "accept": "text/html"}),
        http("forgot password", "POST", "/api/auth/forgot-password", "/api/auth/forgot-password",
             headers={"accept": "application/json"}, body={"username": patient.username}),
        http("take-away request", "POST", "/api/me/exports", "/api/me/exports", headers=bearer),
        *([http("enrolment letter", "POST", letter, letter.replace("{patient_id}", unenrolled.id), headers=office,
                pathParameters={"patient_id": unenrolled.id})] if letter in routes else []),
        {"name": "upload published", "function": "PublishUploads", "kind": "sqs", "queue": _queue_of("publish-uploads"),
         "messages": 1},
        {"name": "reset mailed", "function": "PasswordRecovery", "kind": "sqs", "queue": _queue_of("password-recovery"),
         "messages": 1},
        {"name": "take-away built", "function": "BuildExports", "kind": "sqs", "queue": _queue_of("build-exports"),
         "messages": 1},
        *steps,
        {"name": "bounce read", "function": "MailFeedback", "kind": "sns", "topic": settings.mail_feedback_topic,
         "queue": pump.sns_pump_queue(settings.mail_feedback_topic), "messages": 1},
        {"name": "sweep", "function": "FollowUpSweep", "kind": "schedule", "time": "2026-11-25T19:00:00Z"},
        {"name": "outbox", "function": "OutboxSender", "kind": "schedule", "time": "2026-11-25T19:05:00Z"},
    ]
    for step in plan:
        step.setdefault("handler", functions.get(step["function"], "missing"))
    plan_file, out_file = tmp_path / "plan.json", tmp_path / "results.json"
    plan_file.write_text(json.dumps(plan))
    env = {**_environment(), "POWERTOOLS_METRICS_DISABLED": "false", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    ran = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", DRIVER, str(folder), str(plan_file), str(out_file)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert ran.returncode == 0, ran.stderr[-3000:]
    results = json.loads(out_file.read_text())
    by_name = {step["name"]: step for step in results["steps"]}

    # Then every function of the packaged template was invoked, and none raised
    assert set(functions) == {step["function"] for step in plan}, "a packaged function has no step here"
    assert {s["name"]: s["trace"] for s in results["steps"] if "error" in s} == {}
    # And nothing was loaded from outside the bundle and the standard library
    assert results["outside"] == [] and results["sys_path"][0] == str(folder)
    assert not any("site-packages" in entry for entry in results["sys_path"])
    # And the API answered each route as it does in the suite
    assert by_name["sign-in"]["status"] == 200 and json.loads(by_name["sign-in"]["body"])["token"]
    assert by_name["item list"]["status"] == 200 and "items" in json.loads(by_name["item list"]["body"])
    assert by_name["page in Spanish"]["status"] == 200 and 'lang="es"' in by_name["page in Spanish"]["body"]
    assert by_name["forgot password"]["status"] == 202
    assert by_name["take-away request"]["status"] == 202
    if letter in routes:
        assert by_name["enrolment letter"]["status"] == 201, by_name["enrolment letter"]["body"]
    # And each queue's handler took its messages without a failure, with the outcome the portal shows
    for name in ("upload published", "reset mailed", "take-away built", "bounce read", *(["lab intake"] if lab else [])):
        assert by_name[name]["messages"] and by_name[name]["failed"] == [], by_name[name]
    documents = [i for i in staff.get(f"/api/staff/patients/{patient.id}").json()["items"] if i["kind"] == "document"]
    assert [d["title"] for d in documents] == [UPLOAD["title"]]
    assert len(portal.outbox(patient.email)) > mails_before  # the reset mail
    export_id = json.loads(by_name["take-away request"]["body"])["id"]
    assert patient.api.get(f"/api/me/exports/{export_id}").json()["status"] == "ready"
    for registered in lab:
        assert [i for i in staff.get(f"/api/staff/patients/{registered.id}").json()["items"] if i["kind"] == "result"]
    # And the schedules ran, each publishing its heartbeat, as the sign-in its duration, through
    # the one metrics object with the dimensions the alarms watch
    emitted = _metrics(ran.stdout)
    for job, metric in HEARTBEATS.items():
        assert (metric, get_settings().stage) in emitted, f"{job} published no heartbeat"
    assert (SIGN_IN_DURATION, get_settings().stage) in emitted


def _bounce(address: str) -> dict:
    """An SES event-publishing Bounce record, as the configuration set sends it to SNS."""
    settings = get_settings()
    return {
        "eventType": "Bounce",
        "bounce": {"feedbackId": "0100019a-" + secrets.token_hex(8), "bounceType": "Transient",
                   "bounceSubType": "MailboxFull", "timestamp": "2026-11-25T19:00:01.000Z",
                   "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "4.2.2"}],
                   "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com"},
        "mail": {"timestamp": "2026-11-25T19:00:00.000Z", "source": settings.mail_from,
                 "sourceArn": f"arn:aws:ses:{settings.region}:123456789012:identity/{settings.mail_from}",
                 "sendingAccountId": "123456789012", "messageId": "0100019a-" + secrets.token_hex(8),
                 "destination": [address], "headersTruncated": False,
                 "tags": {"ses:configuration-set": [settings.ses_configuration_set]}},
    }


def _environment() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if not name.startswith("PYTEST")}


def _metrics(stdout: str) -> set[tuple[str, str]]:
    """(metric name, stage) of every EMF record the portal printed in the namespace."""
    found = set()
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            if directive["Namespace"] == NAMESPACE and ["service", "stage"] in [sorted(d) for d in directive["Dimensions"]]:
                found.update((metric["Name"], record["stage"]) for metric in directive["Metrics"])
    return found
