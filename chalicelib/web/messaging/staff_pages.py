"""The office's inbox, its threads, and a message started for a patient."""


from chalice import Blueprint

from chalicelib.services.accounts import registry as accounts
from chalicelib.services.messaging import threads as messaging
from chalicelib.web.framework import STAFF, PageCtx, page
from chalicelib.web.messaging.patient_pages import categories

bp = Blueprint(__name__)


@page(bp, "/staff/inbox", access=STAFF)
def inbox(ctx: PageCtx):
    return ctx.render("staff_inbox.html", inbox=messaging.office_inbox(ctx.caller, messaging.paging(None, None)))


def _office_thread(ctx: PageCtx, thread_id: str, status: int = 200, errors: dict | None = None):
    thread = messaging.open_for_office(ctx.caller, thread_id, messaging.paging(None, None))
    return ctx.render("message_thread.html", status=status, thread=thread, errors=errors or {},
                      reply_body=ctx.form.get("body", ""), reply_action=f"/staff/messages/{thread['id']}",
                      back_href="/staff/inbox", back_label="Office inbox", office_view=True)


@page(bp, "/staff/messages/{thread_id}", ("GET", "POST"), access=STAFF)
def office_thread(ctx: PageCtx, thread_id: str):
    if ctx.request.method == "GET":
        return _office_thread(ctx, thread_id)
    return ctx.submit("ReplyBody", lambda body: messaging.reply_by_office(ctx.caller, thread_id, body.body),
                      lambda status, errors: _office_thread(ctx, thread_id, status, errors),
                      done=f"/staff/messages/{thread_id}", notice="reply-sent")


@page(bp, "/staff/patients/{patient_id}/message", ("GET", "POST"), access=STAFF)
def message_patient(ctx: PageCtx, patient_id: str):
    patient = accounts.get_patient(patient_id)

    def compose(status: int = 200, errors: dict | None = None):
        return ctx.render("message_new.html", status=status, errors=errors or {}, values=ctx.form,
                          action=f"/staff/patients/{patient.id}/message", categories=categories(),
                          recipient=patient.name)

    if ctx.request.method == "GET":
        return compose()
    return ctx.submit(
        "OfficeThreadBody", lambda body: messaging.start_by_office(ctx.caller, patient.id, body.subject, body.body,
                                                                 body.category), compose,
        done=lambda started: f"/staff/messages/{started['id']}", notice="message-sent")
