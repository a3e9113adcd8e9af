"""What a take-away records zip says about a patient: a FHIR R4 Bundle and a page to read offline.

`bundle.json` is a Bundle of type `collection` (plain dicts: the runtime carries no FHIR library;
the tests validate it with `fhir.resources`' R4B models, which match R4 for these resources):
- the Patient (MRN, name, birth date, email, phone, language);
- a DocumentReference per document the patient holds (retracted ones are left out; a replaced one
  is its current version, `docStatus` amended): type from the category, date, author display, and
  an attachment whose `url` names its file in the zip, with content type, size and SHA-1 hash;
- a Communication per message of every thread, sent by its real author: the patient, a caregiver
  who wrote for them (a RelatedPerson, one per caregiver, named and related as their grant says),
  or the clinic (its member by name when the clinic shows names to patients).
Every resource has a `urn:uuid` full URL derived from the portal's own id, so a second export of
the same records names them the same.

`index.html` lists the same in the patient's language (English or Spanish), escaped, with no
script, style sheet or image from anywhere: it opens from the unzipped folder, offline.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chalicelib import i18n
from chalicelib.clock import date_text, iso, utc, zone
from chalicelib.i18n import N_
from chalicelib.services.results import records as results_records
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import exports as export_store
from chalicelib.store import grants as grant_store
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store
from chalicelib.store import messages as message_store

if TYPE_CHECKING:
    from jinja2 import Template

_IDS = uuid.UUID("6f1c1d7e-3f0b-4c55-9a43-0e8f4b7f2a10")  # the namespace of the portal's FHIR ids

# What the offline page says, marked for the catalog (chalicelib/locale) and shown in the
# patient's language.
LABELS: dict[str, str] = {
    "title": N_("My health records"),
    "intro": N_("Everything your patient portal held for you on {date}. The files are in the “documents” "
                "folder beside this page; bundle.json holds the same records in the FHIR R4 format "
                "that health apps can read."),
    "about_you": N_("About you"),
    "name": N_("Name"),
    "mrn": N_("Medical record number"),
    "birth_date": N_("Date of birth"),
    "email": N_("Email"),
    "phone": N_("Phone"),
    "documents": N_("Documents"),
    "no_documents": N_("You have no documents in the portal."),
    "results": N_("Test results"),
    "no_results": N_("You have no test results in the portal."),
    "result": N_("Result"),
    "test": N_("Test"),
    "value": N_("Value"),
    "range": N_("Standard range"),
    "flag": N_("Flag"),
    "document": N_("Document"),
    "category": N_("Category"),
    "provider": N_("From"),
    "date": N_("Date"),
    "file": N_("File"),
    "size": N_("Size"),
    "corrected": N_("Corrected version"),
    "open": N_("Open"),
    "messages": N_("Messages"),
    "no_messages": N_("You have no messages in the portal."),
    "subject": N_("Subject"),
    "you": N_("You"),
    "office": N_("Your clinic"),
    "sent": N_("Sent"),
    "private": N_("These are your private health records. Keep this folder safe, and share it only with "
                  "people you trust."),
}


def labels(language: str) -> dict[str, str]:
    return {key: i18n.gettext(text, language) for key, text in LABELS.items()}


def language_of(account: account_store.Account) -> str:
    language = getattr(account, "language", None) or "en"
    return i18n.of(language)


@dataclass(frozen=True)
class FiledDocument:
    """A document as the zip holds it: its item, its file's path in the zip, size and SHA-1."""

    item: item_store.Item
    path: str
    size: int
    sha1: bytes


@dataclass(frozen=True)
class Conversation:
    thread: message_store.Thread
    messages: list[message_store.ThreadMessage]


def current_documents(patient_id: str) -> Iterator[item_store.Item]:
    """The documents the patient holds, oldest first: retracted ones are left out; each one's file
    fields are its current version's."""
    for item in export_store.documents_of(patient_id):
        if item_store.status_of(item) != item_store.RETRACTED and item.s3_key:
            yield item


def conversations(patient_id: str) -> list[Conversation]:
    """Every thread of the patient with its messages, oldest thread first."""
    threads = sorted(export_store.threads_of(patient_id), key=lambda t: (t.created_at, t.id))
    return [Conversation(thread, list(export_store.messages_in(thread.id))) for thread in threads]


# ---------------------------------------------------------------- FHIR

def _urn(kind: str, portal_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_IDS, f'{kind}/{portal_id}')}"


