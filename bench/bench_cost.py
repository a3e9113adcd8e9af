"""`cost_per_clinic_month_usd`: one month of AWS for a 5,000-patient clinic, priced from what the
portal is measured doing. The model (volumes, prices, what each line counts, and the floor) is
written out in bench/README.md; the numbers below are the same.

Each operation is run a few times on the local stack, the API ones in-process through the app's
Lambda entry point (as API Gateway would call it), the events through the local pump. For each
run the bench records, through the one botocore method every client call goes through:
- every AWS call (service and operation), and the time spent waiting for it;
- the DynamoDB capacity each call consumed (`ReturnConsumedCapacity=TOTAL` is asked of every
  DynamoDB call that takes it);
- the handler's time and the process's CPU time (`time.process_time`: Argon2id hashes on threads
  of its own).
The Lambda time billed for an operation is its CPU time stretched by the CPU share its
function's configured memory buys (one vCPU at 1,769 MB), plus the time it waited.

The floor is the same model over the logical minimum of each operation: its minimum AWS calls
(each a single item: 1 read unit, 1 write unit, 2 per item in a transaction), with the same CPU
time and the same wait per call; API requests, invocations, mails, storage and queue polling stay.

Text messages are priced apart, as `sms_cost_per_clinic_month_usd`: the month's notices (first
notices and follow-ups) for the share of patients who choose texts, times the texts and message
parts a notice to such a patient is measured to send, at the list price of a part. The portal's own
cost (`cost_per_clinic_month_usd`) is without them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from botocore.client import BaseClient

from bench import lambda_config
from bench.coldstart import Context
from bench.figures import Figure
from bench.peak_memory import api_event
from chalicelib import aws
from chalicelib.clock import clock, iso
from chalicelib.settings import get_settings

RUNS = 5  # of each operation; their mean is priced

# One month of a 5,000-patient clinic.
MONTH = {
    "sign_in": 6_000,
    "items_list": 6_000,  # each sign-in lands on the item list
    "item_view": 12_000,
    "message_send": 1_000,
    "publish": 2_000,
    "sweep_run": 24 * 30,  # hourly
    "sweep_due": 1_000,  # follow-up notices: half the month's documents are still unread when theirs is due
    "outbox_run": 12 * 24 * 30,  # the outbox sender, every five minutes
}
FUNCTION = {"sign_in": lambda_config.API_FUNCTION, "items_list": lambda_config.API_FUNCTION,
            "item_view": lambda_config.API_FUNCTION, "message_send": lambda_config.API_FUNCTION,
            "publish": lambda_config.PUBLISHER, "sweep_run": lambda_config.SWEEP,
            "sweep_due": lambda_config.SWEEP, "outbox_run": lambda_config.OUTBOX_SENDER}
API_OPERATIONS = ("sign_in", "items_list", "item_view", "message_send")

# The share of patients who choose text messages for their notices (alone or with email).
SMS_SHARE = 0.30
# us-east-1 list prices (on-demand, no free tier), USD.
PRICE = {
    "lambda_gb_second": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "api_request": 3.50 / 1e6,  # API Gateway REST API, first 333 million a month
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_gb_month": 0.25,
    "ses_mail": 0.10 / 1000,
    "s3_write_request": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_read_request": 0.0004 / 1000,  # GET, HEAD and the rest
    "s3_gb_month": 0.023,  # S3 Standard, first 50 TB
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB request
    "logs_ingested_gb": 0.50,
    "logs_stored_gb_month": 0.03,
    # SNS SMS to a US number, a message part: $0.00581 (AWS End User Messaging) plus the carriers'
    # fee (about $0.00302 a part); the setting SMS_PRICE_USD the spend limit counts with is the same.
    "sms_part": 0.00883,
}
VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, a proportional share below

# What the month holds besides the measured operations (the same in value and floor).
DOCUMENT_KB = 200  # a typical PDF result
DOCUMENTS_KEPT = 12 * MONTH["publish"]  # a year of results in the bucket
DYNAMODB_GB = 0.25  # accounts, a year of items, messages, sessions and audit events: a generous bound
OFFICE_ALERTS = MONTH["message_send"]  # at most one office alert mail per patient message
POLLED_QUEUES = 2  # the upload and recovery queues, each read by a Lambda event source mapping
POLLS_PER_QUEUE = 5 * 3 * 60 * 24 * 30  # five long-polling pollers, a 20 s poll each, all month
SQS_PER_UPLOAD = 3  # S3's SendMessage, the event source's ReceiveMessage and DeleteMessage
LOG_KB_PER_INVOCATION = 1.0  # Lambda's START/END/REPORT lines and the portal's JSON lines

READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
CAPACITY_OPS = READS | {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
S3_WRITES = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "ListObjectVersions",
             "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
S3_FREE = {"DeleteObject", "DeleteObjects"}

# The logical minimum of each operation: (DynamoDB reads, read units, DynamoDB writes, write units,
# S3 reads, S3 writes, mails), and why.
MINIMUM = {
    "sign_in": ((1, 1, 2, 2, 0, 0, 0), "find the account by username; write the session; append the audit event"),
    "items_list": ((1, 2, 0, 0, 0, 0, 0), "one BatchGetItem: the session and the patient's item list"),
    "item_view": ((1, 1, 2, 2, 0, 0, 0), "check the session; record the open on the document; append the audit event"),
    "message_send": ((1, 1, 2, 7, 0, 0, 0), "check the session; one transaction writing the message, its thread and "
                                            "the office alert (2 units each); append the audit event"),
    "publish": ((1, 1, 1, 4, 1, 0, 1), "read the object; find the patient; one transaction writing the document "
                                       "and its notice (2 units each); one mail"),
    "sweep_run": ((1, 1, 0, 0, 0, 0, 0), "one query of the due index"),
    "sweep_due": ((1, 1, 1, 4, 0, 0, 1), "read the patient's address; claim the item and its notice in one "
                                         "transaction; one mail"),
    "outbox_run": ((1, 1, 0, 0, 0, 0, 0), "one query of the notices due"),
}


@dataclass
class Usage:
    """What one run of an operation cost."""

    calls: Counter = field(default_factory=Counter)  # "service:Operation" -> count
    read_units: float = 0.0
    write_units: float = 0.0
    wait_s: float = 0.0  # time spent waiting on AWS calls
    excluded_s: float = 0.0  # time spent in the excluded services' calls (not the function's)
    wall_s: float = 0.0  # the handler's time, less the event source's own SQS calls
    cpu_s: float = 0.0  # the process's CPU time meanwhile (Argon2id hashes on threads of its own)
    mails: int = 0
    texts: int = 0  # SNS publishes to a phone number
    text_parts: int = 0  # the message parts (segments) they took

    def dynamodb(self, reads: bool) -> int:
        return sum(n for op, n in self.calls.items() if op.startswith("dynamodb:")
                   and (op.split(":")[1] in READS) == reads)

    def s3(self, kind: str) -> int:
        ops = {op.split(":")[1]: n for op, n in self.calls.items() if op.startswith("s3:")}
        if kind == "write":
            return sum(n for op, n in ops.items() if op in S3_WRITES)
        return sum(n for op, n in ops.items() if op not in S3_WRITES and op not in S3_FREE)


@contextmanager
def measured(excluded: frozenset = frozenset({"sqs"})):
    """Every AWS call meanwhile (those of `excluded` services apart: the event source mapping's, in
    AWS), with the DynamoDB capacity it consumed and the time it took; and the block's own times."""
    usage, lock = Usage(), threading.Lock()
    original = BaseClient._make_api_call

    def capacity(operation_name: str, answer) -> None:
        consumed = answer.get("ConsumedCapacity") if isinstance(answer, dict) else None
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            units = float(entry.get("CapacityUnits") or 0)
            if operation_name in READS:
                usage.read_units += units
            else:
                usage.write_units += units

    def call(client, operation_name, api_params):
        service = client.meta.service_model.endpoint_prefix
        params = dict(api_params or {})
        if service == "dynamodb" and operation_name in CAPACITY_OPS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        started = time.perf_counter()
        answer = original(client, operation_name, params)
        if service in excluded:
            with lock:
                usage.excluded_s += time.perf_counter() - started
        else:
            with lock:
                usage.wait_s += time.perf_counter() - started
                usage.calls[f"{service}:{operation_name}"] += 1
                usage.mails += operation_name in {"SendEmail", "SendRawEmail"}
                if service == "sns" and operation_name == "Publish" and params.get("PhoneNumber"):
                    from chalicelib.mail.texts import segments

                    usage.texts += 1
                    usage.text_parts += segments(str(params.get("Message", "")))
                capacity(operation_name, answer)
        return answer

    BaseClient._make_api_call = call
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    try:
        yield usage
    finally:
        usage.wall_s = time.perf_counter() - started_wall - usage.excluded_s
        usage.cpu_s = time.process_time() - started_cpu
        BaseClient._make_api_call = original


