"""Secure messages, the office's side: one shared inbox for every staff member."""

from chalice import Blueprint

from chalicelib.api.http import STAFF, Ctx, route
from chalicelib.api.messaging.messages import paging
from chalicelib.services.answers import Created
from chalicelib.services.messaging import threads as messaging
from chalicelib.services.messaging.answers import OfficeInbox, OfficeThread, OfficeThreads

bp = Blueprint(__name__)


@route(bp, "/api/staff/inbox", access=STAFF, response=OfficeInbox, query="PagingQuery")
def inbox(ctx: Ctx):
    """Threads waiting for the office first, then the others, newest first (`?limit=&cursor=`)."""
    return messaging.office_inbox(ctx.caller, paging(ctx))


@route(bp, "/api/staff/messages/{thread_id}", access=STAFF, response=OfficeThread, query="PagingQuery",
       responses={404: "not_found"})
def open_thread(ctx: Ctx, thread_id: str):
    """A thread's messages, oldest first (`?limit=&cursor=`); marks it read for the office."""
    return messaging.open_for_office(ctx.caller, thread_id, paging(ctx))


@route(bp, "/api/staff/messages/{thread_id}", "POST", access=STAFF, response=Created, body="ReplyBody", status=201,
       responses={404: "not_found"})
def reply(ctx: Ctx, thread_id: str):
    """Reply to a patient: the patient gets a notice without content, and follow-up applies."""
    return messaging.reply_by_office(ctx.caller, thread_id, ctx.body.body)


@route(bp, "/api/staff/patients/{patient_id}/messages", "POST", access=STAFF, response=Created, body="OfficeThreadBody",
       status=201, responses={404: "not_found"})
def start_thread(ctx: Ctx, patient_id: str):
    """Start a thread with a patient; it is also their item, unread until they open it."""
    b = ctx.body
    return messaging.start_by_office(ctx.caller, patient_id, b.subject, b.body, b.category)


@route(bp, "/api/staff/patients/{patient_id}/messages", access=STAFF, response=OfficeThreads, query="PagingQuery",
       responses={404: "not_found"})
def patient_threads(ctx: Ctx, patient_id: str):
    """One patient's threads, newest first (`?limit=&cursor=`)."""
    return messaging.threads_of_patient(ctx.caller, patient_id, paging(ctx))
