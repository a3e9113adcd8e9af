"""Bulk registration of patients from the clinic's records (`portal import-patients`).

Every row is checked before anything is written: a file with a bad row imports nothing, and the
report names each bad row's line and reason. A row whose MRN is already registered with the same
name, date of birth and email is skipped (a re-run imports nothing twice); the same MRN with other
details is a bad row. Each row is written whole or not at all. The columns `phone` and `language`
(en, es) are optional.

Two ways to write:
- invite (the default): `accounts.register_patient` per row, which mails the invitation with a
  temporary password (an Argon2 hash per row, a mail per row);
- deferred invitations (`--no-invite`): accounts are written in transactions of 25 (account,
  username and MRN claims, audit row), without a temporary password. The patient's first item
  notice carries one, as it does for every patient who has never signed in (see `notices.deliver`):
  which is what the clinic's page promises ("you will receive an email notifying you that you have
  mail in the portal and the email will contain a temporary password").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import BadRequest, Conflict
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import phone as phone_number
from chalicelib.services.accounts import registry as accounts
from chalicelib.store import accounts as account_store
from chalicelib.store import imports as import_store
from chalicelib.store.accounts import UniqueTaken
from chalicelib.store.audit import AuditEvent
from chalicelib.vocabulary import Role


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    date_of_birth: str
    email: str
    mrn: str
    phone: str | None = None
    language: str | None = None

    def same_patient(self, account: account_store.Account) -> bool:
        return (account.role == Role.PATIENT and account.name == self.name and account.date_of_birth == self.date_of_birth
                and account.email.casefold() == self.email.casefold())


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


@dataclass
class Plan:
    new: list[Row] = field(default_factory=list)
    already_registered: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Outcome:
    imported: int = 0
    failed: list[Problem] = field(default_factory=list)


def plan(rows: list[Row], problems: list[Problem] | None = None) -> Plan:
    """Check every row against the others and against the accounts already there."""
    result = Plan(problems=list(problems or []))
    first_line: dict[str, int] = {}
    candidates: list[Row] = []
    for row in rows:
        try:
            accounts.valid_email(row.email)
            phone_number.valid(row.phone)
        except BadRequest as bad:
            result.problems.append(Problem(row.line, bad.message))
            continue
        clashes = [(f"mrn: same MRN as line {first_line[key]}" if key.startswith("mrn#") else
                    f"email: same email as line {first_line[key]}")
                   for key in (account_store.mrn_key(row.mrn), account_store.username_key(row.email)) if key in first_line]
        if clashes:
            result.problems.append(Problem(row.line, "; ".join(clashes)))
            continue
        first_line[account_store.mrn_key(row.mrn)] = first_line[account_store.username_key(row.email)] = row.line
        candidates.append(row)

    owners = import_store.owners(first_line)
    existing = import_store.accounts_by_id(owners.values())
    for row in candidates:
        mrn_owner = existing.get(owners.get(account_store.mrn_key(row.mrn), ""))
        username_owner = owners.get(account_store.username_key(row.email))
        if mrn_owner is not None:
            if row.same_patient(mrn_owner):
                result.already_registered.append(row)
            else:
                result.problems.append(Problem(row.line, "mrn: already registered to a patient with other details"))
        elif username_owner is not None:
            result.problems.append(Problem(row.line, "email: already the username of another account"))
        else:
            result.new.append(row)
    result.problems.sort(key=lambda problem: problem.line)
    return result


def _register_one(caller: Caller, row: Row) -> None:
    accounts.register_patient(caller, name=row.name, date_of_birth=row.date_of_birth, email=row.email, mrn=row.mrn,
                              phone=row.phone, language=row.language)


def _new_patient(caller: Caller, row: Row) -> tuple[account_store.Account, AuditEvent]:
    account, _ = accounts.new_account(role="patient", username=row.email, name=row.name, email=row.email,
                                       date_of_birth=row.date_of_birth, mrn=row.mrn,
                                       phone=phone_number.valid(row.phone), language=row.language or "en")
    event = audit.new_event("patient.register", patient_id=account.id, target_id=account.id,
                            detail={"via": "import", "invitation": "with first notice"}, **audit.for_caller(caller))
    return account, event


def _register_batch(caller: Caller, rows: list[Row]) -> list[Problem]:
    """One transaction for the batch; if a claim was taken meanwhile, row by row."""
    try:
        import_store.create_patients([_new_patient(caller, row) for row in rows])
        return []
    except UniqueTaken:
        pass
    failed = []
    for row in rows:
        try:
            import_store.create_patients([_new_patient(caller, row)])
        except UniqueTaken:
            failed.append(Problem(row.line, "mrn or email: registered by someone else while importing"))
    return failed


def run(caller: Caller, rows: list[Row], *, invite: bool = True, workers: int = 8,
        progress: Callable[[int], None] = lambda done: None) -> Outcome:
    """Write the planned new rows; `progress(n)` is called (in this thread) as rows are done."""
    outcome = Outcome()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures: dict[Future[Any], list[Row]]
        if invite:
            futures = {pool.submit(_register_one, caller, row): [row] for row in rows}
        else:
            size = import_store.PATIENTS_PER_TRANSACTION
            batches = [rows[i:i + size] for i in range(0, len(rows), size)]
            futures = {pool.submit(_register_batch, caller, batch): batch for batch in batches}
        for future in as_completed(futures):
            batch = futures[future]
            try:
                failed = future.result()
            except Conflict as conflict:
                failed = [Problem(batch[0].line, conflict.message)]
            outcome.failed.extend(failed or [])
            outcome.imported += len(batch) - len(failed or [])
            progress(len(batch))
    outcome.failed.sort(key=lambda problem: problem.line)
    return outcome
