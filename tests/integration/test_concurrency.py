"""Thirty-two threads of mixed traffic against DynamoDB Local until they have made 550 requests
(`PORTAL_LOAD_REQUESTS`; at most two minutes, `PORTAL_LOAD_SECONDS`, on a machine too busy for that):
patients list, open and message; staff register patients (some at the very same moment with the
same email and MRN), upload (direct puts and presigned POSTs), comment, start threads and reply;
pumps drain the queues while sweeps run at advancing times, several at once.

Afterwards nothing went wrong and nothing was lost or doubled: no 5xx and no exception in any
thread, one read receipt per item and round, as many notice mails per patient as notices the
outbox sent (each item's notices numbered without gaps or repeats), one account per username,
and every upload either published or quarantined.
"""

from __future__ import annotations

import os
import random
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests

from chalicelib.clock import clock, iso
from chalicelib.localstack import pump
from tests.support.http import unique_email, unique_mrn
from tests.support.load import (
    NOT_ALLOWED,
    audit_of,
    dead_letters,
    drain_until_quiet,
    incoming_keys,
    item_notices_of,
    items_of,
    notice_mails,
    notice_numbers_are_whole,
    own_staff,
    put_upload,
    unaccounted_uploads,
    upload_key,
)

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("PORTAL_LOAD_REQUESTS", "550"))
SECONDS = float(os.environ.get("PORTAL_LOAD_SECONDS", "120"))
PATIENTS, PATIENT_THREADS, STAFF_THREADS, REGISTRARS, PUMPS, SWEEPS = 6, 12, 12, 3, 3, 2
assert PATIENT_THREADS + STAFF_THREADS + REGISTRARS + PUMPS + SWEEPS == 32
# Answers a busy portal may rightly give: a write that lost a race is told to try again.
RETRYABLE = {409}


