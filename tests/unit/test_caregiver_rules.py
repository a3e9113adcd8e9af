"""Caregivers' rules without AWS (services/caregivers/grants.py), on the fakes of
tests/support/fakes.py: what a grant lets a caregiver do and when it stops, what granting and
revoking write, mail and audit, and whom a caregiver is shown to care for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.errors import Forbidden, NotFound
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from chalicelib.services.caregivers import grants as caregivers
from tests.support.fakes import Fakes

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def _principal(account) -> Principal:
    return Principal(account.id, account.role, False, f"session-of-{account.id}", "csrf")


def _as(account) -> Caller:
    return Caller(_principal(account), "203.0.113.7")


@pytest.fixture
def world(monkeypatch) -> Fakes:
    return Fakes(NOW).install(monkeypatch)


@pytest.fixture
def leo(world):
    return world.accounts.add("leo", name="Leo Ruiz")


def _grant(world, patient, email="ana@example.com", scope="read", expires_on=None):
    granted = caregivers.grant(_as(patient), patient.id, name="Ana Ruiz", email=email, relationship="mother",
                               scope=scope, expires_on=expires_on)
    return world.grants.get(granted["id"])


def test_a_new_caregiver_gets_an_account_an_invitation_and_the_patient_is_told(world, leo):
    # Given a patient and an address the portal does not know
    # When the patient grants that address read access
    grant = _grant(world, leo)

    # Then the caregiver's account exists (a proxy, signing in with the address) with the grant
    caregiver = world.accounts.find_by_username("ana@example.com")
    assert caregiver.role == "proxy" and grant.caregiver_id == caregiver.id and grant.patient_id == leo.id
    # and the caregiver is invited (with a temporary password, the patient's first name only), the
    # patient told, and the grant audited without anything medical
    invitation, told = world.mail.sent
    assert (invitation.to, invitation.template) == ("ana@example.com", "caregiver_invitation")
    assert invitation.context["patient_first_name"] == "Leo" and invitation.context["temporary_password"]
    assert (told.to, told.template, told.context["change"]) == (leo.email, "caregiver_changed", "granted")
    assert ("proxy.grant", "ok") in world.audit.actions()


def test_granting_again_to_a_live_caregiver_changes_the_same_grant(world, leo):
    # Given a live read-only grant
    first = _grant(world, leo)
    world.clock.advance(timedelta(days=3))

    # When the patient grants the same address again, with messages
    again = _grant(world, leo, scope="read_and_message")

    # Then it is the same grant, changed, its first date kept; audited and told as a change
    assert (again.id, again.scope, again.created_at) == (first.id, "read_and_message", NOW)
    assert world.mail.templates()[-2:] == ["caregiver_access", "caregiver_changed"]
    assert world.mail.sent[-1].context["change"] == "changed"
    assert world.audit.actions()[-1] == ("proxy.change", "ok")


def test_a_grant_lets_its_caregiver_act_only_while_it_is_live_and_only_as_far_as_its_scope(world, leo):
    # Given a read-only grant that ends on the clinic's date tomorrow
    tomorrow = (NOW + timedelta(days=1)).astimezone(caregivers.zone(caregivers.get_settings().clinic_time_zone)).date()
    grant = _grant(world, leo, expires_on=tomorrow.isoformat())
    ana = world.accounts.get(grant.caregiver_id)

    # When the caregiver reads, then asks to send a message
    found, _ = caregivers.resolve(_principal(ana), leo.id)
    with pytest.raises(Forbidden):
        caregivers.resolve(_principal(ana), leo.id, caregivers.MESSAGE)

    # Then reading is allowed, messaging is a 403
    assert found.id == grant.id

    # When the last day has passed
    world.clock.advance(timedelta(days=3))

    # Then the grant is expired, and the caregiver's request answers as an unknown patient's
    assert caregivers.status_of(grant) == caregivers.EXPIRED
    with pytest.raises(NotFound) as expired:
        caregivers.resolve(_principal(ana), leo.id)
    with pytest.raises(NotFound) as unknown:
        caregivers.resolve(_principal(ana), "p_nobody")
    assert str(expired.value) == str(unknown.value)


def test_a_revoked_grant_stops_at_once_and_revoking_again_changes_nothing(world, leo):
    # Given a live grant
    grant = _grant(world, leo)
    ana = world.accounts.get(grant.caregiver_id)
    mails = len(world.mail.sent)

    # When the patient revokes it, twice
    caregivers.revoke(_as(leo), grant.id)
    caregivers.revoke(_as(leo), grant.id)

    # Then the caregiver's next request is refused, the patient is told once, audited once
    with pytest.raises(NotFound):
        caregivers.resolve(_principal(ana), leo.id)
    assert world.mail.templates()[mails:] == ["caregiver_changed"]
    assert world.audit.actions().count(("proxy.revoke", "ok")) == 1
    # and the caregiver no longer sees the patient among those they care for
    assert caregivers.patients_of(ana.id) == []


def test_another_patients_grant_cannot_be_revoked_and_the_refusal_is_audited(world, leo):
    # Given a grant of Leo's, and another patient
    grant = _grant(world, leo)
    mia = world.accounts.add("mia")

    # When the other patient tries to revoke it
    with pytest.raises(NotFound):
        caregivers.revoke(_as(mia), grant.id)

    # Then it stays live, and the attempt is in the trail
    assert caregivers.status_of(world.grants.get(grant.id)) == caregivers.ACTIVE
    assert world.audit.actions()[-1] == ("proxy.revoke", "not_found")


def test_a_caregiver_is_shown_the_patients_of_live_grants_only_by_name(world, leo):
    # Given a caregiver with grants from two patients, one of them revoked
    grant = _grant(world, leo, scope="read_and_message")
    zoe = world.accounts.add("zoe", name="Zoe Adams")
    revoked = _grant(world, zoe)
    caregivers.revoke(_as(zoe), revoked.id)

    # When the caregiver's patients are listed
    shown = caregivers.patients_of(grant.caregiver_id)

    # Then only the live grant's patient is there, with its scope
    assert [(p["id"], p["name"], p["scope"]) for p in shown] == [(leo.id, "Leo Ruiz", "read_and_message")]


def test_the_last_day_is_the_clinics_date(world):
    # Given a grant whose last day is today at the clinic
    today = NOW.astimezone(caregivers.zone(caregivers.get_settings().clinic_time_zone)).date()
    grant = world.grants.grants.setdefault("g", caregivers.grant_store.Grant(
        "g", patient_id="p", caregiver_id="c", name="Ana", email="a@example.com", relationship="mother",
        scope="read", expires_on=today.isoformat(), status="active", granted_by="p", created_at=NOW))

    # When its status is read today, and tomorrow
    # Then it works through its last day, and not after
    assert caregivers.status_of(grant) == caregivers.ACTIVE
    world.clock.advance(timedelta(days=1))
    assert caregivers.today() == today + timedelta(days=1) and isinstance(caregivers.today(), date)
    assert caregivers.status_of(grant) == caregivers.EXPIRED
