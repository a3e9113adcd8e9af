"""Providers review lab results: admins create them (role `provider`, an optional NPI, a second
factor), each result is routed to its ordering provider (by NPI, else by family and given names,
else to every provider), a provider's list puts critical first, then abnormal, then newest, and a
review's comment reaches the patient under the provider's name with `role: "provider"`.

One patient and two providers for the module; five results dropped as the lab would."""

from __future__ import annotations

import secrets

import pytest

from chalicelib.clock import clock
from chalicelib.localstack import pump
from chalicelib.localstack.calls import Call, Recorder, recording
from chalicelib.services.maintenance import migrations
from chalicelib.services.providers import review
from chalicelib.store import migrations as migration_store
from chalicelib.store import work as work_store
from tests.conftest import STAFF_PASSWORD
from tests.fixtures.lab import personalised
from tests.integration.test_lab_reading import BORN, drop, glucose, published, result_ids
from tests.support.followup import queue_list
from tests.support.lifecycle import events, new_member
from tests.support.pages import page_csrf, signed_in_pages


def _npi() -> str:
    return "1" + "".join(secrets.choice("0123456789") for _ in range(9))


def _ordered_by(data: bytes, who: bytes, sent: bytes | None = None, normal: bool = False) -> bytes:
    """A glucose report ordered by `who` (OBR-16: NPI^FAMILY^GIVEN), sent at `sent`, normal or high."""
    data = data.replace(b"555-55-5555^PRIMARY^PATRICIA P", who)
    if sent:
        data = data.replace(b"200202150930", sent)
    return data.replace(b"|H|||F", b"|N|||F") if normal else data


@pytest.fixture(scope="module")
def office(portal, admin, staff):
    """Two providers (one with an NPI, one known by name only), a patient and their results:
    `npi` (high, ordered by NPI), `named` (normal, by name), `nobody` (normal, matching no one,
    sent earlier than `newer`), `newer` (normal, by NPI) and `critical` (LL/HH, by NPI)."""
    tag = secrets.token_hex(3)
    npi = _npi()
    by_npi = new_member(portal, admin, "provider", name=f"Ada Npi{tag}", prefix="prov", npi=npi)
    by_name = new_member(portal, admin, "provider", name=f"Bea Zed{tag}", prefix="prov")
    patient = portal.new_patient(staff, date_of_birth=BORN)
    before = result_ids(staff, patient)
    ids: dict[str, str] = {}
    for key, data in (
        ("npi", _ordered_by(glucose(patient.mrn), f"{npi}^PRIMARY^PATRICIA P".encode(), b"202401010900")),
        ("named", _ordered_by(glucose(patient.mrn), f"^ZED{tag.upper()}^BEA".encode(), b"202401020900", True)),
        ("nobody", _ordered_by(glucose(patient.mrn), f"0000000000^NOBODY{tag}^X".encode(), b"202401030900", True)),
        ("newer", _ordered_by(glucose(patient.mrn), f"{npi}^PRIMARY^PATRICIA P".encode(), b"202401040900", True)),
        ("critical", personalised("critical_values.hl7", [patient.mrn], tag).replace(b"19580412", b"19620320")
         .replace(b"1982745136^OSEI^AMA", f"{npi}^OSEI^AMA".encode())),
    ):
        drop(data)
        pump.drain()
        [made] = result_ids(staff, patient) - before - set(ids.values())
        ids[key] = made
    return by_npi, by_name, patient, ids


def _listed(api) -> list[dict]:
    answer = api.get("/api/provider/results", params={"state": "to_review"})
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def test_results_are_routed_by_npi_by_name_and_else_to_every_provider_critical_first(office):
    # Given two providers and five results: three ordered by the first's NPI, one by the second's
    # names, one by no provider of the portal
    by_npi, by_name, patient, ids = office

    # When each opens their list
    mine = [r for r in _listed(by_npi.api) if r["patient_id"] == patient.id]
    theirs = [r for r in _listed(by_name.api) if r["patient_id"] == patient.id]

    # Then the NPI's provider has theirs and the unmatched one: critical, then abnormal, then newest
    assert [r["id"] for r in mine] == [ids["critical"], ids["npi"], ids["newer"], ids["nobody"]]
    critical = mine[0]
    assert critical["critical"] is True and critical["flags"] == 2 and critical["title"]
    assert mine[1]["flags"] == 1 and mine[2]["flags"] == 0 and mine[3]["routed_to_me"] is False
    assert critical["patient_name"] == patient.name and critical["waited_hours"] >= 0 and critical["waiting_since"]
    # And the provider known by name has the result that names them and the unmatched one (newer)
    assert [r["id"] for r in theirs] == [ids["nobody"], ids["named"]]
    assert theirs[1]["routed_to_me"] is True and theirs[1]["ordered_by_name"].startswith("Bea Zed")