def mean(runs: list[Usage]) -> Usage:
    """The mean of several runs (call counts as means too)."""
    total = Usage()
    for run in runs:
        total.calls.update(run.calls)
        for name in ("read_units", "write_units", "wait_s", "wall_s", "cpu_s", "mails", "texts", "text_parts"):
            setattr(total, name, getattr(total, name) + getattr(run, name))
    n = len(runs)
    averaged = Usage(calls=Counter({k: v / n for k, v in total.calls.items()}))
    for name in ("read_units", "write_units", "wait_s", "wall_s", "cpu_s", "mails", "texts", "text_parts"):
        setattr(averaged, name, getattr(total, name) / n)
    return averaged


def floor_of(operation: str, usage: Usage) -> Usage:
    """The operation's logical minimum, with its measured CPU time and wait per call."""
    (reads, read_units, writes, write_units, s3_reads, s3_writes, mails), _ = MINIMUM[operation]
    calls = Counter({"dynamodb:GetItem": reads, "dynamodb:PutItem": writes, "s3:GetObject": s3_reads,
                     "s3:PutObject": s3_writes, "email:SendEmail": mails})
    made = sum(usage.calls.values())
    per_call = usage.wait_s / made if made else 0.0
    minimum = sum(calls.values())
    rest = max(0.0, usage.wall_s - usage.cpu_s - usage.wait_s)  # neither CPU nor AWS: kept as measured
    return Usage(calls=+calls, read_units=read_units, write_units=write_units, wait_s=per_call * minimum,
                 wall_s=usage.cpu_s + per_call * minimum + rest, cpu_s=usage.cpu_s, mails=mails)


