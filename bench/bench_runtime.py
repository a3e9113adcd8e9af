"""Runtime figures: DynamoDB round trips per request, cold start and warm throughput.

- round_trips_<request>: DynamoDB calls one request makes (counted by the AWS call recorder),
  beside the logical minimum that request needs (said per request below). Goal: at most one more.
- cold_start_ratio: a fresh interpreter importing the portal and serving GET /api/items, over a
  bare Chalice app importing the same AWS libraries and serving one DynamoDB query. Median of 5,
  both from compiled bytecode as deployed.
- warm_items_rps_ratio: in-process GET /api/items per second over the bare route's, same items.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.coldstart import Context, api_gateway_event
from bench.figures import Figure
from chalicelib.localstack.calls import recording

ROOT = Path(__file__).resolve().parents[1]
ITEMS_PER_PATIENT = 20
WARM_SECONDS = 4.0
COLD_RUNS = 5

# request: (logical minimum, why)
MINIMUM = {
    "sign_in": (3, "find the account by username, write the session, append the audit event"),
    "items_list": (1, "check the session and read the patient's item list, together in one BatchGetItem"),
    "document_open": (3, "check the session, record the open on the document (returning it), append the audit event"),
    "message_send": (3, "check the session, write the message with its thread and the office alert in one "
                        "transaction, append the audit event"),
}


def _publish_documents(portal, patient, count: int) -> list[str]:
    from chalicelib import aws
    from chalicelib.localstack import pump
    from chalicelib.settings import get_settings

    s3 = aws.client("s3")
    for n in range(count):
        s3.put_object(Bucket=get_settings().results_bucket, Key=f"incoming/{patient.mrn}/result-{n}.txt",
                      Body=b"Result text\n", ContentType="text/plain",
                      Metadata={"title": f"Result {n}", "category": "lab", "provider": "Dr. Bench"})
    pump.drain()
    return [item["id"] for item in patient.api.get("/api/items").json()["items"]]


def _dynamodb_calls(fn) -> int:
    with recording() as calls:
        fn()
    return calls.count(service="dynamodb")


def _round_trips(portal) -> list[Figure]:
    staff = portal.staff
    patient = portal.new_patient(staff)
    documents = _publish_documents(portal, patient, 2)
    thread = patient.api.post("/api/messages", json={"subject": "Question", "body": "Hello"}).json()["id"]
    patient.api.get("/api/items")  # the session's last-seen time is fresh: later calls don't touch it
    measured = {
        "sign_in": _dynamodb_calls(lambda: portal.login(patient.username, patient.password)),
        "items_list": _dynamodb_calls(lambda: patient.api.get("/api/items")),
        "document_open": _dynamodb_calls(lambda: patient.api.get(f"/api/documents/{documents[0]}")),
        "message_send": _dynamodb_calls(lambda: patient.api.post(f"/api/messages/{thread}", json={"body": "More"})),
    }
    figures = []
    for name, value in measured.items():
        minimum, why = MINIMUM[name]
        figures.append(Figure(f"round_trips_{name}", value, minimum, f"<= {round((minimum + 1) / minimum, 3)}",
                              "round trips", f"the minimum: {why}"))
    return figures


def _round_trips_caregiver(portal) -> Figure:
    """A caregiver's item list (`?patient_id=`) beside the patient's own: the session, the grant
    and the patient's list together in one BatchGetItem, then the audit event of the caregiver's
    look (the patient's "who viewed my record"); goal: at most one more."""
    from tests.support.http import Api, strong_password, unique_email

    staff = portal.staff
    patient = portal.new_patient(staff)
    _publish_documents(portal, patient, 2)
    email = unique_email("bench-caregiver")
    granted = patient.api.post("/api/me/proxies", json={"name": "Bench Caregiver", "email": email,
                                                        "relationship": "parent", "scope": "read"})
    assert granted.status_code == 201, granted.text
    temporary = portal.last_temporary_password(email)
    first = Api(portal.base_url, portal.login(email, temporary).json()["token"])
    password = strong_password()
    assert first.post("/api/auth/password", json={"current_password": temporary, "new_password": password}).ok
    caregiver = portal.signed_in(email, password)
    path = f"/api/items?patient_id={patient.id}"
    assert caregiver.get(path).status_code == 200  # the session's last-seen time is fresh
    patient.api.get("/api/items")
    own = _dynamodb_calls(lambda: patient.api.get("/api/items"))
    value = _dynamodb_calls(lambda: caregiver.get(path))
    return Figure("round_trips_caregiver_items_list", value, own, f"<= {round((own + 1) / own, 3)}", "round trips",
                  "the patient's own item list (measured): the caregiver's grant is read with the session "
                  "and the list; their look is one audit write")


def _cold_start(portal, token: str) -> Figure:
    # Both apps start from compiled bytecode, as a deployed package does (`infra.package` adds the
    # portal's; pip compiled the libraries'): one untimed run of each writes it to a scratch cache.
    cache = tempfile.mkdtemp(prefix="coldstart-pycache-")
    env = {**os.environ, "BENCH_TOKEN": token, "PYTHONPATH": str(ROOT), "POWERTOOLS_LOG_LEVEL": "ERROR",
           "PYTHONPYCACHEPREFIX": cache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def once(kind: str) -> float:
        out = subprocess.run([sys.executable, "-m", "bench.coldstart", kind], cwd=ROOT, env=env,  # noqa: S603
                             capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    try:
        once("portal"), once("bare")
        portal_times, bare_times = [], []
        for _ in range(COLD_RUNS):  # interleaved, so machine noise hits both alike
            portal_times.append(once("portal"))
            bare_times.append(once("bare"))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    value, floor = statistics.median(portal_times), statistics.median(bare_times)
    return Figure("cold_start_ratio", round(value / floor, 3), 1, "<= 1.3", "ratio",
                  f"a bare Chalice app importing the same AWS libraries: {floor * 1000:.0f} ms vs {value * 1000:.0f} ms")


def _seed_bare_items(count: int) -> None:
    from chalicelib.clock import clock
    from chalicelib.store.items import Item

    with Item.batch_write() as batch:
        for n in range(count):
            batch.save(Item(f"bench-bare-{n}", patient_id="bench-bare", kind="document", title="x",
                            created_at=clock.now(), updated_at=clock.now()))


def _per_second(handler, event) -> float:
    context = Context()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < WARM_SECONDS:
        answer = handler(event, context)
        assert answer["statusCode"] == 200, answer
        done += 1
    return done / (time.perf_counter() - started)


def _warm(token: str) -> Figure:
    from app import app as portal_app
    from bench.bare_app import app as bare_app

    portal_event, bare_event = api_gateway_event("/api/items", token), api_gateway_event("/items", None)
    for _ in range(20):  # warm both
        portal_app(portal_event, Context())
        bare_app(bare_event, Context())
    portal_rps, bare_rps = _per_second(portal_app, portal_event), _per_second(bare_app, bare_event)
    return Figure("warm_items_rps_ratio", round(portal_rps / bare_rps, 3), 1, ">= 0.7", "ratio",
                  f"the bare one-query route: {bare_rps:.0f}/s vs the portal's {portal_rps:.0f}/s")


def run(portal) -> list[Figure]:
    figures = _round_trips(portal)
    figures.append(_round_trips_caregiver(portal))
    patient = portal.new_patient(portal.staff)
    _publish_documents(portal, patient, ITEMS_PER_PATIENT)
    _seed_bare_items(ITEMS_PER_PATIENT)
    figures.append(_cold_start(portal, patient.api.token))
    figures.append(_warm(patient.api.token))
    return figures