class _QueueKeys(Recorder):
    """The keys the open-queue index is queried by."""

    keys: list[str]

    def add(self, call: Call, params: dict | None = None) -> None:
        if call.operation == "Query" and (params or {}).get("IndexName") == "open_queue":
            self.keys = [*getattr(self, "keys", []), *(v["S"] for v in params["ExpressionAttributeValues"].values()
                                                       if "S" in v and v["S"].startswith("result_review"))]


def test_a_providers_list_reads_only_their_results_and_every_providers_not_the_backlog(office):
    # Given results routed when they were published: to one provider, to the other, to every provider
    by_npi, by_name, patient, ids = office

    # When the provider known by name opens their list
    with recording(_QueueKeys()) as queried:
        theirs = _listed(by_name.api)

    # Then the list read their own key and every provider's, never the results routed to another
    assert sorted(queried.keys) == sorted([f"result_review@{by_name.id}", "result_review@*"])
    assert ids["named"] in {r["id"] for r in theirs} and ids["critical"] not in {r["id"] for r in theirs}


def test_a_result_waiting_from_before_routing_at_publication_is_routed_by_the_migration(office, portal, staff):
    # Given a result of the NPI provider's whose review entry was queued the old way: under the
    # bare kind, with no route recorded (as results published before routing at publication were)
    by_npi, by_name, _, ids = office
    patient = portal.new_patient(staff, date_of_birth=BORN)
    npi = work_store.get(review.entry_id(ids["npi"], 1)).data.as_dict()["ordered_by_npi"].encode()
    result = published(staff, patient, _ordered_by(glucose(patient.mrn), npi + b"^PRIMARY^PATRICIA P"))
    entry = work_store.get(review.entry_id(result, 1))
    entry.update(actions=[work_store.WorkEntry.open_kind.set(review.RESULT_REVIEW),
                          work_store.WorkEntry.data.set({k: v for k, v in entry.data.as_dict().items() if k != "routed_to"})])
    assert result not in {r["id"] for r in _listed(by_npi.api)}
    migration = next(m for m in migrations.MIGRATIONS if m.id == "0005-results-to-review-routed")
    [old] = [row for page, _ in migration_store.pages(migration.rows, None, 100) for row in page if row.id == entry.id]

    # When the migration meets it, dry and then for real, and then again (a page seen twice)
    dry = migration.change(old, clock.now(), True)
    listed_after_dry_run = {r["id"] for r in _listed(by_npi.api)}
    real = migration.change(old, clock.now(), False)
    again = migration.change(old, clock.now(), False)

    # Then the dry run changed nothing, the real run queued it on its provider's list (only), once
    assert (dry, real, again) == (True, True, False)
    assert result not in listed_after_dry_run
    assert result in {r["id"] for r in _listed(by_npi.api)}
    assert result not in {r["id"] for r in _listed(by_name.api)}
    assert work_store.get(entry.id).data.as_dict()["routed_to"] == [by_npi.id]


def test_a_review_with_a_comment_reaches_the_patient_under_the_providers_name(office, admin):
    # Given the NPI provider's abnormal result
    by_npi, _, patient, ids = office

    # When they review it with a comment
    answer = by_npi.api.post(f"/api/provider/results/{ids['npi']}/review", json={"comment": "Slightly high; "
                             "repeat the test in three months."})

    # Then it is reviewed and leaves their list
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == ids["npi"] and answer.json()["reviewed_at"]
    assert ids["npi"] not in {r["id"] for r in _listed(by_npi.api)}
    # And the patient reads the comment as their provider's
    result = patient.api.get(f"/api/results/{ids['npi']}").json()
    [comment] = result["comments"]
    assert comment["role"] == "provider" and comment["author"].startswith("Ada Npi")
    assert comment["text"].startswith("Slightly high")
    # And the office sees who reviewed it and when
    seen = admin.get(f"/api/staff/results/{ids['npi']}").json()
    assert seen["reviewed_by"].startswith("Ada Npi") and seen["reviewed_at"] == answer.json()["reviewed_at"]
    # And the review is audited with who reviewed it
    [event] = [e for e in events(admin, actor_id=by_npi.id) if e["action"] == "result.review"]
    assert event["target_id"] == ids["npi"] and event["patient_id"] == patient.id