def billed_seconds(usage: Usage, memory_mb: int) -> float:
    """Lambda's time for the operation at `memory_mb`: CPU time at that memory's CPU share, plus waiting."""
    other_wait = max(0.0, usage.wall_s - usage.cpu_s - usage.wait_s)
    return usage.cpu_s * max(1.0, VCPU_MB / memory_mb) + usage.wait_s + other_wait


def month_cost(per_operation: dict[str, Usage]) -> dict[str, float]:
    """The month's bill, by line, in USD."""
    lines: Counter = Counter()
    invocations = 0.0
    for operation, count in MONTH.items():
        usage = per_operation[operation]
        memory = lambda_config.memory_mb(FUNCTION[operation])
        # Due items ride in the hourly run's invocation; each upload is priced as its own invocation
        # (SQS hands the publisher batches of up to 10, but at 2,000 a month most come alone).
        invocation_share = 0.0 if operation == "sweep_due" else 1.0
        invocations += count * invocation_share
        lines["lambda_compute"] += count * billed_seconds(usage, memory) * memory / 1024 * PRICE["lambda_gb_second"]
        lines["lambda_requests"] += count * invocation_share * PRICE["lambda_request"]
        if operation in API_OPERATIONS:
            lines["api_gateway"] += count * PRICE["api_request"]
        lines["dynamodb_requests"] += count * (usage.read_units * PRICE["dynamodb_read_unit"]
                                               + usage.write_units * PRICE["dynamodb_write_unit"])
        lines["ses"] += count * usage.mails * PRICE["ses_mail"]
        lines["s3_requests"] += count * (usage.s3("write") * PRICE["s3_write_request"]
                                         + usage.s3("read") * PRICE["s3_read_request"])
    lines["ses"] += OFFICE_ALERTS * PRICE["ses_mail"]
    lines["s3_requests"] += MONTH["publish"] * PRICE["s3_write_request"]  # the upload itself
    lines["s3_storage"] += DOCUMENTS_KEPT * DOCUMENT_KB / 1024 / 1024 * PRICE["s3_gb_month"]
    lines["dynamodb_storage"] += DYNAMODB_GB * PRICE["dynamodb_gb_month"]
    lines["sqs"] += (POLLED_QUEUES * POLLS_PER_QUEUE + SQS_PER_UPLOAD * MONTH["publish"]) * PRICE["sqs_request"]
    log_gb = invocations * LOG_KB_PER_INVOCATION / 1024 / 1024
    lines["cloudwatch_logs"] += log_gb * (PRICE["logs_ingested_gb"] + PRICE["logs_stored_gb_month"])
    return {name: round(value, 4) for name, value in lines.items()}


