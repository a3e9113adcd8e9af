"""Secure messaging's rules without AWS (services/messaging/threads.py), on the fakes of
tests/support/fakes.py: who may see a thread, what a patient's message asks of the office, what
the office's reply makes of the thread (the patient's item, a notice, a new round), and the pages
of the office's inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import BadRequest, NotFound
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from chalicelib.services.messaging import threads
from tests.support.fakes import Fakes

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
FIRST_PAGE = threads.Page(50, None)


def _as(account) -> Caller:
    return Caller(Principal(account.id, account.role, False, f"session-of-{account.id}", "csrf"), "203.0.113.7")


@pytest.fixture
def world(monkeypatch) -> Fakes:
    return Fakes(NOW).install(monkeypatch)


@pytest.fixture
def people(world):
    """Two patients and a staff member."""
    ann = world.accounts.add("ann")
    bob = world.accounts.add("bob")
    desk = world.accounts.add("desk", role="staff")
    return ann, bob, desk


def test_a_patients_message_waits_for_the_office_and_alerts_it_without_telling_the_patient(world, people):
    # Given a patient
    ann, _, _ = people

    # When she writes to the office
    started = threads.start_by_patient(_as(ann), "Dosage question", "Should I take it with food?", None)

    # Then the thread waits for the office, with one unread message for it and none for her
    thread = world.threads.get(started["id"])
    assert thread.waiting_shard is not None and (thread.office_unread, thread.patient_unread) == (1, 0)
    # and the office's alert is queued with the message (its window, and this message in it), while
    # the patient is sent nothing
    assert len(world.threads.office_alerts) == 2 and world.notices.delivered == []
    assert world.audit.actions() == [("message.send", "ok")]
    assert world.audit.events[0].patient_id == ann.id


def test_another_patients_thread_answers_as_an_unknown_id_and_changes_nothing(world, people):
    # Given a thread of Ann's
    ann, bob, _ = people
    started = threads.start_by_patient(_as(ann), "Dosage question", "Should I take it with food?", None)

    # When Bob opens it, and replies to it
    with pytest.raises(NotFound) as opened:
        threads.open_for_patient(_as(bob), started["id"], FIRST_PAGE)
    with pytest.raises(NotFound) as replied:
        threads.reply_by_patient(_as(bob), started["id"], "Let me in")

    # Then both answer as for an id that does not exist
    with pytest.raises(NotFound) as unknown:
        threads.open_for_patient(_as(bob), "thr_unknown", FIRST_PAGE)
    assert str(opened.value) == str(replied.value) == str(unknown.value)
    # and Ann's thread is as she left it, each refusal audited as not found
    assert len(world.threads.messages_of[started["id"]]) == 1
    assert world.audit.actions()[1:] == [("message.open", "not_found"), ("message.send", "not_found"),
                                         ("message.open", "not_found")]


def test_the_offices_reply_becomes_the_patients_item_and_each_reply_starts_a_new_round(world, people):
    # Given a thread a patient started
    ann, _, desk = people
    started = threads.start_by_patient(_as(ann), "Dosage question", "Should I take it with food?", None)

    # When the office replies
    world.clock.advance(timedelta(minutes=5))
    threads.reply_by_office(_as(desk), started["id"], "Yes, with breakfast.")

    # Then the thread no longer waits, the patient has an unread message, and the thread is her
    # item (same id), unread, with its first notice sent to her
    thread = world.threads.get(started["id"])
    item = world.items.get(started["id"])
    assert thread.waiting_shard is None and thread.patient_unread == 1 and thread.has_item
    assert (item.kind, item.patient_id, item.round, item.read_at) == ("message", ann.id, 0, None)
    assert [account_id for _, account_id in world.notices.delivered] == [ann.id]

    # When the office replies again
    world.clock.advance(timedelta(minutes=5))
    threads.reply_by_office(_as(desk), started["id"], "And drink water.")

    # Then the same item starts its next round, with a notice of its own
    assert world.items.get(started["id"]).round == 1
    notice_ids = [notice_id for notice_id, _ in world.notices.delivered]
    assert len(notice_ids) == 2 and len(set(notice_ids)) == 2


def test_opening_the_reply_is_the_patients_read_receipt(world, people):
    # Given an office message waiting unread for a patient
    ann, _, desk = people
    started = threads.start_by_office(_as(desk), ann.id, "Your results", "Please call us.", None)

    # When she opens it
    world.clock.advance(timedelta(hours=2))
    opened = threads.open_for_patient(_as(ann), started["id"], FIRST_PAGE)

    # Then she reads it, its unread count is cleared and the item carries her read receipt
    assert [m["body"] for m in opened["messages"]] == ["Please call us."]
    assert world.threads.get(started["id"]).patient_unread == 0
    assert world.items.get(started["id"]).read_at == NOW + timedelta(hours=2)
    assert ("message.open", "ok") in world.audit.actions()


def test_the_inbox_lists_what_waits_for_the_office_first_a_page_at_a_time(world, people):
    # Given three threads: two patients wrote (waiting), one the office answered
    ann, bob, desk = people
    answered = threads.start_by_patient(_as(ann), "Answered", "First", None)
    world.clock.advance(timedelta(minutes=1))
    threads.reply_by_office(_as(desk), answered["id"], "Done")
    for patient, subject in ((ann, "Waiting 1"), (bob, "Waiting 2")):
        world.clock.advance(timedelta(minutes=1))
        threads.start_by_patient(_as(patient), subject, "Hello", None)

    # When the office reads its inbox two threads at a time
    first = threads.office_inbox(_as(desk), threads.paging("2", None))
    second = threads.office_inbox(_as(desk), threads.paging("2", first["next_cursor"]))

    # Then the waiting ones come first (newest first), then the rest, and the last page says so
    assert [t["subject"] for t in first["threads"]] == ["Waiting 2", "Waiting 1"]
    assert [t["subject"] for t in second["threads"]] == ["Answered"] and second["next_cursor"] is None
    assert first["waiting_total"] == 2


@pytest.mark.parametrize(("limit", "cursor"), [("0", None), ("201", None), ("ten", None), (None, "not-a-cursor")])
def test_a_page_asked_for_wrongly_is_a_400_naming_the_field(limit, cursor, world, people):
    # Given the office
    _, _, desk = people

    # When it asks for a page with a bad limit or a cursor no list gave out
    with pytest.raises(BadRequest) as refused:
        threads.office_inbox(_as(desk), threads.paging(limit, cursor))

    # Then the answer names what was wrong
    assert str(refused.value).startswith("limit" if limit else "cursor")
