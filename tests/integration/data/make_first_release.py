"""Makes first_release.json: the rows the portal's first release (commit 278afd2) wrote through a
clinic's first morning, and the shapes of its tables, for tests/integration/test_migrations.py and
the restore drill.

It runs that release's own code, not this one's, against moto's in-memory AWS:

    git archive 278afd2 | tar -x -C /tmp/first-release
    cd /tmp/first-release && /path/to/portal/.venv/bin/python /path/to/portal/tests/integration/data/make_first_release.py \
        > /path/to/portal/tests/integration/data/first_release.json

The morning: the first admin, a front-desk staff member created by the admin (who changed the
temporary password), two patients registered by the front desk who changed theirs, three lab
documents dropped by the lab system under their MRNs, Ana reading the first, a secure message
from Ana answered by the front desk. Every password is the one in the file's `passwords`.
"""
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta

os.environ.update(
    PORTAL_STAGE="local", TABLE_PREFIX="r1", RESULTS_BUCKET="r1-results", PUBLISH_QUEUE_NAME="r1-publish",
    RECOVERY_QUEUE_NAME="r1-recovery", SES_CONFIGURATION_SET="r1-mail", MAIL_FEEDBACK_TOPIC="r1-mail-feedback",
    AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1",
    PASSWORD_HASH_TIME_COST="1", PASSWORD_HASH_MEMORY_KIB="8192", POWERTOOLS_METRICS_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="ERROR", MAIL_FROM="portal@clinic.example", PORTAL_URL="http://127.0.0.1:8000",
)
for name in list(os.environ):
    if name.startswith("AWS_ENDPOINT_URL"):
        del os.environ[name]