@dataclass
class Load:
    """What the threads did and saw, shared between them."""

    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    upload_keys: set[str] = field(default_factory=set)
    commented: set[str] = field(default_factory=set)
    registered: list[tuple[str, str]] = field(default_factory=list)  # (id, username)
    races: list[list[int]] = field(default_factory=list)

    def answer(self, what: str, response: requests.Response, *expected: int):
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code not in expected and response.status_code not in RETRYABLE:
                self.errors.append(f"{what}: {response.status_code} {response.text[:200]}")
        return response

    def answered(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def keep(self, keys: set[str], key: str) -> None:
        with self.lock:
            keys.add(key)


def run_until_stopped(load: Load, name: str, step) -> threading.Thread:
    def loop():
        rng = random.Random(name)
        while not load.stop.is_set():
            try:
                step(rng)
            except Exception:  # noqa: BLE001 - every failure is a finding, reported at the end
                with load.lock:
                    load.errors.append(f"{name}: {traceback.format_exc(limit=6)}")
                time.sleep(0.2)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def patient_step(load: Load, patient):
    def step(rng: random.Random) -> None:
        listed = load.answer("list items", patient.api.get("/api/items"), 200)
        for item in rng.sample(listed.json()["items"], k=min(3, len(listed.json()["items"]))) if listed.ok else []:
            if item["kind"] == "document":
                if rng.random() < 0.3:  # straight to the file: that is a read too
                    load.answer("file link", patient.api.get(f"/api/documents/{item['id']}/file"), 200)
                load.answer("open document", patient.api.get(f"/api/documents/{item['id']}"), 200)
            else:
                load.answer("open message", patient.api.get(f"/api/messages/{item['id']}"), 200)
        if rng.random() < 0.15:
            load.answer("write to the office", patient.api.post("/api/messages", json={
                "subject": "A question", "body": "Could you call me back?", "category": "results_question"}), 201)
    return step


def staff_step(load: Load, staff, patients):
    def step(rng: random.Random) -> None:
        patient = rng.choice(patients)
        action = rng.random()
        if action < 0.35:  # a lab system's direct put; now and then one that must be quarantined
            bad = rng.random()
            key = upload_key(unique_mrn() if bad < 0.1 else patient.mrn)
            load.keep(load.upload_keys, key)
            put_upload(key, body=NOT_ALLOWED) if 0.1 <= bad < 0.2 else put_upload(key)
        elif action < 0.55:  # the office's presigned POST
            form = load.answer("upload form", staff.post(f"/api/staff/patients/{patient.id}/uploads", json={
                "title": "Imaging report", "category": "imaging", "provider": "Dr. Oduya", "filename": "ct.pdf",
                "content_type": "application/pdf"}), 201)
            if form.ok:
                load.keep(load.upload_keys, form.json()["key"])
                posted = requests.post(form.json()["url"], data=form.json()["fields"],
                                       files={"file": ("ct.pdf", b"%PDF-1.4\n%%EOF\n")}, timeout=30)
                if posted.status_code >= 300:
                    load.errors.append(f"presigned POST: {posted.status_code} {posted.text[:200]}")
        elif action < 0.7:  # a provider comment on one of the patient's documents
            detail = load.answer("patient view", staff.get(f"/api/staff/patients/{patient.id}"), 200)
            documents = [i["id"] for i in detail.json()["items"] if i["kind"] == "document"] if detail.ok else []
            if documents:
                document_id = rng.choice(documents)
                commented = load.answer("comment", staff.post(f"/api/staff/documents/{document_id}/comments",
                                                              json={"text": "Please book a visit."}), 201)
                if commented.ok:
                    load.keep(load.commented, document_id)
        elif action < 0.85:  # a reply to a thread in the office inbox
            inbox = load.answer("inbox", staff.get("/api/staff/inbox?limit=20"), 200)
            threads = inbox.json()["threads"] if inbox.ok else []
            if threads:
                load.answer("office reply", staff.post(f"/api/staff/messages/{rng.choice(threads)['id']}",
                                                       json={"body": "We will call you today."}), 201)
        elif action < 0.95:
            load.answer("office thread", staff.post(f"/api/staff/patients/{patient.id}/messages",
                                                    json={"subject": "Your visit", "body": "See you soon."}), 201)
        else:
            body = {"name": "Walk In", "date_of_birth": "1975-02-03", "email": unique_email(), "mrn": unique_mrn()}
            made = load.answer("register", staff.post("/api/staff/patients", json=body), 201)
            if made.ok:
                with load.lock:
                    load.registered.append((made.json()["id"], made.json()["username"]))
    return step


def registrar_step(load: Load, staff, barrier: threading.Barrier, race: dict):
    """All registrars send the same registration at the same moment: exactly one may win."""
    def step(_rng: random.Random) -> None:
        index = barrier.wait(timeout=30)
        if index == 0:
            race["body"] = {"name": "Same Person", "date_of_birth": "1990-01-01", "email": unique_email("race"),
                            "mrn": unique_mrn()}
            race["codes"] = []
        barrier.wait(timeout=30)
        made = load.answer("racing registration", staff.post("/api/staff/patients", json=race["body"]), 201, 409)
        with load.lock:
            race["codes"].append(made.status_code)
            if made.status_code == 201:
                load.registered.append((made.json()["id"], made.json()["username"]))
        if barrier.wait(timeout=30) == 0:
            with load.lock:
                load.races.append(sorted(race["codes"]))
    return step


@pytest.fixture(scope="module")
def cast(portal):
    staff = [own_staff(portal) for _ in range(3)]
    patients = [portal.new_patient(staff[0]) for _ in range(PATIENTS)]
    return staff, patients


def test_mixed_traffic_loses_nothing_and_doubles_nothing(portal, admin, cast):
    # Given office staff and patients, and 32 threads of traffic, pumps and sweeps
    staff, patients = cast
    load = Load()
    start, sweeps = clock.now(), iter(range(1, 10_000))
    sweep_lock = threading.Lock()

    def pump_step(_rng):
        pump.drain(max_rounds=5)
        time.sleep(0.1)

    def sweep_step(_rng):
        with sweep_lock:
            moment = start + timedelta(hours=12 * next(sweeps))
        pump.run_schedules(iso(moment))
        time.sleep(0.5)

    barrier, race = threading.Barrier(REGISTRARS, action=None), {}
    threads = [run_until_stopped(load, f"patient-{n}", patient_step(load, patients[n % PATIENTS]))
               for n in range(PATIENT_THREADS)]
    threads += [run_until_stopped(load, f"staff-{n}", staff_step(load, staff[n % len(staff)], patients))
                for n in range(STAFF_THREADS)]
    threads += [run_until_stopped(load, f"registrar-{n}", registrar_step(load, staff[n % len(staff)], barrier, race))
                for n in range(REGISTRARS)]
    threads += [run_until_stopped(load, f"pump-{n}", pump_step) for n in range(PUMPS)]
    threads += [run_until_stopped(load, f"sweep-{n}", sweep_step) for n in range(SWEEPS)]

    # When they run until they have made their requests, and then the queues are drained until quiet
    deadline = time.monotonic() + SECONDS
    while load.answered() < REQUESTS and time.monotonic() < deadline:
        time.sleep(0.25)
    load.stop.set()
    barrier.abort()
    for thread in threads:
        thread.join(timeout=120)
    drain_until_quiet()
    load.errors = [e for e in load.errors if "BrokenBarrierError" not in e]  # the registrars' stop signal

    # Then no thread saw an error or a 5xx, and there was real traffic
    assert not load.errors, "\n".join(load.errors[:20])
    assert not [s for s in load.statuses if s >= 500], dict(load.statuses)
    assert sum(load.statuses.values()) > 500 and load.upload_keys and load.races, dict(load.statuses)
    assert not [t.name for t in threads if t.is_alive()]

    # And every upload was published or quarantined: none waiting, none dead-lettered, none lost
    assert not incoming_keys(set(load.upload_keys))
    assert dead_letters() == 0
    assert not unaccounted_uploads(load.upload_keys)

    # And each registration race had one winner, and every username belongs to one account
    assert all(codes.count(201) == 1 and codes.count(409) == REGISTRARS - 1 for codes in load.races), load.races
    usernames = [username.casefold() for _, username in load.registered]
    assert len(usernames) == len(set(usernames))
    for username in rng_sample(usernames, 10):
        found = admin.get(f"/api/staff/patients?q={username}").json()["patients"]
        assert [p["username"].casefold() for p in found].count(username) == 1

    # And each item's read receipt was written once per round: never overwritten, audited once
    patient_ids = {p.id for p in patients}
    items = items_of(patient_ids)
    assert [i for i in items if i.read_at is not None], "no item was read"
    for patient in patients:
        receipts = Counter(e.target_id for e in audit_of(patient.id)
                           if e.action.startswith("document.") and e.detail and e.detail.as_dict().get("first_open"))
        first_receipt = {}
        for event in sorted(audit_of(patient.id), key=lambda e: e.id):
            if event.detail and event.detail.as_dict().get("first_open"):
                first_receipt.setdefault(event.target_id, event.at)
        for item in (i for i in items if i.patient_id == patient.id):
            if item.read_at is not None:
                assert item.first_read_at is not None and item.first_read_at <= item.read_at, item.id
            if item.kind != "document":
                continue
            rounds = int(item.round or 0) + 1
            assert receipts[item.id] <= rounds, f"{item.id}: {receipts[item.id]} receipts in {rounds} rounds"
            if item.id not in load.commented:
                assert receipts[item.id] == (1 if item.read_at else 0), f"{item.id}: {receipts[item.id]} receipts"
            if item.first_read_at is not None:
                # the receipt and its audit event are written a moment apart
                assert abs(first_receipt[item.id] - item.first_read_at) < timedelta(seconds=2), item.id

    # And every notice the outbox holds was sent once: as many mails per patient as rows sent,
    # each item's notices numbered 1..n in every round
    notices = item_notices_of(patient_ids)
    assert not [n.id for n in notices if n.status != "sent"]
    assert not notice_numbers_are_whole(notices)
    mails = notice_mails(portal)
    sent_rows = Counter(n.account_id for n in notices)
    for patient in patients:
        assert mails[patient.email.casefold()] == sent_rows[patient.id], patient.email
    for item in items:
        rows = [n for n in notices if n.id.startswith(f"{item.id}#{int(item.round or 0)}#")]
        assert len(rows) == int(item.notices_sent or 0), item.id


def rng_sample(values: list[str], k: int) -> list[str]:
    return random.Random(7).sample(values, k=min(k, len(values)))
