"""The office's inbox, its threads, and a message started for a patient."""


from chalice import Blueprint

from chalicelib.i18n import N_
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.messaging import threads as messaging
from chalicelib.web.framework import STAFF, PageCtx, page
from chalicelib.web.messaging import thread_view
from chalicelib.web.messaging.categories import categories, category_label

bp = Blueprint(__name__)


@page(bp, "/staff/inbox", access=STAFF)
def inbox(ctx: PageCtx):
    return ctx.render("staff_inbox.html", inbox=messaging.office_inbox(ctx.caller, messaging.paging(None, None)),
                      category_label=category_label)


OFFICE_SIDE = thread_view.Side(messaging.open_for_office, messaging.reply_by_office,
                               lambda thread_id: f"/staff/messages/{thread_id}", "/staff/inbox", N_("Office inbox"),
                               office_view=True, sent_notices=("office-message-sent", "office-reply-sent"))


@page(bp, "/staff/messages/{thread_id}", ("GET", "POST"), access=STAFF)
def office_thread(ctx: PageCtx, thread_id: str):
    return thread_view.answer(ctx, thread_id, OFFICE_SIDE)


@page(bp, "/staff/patients/{patient_id}/message", ("GET", "POST"), access=STAFF)
def message_patient(ctx: PageCtx, patient_id: str):
    patient = accounts.get_patient(patient_id)

    def compose(status: int = 200, errors: dict | None = None):
        return ctx.render("message_new.html", status=status, errors=errors or {}, values=ctx.form,
                          action=f"/staff/patients/{patient.id}/message", categories=categories("office"),
                          recipient=patient.name)

    if ctx.request.method == "GET":
        return compose()
    return ctx.submit(
        "OfficeThreadBody", lambda body: messaging.start_by_office(ctx.caller, patient.id, body.subject, body.body,
                                                                 body.category), compose,
        done=lambda started: f"/staff/messages/{started['id']}", notice="office-message-sent")