from moto import mock_aws  # noqa: E402

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def one_row_a_line(dump: dict) -> str:
    """The JSON with one table shape and one row a line: readable, and small diffs."""
    def rows(table: str) -> str:
        return ",\n".join("   " + json.dumps(row, sort_keys=True, ensure_ascii=False) for row in dump["rows"][table])

    parts = []
    for key in sorted(dump):
        if key == "rows":
            tables = ",\n".join(f"  {json.dumps(t)}: [\n{rows(t)}\n  ]" for t in sorted(dump["rows"]))
            parts.append(f' "rows": {{\n{tables}\n }}')
        elif key == "tables":
            shapes = ",\n".join(f"  {json.dumps(t)}: {json.dumps(s, sort_keys=True)}" for t, s in sorted(dump["tables"].items()))
            parts.append(f' "tables": {{\n{shapes}\n }}')
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(dump[key], sort_keys=True, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def temporary_password(ses_backend, to):
    for message in reversed(ses_backend.sent_messages):
        raw = getattr(message, "raw_data", "") or ""
        if to in str(getattr(message, "destinations", "")) or to in raw:
            found = re.search(r"^Temporary password: (\S+)$", raw.replace("\r\n", "\n"), re.MULTILINE)
            if found:
                return found.group(1)
    raise LookupError(to)


with mock_aws():
    from chalice.test import Client
    from moto.ses.models import ses_backends

    from chalicelib.clock import clock
    from chalicelib.localstack.stack import LocalStack
    from chalicelib.services import accounts, publication
    from chalicelib.store.base import ALL_MODELS

    LocalStack().create_resources()
    clock.travel_to(START)
    ses = ses_backends["123456789012"]["us-east-1"]
    from app import app

    admin_pw, staff_pw, ana_pw, ben_pw = ("tidal-Ox-lantern-93-quiver", "marble-Fjord-ember-41-sprocket",
                                          "violet-1a2b3c-harbor-4d5e6f", "copper-7a8b9c-meadow-0d1e2f")
    accounts.ensure_account("admin", "admin", admin_pw, "admin@clinic.example", "Clinic Administrator")
    with Client(app) as client:
        def call(method, path, token=None, body=None):
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            answer = getattr(client.http, method)(path, headers=headers,
                                                  body=json.dumps(body) if body is not None else None)
            assert answer.status_code < 300, (method, path, answer.status_code, answer.body)
            return json.loads(answer.body) if answer.body else None

        admin = call("post", "/api/auth/login", body={"username": "admin", "password": admin_pw})["token"]
        call("post", "/api/admin/staff", admin, {"username": "frontdesk", "email": "frontdesk@clinic.example",
                                                 "name": "Front Desk", "role": "staff"})
        temp = temporary_password(ses, "frontdesk@clinic.example")
        staff = call("post", "/api/auth/login", body={"username": "frontdesk", "password": temp})["token"]
        call("post", "/api/auth/password", staff, {"current_password": temp, "new_password": staff_pw})
        staff = call("post", "/api/auth/login", body={"username": "frontdesk", "password": staff_pw})["token"]

        patients = {}
        for name, dob, email, mrn, password in (("Ana Río", "1980-02-03", "ana.rio@example.com", "R1-0001", ana_pw),
                                                ("Ben Okafor", "1975-07-08", "ben.okafor@example.com", "R1-0002", ben_pw)):
            patient = call("post", "/api/staff/patients", staff,
                           {"name": name, "date_of_birth": dob, "email": email, "mrn": mrn})
            temp = temporary_password(ses, email)
            token = call("post", "/api/auth/login", body={"username": email, "password": temp})["token"]
            call("post", "/api/auth/password", token, {"current_password": temp, "new_password": password})
            patients[mrn] = (patient["id"], call("post", "/api/auth/login",
                                                 body={"username": email, "password": password})["token"])

        from chalicelib import aws

        s3 = aws.client("s3")
        published = []
        for mrn, title in (("R1-0001", "Lipid panel"), ("R1-0001", "Chest X-ray report"), ("R1-0002", "A1c")):
            key = f"incoming/{mrn}/{title.replace(' ', '_')}.pdf"
            put = s3.put_object(Bucket="r1-results", Key=key, Body=b"%PDF-1.4\n" + title.encode() + b"\n%%EOF\n",
                                Metadata={"title": title, "category": "lab", "provider": "Dr. Osei"})
            outcome = publication.publish({"bucket": "r1-results", "key": key, "etag": put["ETag"].strip('"')})
            published.append(outcome["item_id"])
        clock.advance(timedelta(minutes=10))
        ana_id, ana = patients["R1-0001"]
        call("get", f"/api/documents/{published[0]}", ana)  # read; the X-ray stays unread
        thread = call("post", "/api/messages", ana, {"subject": "Question", "body": "When is my next visit?",
                                                     "category": "appointment"})
        call("post", f"/api/staff/messages/{thread['id']}", staff, {"body": "Next Tuesday at 10."})
        call("get", "/api/items", patients["R1-0002"][1])

    client_ = aws.client("dynamodb")
    dump = {"release": "278afd2", "generated_at": START.isoformat(), "tables": {}, "rows": {},
            "passwords": {"admin": admin_pw, "frontdesk": staff_pw, "ana.rio@example.com": ana_pw,
                          "ben.okafor@example.com": ben_pw},
            "documents": {"read": published[0], "unread": published[1], "other_patient": published[2]},
            "patients": {mrn: pid for mrn, (pid, _) in patients.items()}}
    for model in ALL_MODELS:
        table = model.Meta.table_name
        suffix = table[len("r1-"):]
        described = client_.describe_table(TableName=table)["Table"]
        shape = {"AttributeDefinitions": described["AttributeDefinitions"], "KeySchema": described["KeySchema"]}
        if described.get("GlobalSecondaryIndexes"):
            shape["GlobalSecondaryIndexes"] = [
                {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                for g in described["GlobalSecondaryIndexes"]]
        dump["tables"][suffix] = shape
        rows = []
        for page in client_.get_paginator("scan").paginate(TableName=table):
            rows.extend(page["Items"])
        dump["rows"][suffix] = rows
    sys.stdout.write(one_row_a_line(dump))
