"""One page for a conversation, whoever reads it: the patient (`/messages/{id}`), the office
(`/staff/messages/{id}`) and a caregiver (`/caregiver/patients/{patient}/messages/{id}`, read only).
Each reader is a `Side`: how the thread is opened and answered (the API's own service functions),
where the page is and leads back to. One template, `message_thread.html`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.services.messaging import threads as messaging
from chalicelib.web.framework import PageCtx
from chalicelib.web.messaging.categories import category_label
from chalicelib.web.rendering import flash_key, notice_text

if TYPE_CHECKING:
    from chalice import Response

    from chalicelib.services.access.identity import Caller


@dataclass(frozen=True)
class Side:
    """Who reads the thread on this page, and how."""

    open: Callable[[Caller, str, messaging.Page], Any]  # the thread as this reader may see it (404 otherwise)
    reply: Callable[[Caller, str, str], Any] | None  # None: this reader does not answer here
    path: Callable[[str], str]  # the thread's page
    back_href: str
    back_label: str  # a catalog id (the template shows it through the catalog)
    office_view: bool = False
    # The notices a sent message leaves (a thread started, a reply), when they name the patient it
    # went to (the office's: "sent to <patient>"); None: "Your reply has been sent."
    sent_notices: tuple[str, str] | None = None


def page(ctx: PageCtx, thread_id: str, side: Side, *, caller: Caller | None = None, status: int = 200,
         errors: dict[str, str] | None = None, **context: Any) -> Response:
    """The thread (its opening is audited and records the read, as the API's), with its reply form."""
    thread = side.open(caller or ctx.caller, thread_id, messaging.paging(None, None))
    if side.sent_notices and (key := flash_key(ctx.request.headers)) in side.sent_notices:
        context.setdefault("notice", notice_text(key, ctx.language(), patient=thread.get("patient_name")))
    started_by = thread.get("started_by") or (thread["messages"][0]["author_role"] if thread["messages"] else "patient")
    context.setdefault("category", category_label(thread.get("category"), started_by))
    return ctx.render("message_thread.html", status=status, thread=thread, errors=errors or {},
                      reply_body=ctx.form.get("body", ""), reply_action=side.path(thread["id"]) if side.reply else None,
                      back_href=side.back_href, back_label=side.back_label, office_view=side.office_view, **context)


def answer(ctx: PageCtx, thread_id: str, side: Side) -> Response:
    """GET shows the thread; POST sends the reply and comes back to it ("Your reply has been sent"),
    or shows the form again with the problem beside it."""
    if ctx.request.method == "GET" or side.reply is None:
        return page(ctx, thread_id, side)
    reply = side.reply
    return ctx.submit("ReplyBody", lambda body: reply(ctx.caller, thread_id, body.body),
                      lambda status, errors: page(ctx, thread_id, side, status=status, errors=errors),
                      done=side.path(thread_id), notice=side.sent_notices[1] if side.sent_notices else "reply-sent")