# ---------------------------------------------------------------- the operations, measured


def sms_month_cost(parts_per_notice: float) -> dict[str, float]:
    """The month's texts: every notice (first notices and follow-ups) to the share of patients who
    choose texts, each taking `parts_per_notice` message parts, at list price."""
    notices_a_month = MONTH["publish"] + MONTH["sweep_due"]
    texts = notices_a_month * SMS_SHARE
    return {"texts": round(texts, 1), "parts": round(texts * parts_per_notice, 1),
            "usd": round(texts * parts_per_notice * PRICE["sms_part"], 3)}


def _texts_per_notice(portal) -> float:
    """Message parts one notice to a patient who chose texts sends, measured on a real upload."""
    from chalicelib.localstack import pump

    patient = portal.new_patient(portal.staff, phone="(919) 555-0164")
    chosen = patient.api.put("/api/me/notifications", json={"email": True, "sms": True})
    assert chosen.status_code == 200, chosen.text
    parts = []
    for n in range(RUNS):
        _put_uploads(patient.mrn, 1, f"sms-{n}")
        with measured() as usage:
            pump.drain()
        parts.append(usage.text_parts)
        clock.advance(timedelta(days=1))  # the patient's daily limit of texts stays out of the way
    return sum(parts) / len(parts)


def _api(event: dict, token: str | None = None, expect: int = 200) -> dict:
    from app import app

    if token:
        event["headers"]["authorization"] = f"Bearer {token}"
    answer = app(event, Context())
    assert answer["statusCode"] == expect, answer
    return json.loads(answer["body"]) if answer.get("body") else {}


def _put_uploads(mrn: str, count: int, tag: str) -> None:
    s3 = aws.client("s3")
    for n in range(count):
        s3.put_object(Bucket=get_settings().results_bucket, Key=f"incoming/{mrn}/{tag}-{n}.pdf",
                      Body=b"%PDF-1.7\n%%EOF\n" + str(n).encode(), ContentType="application/pdf",
                      Metadata={"title": f"Result {n}", "category": "lab", "provider": "Dr. Bench"})


