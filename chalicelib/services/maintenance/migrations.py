"""Versioned data migrations: what an existing deployment's rows need after an upgrade.

A release that gives rows a new key (a sparse index's attribute, a value the code now reads)
deploys its template first: new tables and indexes appear, the old rows stay as they were. Then
`portal migrate` runs each migration not yet done, in the order of its version, over the rows
that need it. Each one:

- reads its rows a page at a time through an index's keys (never a Scan), with a filter that
  leaves out rows already right (`store.migrations.RowSource`);
- changes each row with a conditional write that holds only while the row still needs it, so a
  migration run twice, or resumed over a page it had partly done, changes nothing twice;
- records its progress in the migrations table after every page: a run stopped (or crashed)
  carries on from there, and a migration done is never run again;
- has a dry run that reads the same rows and counts what it would change, writing nothing.

Every schema change since the first release has one, below; docs/upgrading.md is the runbook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.observability import logger
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import phone
from chalicelib.services.providers import review
from chalicelib.services.publication.publisher import INCOMING  # a portal upload lands at incoming/<upload id>
from chalicelib.store import backups as backup_store
from chalicelib.store import migrations as store
from chalicelib.store.accounts import Account
from chalicelib.store.items import Item
from chalicelib.store.sessions import Session
from chalicelib.store.uploads import PendingUpload
from chalicelib.store.work import WorkEntry

# A published upload's S3 event can come again (a redelivery, a dead letter replayed) for as long as
# SQS keeps a message: 14 days at most. Until then the publisher may still look at its pending row.
REPLAYS_END_AFTER = timedelta(days=14)


@dataclass(frozen=True)
class Migration:
    """One versioned data migration: the rows it looks at, and what it does to one of them
    (`change(row, now, dry_run)`: whether the row needed it; with `dry_run`, nothing is written)."""

    id: str
    title: str
    change: Callable[[Any, datetime, bool], bool]
    rows: store.RowSource[Any]


def _staff_into_name_index(account: Account, now: datetime, dry_run: bool) -> bool:
    return dry_run or store.put_in_staff_name_index(account)


def _end_session_owing_nothing_said(session: Session, now: datetime, dry_run: bool) -> bool:
    return dry_run or store.end_session_without_factor(session)


def _drop_finished_upload(upload: PendingUpload, now: datetime, dry_run: bool) -> bool:
    expired = upload.expires_at is not None and upload.expires_at <= now
    if not expired:
        if upload.created_at > now - REPLAYS_END_AFTER:
            return False
        if not store.published_from(f"{INCOMING}{upload.id}", upload.patient_id, upload.replaces):
            return False  # still waiting for its file, or quarantined (it may be published again)
    return dry_run or store.drop_pending_upload(upload)


def _phone_in_e164(account: Account, now: datetime, dry_run: bool) -> bool:
    typed = account.phone or ""
    if phone.problem(typed) is not None:
        return False  # not a number of the clinic's country as typed: left as it is, and shown so
    e164 = phone.valid(typed)
    if e164 is None or e164 == typed:
        return False  # in E.164 already
    return dry_run or store.rewrite_phone(account, typed, e164)


def _review_routed(entry: WorkEntry, now: datetime, dry_run: bool) -> bool:
    return dry_run or store.requeue(entry, review.RESULT_REVIEW, review.routed_now(entry))


def _escalated_into_index(item: Item, now: datetime, dry_run: bool) -> bool:
    return dry_run or store.into_escalated_key(item)


MIGRATIONS: tuple[Migration, ...] = (
    # Second round: the admin's staff list is one Query of the name index's "staff" shard. Staff
    # and admins created by the first release have no name keys (only patients had), so the
    # list would leave them out.
    Migration("0001-staff-in-name-index",
              "Staff and admins made before the staff list get its keys in the name index",
              _staff_into_name_index, store.STAFF_WITHOUT_NAME_KEY),
    # Second round: a session says which second factor it still owes (`mfa`); a session without
    # it counts as whole. Staff and admins signed in before the second factor existed would keep
    # such sessions, without a factor, until they end: they end now, and the next sign-in enrols.
    Migration("0002-office-sessions-before-second-factor",
              "Staff and admin sessions from before the second factor end (the next sign-in enrols one)",
              _end_session_owing_nothing_said, store.OFFICE_SESSIONS_WITHOUT_FACTOR),
    # Second round: a portal upload's details (title, category, provider, comment: PHI) wait in a
    # pending-upload row, which was left to expire after 30 days even once the document was
    # published. Rows whose upload was published (and can no longer be replayed), or which
    # expired, are deleted instead of waiting for DynamoDB's TTL.
    Migration("0003-pending-uploads-finished",
              "Pending-upload rows of published or expired uploads are deleted, not left to expire",
              _drop_finished_upload, store.PENDING_UPLOADS),
    # Third round: phone numbers are stored in E.164 (`+19195550142`), which text messages (SNS)
    # need; the second round stored them as typed. Numbers that read as a valid number of the
    # clinic's country (CLINIC_COUNTRY) are rewritten; any other stays as typed (pages show it so,
    # and it takes no texts) for the office to correct on the patient's page.
    Migration("0004-phones-in-e164",
              "Phone numbers stored as typed are stored in E.164, as text messages need",
              _phone_in_e164, store.ACCOUNTS_WITH_PHONE),
    # Third round: a result's review entry is routed when the result is published and queued under
    # its provider's key (`result_review@<provider id>`, or `@*` for every provider), so a
    # provider's list reads only its own entries. Entries still open from before were queued under
    # the bare kind, where no list reads any more: each is routed now, as a new result would be.
    Migration("0005-results-to-review-routed",
              "Results waiting for review are routed to their provider's list, as new results are",
              _review_routed, store.open_work(review.RESULT_REVIEW)),
    # Third round: the office's unread list reads every unread item from the follow-up index.
    # Escalating an item (no more notices: the office calls) used to take it out of the index; it
    # now keeps it there under the escalated key. Items escalated before, still unread, are put
    # under that key, dated when they were escalated.
    Migration("0006-escalated-unread-in-index",
              "Unread items escalated to the office stay in the follow-up index, where the unread list reads them",
              _escalated_into_index, store.ESCALATED_UNREAD),
)


@dataclass
class Outcome:
    """What one migration did in one run (or would do, in a dry run)."""

    id: str
    title: str
    status: str  # done | already_done | stopped (carries on at the next run) | dry_run
    examined: int = 0
    changed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status, "examined": self.examined,
                "changed": self.changed}


class MigrationHeld(Exception):
    """Another `portal migrate` is running this migration now."""

    def __init__(self, migration_id: str, until: datetime | None):
        super().__init__(migration_id)
        self.migration_id, self.until = migration_id, until

    @property
    def message(self) -> str:
        when = f" (its hold runs out at {iso(self.until)})" if self.until else ""
        return (f"another run of portal migrate is working on {self.migration_id}{when}: wait for it, "
                "or run again once its hold has run out to carry on where it stopped")


class SchemaBehind(Exception):
    """The stack lacks tables or indexes this release's code needs: deploy it first."""

    def __init__(self, gaps: list[str]):
        super().__init__(", ".join(gaps))
        self.gaps = gaps


