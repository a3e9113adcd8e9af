"""Caregivers' pages: a caregiver's patients, one patient's records under a banner naming whose they
are; a patient's caregivers (grant, list, end) and "who viewed my record" on My Profile; the
office's grant and its end from a patient's page. Which patient a caregiver reaches is decided
where the API decides it (`frontdoor.acting_for`, which reads the grant)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from chalice import Blueprint

from chalicelib.errors import BadRequest
from chalicelib.frontdoor import PROXY, acting_for
from chalicelib.i18n import N_
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import lifecycle
from chalicelib.services.accounts.registry import get_patient
from chalicelib.services.caregivers import grants as caregivers
from chalicelib.services.messaging import threads as messaging
from chalicelib.services.publication import documents
from chalicelib.web.framework import PATIENT, SIGNED_IN, STAFF, PageCtx, field_errors, page, redirect
from chalicelib.web.messaging import thread_view

bp = Blueprint(__name__)

SCOPE_LABELS = {"read": N_("Read only"), "read_and_message": N_("Read and message")}  # templates show them through the catalog
ACTION_LABELS = {"patient.view": N_("Viewed your record"), "document.view": N_("Opened a document"),
                 "document.staff_view": N_("Opened a document (office view)"), "document.file_link": N_("Opened a file"),
                 "message.open": N_("Read a message"), "message.list": N_("Looked at your messages"),
                 "item.list": N_("Looked at your items"),
                 "patient.caregivers_view": N_("Looked at your caregivers (office view)"),
                 "audit.view": N_("Read your record's audit trail")}


def _only_caregivers(ctx: PageCtx) -> None:
    if ctx.signed_in.role != PROXY:
        from chalicelib.errors import NotFound

        raise NotFound(N_("There is no such page for your account."))


def _acting(ctx: PageCtx, patient_id: str, needs: str | None = None) -> tuple[Caller, Mapping[str, Any]]:
    """The caller acting for `patient_id` (the same grant check as the API's: 404 without a live
    grant), and that patient as the banner names them."""
    _only_caregivers(ctx)
    acting, scope, _ = acting_for(ctx.signed_in, patient_id, needs=needs)
    assert acting is not None  # a caregiver's request (checked above): the patient a live grant names
    patient_id = acting
    cared = next((p for p in caregivers.patients_of(ctx.signed_in.account_id) if p["id"] == patient_id), None)
    caller = replace(ctx.caller, acting_for=patient_id, scope=scope)
    return caller, cared or {"id": patient_id, "name": "", "scope": scope}


def _base(patient_id: str) -> str:
    return f"/caregiver/patients/{quote(patient_id, safe='')}"


@page(bp, "/caregiver", access=SIGNED_IN)
def caregiver_home(ctx: PageCtx):
    _only_caregivers(ctx)
    return ctx.render("caregiver_home.html", patients=caregivers.patients_of(ctx.signed_in.account_id),
                      scope_labels=SCOPE_LABELS)


@page(bp, "/caregiver/patients/{patient_id}", access=SIGNED_IN)
def caregiver_patient(ctx: PageCtx, patient_id: str):
    caller, patient = _acting(ctx, patient_id)
    base = _base(patient_id)
    folders = {"document": "documents", "result": "results"}
    listed = [{**item, "href": f"{base}/{folders.get(item['kind'], 'messages')}/{item['id']}"}
              for item in caregivers.items_for(caller)]
    threads = messaging.threads_for_patient(caller, messaging.paging(None, None))["threads"]
    return ctx.render("caregiver_patient.html", patient=patient, items=listed, threads=threads, base=base,
                      can_message=patient["scope"] == "read_and_message")


@page(bp, "/caregiver/patients/{patient_id}/documents/{document_id}", access=SIGNED_IN)
def caregiver_document(ctx: PageCtx, patient_id: str, document_id: str):
    caller, patient = _acting(ctx, patient_id)
    return ctx.render("caregiver_document.html", patient=patient, base=_base(patient_id),
                      doc=documents.open_document(caller, document_id))


@page(bp, "/caregiver/patients/{patient_id}/documents/{document_id}/file", access=SIGNED_IN)
def caregiver_document_file(ctx: PageCtx, patient_id: str, document_id: str):
    caller, _ = _acting(ctx, patient_id)
    return redirect(documents.file_link(caller, document_id)["url"])


@page(bp, "/caregiver/patients/{patient_id}/messages/{thread_id}", access=SIGNED_IN)
def caregiver_thread(ctx: PageCtx, patient_id: str, thread_id: str):
    caller, patient = _acting(ctx, patient_id)
    base = _base(patient_id)
    reading = thread_view.Side(messaging.open_for_patient, None, lambda thread_id: f"{base}/messages/{thread_id}",
                               base, "")
    return thread_view.page(ctx, thread_id, reading, caller=caller, patient=patient)


def _compose(ctx: PageCtx, patient: Mapping[str, Any], status: int = 200, errors: dict | None = None):
    return ctx.render("caregiver_message_new.html", status=status, patient=patient, base=_base(patient["id"]),
                      errors=errors or {}, values=ctx.form)


@page(bp, "/caregiver/patients/{patient_id}/messages/new", ("GET", "POST"), access=SIGNED_IN)
def caregiver_new_message(ctx: PageCtx, patient_id: str):
    caller, patient = _acting(ctx, patient_id, needs=caregivers.MESSAGE)
    if ctx.request.method == "GET":
        return _compose(ctx, patient)
    return ctx.submit(
        "NewThreadBody", lambda body: messaging.start_by_patient(caller, body.subject, body.body, body.category),
        lambda status, errors: _compose(ctx, patient, status, errors),
        done=lambda started: f"{_base(patient_id)}/messages/{started['id']}", notice="message-sent")


# ---------------------------------------------------------------- the patient's side

def _caregivers_page(ctx: PageCtx, status: int = 200, errors: dict | None = None):
    return ctx.render("profile_caregivers.html", status=status, errors=errors or {}, values=ctx.form,
                      proxies=caregivers.list_for_patient(ctx.caller), scope_labels=SCOPE_LABELS)


@page(bp, "/profile/caregivers", ("GET", "POST"), access=PATIENT)
def patient_caregivers(ctx: PageCtx):
    if ctx.request.method == "GET":
        return _caregivers_page(ctx)
    return ctx.submit(
        "ProxyBody", lambda b: caregivers.grant(ctx.caller, ctx.caller.own_patient_id, name=b.name, email=b.email,
                                                relationship=b.relationship, scope=b.scope, expires_on=b.expires_on),
        lambda status, errors: _caregivers_page(ctx, status, errors),
        done="/profile/caregivers", notice="caregiver-granted")


@page(bp, "/profile/caregivers/{grant_id}/revoke", ("POST",), access=PATIENT)
def patient_revoke_caregiver(ctx: PageCtx, grant_id: str):
    caregivers.revoke(ctx.caller, grant_id)
    return redirect("/profile/caregivers", notice="caregiver-revoked")


@page(bp, "/profile/access-log", access=PATIENT)
def access_log(ctx: PageCtx):
    answer = caregivers.access_log(ctx.caller, ctx.query.get("cursor") or None)
    return ctx.render("access_log.html", events=answer["events"], next_cursor=answer["next_cursor"],
                      action_labels=ACTION_LABELS)


# ---------------------------------------------------------------- the office

def _staff_grant_page(ctx: PageCtx, patient_id: str, status: int = 200, errors: dict | None = None,
                      access_errors: dict | None = None):
    patient = get_patient(patient_id)
    return ctx.render("staff_caregivers.html", status=status, errors=errors or {}, values=ctx.form,
                      patient={"id": patient.id, "name": patient.name}, access_errors=access_errors or {},
                      proxies=caregivers.office_grants(ctx.caller, patient.id), scope_labels=SCOPE_LABELS)


@page(bp, "/staff/patients/{patient_id}/caregivers", ("GET", "POST"), access=STAFF)
def staff_caregivers(ctx: PageCtx, patient_id: str):
    if ctx.request.method == "GET":
        return _staff_grant_page(ctx, patient_id)
    return ctx.submit(
        "ProxyBody", lambda b: caregivers.grant(ctx.caller, patient_id, name=b.name, email=b.email,
                                                relationship=b.relationship, scope=b.scope, expires_on=b.expires_on),
        lambda status, errors: _staff_grant_page(ctx, patient_id, status, errors),
        done=f"/staff/patients/{quote(patient_id, safe='')}/caregivers", notice="caregiver-granted")


@page(bp, "/staff/patients/{patient_id}/caregivers/{grant_id}/revoke", ("POST",), access=STAFF)
def staff_revoke_caregiver(ctx: PageCtx, patient_id: str, grant_id: str):
    caregivers.revoke_for_patient(ctx.caller, patient_id, grant_id)
    return redirect(f"/staff/patients/{quote(patient_id, safe='')}/caregivers", notice="caregiver-revoked")


@page(bp, "/staff/patients/{patient_id}/caregivers/{caregiver_id}/access", ("POST",), access=STAFF)
def staff_caregiver_access(ctx: PageCtx, patient_id: str, caregiver_id: str):
    """Close (or reopen) a caregiver's account, from the caregivers page of one of their patients."""
    [choice] = ctx.required("active", choices=("true", "false"))
    try:
        lifecycle.set_caregiver_access(ctx.caller, caregiver_id, active=choice == "true",
                                       reason=ctx.form.get("reason", ""))
    except BadRequest as exc:
        return _staff_grant_page(ctx, patient_id, exc.status, access_errors=field_errors(exc, ctx.language()))
    notice = "caregiver-reopened" if choice == "true" else "caregiver-closed"
    return redirect(f"/staff/patients/{quote(patient_id, safe='')}/caregivers", notice=notice)
