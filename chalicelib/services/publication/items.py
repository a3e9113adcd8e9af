"""Items as patients and staff see them (documents and office messages)."""

from __future__ import annotations

from typing import cast

from chalicelib.clock import iso
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts.registry import get_patient, patient_json
from chalicelib.services.publication.answers import ItemKind, ItemStatus, ItemSummary, PatientDetail, StaffItem
from chalicelib.store import item_lists
from chalicelib.store import items as item_store


def summary_json(item: item_store.Item | item_lists.Entry) -> ItemSummary:
    return {
        "id": item.id,
        "kind": cast(ItemKind, item.kind),
        "title": item.title,
        "created_at": iso(item.created_at),
        "read_at": iso(item.read_at),
        "status": cast(ItemStatus, item.status or item_lists.PUBLISHED),
    }


def staff_item_json(item: item_store.Item) -> StaffItem:
    return {
        **summary_json(item),
        "category": item.category,
        "provider": item.provider,
        "first_read_at": iso(item.first_read_at),
        "open_count": int(item.open_count or 0),
        "notices_sent": int(item.notices_sent or 0),
        "last_notice_at": iso(item.last_notice_at),
        "escalated": bool(item.escalated),
        "held": item_store.is_held(item),
    }


# The list is read with the session, in the same round trip (see `api/http.route(with_session=)`).
LIST_READ = item_lists.read


def list_for_patient(caller: Caller, entries: list[item_lists.Entry] | None = None) -> list[ItemSummary]:
    """The caller's patient's items, newest first: `entries` when they came with the session, else
    read now. A caregiver's look at the list is a view the patient is shown ("who viewed my
    record"): one audit event about the patient, the caregiver as its actor."""
    patient_id = caller.own_patient_id
    if caller.acting_for:
        audit.record_for(caller, "item.list", patient_id=patient_id)
    if entries is None:
        entries = item_lists.get(patient_id)
    return [summary_json(entry) for entry in entries]


def staff_patient_view(caller: Caller, patient_id: str) -> PatientDetail:
    account = get_patient(patient_id)
    audit.record_for(caller, "patient.view", patient_id=account.id, target_id=account.id)
    return {
        **patient_json(account),
        "items": [staff_item_json(item) for item in item_store.for_patient(account.id)],
    }
