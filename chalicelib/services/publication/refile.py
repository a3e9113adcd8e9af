"""Refile: a document posted to the wrong patient is filed, the same file, to the right one, and the
misfiling is recorded as a privacy incident.

- One step (`refile`): the misfiled document is retracted from the wrong patient (unless it was
  already: their list keeps the neutral "Removed by your clinic"), its current file is copied inside
  the bucket under the right patient (never sent again), and a new document of the right patient is
  written with its first notice. The incident, the retraction, the new document, its notice, both
  patients' list entries and the audit events are ONE transaction (`store.incidents.refile`).
- Retried or submitted twice, it files nothing twice: the new document's id is derived from the
  misfiled one's, and the incident (one per misfiled document) makes the transaction happen once;
  a retry finds the incident and answers with the same id, notifying nobody again. A crash before
  the transaction leaves only the copied file, copied again identically by the retry; after it,
  the notice is leased and the outbox sends it once its lease runs out.
- The incidents (`incidents`, admins) name who opened the document while it was misfiled (the
  wrong patient, their caregivers, the office): read from the audit trail's events about that
  document alone (its target index), from its publication until it was retracted.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import logger, metrics
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup import notices
from chalicelib.services.publication import corrections, documents
from chalicelib.services.publication.answers import Incident, Incidents, Refiled, RefileLink, Refiling, Viewer
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import audit as audit_store
from chalicelib.store import bucket
from chalicelib.store import imports as import_store
from chalicelib.store import incidents as incident_store
from chalicelib.store import items as item_store
from chalicelib.vocabulary import Role

REFILE = "document.refile"  # in the wrong patient's trail, about the misfiled document
REFILED_IN = "document.refiled_in"  # in the right patient's trail, about their new document
# The events that are someone opening a document (its page, its file, the office's view of it).
READ_ACTIONS = ("document.view", "document.file_link", "document.staff_view")
RESULT = "result"  # a lab result's item kind: its values are data, not a file to refile
_ATTEMPTS = 3


def refiled_id(document_id: str) -> str:
    """The id of the document a misfiled one becomes under the right patient: always the same, so
    a retry can never file a second copy."""
    return "d_" + hashlib.sha256(f"refile\n{document_id}".encode()).hexdigest()[:24]


def _misfiled(document_id: str) -> item_store.Item:
    item = item_store.get(document_id) if document_id else None
    if item is not None and item.kind == RESULT:
        raise BadRequest(N_("This is a lab result, not a document: only documents are refiled."),
                         field="document_id", code="not_a_document")
    if item is None or item.kind != documents.DOCUMENT:
        raise NotFound(N_("No document with that id."))
    return item


def _right_patient(patient_id: str, misfiled: item_store.Item) -> account_store.Account:
    patient = account_store.get(patient_id) if patient_id else None
    if patient is None or patient.role != Role.PATIENT:
        raise NotFound(N_("No patient with that id."), field="patient_id")
    if patient.id == misfiled.patient_id:
        raise BadRequest(N_("The document is already filed to this patient: choose the right patient."),
                         field="patient_id", code="invalid_request")
    return patient


def patient_id_for(typed: str) -> str | None:
    """The patient a form names by their MRN or their portal id (pages), or None."""
    typed = typed.strip()
    if not typed or len(typed) > 100:
        return None
    account = account_store.get(typed) or account_store.find_by_mrn(typed)
    return account.id if account is not None and account.role == Role.PATIENT else None


def _copy_of(misfiled: item_store.Item, patient: account_store.Account, by: str, now: datetime) -> item_store.Item:
    """The right patient's new document: the misfiled one's title, details, comments and current
    file (under a key of the right patient), unread, in follow-up, its first notice counted."""
    new_id = refiled_id(misfiled.id)
    return item_store.Item(
        new_id, patient_id=patient.id, kind=documents.DOCUMENT, title=misfiled.title, category=misfiled.category,
        provider=misfiled.provider, created_at=now, updated_at=now,
        comments=[item_store.Comment(author=c.author, text=c.text, created_at=c.created_at, role=c.role)
                  for c in misfiled.comments or []],
        s3_key=documents.refiled_key(patient.id, new_id), content_type=misfiled.content_type,
        size_bytes=misfiled.size_bytes, source={"refiled_from": misfiled.id, "key": misfiled.s3_key, "uploaded_by": by},
        open_count=0, round=0, notices_sent=1, last_notice_at=now, escalated=False,
        due_shard=item_store.DUE_SHARD, due_at=now + timedelta(days=get_settings().follow_up_days),
    )


def _events(caller: Caller, misfiled: item_store.Item, new_item: item_store.Item) -> list[audit_store.AuditEvent]:
    """The refile in both patients' trails (ids only), written in the refile's transaction."""
    who = audit.for_caller(caller)
    retracting = item_store.status_of(misfiled) != item_store.RETRACTED
    return [
        audit.new_event(REFILE, patient_id=misfiled.patient_id, target_id=misfiled.id, **who,
                        detail={"refiled_id": new_item.id, "to_patient_id": new_item.patient_id,
                                "retracted_now": retracting, "was_read": misfiled.first_read_at is not None}),
        audit.new_event(REFILED_IN, patient_id=new_item.patient_id, target_id=new_item.id, **who,
                        detail={"refiled_from": misfiled.id}),
    ]


def _already(caller: Caller, done: incident_store.Incident, misfiled: item_store.Item, patient_id: str) -> Refiled:
    """A refile asked again (a retry, a second click): the same answer, nothing filed or sent again.
    The office's open work for the misfiled document is closed again, in case the first attempt
    stopped after its transaction."""
    if done.to_patient_id != patient_id:
        raise Conflict(N_("This document was already refiled to another patient."), code="already_refiled")
    corrections.close_open_work(caller, misfiled, clock.now())
    audit.record_for(caller, REFILE, outcome="repeated", patient_id=done.from_patient_id, target_id=done.document_id,
                     detail={"refiled_id": done.refiled_id})
    logger.info("document refile repeated", extra={"item_id": done.document_id, "refiled_id": done.refiled_id})
    return {"id": done.refiled_id}


def refile(caller: Caller, document_id: str, patient_id: str, reason: str) -> Refiled:
    """File a misfiled document to the right patient, who is notified; record the incident."""
    reason = reason.strip()
    if not reason:
        raise BadRequest(N_("Say why the document is refiled."), field="reason", code="invalid_request")
    misfiled = _misfiled(document_id)
    done = incident_store.get(misfiled.id)
    if done is not None:
        return _already(caller, done, misfiled, patient_id)
    patient = _right_patient(patient_id, misfiled)
    by = caller.actor_id or "office"
    for _ in range(_ATTEMPTS):
        now = clock.now()
        new_item = _copy_of(misfiled, patient, by, now)
        # The file first: a crash after it leaves only this copy, which the retry writes again.
        bucket.file_copy(get_settings().results_bucket, misfiled.s3_key or "", new_item.s3_key or "",
                         misfiled.content_type or "application/octet-stream")
        was_retracted = item_store.status_of(misfiled) == item_store.RETRACTED
        incident = incident_store.Incident(
            incident_store.MISFILED_DOCUMENT, misfiled.id, refiled_id=new_item.id, from_patient_id=misfiled.patient_id,
            to_patient_id=patient.id, reason=reason, recorded_by=by, recorded_at=now, misfiled_from=misfiled.created_at,
            misfiled_until=misfiled.retracted_at if was_retracted and misfiled.retracted_at else now)
        notice = notices.new_leased_item_notice(new_item, 1, now)
        if incident_store.refile(incident, misfiled, new_item, notice, _events(caller, misfiled, new_item)):
            break
        done = incident_store.get(misfiled.id)
        if done is not None:  # a second click got there first
            return _already(caller, done, misfiled, patient_id)
        misfiled = _misfiled(document_id)  # retracted or given a new file meanwhile: refiled as it is now
    else:
        raise Conflict(N_("The document changed meanwhile: try again."), code="conflict")
    closed = corrections.close_open_work(caller, misfiled, now)
    sent = notices.deliver_written(notice, patient, "refile", {"item_id": new_item.id})
    metrics.add_metric(name="DocumentRefiled", unit="Count", value=1)
    logger.info("document refiled", extra={"item_id": misfiled.id, "refiled_id": new_item.id, "notice": sent,
                                           "retracted_now": not was_retracted, "queue_entries_closed": closed})
    return {"id": new_item.id}


# ---------------------------------------------------------------- the incidents (admins)

def _viewers(events: list[audit_store.AuditEvent], names: dict[str, Any]) -> list[Viewer]:
    """Each person who opened the document, once, at their first open (events oldest first)."""
    first: dict[str, audit_store.AuditEvent] = {}
    for event in events:
        first.setdefault(event.actor_id or f"?{event.actor_role}", event)
    viewers: list[Viewer] = []
    for actor_id, event in first.items():
        account = names.get(actor_id)
        viewers.append({"name": account.name if account is not None else None, "role": event.actor_role,
                        "at": iso(event.at)})
    return viewers


def incident_json(row: incident_store.Incident, events: list[audit_store.AuditEvent],
                  names: dict[str, Any]) -> Incident:
    recorder = names.get(row.recorded_by)
    return {"document_id": row.document_id, "from_patient_id": row.from_patient_id,
            "to_patient_id": row.to_patient_id, "reason": row.reason,
            "recorded_by": recorder.name if recorder is not None else row.recorded_by,
            "recorded_at": iso(row.recorded_at), "viewed_by": _viewers(events, names)}


def incidents(caller: Caller) -> Incidents:
    """Every misfiled document, newest first, with who opened it while it was misfiled: for each,
    a Query of that document's own events in the trail; the people named are read together."""
    return {"incidents": incidents_named(caller)[0]}


