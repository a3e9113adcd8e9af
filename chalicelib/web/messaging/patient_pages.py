"""The patient's secure messages."""

from chalice import Blueprint

from chalicelib.i18n import N_
from chalicelib.services.messaging import threads as messaging
from chalicelib.web.framework import PATIENT, PageCtx, page
from chalicelib.web.messaging import thread_view
from chalicelib.web.messaging.categories import categories

bp = Blueprint(__name__)


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


PATIENT_SIDE = thread_view.Side(messaging.open_for_patient, messaging.reply_by_patient,
                                lambda thread_id: f"/messages/{thread_id}", "/messages", N_("Messages"))


@page(bp, "/messages/{thread_id}", ("GET", "POST"), access=PATIENT)
def thread(ctx: PageCtx, thread_id: str):
    return thread_view.answer(ctx, thread_id, PATIENT_SIDE)
