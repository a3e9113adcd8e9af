"""Caregivers (proxy access): a patient's grants (give, list, end), the office's grant for a
patient and its end, and the patient's "who viewed my record"."""

from chalice import Blueprint

from chalicelib.api.answers import Proxies
from chalicelib.api.http import PATIENT, STAFF, Ctx, route
from chalicelib.services.accounts import lifecycle
from chalicelib.services.answers import Created
from chalicelib.services.caregivers import grants as caregivers
from chalicelib.services.caregivers.answers import AccessLog, CaregiverAccount, OfficeProxies

bp = Blueprint(__name__)


def _grant(ctx: Ctx, patient_id: str) -> Created:
    b = ctx.body
    return caregivers.grant(ctx.caller, patient_id, name=b.name, email=b.email, relationship=b.relationship,
                            scope=b.scope, expires_on=b.expires_on)


@route(bp, "/api/me/proxies", "POST", access=PATIENT, body="ProxyBody", response=Created, status=201,
       responses={429: "rate_limited: too many grants this hour, or mails to caregivers today"})
def grant_proxy(ctx: Ctx):
    """Give a caregiver access to my records (`read` or `read_and_message`, until `expires_on`). The
    answer is the same whatever the address: one that signs in to another kind of account gets a
    grant that lets no one in (the office sees why)."""
    return _grant(ctx, ctx.caller.own_patient_id)


@route(bp, "/api/me/proxies", access=PATIENT, response=Proxies)
def list_proxies(ctx: Ctx):
    """My caregivers, with each grant's status (active, expired, revoked)."""
    return {"proxies": caregivers.list_for_patient(ctx.caller)}


@route(bp, "/api/me/proxies/{grant_id}", "DELETE", access=PATIENT, status=204, responses={404: "not_found"})
def revoke_proxy(ctx: Ctx, grant_id: str):
    """End a caregiver's access at once."""
    caregivers.revoke(ctx.caller, grant_id)


@route(bp, "/api/staff/patients/{patient_id}/proxies", "POST", access=STAFF, body="ProxyBody", response=Created,
       status=201, responses={404: "not_found", 429: "rate_limited"})
def staff_grant_proxy(ctx: Ctx, patient_id: str):
    """The office gives a caregiver (a child's parent) access to a patient's records."""
    return _grant(ctx, patient_id)


@route(bp, "/api/staff/patients/{patient_id}/proxies/{grant_id}", "DELETE", access=STAFF, status=204,
       responses={404: "not_found"})
def staff_revoke_proxy(ctx: Ctx, patient_id: str, grant_id: str):
    """The office ends a caregiver's access to a patient's records at once (the patient is mailed)."""
    caregivers.revoke_for_patient(ctx.caller, patient_id, grant_id)


@route(bp, "/api/me/access-log", access=PATIENT, response=AccessLog, query="CursorQuery")
def access_log(ctx: Ctx):
    """Every view of my records by anyone else (staff, admins, caregivers), newest first (`?cursor=`)."""
    return caregivers.access_log(ctx.caller, ctx.query.get("cursor") or None)


@route(bp, "/api/staff/patients/{patient_id}/proxies", access=STAFF, response=OfficeProxies, responses={404: "not_found"})
def staff_list_proxies(ctx: Ctx, patient_id: str):
    """A patient's caregivers as the office sees them: each grant's status (`unusable`, with the
    reason, for an address that signs in to another kind of account) and whether the caregiver's
    account is open. In the patient's "who viewed my record"."""
    return {"proxies": caregivers.office_grants(ctx.caller, patient_id)}


@route(bp, "/api/staff/caregivers/{caregiver_id}/access", "PUT", access=STAFF, body="PatientAccessBody",
       response=CaregiverAccount, responses={404: "not_found"})
def caregiver_access(ctx: Ctx, caregiver_id: str):
    """Close or reopen a caregiver's account, with the reason: closing ends its sessions at once and
    refuses its sign-in, so none of its grants is used while it is closed."""
    return lifecycle.set_caregiver_access(ctx.caller, caregiver_id, active=ctx.body.active, reason=ctx.body.reason)
