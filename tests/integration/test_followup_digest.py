"""The office's daily read report: once a day however often the sweep runs, figures that match
what happened since the last report, and nothing about any patient in the mail."""

from __future__ import annotations

import re

from chalicelib.store import items as item_store
from tests.integration.test_mail_feedback import bounce_event, deliver_feedback
from tests.support.followup import day, fresh_day0, office_digests, patient_now, publish_item, staff_now, sweep

FIGURES = {
    "read_since_last": r"Items read since the last report: (\d+)",
    "unread_in_follow_up": r"Items still unread, in follow-up: (\d+)",
    "escalated_open": r"waiting for a call: (\d+)",
    "bad_emails": r"Patients who need a valid email address: (\d+)",
}


def figures(mail: dict) -> dict[str, int]:
    return {name: int(re.search(pattern, mail["text"]).group(1)) for name, pattern in FIGURES.items()}


def test_digest_goes_out_once_a_day_with_the_right_counts_and_no_patient_details(portal, clock):
    # Given a first sweep of the day, which sends the day's digest
    day0 = fresh_day0()
    before = len(office_digests(portal))
    first = sweep(portal, clock, day0)
    assert first["digest"] == "sent"
    assert len(office_digests(portal)) == before + 1
    baseline = figures(office_digests(portal)[-1])

    # When the sweep runs again that day (hourly)
    again = sweep(portal, clock, day(day0, 0, hours=1))

    # Then no second digest goes out
    assert again["digest"] == "already_sent"
    assert len(office_digests(portal)) == before + 1

    # Given, during the day: three items published for two patients, one of them read, and one
    # of the two addresses bouncing
    clock.travel_to(day(day0, 0, hours=2))
    reader = portal.new_patient(staff_now(portal), name="Philippa Quarrington")
    bouncer = portal.new_patient(staff_now(portal), name="Anselm Vortigern")
    read_item = publish_item(reader.id, day(day0, 0, hours=2), title="Lipid panel")
    publish_item(reader.id, day(day0, 0, hours=2), title="Thyroid ultrasound")
    publish_item(bouncer.id, day(day0, 0, hours=2), title="Biopsy pathology report")
    clock.travel_to(day(day0, 0, hours=3))
    assert patient_now(portal, reader).get(f"/api/documents/{read_item.id}").status_code == 200
    deliver_feedback(bounce_event(bouncer.email))
    live = staff_now(portal).get("/api/staff/follow-up")

    # When the next day's first sweep runs (before the digest hour nothing is sent)
    early = sweep(portal, clock, day(day0, 1, hours=-13))
    assert early["digest"] == "not_yet"
    summary = sweep(portal, clock, day(day0, 1))

    # Then exactly one new digest, counting exactly what happened since the last one
    assert summary["digest"] == "sent"
    digests = office_digests(portal)
    assert len(digests) == before + 2
    now = figures(digests[-1])
    assert now["read_since_last"] == 1
    assert now["unread_in_follow_up"] - baseline["unread_in_follow_up"] == 2
    assert now["escalated_open"] == baseline["escalated_open"]
    assert now["bad_emails"] - baseline["bad_emails"] == 1
    # and staff saw the same figures live during the day
    assert live.status_code == 200
    assert live.json()["read_since_last"] == 1
    assert live.json()["unread_in_follow_up"] == now["unread_in_follow_up"]
    # and the mail names no patient and nothing medical, only counts and the staff queue link
    mail = digests[-1]["text"] + digests[-1]["html"]
    for private in ("Philippa", "Quarrington", "Anselm", "Vortigern", reader.email, bouncer.email, reader.mrn,
                    "Lipid", "Thyroid", "Biopsy", "pathology", "Dr. Example", "lab"):
        assert private.lower() not in mail.lower()
    assert "/staff/queue" in digests[-1]["text"]
    assert item_store.get(read_item.id).read_at is not None
