"""The caregivers' answers (see chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from chalicelib.services.accounts.answers import Account
from chalicelib.services.answers import Time

Scope = Literal["read", "read_and_message"]
GrantStatus = Literal["active", "expired", "revoked"]


class CaredFor(TypedDict):
    """A patient a caregiver cares for now (`grants.patients_of`)."""

    id: str
    name: str
    scope: Scope
    relationship: str
    expires_on: str | None


class MyAccount(Account):
    """The signed-in account (`grants.me`); a caregiver's carries the patients they care for."""

    patients: NotRequired[list[CaredFor]]


class Proxy(TypedDict):
    """One of a patient's grants to a caregiver (`grants.grant_json`)."""

    id: str
    name: str
    email: str
    relationship: str
    scope: Scope
    status: GrantStatus
    expires_on: str | None
    created_at: Time
    revoked_at: Time | None


OfficeStatus = Literal["active", "expired", "revoked", "unusable"]
UnusableReason = Literal["another_kind_of_account"]


class OfficeProxy(TypedDict):
    """One of a patient's grants as the office sees it (`grants.office_grants`): its real status
    (`unusable`: given to an address that signs in to another kind of account, `reason` says so)
    and the caregiver's account (none for an unusable grant), whether it is open."""

    id: str
    name: str
    email: str
    relationship: str
    scope: Scope
    status: OfficeStatus
    expires_on: str | None
    created_at: Time
    revoked_at: Time | None
    reason: UnusableReason | None
    caregiver_id: str | None
    caregiver_active: bool | None


class OfficeProxies(TypedDict):
    proxies: list[OfficeProxy]


class CaregiverAccount(TypedDict):
    """A caregiver's account as the office closes or reopens it (`lifecycle.set_caregiver_access`)."""

    id: str
    name: str
    email: str | None
    active: bool


class AccessEvent(TypedDict):
    """A view of the patient's records by someone else; `item_title` is null for the record itself."""

    at: Time
    actor_name: str | None
    actor_role: str | None
    action: str
    item_title: str | None


class AccessLog(TypedDict):
    """Who viewed my record, newest first, a page at a time (`grants.access_log`)."""

    events: list[AccessEvent]
    next_cursor: str | None
