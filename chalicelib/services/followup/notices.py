"""Item notices: the email and the text message that say "you have a new item in your portal",
and nothing medical.

A notice goes by each channel the patient chose that works now (`contact.channels`): email, text
messages (SMS), or both; re-notices go the same ways. Its text goes first and is recorded on the
notice's row (`text_status`), so retrying the email never texts twice. Before each text, SNS's
opted-out list is asked (a STOP reply turns texts off on the record); texts are limited per patient
per day (TEXTS_PER_PATIENT_PER_DAY) and in spend per month (SMS_MONTHLY_SPEND_LIMIT_USD, counted
at SMS_PRICE_USD a message part). A text SNS refuses for good is put on the staff queue as a failed
notice, as a mail SES refuses is.

Every notice is an outbox row with a deterministic id (`<item>#<round>#<number>`) written before
it is sent, so a notice is queued once however often publication or the sweep runs, and a
claimed attempt is sent by one sender only. A patient who has never signed in gets a fresh
temporary password in each notice (the earlier ones keep working until they expire, the newest
three at most; using any one voids the rest).

A password reset is an outbox row too (`password_reset#<job>`, one per recovery job), sent and
retried the same way; each attempt carries a fresh temporary password.

The office's "a patient wrote" alert is an outbox row per window of OFFICE_ALERT_MINUTES
(`office-alert#<window start>`), written in the patient's message transaction and due at the
window's end (a message that comes as a sender takes its window's row gets a row of its own
instead, so no message is covered by a mail that left before it). The schedule sends it: the
patient's request never waits on SES, many messages make one email, and a run that finds
several alert rows due sends one email for all of them. It says only that a patient wrote,
with a link to the staff inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.mail import sender, texts
from chalicelib.observability import failure, logger, metrics
from chalicelib.services.access import ratelimit, temporary_passwords
from chalicelib.services.accounts import contact
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import counters, outbox
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store
from chalicelib.store.items import Item

ITEM_NOTICE = "item_notice"
PASSWORD_RESET = "password_reset"
OFFICE_NEW_MESSAGE = "office_new_message"  # the kind names its template
# "A lab result with a critical value needs a call" (nothing medical): one per result version.
OFFICE_CRITICAL_RESULT = "office_critical_result"
# "A lab result needing a call has waited an hour": to each admin, once per critical-result entry.
ADMIN_CRITICAL_REMINDER = "admin_critical_reminder"
# Who an admin reminder goes to when the clinic has no admin who can take it: the office's address
# (a reminder about a critical value goes to someone, never to no one). No account has this id.
OFFICE_RECIPIENT = "office"
MAX_SEND_ATTEMPTS = 8
_BACKOFF_BASE = timedelta(seconds=30)
_SEND_LEASE = timedelta(minutes=5)


def notice_id(item: Item, number: int) -> str:
    return f"{item.id}#{int(item.round or 0)}#{number}"


def item_notice_ids(item: Item) -> list[str]:
    """The ids every notice of the item's rounds so far may have had (each round sends at most
    MAX_NOTICES, or as many as its count says)."""
    per_round = max(get_settings().max_notices, int(item.notices_sent or 0))
    return [f"{item.id}#{r}#{n}" for r in range(int(item.round or 0) + 1) for n in range(1, per_round + 1)]


def new_item_notice(item: Item, number: int, now: datetime) -> outbox.Notice:
    """The outbox row for notice `number` of the item's current round (not yet saved), so a
    caller can write it in the same transaction as the item."""
    return outbox.Notice(notice_id(item, number), account_id=item.patient_id, kind=ITEM_NOTICE,
                         item_id=item.id, item_kind=item.kind, status="pending", attempts=0, created_at=now)


def new_leased_item_notice(item: Item, number: int, now: datetime) -> outbox.Notice:
    """Like `new_item_notice`, but already taken for its first attempt by the caller, who writes
    it in its transaction and then sends it with `deliver(notice, account, leased=True)`."""
    return outbox.leased(new_item_notice(item, number, now), now + _SEND_LEASE)


def new_leased_password_reset(account_id: str, job_id: str, now: datetime) -> outbox.Notice:
    """The outbox row of one recovery job's mail (not yet saved), taken for its first attempt:
    a job handled twice finds its row and mails once."""
    notice = outbox.Notice(f"{PASSWORD_RESET}#{job_id}", account_id=account_id, kind=PASSWORD_RESET,
                           status="pending", attempts=0, created_at=now)
    return outbox.leased(notice, now + _SEND_LEASE)


def office_alert_window(now: datetime) -> outbox.OfficeAlert:
    """The alert of the window `now` falls in, due at the window's end."""
    window = timedelta(minutes=get_settings().office_alert_minutes)
    start = datetime.fromtimestamp(now.timestamp() // window.total_seconds() * window.total_seconds(), tz=now.tzinfo)
    return outbox.OfficeAlert(f"{outbox.OFFICE_ALERT_PREFIX}{iso(start)}", OFFICE_NEW_MESSAGE, start + window)


def office_alerts(now: datetime, message_id: str) -> list[outbox.OfficeAlert]:
    """The alerts a patient message may join, in order: its window's, then (for a message stored
    just as a sender took its window's alert) one of its own, due as the window's was, so the
    next run of the schedule sends it."""
    window = office_alert_window(now)
    return [window, outbox.OfficeAlert(f"{window.id}#{message_id}", OFFICE_NEW_MESSAGE, window.due_at)]


def queue_item_notice(item: Item, number: int) -> outbox.Notice | None:
    """Write the outbox row once; None when it was already queued."""
    notice = new_item_notice(item, number, clock.now())
    return notice if outbox.put_once(notice) else None


def _backoff(attempts: int) -> timedelta:
    return _BACKOFF_BASE * (1 << min(attempts, 8))


def deliver(notice: outbox.Notice, account: account_store.Account | None = None, *, leased: bool = False) -> str:
    """Send one pending notice. Returns sent | retry | failed | suppressed | taken.
    A caller that already holds the patient's account passes it (one read fewer); `leased` when
    the notice was written already taken (`new_leased_item_notice`), so no second claim."""
    if notice.status != "pending":
        return notice.status
    now = clock.now()
    if notice.kind in (OFFICE_NEW_MESSAGE, OFFICE_CRITICAL_RESULT):
        if not leased and not outbox.claim_attempt(notice, lease_until=now + _SEND_LEASE):
            return "taken"
        if notice.kind == OFFICE_CRITICAL_RESULT:
            return _send(notice, get_settings().office_email, {"queue_url": _office_queue_url()}, now)
        return _send(notice, get_settings().office_email, {"inbox_url": _office_inbox_url()}, now)
    if notice.kind == ADMIN_CRITICAL_REMINDER:
        return _remind_admin(notice, account, now, leased)
    if account is None or account.id != notice.account_id:
        account = account_store.get(notice.account_id)
    if account is None:
        outbox.mark_failed(notice, "no_account")
        return "suppressed"
    ways = contact.channels(account) if notice.kind == ITEM_NOTICE else contact.Channels(bool(account.email), False)
    if notice.kind != ITEM_NOTICE and account.email_status == "bad":
        ways = contact.Channels(False, False)
    if not ways.any:
        # No mail to an address that bounced, none to no address, and no texts: the follow-up
        # sweep escalates the item instead.
        outbox.mark_failed(notice, contact.why_unreachable(account) if notice.kind == ITEM_NOTICE
                           else "bad_email" if account.email else "no_email")
        return "suppressed"
    if account.disabled_at is not None and notice.kind == ITEM_NOTICE:
        # The patient's portal access is closed: the item is kept (and published), no notice goes out.
        outbox.mark_failed(notice, "access_closed")
        return "suppressed"
    if notice.kind == ITEM_NOTICE and not leased and _retracted(notice.item_id):
        # The office took the document back after this notice was queued: it is never sent. (A
        # caller holding a lease wrote the notice in the same transaction as a live item.)
        outbox.mark_failed(notice, "retracted")
        return "suppressed"
    if not leased and not outbox.claim_attempt(notice, lease_until=now + _SEND_LEASE):
        return "taken"
    if ways.sms and notice.text_status is None:
        texted = _text(notice, account, now)
        if texted == "retry":
            return "retry"
    if not ways.email:
        return _texted_only(notice, now)
    context: dict[str, Any] = {}
    if notice.kind == ITEM_NOTICE:
        context = {"item_kind": notice.item_kind, "reminder": _is_reminder(notice)}
    if notice.kind == PASSWORD_RESET:
        hours = get_settings().reset_hours
        context = {"temporary_password": temporary_passwords.issue(account, hours), "hours": hours}
    elif not account.has_signed_in:
        hours = get_settings().invitation_hours
        context |= {
            "username": account.username,
            "temporary_password": temporary_passwords.issue(account, hours),
            "hours": hours,
        }
    context.setdefault("temporary_password", None)
    return _send(notice, account.email, context, now, account.language)


def _is_reminder(notice: outbox.Notice) -> bool:
    """A notice after the first of its round (`<item>#<round>#<number>`) reminds."""
    return notice.id.rsplit("#", 1)[-1] not in ("", "1")


def _month_key(now: datetime) -> tuple[str, datetime]:
    """The counter of the text parts of `now`'s month, and when it may expire (well after the month)."""
    return f"text-parts#{now:%Y-%m}", now + timedelta(days=62)


def _within_spend(parts: int, now: datetime) -> bool:
    """Count `parts` against this month's limit (SMS_MONTHLY_SPEND_LIMIT_USD at SMS_PRICE_USD a
    part); False when they would go over it."""
    settings = get_settings()
    allowed = int(settings.sms_monthly_spend_limit_usd / settings.sms_price_usd) if settings.sms_price_usd > 0 else 0
    key, expires_at = _month_key(now)
    return counters.add(key, parts, expires_at) <= allowed


def _text(notice: outbox.Notice, account: account_store.Account, now: datetime) -> str:
    """The notice's text message, once: sent | opted_out | rate_limited | spend_limit | failed, each
    recorded on the notice; `retry` (nothing recorded) when SNS failed in passing."""
    number = str(account.phone)
    settings = get_settings()
    try:
        if texts.opted_out(number):
            contact.opted_out(account, number, seen="before_text", now=now)
            outbox.mark_text(notice, "opted_out")
            return "opted_out"
    except texts.TextError as err:
        if err.transient and int(notice.attempts or 0) < MAX_SEND_ATTEMPTS:
            outbox.mark_retry(notice, f"text:{err.code}", now + _backoff(int(notice.attempts or 0)))
            return "retry"
    words = texts.item_text(account.language, notice.item_kind, _is_reminder(notice))
    allowed, _ = ratelimit.hit(f"texts#{account.id}", settings.texts_per_patient_per_day, 24 * 3600)
    if not allowed:
        outbox.mark_text(notice, "rate_limited")
        logger.warning("text not sent: the patient's daily limit", extra={"notice_id": notice.id})
        return "rate_limited"
    if not _within_spend(texts.segments(words), now):
        outbox.mark_text(notice, "spend_limit")
        metrics.add_metric(name="TextSpendLimitReached", unit="Count", value=1)
        logger.error("text not sent: the month's spend limit", extra={"notice_id": notice.id})
        return "spend_limit"
    try:
        message_id = texts.send(number, words)
    except texts.TextError as err:
        attempts = int(notice.attempts or 0)
        if err.transient and attempts < MAX_SEND_ATTEMPTS:
            outbox.mark_retry(notice, f"text:{err.code}", now + _backoff(attempts))
            logger.warning("text not sent", extra={"notice_id": notice.id, "error_code": err.code, "outcome": "retry"})
            return "retry"
        outbox.mark_text(notice, "failed")
        work_store.add(work_store.WorkEntry(f"notice_failed#{notice.id}#text", kind="notice_failed",
                                            created_at=now, patient_id=notice.account_id,
                                            item_id=notice.item_id, reason=f"text:{err.code}",
                                            data={"channel": "sms"}))
        metrics.add_metric(name="TextFailed", unit="Count", value=1)
        logger.warning("text failed", extra={"notice_id": notice.id, "error_code": err.code})
        return "failed"
    outbox.mark_text(notice, "sent", message_id)
    notice.text_status, notice.text_message_id = "sent", message_id
    metrics.add_metric(name="TextSent", unit="Count", value=1)
    logger.info("text sent", extra={"notice_id": notice.id, "outcome": "sent"})
    return "sent"


def _texted_only(notice: outbox.Notice, now: datetime) -> str:
    """A notice that goes by text alone: sent when its text was, else failed (the text's failure
    is on the staff queue already) or suppressed (opted out, over a limit)."""
    if notice.text_status == "sent":
        outbox.mark_sent(notice, now, notice.text_message_id or "")
        metrics.add_metric(name="NoticeSent", unit="Count", value=1)
        logger.info("notice sent", extra={"notice_id": notice.id, "kind": notice.kind, "outcome": "sent"})
        return "sent"
    status = notice.text_status or "no_channel"
    outbox.mark_failed(notice, f"text_{status}")
    return "failed" if status == "failed" else "suppressed"


def _retracted(item_id: str | None) -> bool:
    item = item_store.get(item_id) if item_id else None
    return item is not None and item.status == item_store.RETRACTED


def _office_inbox_url() -> str:
    return f"{get_settings().portal_url}/staff/inbox"


def _office_queue_url() -> str:
    return f"{get_settings().portal_url}/staff/queue#critical-results"


def new_leased_office_critical(result_id: str, version: int, now: datetime) -> outbox.Notice:
    """The office's mail about a result version with a critical value (not yet saved), taken for
    its first attempt: written in the result's transaction, sent right after it."""
    notice = outbox.Notice(f"office-critical#{result_id}#v{version}", account_id=outbox.OFFICE,
                           kind=OFFICE_CRITICAL_RESULT, item_id=result_id, status="pending", attempts=0, created_at=now)
    return outbox.leased(notice, now + _SEND_LEASE)


def new_leased_admin_reminder(entry_id: str, admin_id: str, now: datetime) -> outbox.Notice:
    """An admin's reminder of a critical-result entry still uncalled (not yet saved), taken for its
    first attempt: written with the entry's reminder mark, sent right after."""
    notice = outbox.Notice(f"admin-critical-reminder#{entry_id}#{admin_id}", account_id=admin_id,
                           kind=ADMIN_CRITICAL_REMINDER, status="pending", attempts=0, created_at=now)
    return outbox.leased(notice, now + _SEND_LEASE)


def _remind_admin(notice: outbox.Notice, account: account_store.Account | None, now: datetime, leased: bool) -> str:
    """One admin's reminder, to their own address in their language (nothing medical: the queue's
    address only); none to an admin whose account closed or has no address. The office's reminder
    (`OFFICE_RECIPIENT`) goes to the office's address."""
    if notice.account_id == OFFICE_RECIPIENT:
        if not leased and not outbox.claim_attempt(notice, lease_until=now + _SEND_LEASE):
            return "taken"
        return _send(notice, get_settings().office_email, {"queue_url": _office_queue_url()}, now)
    if account is None or account.id != notice.account_id:
        account = account_store.get(notice.account_id)
    if account is None or account.disabled_at is not None or not account.email:
        outbox.mark_failed(notice, "no_account" if account is None else "access_closed" if account.disabled_at
                           else "no_email")
        return "suppressed"
    if not leased and not outbox.claim_attempt(notice, lease_until=now + _SEND_LEASE):
        return "taken"
    return _send(notice, account.email, {"queue_url": _office_queue_url()}, now, account.language)


def _send(notice: outbox.Notice, to: str, context: dict[str, Any], now: datetime, language: str | None = None) -> str:
    """One claimed attempt: sent, or back in the retry index, or failed for good (then the staff
    queue shows it when it needs a person)."""
    try:
        message_id = sender.send(to, notice.kind, language=language, **context)  # the kind names its template
    except sender.MailError as err:
        attempts = int(notice.attempts or 0)
        if err.transient and attempts < MAX_SEND_ATTEMPTS:
            outbox.mark_retry(notice, err.code, now + _backoff(attempts))
            metrics.add_metric(name="NoticeRetried", unit="Count", value=1)
            logger.warning("notice not sent", extra={"notice_id": notice.id, "error_code": err.code, "outcome": "retry"})
            return "retry"
        outbox.mark_failed(notice, err.code)
        if notice.kind == ITEM_NOTICE:  # an unread item needs the office; a reset can simply be asked again
            work_store.add(work_store.WorkEntry(f"notice_failed#{notice.id}", kind="notice_failed",
                                                created_at=now, patient_id=notice.account_id,
                                                item_id=notice.item_id, reason=err.code))
        elif notice.kind in (OFFICE_NEW_MESSAGE, OFFICE_CRITICAL_RESULT):
            # The office's own address refused: the inbox (or the queue's critical results) still
            # holds what it was about, and the staff queue says that an alert did not arrive.
            work_store.add(work_store.WorkEntry(f"notice_failed#{notice.id}", kind="notice_failed",
                                                created_at=now, reason=err.code,
                                                data={"notice": notice.kind}))
            metrics.add_metric(name="OfficeAlertFailed", unit="Count", value=1)
        logger.warning("notice failed", extra={"notice_id": notice.id, "error_code": err.code})
        return "failed"
    outbox.mark_sent(notice, now, message_id)
    metrics.add_metric(name="NoticeSent", unit="Count", value=1)
    logger.info("notice sent", extra={"notice_id": notice.id, "kind": notice.kind, "outcome": "sent"})
    return "sent"


def deliver_written(notice: outbox.Notice, account: account_store.Account | None, moment: str,
                    ids: dict[str, str]) -> str:
    """Send the first notice of something just written with it, leased in the same transaction (a
    publication, a replacement, a refile, a lab result, its release or its critical value's mail to
    the office). Its outcome; a failure is logged with `ids` and left to the outbox, which sends
    the notice once its lease runs out ("retry")."""
    try:
        return deliver(notice, account, leased=True)
    except Exception as err:  # noqa: BLE001 - what it tells of is written; the outbox sends the notice
        logger.warning(f"notice not sent at {moment}", extra={**ids, "outcome": "retry", **failure(err)})
        return "retry"


def deliver_by_id(notice_id_: str) -> str:
    notice = outbox.get(notice_id_)
    return deliver(notice) if notice else "missing"


def _claimed(notice: outbox.Notice, lease_until: datetime) -> bool:
    """A claim that failed in passing leaves the row for the next run, not the others unsent."""
    try:
        return outbox.claim_attempt(notice, lease_until)
    except Exception as exc:  # noqa: BLE001 - PynamoDB wraps DynamoDB's passing refusals
        logger.error("notice claim failed", extra={"notice_id": notice.id, **failure(exc)})
        return False


def deliver_office_alerts(alerts: list[outbox.Notice]) -> dict[str, int]:
    """Every due alert row, as one email: each is taken first (so a message stored after this
    cannot join one and takes a row of its own), then one mail covers them all."""
    now = clock.now()
    lease_until = now + _SEND_LEASE
    taken = [alert for alert in alerts if alert.status == "pending" and _claimed(alert, lease_until)]
    counts = {"taken": len(alerts) - len(taken)} if len(taken) < len(alerts) else {}
    if not taken:
        return counts
    first, *others = taken
    outcome = deliver(first, leased=True)
    for other in others:  # the same outcome as the mail that stands for them
        if outcome == "sent":
            outbox.mark_sent(other, now, first.ses_message_id)
        elif outcome == "retry":
            outbox.mark_retry(other, first.last_error, first.next_attempt_at)
        else:
            outbox.mark_failed(other, first.last_error or outcome)
    counts[outcome] = counts.get(outcome, 0) + len(taken)
    return counts


def retry_due(out_of_time: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Send every notice whose retry time has come (called by the schedules), until `out_of_time`
    says the run must stop; the office gets one alert per run however many windows are due."""
    counts: dict[str, int] = {}
    office_alerts_due: list[outbox.Notice] = []
    for notice in outbox.retries_due(clock.now()):
        if out_of_time():
            counts["left_for_next_run"] = counts.get("left_for_next_run", 0) + 1
            break
        if notice.kind == OFFICE_NEW_MESSAGE:
            office_alerts_due.append(notice)
            continue
        try:
            outcome = deliver(notice)
        except Exception as exc:  # noqa: BLE001 - one notice's passing failure must not hold up the others
            # Its lease (or retry time) keeps it in the retry index: the next run tries it again.
            logger.error("notice retry failed", extra={"notice_id": notice.id, **failure(exc)})
            outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
    if office_alerts_due:
        try:
            for outcome, count in deliver_office_alerts(office_alerts_due).items():
                counts[outcome] = counts.get(outcome, 0) + count
        except Exception as exc:  # noqa: BLE001 - as above: the leases bring the alerts back next run
            logger.error("office alert failed", extra=failure(exc))
            counts["error"] = counts.get("error", 0) + 1
    return counts
