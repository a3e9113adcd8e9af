"""Caregiver grants: who may read (and message for) which patient, until when.

One row per (patient, caregiver) pair, keyed `<patient id>-<caregiver id>`, so that the check every
caregiver request makes is one read by key (and can share a round trip with another read). Two
indexes answer "grants of this patient" (My Profile, the office) and "grants of this caregiver"
(their home page, `GET /api/me`). A revoked grant keeps its row (its status says so); granting the
same caregiver again writes the row afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store.base import NullableText, PortalModel, RowRead, conditional, meta, table

READ, READ_AND_MESSAGE = "read", "read_and_message"
SCOPES = (READ, READ_AND_MESSAGE)
ACTIVE, REVOKED = "active", "revoked"
# A grant to an address that signs in to another kind of account (a patient's, the office's): kept
# as the patient gave it, it lets no one in; the office sees why (`reason`).
UNUSABLE = "unusable"
ANOTHER_KIND_OF_ACCOUNT = "another_kind_of_account"


class ByPatient(GlobalSecondaryIndex["Grant"]):
    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ByCaregiver(GlobalSecondaryIndex["Grant"]):
    class Meta:
        index_name = "by_caregiver"
        projection = AllProjection()

    caregiver_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


@table
class Grant(PortalModel):
    Meta = meta("grants")

    id = UnicodeAttribute(hash_key=True)  # "<patient id>-<caregiver id>" (safe in a path)
    patient_id = UnicodeAttribute()
    caregiver_id = UnicodeAttribute()
    name = UnicodeAttribute()  # the caregiver's name as the grant gave it
    email = UnicodeAttribute()
    relationship = UnicodeAttribute()
    scope = UnicodeAttribute()
    expires_on = NullableText()  # YYYY-MM-DD: the last day the grant works
    status = UnicodeAttribute()  # active | revoked | unusable (expiry is read against the clock)
    reason = NullableText()  # why an unusable grant is: another_kind_of_account
    granted_by = UnicodeAttribute()  # the account that granted it (the patient, or a staff member)
    created_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)

    by_patient = ByPatient()
    by_caregiver = ByCaregiver()


def grant_id(patient_id: str, caregiver_id: str) -> str:
    return f"{patient_id}-{caregiver_id}"


@dataclass(frozen=True)
class GrantView:
    """A grant as the access check reads it (straight from the raw row)."""

    patient_id: str
    caregiver_id: str
    name: str
    relationship: str
    scope: str
    status: str
    expires_on: str | None


def _view(raw: dict[str, Any] | None) -> GrantView | None:
    if not raw:
        return None
    expires = raw.get("expires_on", {})
    return GrantView(patient_id=raw["patient_id"]["S"], caregiver_id=raw["caregiver_id"]["S"],
                     name=raw["name"]["S"], relationship=raw["relationship"]["S"], scope=raw["scope"]["S"],
                     status=raw["status"]["S"], expires_on=expires.get("S"))


def read(patient_id: str, caregiver_id: str) -> RowRead:
    """The grant of this pair, as a read to make together with another (one round trip)."""
    return RowRead(Grant, grant_id(patient_id, caregiver_id), _view)


def get(grant_key: str) -> Grant | None:
    try:
        return Grant.get(grant_key, consistent_read=True)
    except DoesNotExist:
        return None


def put(grant: Grant) -> None:
    """Write a grant (a new one, or the pair's earlier one granted again)."""
    grant.save()


def revoke(grant: Grant, now: datetime) -> bool:
    """Mark a grant revoked (an unusable one too); False when it was revoked already (or is gone)."""
    return conditional(lambda: grant.update(actions=[Grant.status.set(REVOKED), Grant.revoked_at.set(now)],
                                            condition=Grant.status.is_in(ACTIVE, UNUSABLE)))


def for_patient(patient_id: str) -> Iterable[Grant]:
    return Grant.by_patient.query(patient_id)


def for_caregiver(caregiver_id: str) -> Iterable[Grant]:
    return Grant.by_caregiver.query(caregiver_id)
