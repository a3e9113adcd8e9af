"""Secure messages, the patient's side: their threads with the office."""

from chalice import Blueprint

from chalicelib.api.http import PATIENT_RECORD, Ctx, route
from chalicelib.services.answers import Created
from chalicelib.services.messaging import threads as messaging
from chalicelib.services.messaging.answers import Thread, Threads

bp = Blueprint(__name__)


def paging(ctx: Ctx) -> messaging.Page:
    """`?limit=&cursor=` of every message list and thread history."""
    return messaging.paging(ctx.query.get("limit"), ctx.query.get("cursor"))


@route(bp, "/api/messages", access=PATIENT_RECORD, response=Threads, query="PatientRecordPagingQuery",
       responses={404: "not_found"})
def list_threads(ctx: Ctx):
    """The patient's threads, newest first, with unread counts (`?limit=&cursor=`)."""
    return messaging.threads_for_patient(ctx.caller, paging(ctx))


@route(bp, "/api/messages", "POST", access=PATIENT_RECORD, response=Created, body="NewThreadBody", status=201,
       query="PatientRecordQuery", needs="message", responses={404: "not_found"})
def start_thread(ctx: Ctx):
    """Write to the office: a new thread; the office is told only that a message arrived."""
    b = ctx.body
    return messaging.start_by_patient(ctx.caller, b.subject, b.body, b.category, b.item_id)


@route(bp, "/api/messages/{thread_id}", access=PATIENT_RECORD, response=Thread, query="PatientRecordPagingQuery",
       responses={404: "not_found"})
def open_thread(ctx: Ctx, thread_id: str):
    """A thread's messages, oldest first (`?limit=&cursor=`); opening it records the read receipt."""
    return messaging.open_for_patient(ctx.caller, thread_id, paging(ctx))


@route(bp, "/api/messages/{thread_id}", "POST", access=PATIENT_RECORD, response=Created, body="ReplyBody", status=201,
       query="PatientRecordQuery", needs="message", responses={404: "not_found"})
def reply(ctx: Ctx, thread_id: str):
    """Reply in one of the patient's threads."""
    return messaging.reply_by_patient(ctx.caller, thread_id, ctx.body.body)