def _measure(portal) -> dict[str, Usage]:
    from chalicelib.localstack import pump

    patient = portal.new_patient(portal.staff)
    _put_uploads(patient.mrn, 2, "warm")
    pump.drain()
    token = _api(api_event("POST", "/api/auth/login", {"username": patient.username,
                                                       "password": patient.password}))["token"]
    documents = [i["id"] for i in _api(api_event("GET", "/api/items"), token)["items"] if i["kind"] == "document"]
    thread = _api(api_event("POST", "/api/messages", {"subject": "Question", "body": "Hello"}), token, 201)["id"]
    del thread
    runs: dict[str, list[Usage]] = {name: [] for name in MONTH}

    for n in range(RUNS):
        with measured() as usage:
            _api(api_event("POST", "/api/auth/login", {"username": patient.username, "password": patient.password}))
        runs["sign_in"].append(usage)
        with measured() as usage:
            _api(api_event("GET", "/api/items"), token)
        runs["items_list"].append(usage)
        with measured() as usage:
            document = documents[n % len(documents)]
            _api(api_event("GET", f"/api/documents/{document}", route="/api/documents/{document_id}",
                           params={"document_id": document}), token)
        runs["item_view"].append(usage)
        with measured() as usage:
            _api(api_event("POST", "/api/messages", {"subject": f"Question {n}", "body": "Hello"}), token, 201)
        runs["message_send"].append(usage)

    for n in range(RUNS):  # one upload at a time: each is its own event, as most are at 2,000 a month
        _put_uploads(patient.mrn, 1, f"cost-{n}")
        with measured() as usage:
            pump.drain()
        runs["publish"].append(usage)

    now = clock.now()
    for _ in range(RUNS):
        with measured() as usage:
            pump.run_schedules(iso(now), only="follow-up-sweep")
        runs["sweep_run"].append(usage)
        with measured() as usage:
            pump.run_schedules(iso(now), only="outbox-sender")
        runs["outbox_run"].append(usage)

    # Notices due: this run's documents, unread when their follow-up comes; the idle run's cost apart.
    due_at = now + timedelta(days=get_settings().follow_up_days, hours=1)
    with measured() as usage:
        [summary] = pump.run_schedules(iso(due_at), only="follow-up-sweep")
    idle = mean(runs["sweep_run"])
    due = max(1, int(summary["due"]))
    runs["sweep_due"].append(_per_item(usage, idle, due))

    return {name: mean(r) for name, r in runs.items()}


def _per_item(total: Usage, idle: Usage, count: int) -> Usage:
    calls = Counter({k: max(0.0, (v - idle.calls.get(k, 0)) / count) for k, v in total.calls.items()})
    per = Usage(calls=calls)
    for name in ("read_units", "write_units", "wait_s", "wall_s", "cpu_s", "mails"):
        setattr(per, name, max(0.0, (getattr(total, name) - getattr(idle, name)) / count))
    return per


def run(portal) -> list[Figure]:
    per_operation = _measure(portal)
    floors = {name: floor_of(name, usage) for name, usage in per_operation.items()}
    value, floor = month_cost(per_operation), month_cost(floors)
    total, floor_total = sum(value.values()), sum(floor.values())
    for name, usage in per_operation.items():
        print(f"  {name:<13} calls {sum(usage.calls.values()):5.1f} (floor {sum(floors[name].calls.values()):.0f}), "
              f"RRU {usage.read_units:5.2f}, WRU {usage.write_units:5.2f}, handler {usage.wall_s * 1000:6.1f} ms "
              f"(cpu {usage.cpu_s * 1000:5.1f}, AWS {usage.wait_s * 1000:5.1f}), mails {usage.mails:.2f}", flush=True)
    print("  month, USD: " + ", ".join(f"{k} {v:.3f} (floor {floor.get(k, 0):.3f})" for k, v in value.items()),
          flush=True)
    memory = {f: lambda_config.memory_mb(f) for f in sorted(set(FUNCTION.values()))}
    parts_per_notice = _texts_per_notice(portal)
    texts, texts_floor = sms_month_cost(parts_per_notice), sms_month_cost(1.0)
    print(f"  texts: {parts_per_notice:.2f} parts a notice; a month, {texts['texts']:.0f} texts "
          f"({SMS_SHARE:.0%} of notices), {texts['parts']:.0f} parts, USD {texts['usd']:.3f}", flush=True)
    return [Figure("cost_per_clinic_month_usd", round(total, 3), round(floor_total, 3), "<= 1.5", "USD/month",
                   f"the same month over each operation's logical minimum of calls (memory {memory}); "
                   f"goal also: under $5 ({'holds' if total < 5 else 'does NOT hold'}); texts apart"),
            Figure("sms_cost_per_clinic_month_usd", texts["usd"], texts_floor["usd"], "(reported)", "USD/month",
                   f"{SMS_SHARE:.0%} of the month's {MONTH['publish'] + MONTH['sweep_due']:,} notices by text, one "
                   f"message part each, at ${PRICE['sms_part']} a part (list price with carrier fees)")]

