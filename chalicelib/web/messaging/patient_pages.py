"""The patient's secure messages."""

from chalice import Blueprint

from chalicelib.i18n import N_
from chalicelib.services.messaging import threads as messaging
from chalicelib.web.framework import PATIENT, PageCtx, page

bp = Blueprint(__name__)


CATEGORY_LABELS = {
    "results_question": N_("A question about my results"),
    "prescription": N_("Prescription"),
    "billing": N_("Billing"),
    "appointment": N_("Appointment"),
    "other": N_("Something else"),
}


def categories() -> list[tuple[str, str]]:
    return [(value, CATEGORY_LABELS.get(value, value.replace("_", " ").capitalize())) for value in messaging.CATEGORIES]


@page(bp, "/messages", access=PATIENT)
def threads(ctx: PageCtx):
    answer = messaging.threads_for_patient(ctx.caller, messaging.paging(None, None))
    return ctx.render("messages.html", threads=answer["threads"])


def _compose(ctx: PageCtx, status: int = 200, errors: dict | None = None):
    values = ctx.form or {"category": ctx.query.get("category", ""), "item_id": ctx.query.get("item_id", "")}
    if values.get("item_id") and not values.get("category"):
        values["category"] = "results_question"
    about = messaging.item_to_ask_about(ctx.caller, values["item_id"]) if values.get("item_id") else None
    return ctx.render("message_new.html", status=status, errors=errors or {}, values=values, action="/messages/new",
                      categories=categories(), about=about)


@page(bp, "/messages/new", ("GET", "POST"), access=PATIENT)
def new_thread(ctx: PageCtx):
    if ctx.request.method == "GET":
        return _compose(ctx)
    return ctx.submit(
        "NewThreadBody", lambda body: messaging.start_by_patient(ctx.caller, body.subject, body.body, body.category,
                                                                 body.item_id),
        lambda status, errors: _compose(ctx, status, errors),
        done=lambda started: f"/messages/{started['id']}", notice="message-sent")


def _thread(ctx: PageCtx, thread_id: str, status: int = 200, errors: dict | None = None):
    thread = messaging.open_for_patient(ctx.caller, thread_id, messaging.paging(None, None))
    return ctx.render("message_thread.html", status=status, thread=thread, errors=errors or {},
                      reply_body=ctx.form.get("body", ""), reply_action=f"/messages/{thread['id']}",
                      back_href="/messages", back_label="Messages", office_view=False)


@page(bp, "/messages/{thread_id}", ("GET", "POST"), access=PATIENT)
def thread(ctx: PageCtx, thread_id: str):
    if ctx.request.method == "GET":
        return _thread(ctx, thread_id)
    return ctx.submit("ReplyBody", lambda body: messaging.reply_by_patient(ctx.caller, thread_id, body.body),
                      lambda status, errors: _thread(ctx, thread_id, status, errors),
                      done=f"/messages/{thread_id}", notice="reply-sent")
