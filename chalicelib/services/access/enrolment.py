"""Enrolling with the code of an enrolment letter (`POST /api/auth/enrol`, the "I have an enrolment
code" page): the code and the patient's date of birth, then a username and a password of their own;
the answer is a session, as a sign-in's.

A wrong code, a used or expired one, a locked one and a wrong date of birth all answer the same
401 `invalid_code`, and each counts against the client address's limit of failed sign-ins (the
sign-in's own counter: too many, and sign-ins and enrolments from that address answer 429). A
wrong date of birth also counts against the code: the fifth locks it (the office prints a new
letter). The username and the password are looked at only once the code and the date of birth are
right, so a guesser learns nothing about usernames.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.clock import clock
from chalicelib.errors import Conflict, InvalidCode, RateLimited
from chalicelib.i18n import N_
from chalicelib.observability import logger, metrics
from chalicelib.services import audit
from chalicelib.services.access import passwords, ratelimit, sessions, sign_in
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.mfa_policy import owed_at_sign_in
from chalicelib.services.access.sessions import NewSession
from chalicelib.services.accounts import letters, registry
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import enrolment as enrolment_store
from chalicelib.store.accounts import Account, UniqueTaken
from chalicelib.store.base import read_together
from chalicelib.vocabulary import Role

# Wrong dates of birth a code takes before it is locked.
MAX_FAILURES = 5
_HOUR = 3600


def _refused(caller: Caller, account: Account | None, outcome: str) -> InvalidCode:
    """Every refusal looks the same; each counts against the client address."""
    ratelimit.hit(sign_in.client_failures_key(caller), get_settings().login_failures_per_client_per_hour, _HOUR)
    if account is None:
        audit.record_for(caller, "auth.enrol", outcome=outcome)
    else:
        audit.record_about(caller, "auth.enrol", account, outcome=outcome, as_actor=True)
    metrics.add_metric(name="EnrolmentRefused", unit="Count", value=1)
    return InvalidCode(N_("The enrolment code or the date of birth is not correct, or the code has expired or "
                          "was used."), field="code")


def _account_of(caller: Caller, code_hash: str) -> Account | None:
    """The account the code names, once the client address is known not to be over its limit (read
    in the same round trip as the code's owner)."""
    limit = get_settings().login_failures_per_client_per_hour
    failures = ratelimit.count_read(sign_in.client_failures_key(caller), _HOUR)
    owner_id, failed = read_together(account_store.owner_read(enrolment_store.code_key(code_hash)), failures)
    if failed >= limit:
        audit.record_for(caller, "auth.enrol", outcome="rate_limited_client")
        raise RateLimited(ratelimit.seconds_left(_HOUR))
    return account_store.get(owner_id) if owner_id else None


def _why_not(account: Account | None, code_hash: str, now: datetime) -> str | None:
    """Why the code cannot be used now (None: it can)."""
    if account is None or account.role != Role.PATIENT:
        return "unknown_code"
    if account.enrolment_code_hash != code_hash:
        return "replaced"
    if account.has_signed_in:
        return "used"
    if account.disabled_at is not None:
        return "access_closed"
    if account.enrolment_expires_at is None or account.enrolment_expires_at <= now:
        return "expired"
    if int(account.enrolment_failures or 0) >= MAX_FAILURES:
        return "locked"
    return None


def enrol(caller: Caller, code: str, date_of_birth: str, username: str, password: str) -> NewSession:
    """The letter's code and the patient's date of birth open the account with the username and
    password chosen; a session as a sign-in's (no password change owed)."""
    typed = letters.normalized(code)
    code_hash = letters.code_hash(typed or code)
    account = _account_of(caller, code_hash)
    if typed is None:
        raise _refused(caller, None, "malformed_code")
    now = clock.now()
    problem = _why_not(account, code_hash, now)
    if problem or account is None:
        raise _refused(caller, account, problem or "unknown_code")
    if account.date_of_birth != date_of_birth.strip():
        failures = enrolment_store.record_failure(account, code_hash)
        if failures >= MAX_FAILURES:
            logger.warning("enrolment code locked", extra={"account_id": account.id})
        raise _refused(caller, account, "locked_now" if failures >= MAX_FAILURES else "wrong_date_of_birth")
    username = registry.valid_username(username)
    if account_store.owner_of(account_store.username_key(username)) not in (None, account.id):
        audit.record_about(caller, "auth.enrol", account, outcome="username_taken", as_actor=True)
        raise Conflict(N_("That username is taken."), field="username", code="username_taken")
    try:
        passwords.check_policy(password, name=account.name, email=account.email or "", username=username)
    except passwords.WeakPassword as weak:
        audit.record_about(caller, "auth.enrol", account, outcome="weak_password", as_actor=True)
        raise passwords.WeakPassword(weak.message_id, field="password", params=weak.params) from None
    try:
        used = enrolment_store.enrol(account, code_hash, username, passwords.hash_password(password), now,
                                     MAX_FAILURES)
    except UniqueTaken:
        audit.record_about(caller, "auth.enrol", account, outcome="username_taken", as_actor=True)
        raise Conflict(N_("That username is taken."), field="username", code="username_taken") from None
    if not used:
        raise _refused(caller, account, "used_meanwhile")
    session = sessions.create(account.id, account.role, version=account_store.session_version(account),
                              must_change_password=False, client_ip=caller.client_ip,
                              mfa=owed_at_sign_in(account), user_agent=caller.user_agent)
    audit.record_about(caller, "auth.enrol", account, as_actor=True)
    metrics.add_metric(name="Enrolled", unit="Count", value=1)
    return session