def _identifier(kind: str, value: str) -> dict[str, str]:
    return {"system": f"{get_settings().portal_url}/fhir/identifiers/{kind}", "value": value}


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    resource["id"] = full_url.removeprefix("urn:uuid:")
    return {"fullUrl": full_url, "resource": resource}


def patient_resource(account: account_store.Account) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "identifier": [_identifier("patient", account.id)]}
    if getattr(account, "mrn", None):
        resource["identifier"].append({**_identifier("mrn", account.mrn),
                                       "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                            "code": "MR"}], "text": "Medical record number"}})
    resource["name"] = [{"text": account.name}]
    telecom = [{"system": "email", "value": account.email}] if account.email else []
    if getattr(account, "phone", None):
        telecom.append({"system": "phone", "value": account.phone})
    resource["telecom"] = telecom
    if getattr(account, "date_of_birth", None):
        resource["birthDate"] = account.date_of_birth
    resource["communication"] = [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language_of(account)}]},
                                  "preferred": True}]
    return resource


def document_resource(filed: FiledDocument, patient_url: str, patient_name: str) -> dict[str, Any]:
    item = filed.item
    attachment = {
        "contentType": item.content_type or "application/octet-stream",
        "url": quote(filed.path),
        "size": filed.size,
        "hash": base64.b64encode(filed.sha1).decode("ascii"),
        "title": filed.path.rsplit("/", 1)[-1],
        "creation": iso(item.created_at),
    }
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "identifier": [_identifier("document", item.id)],
        "status": "current",
        "docStatus": "amended" if item_store.status_of(item) == item_store.UPDATED else "final",
        "type": {"text": item.category or "Document"},
        "subject": {"reference": patient_url, "display": patient_name},
        "date": iso(item.updated_at or item.created_at),
        "description": item.title,
        "content": [{"attachment": attachment}],
    }
    if item.provider:
        resource["author"] = [{"display": item.provider}]
    return resource


@dataclass(frozen=True)
class Caregiver:
    """A caregiver who wrote for the patient, as their grant names them."""

    id: str
    name: str
    relationship: str


@dataclass(frozen=True)
class Authors:
    """Who wrote the messages besides the patient: their caregivers (by account id), and the office
    members, named only when the clinic shows their names to patients (OFFICE_NAMES_TO_PATIENTS),
    as the portal's own pages do; otherwise an office message is the clinic's."""

    caregivers: dict[str, Caregiver]
    office: dict[str, str]


def authors(patient_id: str, threads: list[Conversation]) -> Authors:
    """The authors of the patient's messages other than the patient: read once per export."""
    written = [m for c in threads for m in c.messages]
    helpers = {m.author_id for m in written if m.author_role != message_store.OFFICE and m.author_id != patient_id}
    staff = ({m.author_id for m in written if m.author_role == message_store.OFFICE}
             if get_settings().office_names_to_patients else set())
    people = import_store.accounts_by_id(helpers | staff) if helpers | staff else {}
    caregivers = {}
    for helper in helpers:
        grant = grant_store.get(grant_store.grant_id(patient_id, helper))
        account = people.get(helper)
        name = grant.name if grant is not None else account.name if account is not None else ""
        caregivers[helper] = Caregiver(helper, name, grant.relationship if grant is not None else "")
    return Authors(caregivers, {a: people[a].name for a in staff if a in people})


def related_person(caregiver: Caregiver, patient_url: str) -> dict[str, Any]:
    """A caregiver who wrote for the patient (FHIR RelatedPerson), the sender of their messages."""
    resource: dict[str, Any] = {"resourceType": "RelatedPerson", "identifier": [_identifier("caregiver", caregiver.id)],
                                "patient": {"reference": patient_url}, "name": [{"text": caregiver.name}]}
    if caregiver.relationship:
        resource["relationship"] = [{"text": caregiver.relationship}]
    return resource


