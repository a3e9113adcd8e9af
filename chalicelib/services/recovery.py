"""Password recovery in two steps, so the request cannot tell a known username from an unknown one.

The request (`accounts.forgot_password`) only applies the per-client limit and queues a recovery
job: the same DynamoDB and SQS calls whatever the username. The job's handler, run from the
recovery queue, looks the account up, applies the per-account limit and the bad-email rule, and
mails a temporary password through the outbox (made there, never in the job: the job carries
only what the visitor typed and where from). A job that fails before its outbox row exists is
delivered again by SQS (and kept in the dead-letter queue after too many tries); once the row
exists, the outbox's lease and retry schedule send it exactly once.
"""

from __future__ import annotations

import json
import secrets
from functools import cache

from chalicelib import aws
from chalicelib.clock import clock
from chalicelib.services import accounts, notices, ratelimit
from chalicelib.services.accounts import Caller
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import outbox


@cache
def _queue_url(queue_name: str) -> str:
    return aws.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]


def enqueue(caller: Caller, username: str) -> None:
    """Queue one recovery job for whatever username was typed."""
    job = {"id": secrets.token_hex(12), "username": username, "client_ip": caller.client_ip}
    aws.client("sqs").send_message(QueueUrl=_queue_url(get_settings().recovery_queue_name), MessageBody=json.dumps(job))


def _refusal(account: account_store.Account | None) -> str | None:
    """Why no mail goes out for this job (None: it does)."""
    if account is None:
        return "unknown_user"
    allowed, _ = ratelimit.hit(f"forgot-password-account#{account.id}",
                               get_settings().forgot_password_per_account_per_hour, 3600)
    if not allowed:
        return "rate_limited_account"
    if account.email_status == "bad":
        return "bad_email"
    return None


def handle(body: str) -> str:
    """Run one recovery job; returns its outcome (what the audit trail records)."""
    job = json.loads(body)
    caller = Caller(None, job.get("client_ip"))
    notice_id = f"{notices.PASSWORD_RESET}#{job['id']}"
    if outbox.get(notice_id) is not None:
        return "duplicate"  # a job delivered twice: its mail is the outbox's now
    username = str(job.get("username") or "").strip()
    account = account_store.find_by_username(username) if username else None
    refusal = _refusal(account)
    if refusal is not None:
        accounts.audit_forgot_password(caller, account, outcome=refusal)
        return refusal
    notice = notices.new_leased_password_reset(account.id, job["id"], clock.now())
    if not outbox.put_once(notice):
        return "duplicate"
    mail = notices.deliver(notice, account, leased=True)
    accounts.audit_forgot_password(caller, account, detail={"mail": mail})
    return "ok"
