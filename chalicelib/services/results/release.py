"""When a lab result reaches its patient: on arrival, or once a provider reviewed it.

- `RESULT_RELEASE=immediate` (the default, as the 21st Century Cures Act expects): every result is
  released on arrival. With `after_review`, a result with any flag is held.
- A patient whose own choice is `after_review` (My Profile, `PUT /api/me/result-release`) has every
  result held, whatever the clinic's setting.
- A held result is released when a provider reviews it (`providers.review`), or by the hourly
  sweep once RESULT_HOLD_DAYS have passed since it arrived, whichever comes first. A later version
  of a held result is held by the same rule (the hold keeps its first deadline), or releases it.
  A result already released stays released: its later versions reach the patient on arrival.

While held, the item carries `held_at` (and sits in the sparse `follow_up_due` index under the
holds' own key, `HELD_SHARD`, due when the hold runs out), its version row has no `released_at`,
and it has no entry on the patient's list: the patient and their caregivers do not see it (404,
not listed, not in the take-away records), and no notice goes out. The office and providers see
it, marked held; a critical value's call entry reaches the office on arrival all the same.

The release is ONE transaction (`store.results.release`): the item leaves the hold and enters
follow-up from now, the version row is released, the list entry and the notice's outbox row are
written. The notice is sent then (once: its outbox row's id is the round's first), and re-notices
and escalation count from then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.clock import clock
from chalicelib.errors import BadRequest, Forbidden, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import failure, logger, metrics
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts.answers import ResultRelease, ResultReleaseChoice
from chalicelib.services.followup import notices
from chalicelib.services.results.model import Report
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import items as item_store
from chalicelib.store import results as results_store
from chalicelib.vocabulary import Role

IMMEDIATELY: ResultReleaseChoice = "immediately"  # the patient's choice
AFTER_REVIEW: ResultReleaseChoice = "after_review"
CHOICES: tuple[ResultReleaseChoice, ...] = (IMMEDIATELY, AFTER_REVIEW)
# How a held result came to be released (the audit event's `by`).
BY_REVIEW, BY_HOLD_EXPIRY, BY_CORRECTION = "review", "hold_expired", "not_held"
PAGE_SIZE = 100

Released = Callable[[str, int, datetime], None]  # (result id, version, when): told of each release


# ---------------------------------------------------------------- holding

def hold_reason(report: Report, account: account_store.Account) -> str | None:
    """Why this version is held from its patient ("patient_choice", "flagged"), or None: released now."""
    if account.result_release == AFTER_REVIEW:
        return "patient_choice"
    if get_settings().result_release == "after_review" and any(o.flag for o in report.observations):
        return "flagged"
    return None


def hold_days() -> int:
    """The longest a result waits for its review (RESULT_HOLD_DAYS)."""
    return get_settings().result_hold_days


def hold_ends(arrived: datetime) -> datetime:
    """When a result that arrived at `arrived` is released if no provider has reviewed it."""
    return arrived + timedelta(days=get_settings().result_hold_days)


def held(item: item_store.Item, reason: str, version: int) -> None:
    """Record that a version arrived held (audited as the system's doing; ids and reasons only)."""
    audit.record("result.held", actor_role="system", patient_id=item.patient_id, target_id=item.id,
                 detail={"reason": reason, "version": version})
    metrics.add_metric(name="ResultHeld", unit="Count", value=1)
    logger.info("lab result held", extra={"result_id": item.id, "version": version, "reason": reason})


# ---------------------------------------------------------------- release

def _release(item: item_store.Item, now: datetime, how: str, comment: item_store.Comment | None = None,
             account: account_store.Account | None = None) -> str | None:
    """Release the held result now: one transaction, then its notice. The notice's outcome, or
    None when it was not held any more (another releaser won, or it was retracted)."""
    notice = notices.new_leased_item_notice(item, 1, now)
    due_at = now + timedelta(days=get_settings().follow_up_days)
    if not results_store.release(item, now, due_at, notice, comment):
        return None
    sent = notices.deliver_written(notice, account, "release", {"result_id": item.id})
    metrics.add_metric(name="ResultReleased", unit="Count", value=1)
    logger.info("lab result released", extra={"result_id": item.id, "version": int(item.version or 1), "by": how,
                                              "notice": sent})
    return sent


def on_review(caller: Caller, item: item_store.Item, author: str, comment: str | None) -> bool:
    """A provider reviewed a held result: release it now, with their comment (one notice for both).
    False when it was no longer held (the sweep released it meanwhile): the caller comments as on
    any released result."""
    now = clock.now()
    row = item_store.Comment(author=author, text=comment, created_at=now, role="provider") if comment else None
    if _release(item, now, BY_REVIEW, comment=row) is None:
        return False
    audit.record_for(caller, "result.release", patient_id=item.patient_id, target_id=item.id,
                     detail={"by": BY_REVIEW, "version": int(item.version or 1)})
    return True


def on_correction(item: item_store.Item, version: int) -> None:
    """A later version that is not held released the held result with it (`publish`): audited."""
    audit.record("result.release", actor_role="system", patient_id=item.patient_id, target_id=item.id,
                 detail={"by": BY_CORRECTION, "version": version})
    logger.info("lab result released", extra={"result_id": item.id, "version": version, "by": BY_CORRECTION})


@dataclass
class Swept:
    """What one sweep released (counts only)."""

    released: int = 0
    taken: int = 0  # released by a review meanwhile
    errors: int = 0  # failed in passing: still held and due, tried again next run
    complete: bool = True


def release_due(now: datetime, out_of_time: Callable[[], bool], released: Released | None = None,
                page_size: int = PAGE_SIZE) -> Swept:
    """The sweep's part: release every held result whose hold ran out by `now`, oldest first, page by
    page from the sparse index (reads only what is due). `released` is told of each release."""
    swept = Swept()
    accounts: dict[str, account_store.Account | None] = {}
    last_key = None
    while True:
        page = item_store.held_due(now, limit=page_size, last_evaluated_key=last_key)
        for item in page:
            if out_of_time():
                swept.complete = False
                return swept
            try:
                if item.patient_id not in accounts:
                    accounts[item.patient_id] = account_store.get(item.patient_id)
                if _release(item, now, BY_HOLD_EXPIRY, account=accounts[item.patient_id]) is None:
                    swept.taken += 1
                    continue
                swept.released += 1
                audit.record("result.release", actor_role="system", patient_id=item.patient_id, target_id=item.id,
                             detail={"by": BY_HOLD_EXPIRY, "version": int(item.version or 1)})
                if released is not None:
                    released(item.id, int(item.version or 1), now)
            except Exception as exc:  # noqa: BLE001 - one result's passing failure must not stop the sweep
                logger.error("release of a held result failed", extra={"result_id": item.id, **failure(exc)})
                swept.errors += 1
        last_key = page.last_evaluated_key
        if not last_key:
            return swept
        if out_of_time():
            swept.complete = False
            return swept


# ---------------------------------------------------------------- the patient's choice

def choose(caller: Caller, when: str) -> ResultRelease:
    """The patient's own choice of when their results are released to them (My Profile,
    `PUT /api/me/result-release`): `immediately` or `after_review`. Patients only; audited. It
    applies to results that arrive from now on (one already held waits for its review or its
    deadline)."""
    principal = caller.principal
    if principal is None or principal.role != Role.PATIENT or caller.acting_for:
        raise Forbidden(N_("Only a patient chooses when their own results are released."))
    if when not in CHOICES:
        raise BadRequest(N_("Must be immediately or after_review."), field="when", code="invalid_request")
    account = account_store.get(principal.account_id)
    if account is None:
        raise NotFound(N_("The account no longer exists."))
    account_store.set_result_release(account, AFTER_REVIEW if when == AFTER_REVIEW else None, clock.now())
    audit.record_about(caller, "account.result_release_change", account, detail={"when": when})
    logger.info("result release chosen", extra={"account_id": account.id, "outcome": when})
    return {"when": AFTER_REVIEW if when == AFTER_REVIEW else IMMEDIATELY}
