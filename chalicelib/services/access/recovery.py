"""Password recovery in two steps, so the request cannot tell a known username from an unknown one.

The request (`forgot_password`) only applies the per-client limit and queues a recovery
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
from typing import Any

from chalicelib.clock import clock
from chalicelib.errors import RateLimited
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access import ratelimit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import email_address
from chalicelib.services.accounts import phone as phone_number
from chalicelib.services.followup import notices
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import outbox, queues
from chalicelib.store import work as work_store

# The same answer whatever was asked (pages show it in the reader's language, from the catalog).
FORGOT_PASSWORD_ANSWER = N_(
    "If that username belongs to a portal account, a temporary password has been emailed to the "
    "address on file."
)
FORGOT_USERNAME_ANSWER = N_("Thank you. Someone from our office will contact you to help you sign in.")
_HOUR = 3600


def forgot_password(caller: Caller, username: str) -> str:
    """Always the same answer, after the same work: per client address too many requests get 429
    (that says nothing about any account), and every other request queues a recovery job, which
    `handle` runs later (look-up, per-account limit, the mail). The old password keeps
    working until the temporary one is used."""
    allowed, retry_after = ratelimit.hit(f"forgot-password-ip#{caller.client_ip}",
                                         get_settings().forgot_password_per_client_per_hour, _HOUR)
    if not allowed:
        audit.record_for(caller, "auth.forgot_password", outcome="rate_limited_client")
        raise RateLimited(retry_after)
    enqueue(caller, username.strip())
    return FORGOT_PASSWORD_ANSWER


def forgot_username(caller: Caller, form: dict[str, Any]) -> str:
    """The form goes to the staff forms queue whether or not anything matches."""
    if form.get("email"):
        form = {**form, "email": email_address.valid(form["email"])}
    if form.get("phone"):  # the office calls it: in E.164, as every number on file
        form = {**form, "phone": phone_number.valid(form["phone"])}
    allowed, retry_after = ratelimit.hit(f"forgot-username-ip#{caller.client_ip}",
                                         get_settings().forgot_password_per_client_per_hour, _HOUR)
    if not allowed:
        audit.record_for(caller, "forms.forgot_username", outcome="rate_limited_client")
        raise RateLimited(retry_after)
    entry_id = "form_" + secrets.token_hex(10)
    work_store.add(work_store.WorkEntry(entry_id, kind="form", created_at=clock.now(),
                                        reason="forgot_username", data={k: v for k, v in form.items() if v}))
    audit.record_for(caller, "forms.forgot_username", target_id=entry_id)
    return FORGOT_USERNAME_ANSWER


def _audit(caller: Caller, account: account_store.Account | None, *, outcome: str = "ok",
           detail: dict[str, Any] | None = None) -> None:
    """A recovery job's outcome, with the account it named when there is one."""
    if account is None:
        audit.record_for(caller, "auth.forgot_password", outcome=outcome, detail=detail)
    else:
        audit.record_about(caller, "auth.forgot_password", account, outcome=outcome, detail=detail, as_actor=True)


def enqueue(caller: Caller, username: str) -> None:
    """Queue one recovery job for whatever username was typed."""
    job = {"id": secrets.token_hex(12), "username": username, "client_ip": caller.client_ip}
    queues.enqueue_recovery_job(job)


def _refusal(account: account_store.Account | None) -> str | None:
    """Why no mail goes out for this job (None: it does)."""
    if account is None:
        return "unknown_user"
    allowed, _ = ratelimit.hit(f"forgot-password-account#{account.id}",
                               get_settings().forgot_password_per_account_per_hour, _HOUR)
    if not allowed:
        return "rate_limited_account"
    if account.email_status == "bad":
        return "bad_email"
    if account.disabled_at:
        return "access_closed"
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
        _audit(caller, account, outcome=refusal)
        return refusal
    assert account is not None  # no account is a refusal (unknown_user)
    notice = notices.new_leased_password_reset(account.id, job["id"], clock.now())
    if not outbox.put_once(notice):
        return "duplicate"
    mail = notices.deliver(notice, account, leased=True)
    _audit(caller, account, detail={"mail": mail})
    return "ok"