def incidents_named(caller: Caller) -> tuple[list[Incident], dict[str, str]]:
    """`incidents`, and the names of the patients they name, by id (the admins' page shows them;
    they come from the same read as everyone else's names)."""
    rows = incident_store.misfiled_documents()
    reads = {row.document_id: audit_store.successes_about(row.document_id, READ_ACTIONS, row.misfiled_from,
                                                          row.misfiled_until)
             for row in rows}
    people = ({e.actor_id for events in reads.values() for e in events if e.actor_id}
              | {id_ for r in rows for id_ in (r.recorded_by, r.from_patient_id, r.to_patient_id)})
    names: dict[str, Any] = dict(import_store.accounts_by_id(people)) if people else {}
    audit.record_for(caller, "incident.list", detail={"count": len(rows)})
    patients = {id_: names[id_].name for r in rows for id_ in (r.from_patient_id, r.to_patient_id) if id_ in names}
    return [incident_json(row, reads[row.document_id], names) for row in rows], patients


def refiling(item: item_store.Item) -> Refiling:
    """What the office's page of a document says of a refile: where this misfiled document went,
    or where this refiled one came from (each with the other patient's name), or neither."""
    source = item.source.as_dict() if item.source is not None else {}
    went = incident_store.get(item.id)
    came = incident_store.get(str(source["refiled_from"])) if source.get("refiled_from") else None
    return {"to": _link(went, went.refiled_id, went.to_patient_id) if went else None,
            "from": _link(came, came.document_id, came.from_patient_id) if came else None}


def _link(incident: incident_store.Incident, document_id: str, patient_id: str) -> RefileLink:
    patient = account_store.get(patient_id)
    return {"document_id": document_id, "patient_id": patient_id, "patient_name": patient.name if patient else None,
            "reason": incident.reason, "at": iso(incident.recorded_at)}
