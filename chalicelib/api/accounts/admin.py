"""Admins: staff accounts and the audit trail."""

from chalice import Blueprint

from chalicelib.api.answers import AuditTrail
from chalicelib.api.http import ADMIN, Ctx, route
from chalicelib.errors import BadRequest
from chalicelib.i18n import N_
from chalicelib.services import audit, paging
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.accounts.answers import Account

bp = Blueprint(__name__)


@route(bp, "/api/admin/staff", "POST", access=ADMIN, response=Account, body="StaffBody", status=201,
       responses={409: "username_taken"})
def create_staff(ctx: Ctx):
    """Create a staff account; the new member is emailed a temporary password."""
    b = ctx.body
    account = accounts.create_staff(ctx.caller, username=b.username, email=b.email, name=b.name, role=b.role,
                                   npi=b.npi)
    return accounts.account_json(account)


@route(bp, "/api/staff/audit", access=ADMIN, response=AuditTrail, query="AuditQuery")
def audit_trail(ctx: Ctx):
    """Audit events for one patient (`?patient_id=`) or one staff member (`?actor_id=`), newest
    first, a page at a time (`?limit=` 1..500, 500 by default; `?cursor=` the page before's `next_cursor`)."""
    patient_id, actor_id = ctx.query.get("patient_id"), ctx.query.get("actor_id")
    if not patient_id and not actor_id:
        raise BadRequest(N_("patient_id or actor_id: give at least one."), code="invalid_request")
    limit = paging.page_size(ctx.query.get("limit"), default=audit.TRAIL_PAGE, maximum=audit.TRAIL_PAGE)
    events, next_cursor = audit.read_trail(ctx.caller, patient_id=patient_id, of_actor_id=actor_id, limit=limit,
                                           cursor=ctx.query.get("cursor") or None)
    return {"events": events, "next_cursor": next_cursor}
