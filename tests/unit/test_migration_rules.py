"""Which rows the data migrations change (chalicelib/services/maintenance/migrations.py), with the
store's reads and writes standing in: a pending upload is deleted once it can no longer be needed,
a typed phone number becomes E.164 only when it reads as one, and a dry run writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.services.maintenance import migrations
from chalicelib.store.accounts import Account
from chalicelib.store.uploads import PendingUpload

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(monkeypatch):
    """The store's side: which uploads were published, and the writes asked for."""
    state = {"published": set(), "dropped": [], "phones": []}
    monkeypatch.setattr(migrations.store, "published_from",
                        lambda key, patient_id, replaces: key in state["published"])
    monkeypatch.setattr(migrations.store, "drop_pending_upload", lambda upload: state["dropped"].append(upload.id) or True)
    monkeypatch.setattr(migrations.store, "rewrite_phone",
                        lambda account, typed, e164: state["phones"].append((typed, e164)) or True)
    return state


def upload(upload_id: str, age_days: float, expires_in_days: float) -> PendingUpload:
    return PendingUpload(upload_id, patient_id="p_1", title="t", category="lab", provider="Dr. O", file_name="f.pdf",
                         content_type="application/pdf", created_at=NOW - timedelta(days=age_days),
                         expires_at=NOW + timedelta(days=expires_in_days))


@pytest.mark.parametrize(("case", "published", "expected"), [
    (upload("u_old", 21, 9), True, True),  # published, past any replay: deleted
    (upload("u_recent", 2, 28), True, False),  # published, a replay may still come: kept
    (upload("u_waiting", 21, 9), False, False),  # never published (waiting, or in quarantine): kept
    (upload("u_expired", 31, -1), False, True),  # expired: deleted, published or not
])
def test_a_pending_upload_is_deleted_once_nothing_can_need_it(store, case, published, expected):
    # Given a pending-upload row, its upload published or not
    if published:
        store["published"].add(f"incoming/{case.id}")
    migration = next(m for m in migrations.MIGRATIONS if m.id == "0003-pending-uploads-finished")

    # When the migration meets it, dry and for real
    dry = migration.change(case, NOW, True)
    dropped_by_dry_run = list(store["dropped"])
    real = migration.change(case, NOW, False)

    # Then both say the same, and only the real run deleted it
    assert dry == real == expected
    assert dropped_by_dry_run == [] and store["dropped"] == ([case.id] if expected else [])


@pytest.mark.parametrize(("typed", "expected"), [
    ("(919) 555-0142", "+19195550142"),
    ("+1 919 555 0142", "+19195550142"),
    ("+19195550142", None),  # in E.164 already
    ("ext. 12", None),  # no number: left as typed
])
def test_a_typed_phone_number_is_stored_in_e164_only_when_it_reads_as_one(store, typed, expected):
    # Given a patient whose phone was stored as typed
    migration = next(m for m in migrations.MIGRATIONS if m.id == "0004-phones-in-e164")
    account = Account("p_1", role="patient", phone=typed)

    # When the migration meets the account
    changed = migration.change(account, NOW, False)

    # Then it stores the E.164 form, or leaves the number alone
    assert changed == (expected is not None)
    assert store["phones"] == ([(typed, expected)] if expected else [])


def test_migrations_run_in_the_order_of_their_versions_and_each_version_is_unique():
    versions = [migration.id.split("-", 1)[0] for migration in migrations.MIGRATIONS]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