def communication_resource(conversation: Conversation, message: message_store.ThreadMessage, patient_url: str,
                           patient_name: str, office: str, written_by: Authors | None = None) -> dict[str, Any]:
    """One message. Its sender is its real author: the patient, a caregiver who wrote for them (a
    RelatedPerson), or the office (the member by name when the clinic shows names to patients)."""
    written_by = written_by or Authors({}, {})
    patient = {"reference": patient_url, "display": patient_name}
    clinic = {"display": office}
    from_office = message.author_role == message_store.OFFICE
    caregiver = None if from_office else written_by.caregivers.get(message.author_id)
    if from_office:
        member = written_by.office.get(message.author_id)
        sender = {"display": f"{member}, {office}"} if member else clinic
    elif caregiver is not None:
        sender = {"reference": _urn("caregiver", caregiver.id), "display": caregiver.name}
    else:
        sender = patient
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [_identifier("message", f"{conversation.thread.id}/{message.id}")],
        "status": "completed",
        "subject": patient,
        "topic": {"text": conversation.thread.subject},
        "sent": iso(message.sent_at),
        "sender": sender,
        "recipient": [patient if from_office else clinic],
        "payload": [{"contentString": message.body}],
    }
    if conversation.thread.category:
        resource["category"] = [{"text": conversation.thread.category}]
    return resource


def bundle(account: account_store.Account, documents: list[FiledDocument], threads: list[Conversation],
           now: datetime, written_by: Authors | None = None) -> dict[str, Any]:
    """The FHIR R4 Bundle (type `collection`) of everything in the zip."""
    written_by = written_by or authors(account.id, threads)
    patient_url = _urn("patient", account.id)
    office = labels(language_of(account))["office"]
    entries = [_entry(patient_url, patient_resource(account))]
    entries += [_entry(_urn("caregiver", c.id), related_person(c, patient_url))
                for c in sorted(written_by.caregivers.values(), key=lambda c: c.id)]
    entries += [_entry(_urn("document", d.item.id), document_resource(d, patient_url, account.name)) for d in documents]
    entries += results_records.fhir_entries(account.id, patient_url, account.name)
    entries += [_entry(_urn("message", f"{c.thread.id}/{m.id}"),
                       communication_resource(c, m, patient_url, account.name, office, written_by))
                for c in threads for m in c.messages]
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "collection", "timestamp": iso(now),
            "entry": entries}


# ---------------------------------------------------------------- index.html

@lru_cache(maxsize=1)
def _template() -> Template:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parents[2] / "web" / "templates")),
                      autoescape=select_autoescape(default=True), undefined=StrictUndefined)
    return env.get_template("records_index.html")


def _when(moment: datetime | None, with_time: bool = True) -> str:
    """A moment in the clinic's zone, written the same way in every language (2026-11-30 18:32 EST)."""
    if moment is None:
        return ""
    local = utc(moment).astimezone(zone(get_settings().clinic_time_zone))
    return local.strftime("%Y-%m-%d %H:%M %Z" if with_time else "%Y-%m-%d")


def _size(size: int) -> str:
    amount: float = size
    for unit in ("bytes", "KB", "MB"):
        if amount < 1024 or unit == "MB":
            return f"{size} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(size)


def _written_by(message: message_store.ThreadMessage, written_by: Authors, shown: dict[str, str]) -> str:
    """Who wrote a message, as the offline page says it: "You", a caregiver by name (and how they
    are related), or the clinic (its member by name when the clinic shows names to patients)."""
    if message.author_role == message_store.OFFICE:
        member = written_by.office.get(message.author_id)
        return f"{member}, {shown['office']}" if member else shown["office"]
    caregiver = written_by.caregivers.get(message.author_id)
    if caregiver is None:
        return shown["you"]
    return f"{caregiver.name} ({caregiver.relationship})" if caregiver.relationship else caregiver.name


def index_html(account: account_store.Account, documents: list[FiledDocument], threads: list[Conversation],
               now: datetime, written_by: Authors | None = None) -> str:
    written_by = written_by or authors(account.id, threads)
    language = language_of(account)
    shown = labels(language)
    return _template().render(
        lang=language, t=shown, intro=shown["intro"].format(date=_when(now, with_time=False)),
        account=account, mrn=getattr(account, "mrn", None), phone=getattr(account, "phone", None),
        birth_date=date_text(getattr(account, "date_of_birth", None), language),
        results=results_records.index_rows(account.id, language, _when),
        documents=[{"title": d.item.title, "category": d.item.category or "", "provider": d.item.provider or "",
                    "date": _when(d.item.updated_at or d.item.created_at), "href": quote(d.path),
                    "file": d.path.rsplit("/", 1)[-1], "size": _size(d.size),
                    "corrected": item_store.status_of(d.item) == item_store.UPDATED} for d in documents],
        threads=[{"subject": c.thread.subject,
                  "messages": [{"from": _written_by(m, written_by, shown),
                                "sent": _when(m.sent_at), "body": m.body} for m in c.messages]} for c in threads],
    )
