"""Signed-in devices over HTTP: every account lists its sessions (started, last used, address,
browser) and ends any of them at once, by an opaque id that is neither the token nor its hash;
another account's session id is not found."""

from __future__ import annotations

import hashlib

from tests.support.http import Api
from tests.support.lifecycle import delete

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def sign_in_from(portal, username: str, password: str, user_agent: str) -> tuple[Api, str]:
    answer = portal.public.post("/api/auth/login", json={"username": username, "password": password},
                                headers={"User-Agent": user_agent})
    assert answer.status_code == 200, answer.text
    return Api(portal.base_url, answer.json()["token"]), answer.json()["token"]


def test_an_account_lists_its_signed_in_devices(portal, staff):
    # Given a patient signed in here, and again from a Firefox
    patient = portal.new_patient(staff)
    _, firefox_token = sign_in_from(portal, patient.username, patient.password, FIREFOX)

    # When they list their sessions
    answer = patient.api.get("/api/me/sessions")

    # Then both are there, newest first, with when, where and which browser; this one is marked
    assert answer.status_code == 200, answer.text
    listed = answer.json()["sessions"]
    assert len(listed) == 2
    assert set(listed[0]) == {"id", "created_at", "last_seen_at", "client_ip", "user_agent", "current"}
    firefox, here = listed
    assert firefox["user_agent"] == FIREFOX and firefox["current"] is False
    assert here["current"] is True and here["user_agent"].startswith("python-requests")
    assert {s["client_ip"] for s in listed} == {"127.0.0.1"}
    assert firefox["created_at"] >= here["created_at"] and firefox["created_at"].endswith("Z")
    # And an id is neither the token nor its hash
    assert firefox["id"] not in (firefox_token, hashlib.sha256(firefox_token.encode()).hexdigest())
    assert firefox["id"] not in firefox_token


def test_ending_a_device_signs_it_out_at_once(portal, staff, admin):
    # Given a patient signed in twice
    patient = portal.new_patient(staff)
    other, _ = sign_in_from(portal, patient.username, patient.password, FIREFOX)
    other_id = next(s["id"] for s in patient.api.get("/api/me/sessions").json()["sessions"] if not s["current"])

    # When they end the other one
    ended = delete(patient.api, f"/api/me/sessions/{other_id}")

    # Then it is gone at once, this one goes on, and the trail has it
    assert ended.status_code == 204
    assert other.get("/api/me").status_code == 401
    assert patient.api.get("/api/me").status_code == 200
    assert [s["current"] for s in patient.api.get("/api/me/sessions").json()["sessions"]] == [True]
    trail = admin.get("/api/staff/audit", params={"actor_id": patient.id}).json()["events"]
    assert any(e["action"] == "account.session_end" and e["outcome"] == "ok" for e in trail)


def test_another_accounts_session_is_not_found(portal, staff):
    # Given two patients, each signed in
    first, second = portal.new_patient(staff), portal.new_patient(staff)
    second_id = second.api.get("/api/me/sessions").json()["sessions"][0]["id"]

    # When the first tries to end the second's session, or one that never existed
    theirs = delete(first.api, f"/api/me/sessions/{second_id}")
    nobody = delete(first.api, "/api/me/sessions/" + "0" * 32)

    # Then both are not found, and the second patient is still signed in
    assert theirs.status_code == 404 and theirs.json()["error"] == "not_found"
    assert nobody.status_code == 404
    assert second.api.get("/api/me").status_code == 200


def test_a_session_id_is_no_credential(portal, staff):
    # Given a signed-in patient and the id their session is listed under
    patient = portal.new_patient(staff)
    session_id = patient.api.get("/api/me/sessions").json()["sessions"][0]["id"]

    # When someone sends that id as a token
    answer = Api(portal.base_url, session_id).get("/api/me")

    # Then it is refused
    assert answer.status_code == 401


def test_ending_the_current_session_signs_out_and_a_long_browser_name_is_cut(portal, staff):
    # Given a patient signed in from a browser with a very long name
    patient = portal.new_patient(staff)
    api, _ = sign_in_from(portal, patient.username, patient.password, "Agent/" + "x" * 600)
    mine = next(s for s in api.get("/api/me/sessions").json()["sessions"] if s["current"])

    # When they end their own current session
    ended = delete(api, f"/api/me/sessions/{mine['id']}")

    # Then the name was stored cut short, and the session has ended
    assert len(mine["user_agent"]) == 200
    assert ended.status_code == 204 and api.get("/api/me").status_code == 401


def test_staff_see_their_devices_too(staff):
    # Given the signed-in staff member
    # When they list their sessions
    answer = staff.get("/api/me/sessions")

    # Then theirs is there, marked current
    assert answer.status_code == 200
    assert [s for s in answer.json()["sessions"] if s["current"]]


def test_the_list_reads_the_account_only_with_the_session_and_leaves_out_sessions_of_another_version(portal, staff):
    from chalicelib.localstack.calls import recording
    from chalicelib.services.access import sessions
    from chalicelib.store import sessions as session_store

    # Given a patient whose session was just used (no idle-time touch is due), and a leftover
    # session of theirs opened at an earlier version of the account (before a change that ended it)
    patient = portal.new_patient(staff)
    assert patient.api.get("/api/me").status_code == 200
    mine = session_store.get(sessions.token_hash(patient.api.token))
    assert mine is not None
    stale = session_store.Session(
        "stale-" + mine.token_hash[6:], account_id=patient.id, role=mine.role, csrf_token="csrf",
        account_version=int(mine.account_version or 0) + 1, created_at=mine.created_at,
        last_seen_at=mine.last_seen_at, expires_at=mine.expires_at, ttl=mine.expires_at)
    session_store.put(stale)

    # When they list their sessions
    with recording() as calls:
        answer = patient.api.get("/api/me/sessions")

    # Then only the current session is listed; DynamoDB saw the session with the account's state
    # (one batch), the account's sessions (the index, then one batch), and no other read of the account
    assert answer.status_code == 200
    assert [s["current"] for s in answer.json()["sessions"]] == [True]
    dynamodb = [(c.operation, c.resource or "") for c in calls.calls if c.service == "dynamodb"]
    assert [operation for operation, _ in dynamodb] == ["BatchGetItem", "Query", "BatchGetItem"]
    assert "accounts" in dynamodb[0][1]
    assert all("accounts" not in resource for _, resource in dynamodb[1:])