def test_a_provider_covers_for_another_and_the_audit_names_both(office, admin):
    # Given a result routed to the NPI provider
    by_npi, by_name, patient, ids = office

    # When the other provider reviews it (without a comment)
    answer = by_name.api.post(f"/api/provider/results/{ids['newer']}/review", json={})

    # Then it is allowed, leaves the first provider's list, and the audit names both
    assert answer.status_code == 200, answer.text
    assert ids["newer"] not in {r["id"] for r in _listed(by_npi.api)}
    [event] = [e for e in events(admin, actor_id=by_name.id) if e["action"] == "result.review"]
    assert event["detail"]["covering"] is True
    assert event["detail"]["routed_to"].startswith("Ada Npi") and event["detail"]["reviewed_by"].startswith("Bea Zed")
    # And the patient sees no comment on it
    assert patient.api.get(f"/api/results/{ids['newer']}").json()["comments"] == []


def test_staff_may_not_review_and_bad_reviews_change_nothing(office, staff):
    by_npi, _, patient, ids = office
    # A staff member: 403
    assert staff.post(f"/api/provider/results/{ids['critical']}/review", json={}).status_code == 403
    assert staff.get("/api/provider/results").status_code == 403
    # An unknown result: 404
    assert by_npi.api.post("/api/provider/results/r_nosuchresult/review", json={}).status_code == 404
    # A comment of more than 2,000 characters: 400, and the result is still to review
    too_long = by_npi.api.post(f"/api/provider/results/{ids['critical']}/review", json={"comment": "x" * 2001})
    assert too_long.status_code == 400, too_long.text
    assert ids["critical"] in {r["id"] for r in _listed(by_npi.api)}
    assert patient.api.get(f"/api/results/{ids['critical']}").json()["comments"] == []


def test_an_admin_creates_a_provider_with_an_npi_and_refuses_a_bad_one(admin):
    # An NPI is ten digits
    bad = admin.post("/api/admin/staff", json={"username": "prov_" + secrets.token_hex(4), "email":
                                               f"p{secrets.token_hex(4)}@example.org", "name": "Cy Bad",
                                               "role": "provider", "npi": "12345"})
    assert bad.status_code == 400, bad.text
    # Only a provider has one
    staff_npi = admin.post("/api/admin/staff", json={"username": "stf_" + secrets.token_hex(4), "email":
                                                     f"s{secrets.token_hex(4)}@example.org", "name": "Di Desk",
                                                     "role": "staff", "npi": _npi()})
    assert staff_npi.status_code == 400 and staff_npi.json()["error"] == "invalid_npi"


def test_the_office_records_the_call_about_a_critical_result_which_clears_it(office, staff, admin, portal):
    # Given the patient's critical result, waiting on the office's queue for a call
    _, _, patient, ids = office
    critical = ids["critical"]
    waiting = {c["result_id"] for c in queue_list(staff, "critical_results")}
    assert critical in waiting

    # When the call is recorded with an unknown outcome, or a note over 2,000 characters: 400, still waiting
    path = f"/api/staff/queue/critical/{critical}/called"
    assert staff.post(path, json={"outcome": "busy"}).status_code == 400
    assert staff.post(path, json={"outcome": "reached", "note": "x" * 2001}).status_code == 400
    assert critical in {c["result_id"] for c in queue_list(staff, "critical_results")}

    # When the office records it on the queue's page (its form, no script)
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    queue = pages.get(f"{portal.base_url}/staff/queue?limit=500", timeout=30)
    assert f'action="/staff/queue/critical/{critical}/called"' in queue.text
    done = pages.post(f"{portal.base_url}/staff/queue/critical/{critical}/called", timeout=30,
                      data={"outcome": "left_message", "note": "Voicemail, asked to call back today",
                            "csrf_token": page_csrf(queue.text)})

    # Then the entry is cleared, a second record is 404, and the call is audited with its outcome
    assert done.status_code == 200 and "/staff/queue" in done.url, done.url
    assert critical not in {c["result_id"] for c in queue_list(staff, "critical_results")}
    assert staff.post(path, json={"outcome": "reached"}).status_code == 404
    [event] = [e for e in events(admin, patient_id=patient.id) if e["action"] == "result.critical_called"]
    assert event["target_id"] == critical and event["detail"]["outcome"] == "left_message"