def status() -> list[dict[str, Any]]:
    """Every migration of this release: pending, in_progress (where it stopped) or done, with its counts."""
    found = store.records([migration.id for migration in MIGRATIONS])
    answer = []
    for migration in MIGRATIONS:
        record = found.get(migration.id)
        answer.append({
            "id": migration.id, "title": migration.title,
            "status": record.status if record else "pending",
            "examined": int(record.examined or 0) if record else 0,
            "changed": int(record.changed or 0) if record else 0,
            "finished_at": iso(record.finished_at) if record else None,
        })
    return answer


def _selected(only: str | None) -> tuple[Migration, ...]:
    if only is None:
        return MIGRATIONS
    chosen = tuple(m for m in MIGRATIONS if m.id == only or m.id.split("-", 1)[0] == only)
    if not chosen:
        raise KeyError(only)
    return chosen


def run(caller: Caller, *, dry_run: bool = False, only: str | None = None, page_size: int = 100,
        max_pages: int | None = None, progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every migration not done yet (or only the one named by id or version), in order.
    `max_pages` stops the run after that many pages (the rest carries on at the next run). A dry
    run counts what each would change and writes nothing. Raises SchemaBehind before touching
    anything when the stack lacks a table or index, and MigrationHeld when another run holds one."""
    gaps = backup_store.schema_gaps()
    if gaps:
        raise SchemaBehind(gaps)
    chosen = _selected(only)
    outcomes: list[Outcome] = []
    pages_left = max_pages
    for migration in chosen:
        outcome, pages_left = _run_one(caller, migration, dry_run, page_size, pages_left)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
        if outcome.status == "stopped":
            break
    return outcomes


def _run_one(caller: Caller, migration: Migration, dry_run: bool, page_size: int, pages_left: int | None
             ) -> tuple[Outcome, int | None]:
    operator = caller.actor_id or "operator"
    if dry_run:
        record = store.get(migration.id)
        if record is not None and record.status == store.DONE:
            return Outcome(migration.id, migration.title, "already_done"), pages_left
        outcome = Outcome(migration.id, migration.title, "dry_run")
        for rows, _ in store.pages(migration.rows, None, page_size):
            outcome.examined += len(rows)
            outcome.changed += sum(migration.change(row, clock.now(), True) for row in rows)
        return outcome, pages_left
    try:
        claim = store.claim(migration.id, operator, clock.now())
    except store.Held as held:
        raise MigrationHeld(held.migration_id, held.until) from None
    if claim is None:
        return Outcome(migration.id, migration.title, "already_done"), pages_left
    outcome = Outcome(migration.id, migration.title, "done")
    try:
        for rows, cursor in store.pages(migration.rows, claim.cursor, page_size):
            changed = sum(migration.change(row, clock.now(), False) for row in rows)
            store.checkpoint(claim, cursor, len(rows), changed, clock.now())
            outcome.examined += len(rows)
            outcome.changed += changed
            if cursor is None:
                break
            if pages_left is not None:
                pages_left -= 1
                if pages_left <= 0:
                    store.release(claim, clock.now())
                    outcome.status = "stopped"
                    logger.info("migration stopped", extra={"migration": migration.id, **outcome.as_json()})
                    return outcome, pages_left
    except store.Held as held:
        raise MigrationHeld(held.migration_id, held.until) from None
    store.finish(claim, clock.now())
    record = store.get(migration.id)
    total = {"examined": int(record.examined or 0), "changed": int(record.changed or 0)} if record else {}
    logger.info("migration done", extra={"migration": migration.id, "runs": int(record.runs or 1) if record else 1,
                                         **total})
    audit.record_for(caller, "maintenance.migrate", target_id=migration.id, detail=total or None)
    return outcome, pages_left
