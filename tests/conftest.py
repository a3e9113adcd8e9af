"""Fixtures shared by every test.

Integration and browser tests get the real local stack, started once per session: DynamoDB Local,
moto's server for S3/SQS/SES/SNS, and the portal served over HTTP by `chalice local`'s server
in a thread of this process (so tests can also move the portal's clock).

Unit tests need none of it and must not talk to AWS.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# The local stage's settings before anything reads them (the stack adds endpoints when it starts).
from chalicelib.stages import stage_environment  # noqa: E402

for _name, _value in stage_environment("local").items():
    os.environ.setdefault(_name, _value)
# Every test signs in from 127.0.0.1, far more often than any clinic's network would; the test
# of the per-client sign-in limit sets its own low one.
os.environ.setdefault("LOGIN_FAILURES_PER_CLIENT_PER_HOUR", "1000000")
# The suite creates and signs in hundreds of accounts: a cheaper Argon2id cost keeps it in time (the
# same code path; tests/unit/test_passwords.py pins the production cost).
os.environ.setdefault("PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("PASSWORD_HASH_MEMORY_KIB", "8192")
# Every JSON answer a test gets is checked against its route's answer model (a mismatch is a 500).
os.environ.setdefault("CHECK_ANSWERS", "1")

from tests.support.http import Api, Portal  # noqa: E402

ADMIN_PASSWORD = "tidal-Ox-lantern-93-quiver"
STAFF_PASSWORD = "marble-Fjord-ember-41-sprocket"


# Where each pytest process saves the portal's AWS calls it recorded (`make test` sets it): the suite
# runs in several worker processes, and the IAM policy check runs after them all on what they saved.
APP_CALLS_DIR = "APP_CALLS_DIR"


@pytest.fixture(scope="session", autouse=True)
def app_calls():
    """Every AWS call the portal's functions make during the session, for the IAM policy check."""
    from chalicelib.localstack.calls import recording
    from tests.support.app_calls import AppCallRecorder

    with recording(AppCallRecorder()) as recorder:
        yield recorder
    if os.environ.get(APP_CALLS_DIR):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        recorder.save(Path(os.environ[APP_CALLS_DIR]) / f"{worker}-{os.getpid()}.json")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Files with a slow run first, then the browser files, then the rest, the files with the most
    tests first (each file's tests in their own order): `make test`'s workers take a file at a
    time, and a long file taken last would leave one worker running it alone at the end. The IAM
    policy coverage check reads the calls every other test made, so it runs last."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    browser_files = {item.path for item in items if item.get_closest_marker("browser")}
    tests_in = Counter(item.path for item in items)

    def place(item) -> tuple[int, int]:
        if item.path.name == "test_policy_coverage.py":
            return 3, 0
        return 0 if item.path in slow_files else 1 if item.path in browser_files else 2, -tests_in[item.path]

    items.sort(key=place)  # stable: each file keeps its tests' order


@pytest.fixture(scope="session")
def stack():
    from chalicelib.localstack.stack import LocalStack, free_port

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        # Each of `make test`'s workers takes its ports from a block of its own, below the kernel's
        # ephemeral range: two workers given the same free port at once would share one stack.
        first = 20_000 + 200 * int(worker[2:])
        portal_port = free_port(range(first, first + 200))
        dynamodb_port = free_port(range(portal_port + 1, first + 200))
        moto_port = free_port(range(dynamodb_port + 1, first + 200))
        running = LocalStack(portal_port=portal_port, dynamodb_port=dynamodb_port, moto_port=moto_port).start()
    else:
        running = LocalStack(portal_port=free_port()).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def portal(stack) -> Portal:
    """The portal over HTTP, with a first admin and a staff member."""
    from chalicelib.localstack import pump, server
    from chalicelib.services.accounts import registry as accounts

    http = server.serve("127.0.0.1", stack.portal_port)
    pump.subscribe_sns_pumps()
    accounts.ensure_account("admin", "admin", ADMIN_PASSWORD, "admin@clinic.example", "Clinic Administrator")
    accounts.ensure_account("staff", "desk", STAFF_PASSWORD, "desk@clinic.example", "Front Desk")
    yield Portal(f"http://127.0.0.1:{stack.portal_port}")
    http.shutdown()


OFFICE = {"admin": ("admin", ADMIN_PASSWORD), "staff": ("desk", STAFF_PASSWORD)}


@pytest.fixture(scope="session")
def admin(portal) -> Api:
    return portal.live(*OFFICE["admin"])


@pytest.fixture(scope="session")
def staff(portal) -> Api:
    return portal.live(*OFFICE["staff"])


@pytest.fixture(autouse=True)
def _live_office_sessions(request):
    """The shared admin and staff sessions, live again for each test that uses them (`Portal.live`)."""
    for name, (username, password) in OFFICE.items():
        if name in request.fixturenames:
            request.getfixturevalue("portal").live(username, password)


@pytest.fixture(autouse=True)
def _own_follow_up(request):
    """Each test's sweeps see only its own items. The follow-up sweep reads every item in the
    `follow_up_due` index, and tests sweep at days far ahead: an item another test left unread
    would be mailed and escalated again in every later test's sweep (and its mails read back by
    every later mailbox check). So when a test that used the local stack ends, the items it left
    in follow-up leave the index through the store's own operation, as a retracted result does.
    Tests run one after another in this process: what is in the index then is this test's."""
    yield
    if "stack" not in request.fixturenames:
        return
    from chalicelib.store import items as item_store

    for item in item_store.in_follow_up():
        item_store.stop_follow_up(item)
    for item in item_store.held():  # held lab results, due for release when their hold runs out
        item_store.stop_follow_up(item)


@pytest.fixture
def clock():
    """The portal's clock, put back after the test."""
    from chalicelib.clock import clock as portal_clock

    yield portal_clock
    portal_clock.reset()
