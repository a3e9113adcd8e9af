"""The second factor's rows on an account: the active TOTP secret, a secret waiting for its first
code, the time steps already used (a code is accepted once), and the recovery codes.

Recovery codes are kept as Argon2id hashes in a map keyed by each code's first characters (its
tag), so a code is checked against one hash, and using it removes that entry in a conditional
write: two requests racing with the same code leave one winner.

Each write refreshes `account` with what the table holds afterwards.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.transactions import TransactWrite

from chalicelib.store.accounts import Account
from chalicelib.store.audit import AuditEvent
from chalicelib.store.base import RowRead, conditional, transact
from chalicelib.store.sessions import Session


def recovery_hashes(account: Account) -> dict[str, str]:
    """The unused recovery codes' hashes, by tag."""
    codes = account.mfa_recovery_codes
    if codes is None:
        return {}
    return dict(codes.as_dict() if hasattr(codes, "as_dict") else codes)


def used_steps(account: Account) -> list[int]:
    return [int(step) for step in (account.mfa_used_steps or "").split() if step.lstrip("-").isdigit()]


def start_enrolment(account: Account, secret: str, now: datetime) -> bool:
    """Keep `secret` as the one waiting for its first code (replacing any earlier one), only while
    the account has no active factor. False when it has one."""
    return conditional(lambda: account.update(
        actions=[Account.mfa_pending_secret.set(secret), Account.updated_at.set(now)],
        condition=Account.mfa_secret.does_not_exist(),
    ))


def activate(account: Account, secret: str, recovery: dict[str, str], step: int, now: datetime) -> bool:
    """The waiting secret becomes the active one, with its recovery codes, and the step of the code
    that confirmed it counts as used. Only while `secret` is still the one waiting and no factor is
    active (a second confirmation, or one racing a new enrolment, loses): False then."""
    return conditional(lambda: account.update(
        actions=[
            Account.mfa_secret.set(secret),
            Account.mfa_pending_secret.remove(),
            Account.mfa_recovery_codes.set(recovery),
            Account.mfa_used_steps.set(str(step)),
            Account.mfa_enrolled_at.set(now),
            Account.updated_at.set(now),
        ],
        condition=(Account.mfa_pending_secret == secret) & Account.mfa_secret.does_not_exist(),
    ))


def account_read(account_id: str) -> RowRead:
    """The account, as a read to make together with the session (the code's check needs its secret)."""
    return RowRead(Account, account_id, lambda raw: Account.from_raw_data(raw) if raw else None)


def use_step(account: Account, steps: list[int], *, whole_session: str | None = None,
             event: AuditEvent | None = None) -> bool:
    """Record the used steps as `steps` (the newly used one and the recent ones still worth
    remembering), only if nobody changed them since `account` was read: a code raced by another
    request with the same code is used once. False when they changed.

    In the same transaction, the session whose token hash is `whole_session` no longer owes its
    factor and `event` is appended to the audit trail: a sign-in's code costs one write."""
    before = account.mfa_used_steps
    unchanged = Account.mfa_used_steps.does_not_exist() if before is None else Account.mfa_used_steps == before

    def write(tx: TransactWrite) -> None:
        tx.update(account, actions=[Account.mfa_used_steps.set(" ".join(str(step) for step in steps))],
                  condition=unchanged & (Account.mfa_secret == account.mfa_secret))
        if whole_session is not None:
            tx.update(Session(whole_session), actions=[Session.mfa.set("none")], condition=Session.token_hash.exists())
        if event is not None:
            tx.save(event, condition=AuditEvent.id.does_not_exist())

    return transact(write)


def use_recovery_code(account: Account, tag: str, code_hash: str) -> bool:
    """Remove one recovery code, only if it is still there: False when another request used it."""
    return conditional(lambda: account.update(
        actions=[Account.mfa_recovery_codes[tag].remove()],
        condition=Account.mfa_recovery_codes[tag] == code_hash,
    ))


def remove(account: Account, now: datetime) -> None:
    """No second factor any more (removed by its owner, or reset by an admin)."""
    account.update(actions=[
        Account.mfa_secret.remove(),
        Account.mfa_pending_secret.remove(),
        Account.mfa_recovery_codes.remove(),
        Account.mfa_used_steps.remove(),
        Account.mfa_enrolled_at.remove(),
        Account.updated_at.set(now),
    ])
