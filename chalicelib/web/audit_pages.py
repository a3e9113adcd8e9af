"""Admins' audit trail."""


from chalice import Blueprint

from chalicelib.services import audit
from chalicelib.web.framework import ADMIN, PageCtx, page

bp = Blueprint(__name__)


@page(bp, "/admin/audit", access=ADMIN)
def audit_trail(ctx: PageCtx):
    patient_id, actor_id = ctx.query.get("patient_id", "").strip(), ctx.query.get("actor_id", "").strip()
    events, next_cursor = None, None
    if patient_id or actor_id:
        events, next_cursor = audit.read_trail(ctx.caller, patient_id=patient_id or None, of_actor_id=actor_id or None,
                                               cursor=ctx.query.get("cursor") or None)
    return ctx.render("admin_audit.html", errors={}, events=events, patient_id=patient_id, actor_id=actor_id,
                      next_cursor=next_cursor)
