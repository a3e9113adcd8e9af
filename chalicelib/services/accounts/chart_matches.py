"""A forgot-username request and the charts it may be: patients with the same date of birth whose
name has every word typed as the beginning of one of its own (accents and case aside), so the
office links the request to the right chart in one click and calls the number on file.

Showing a match is an access to that patient's record: each is audited as a search result is.
"""

from __future__ import annotations

from typing_extensions import TypedDict

from chalicelib.errors import Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.store import accounts as account_store
from chalicelib.store import work as work_store
from chalicelib.vocabulary import Role

MAX_MATCHES = 10


class ChartMatch(TypedDict):
    """A chart a forgot-username request may be about, with what the office needs to call."""

    patient_id: str
    name: str
    date_of_birth: str | None
    phone: str | None
    email: str | None
    username: str


class ChartMatches(TypedDict):
    patients: list[ChartMatch]


class Linked(TypedDict):
    id: str
    patient_id: str


def _names_match(typed: str, name: str) -> bool:
    typed_words, name_words = account_store.fold_words(typed), account_store.fold_words(name)
    return bool(typed_words) and all(any(word.startswith(part) for word in name_words) for part in typed_words)


def _form(form_id: str) -> work_store.WorkEntry:
    entry = work_store.get(form_id) if 0 < len(form_id) <= 200 else None
    if entry is None or entry.kind != "form":
        raise NotFound(N_("No queue entry with that id."))
    return entry


def matching_charts(caller: Caller, name: str, date_of_birth: str) -> list[ChartMatch]:
    """The charts with this date of birth whose name matches the name typed, by name."""
    if not (name or "").strip() or not date_of_birth:
        return []
    found = [account for account in account_store.search_patients(date_of_birth, date_of_birth=date_of_birth, named_like=name,
                                                                  limit=100)
             if account.date_of_birth == date_of_birth and _names_match(name, account.name)][:MAX_MATCHES]
    for account in found:
        audit.record_about(caller, "patient.search_result", account, detail={"via": "forgot_username"})
    return [{"patient_id": a.id, "name": a.name, "date_of_birth": a.date_of_birth, "phone": a.phone,
             "email": a.email, "username": a.username} for a in found]


def for_form(caller: Caller, form_id: str) -> list[ChartMatch]:
    """The charts a forgot-username request matches."""
    data = _form(form_id).data
    values = data.as_dict() if data is not None else {}
    return matching_charts(caller, str(values.get("name") or ""), str(values.get("date_of_birth") or ""))


def link(caller: Caller, form_id: str, patient_id: str) -> Linked:
    """The office says which chart the request is about: the entry names it (the call is made from
    the number on file), audited. 404 for an unknown form or patient; 409 once it is closed."""
    entry = _form(form_id)
    patient = account_store.get(patient_id) if 0 < len(patient_id) <= 200 else None
    if patient is None or patient.role != Role.PATIENT:
        raise NotFound(N_("No patient with that id."))
    if not work_store.link_patient(entry, patient.id):
        raise Conflict(N_("This entry has already been resolved."), code="already_resolved")
    audit.record_about(caller, "forms.forgot_username_link", patient, detail={"form_id": entry.id})
    return {"id": entry.id, "patient_id": patient.id}
