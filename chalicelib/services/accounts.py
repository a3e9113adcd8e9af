"""Accounts: registration, sign-in, temporary passwords, lockout, recovery and My Profile.

Every change to an account is mailed to the address on file before it is made, and audited.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, Conflict, Forbidden, InvalidCredentials, NotFound, RateLimited
from chalicelib.mail import sender
from chalicelib.observability import logger
from chalicelib.services import audit, passwords, ratelimit, sessions
from chalicelib.services.sessions import NewSession, Principal
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import work as work_store
from chalicelib.store.accounts import Account, UniqueTaken
from chalicelib.store.base import read_together

USERNAME_RE = re.compile(r"^[A-Za-z0-9._@+\-]{3,128}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
MAX_LOCK = timedelta(hours=24)

FORGOT_PASSWORD_ANSWER = (
    "If that username belongs to a portal account, a temporary password has been emailed to the "
    "address on file."
)
FORGOT_USERNAME_ANSWER = "Thank you. Someone from our office will contact you to help you sign in."


@dataclass(frozen=True)
class Caller:
    """Who asks, from where: what the audit trail records with each change."""

    principal: Principal | None
    client_ip: str | None

    @property
    def actor_id(self) -> str | None:
        return self.principal.account_id if self.principal else None

    @property
    def actor_role(self) -> str | None:
        return self.principal.role if self.principal else None


def _audit(caller: Caller, action: str, *, patient_id: str | None = None, target_id: str | None = None,
           outcome: str = "ok", detail: dict | None = None, actor: Account | None = None) -> None:
    """`actor` names who acted when there is no session yet (sign-in, forgot password)."""
    actor_id = caller.actor_id or (actor.id if actor else None)
    actor_role = caller.actor_role or (actor.role if actor else None)
    audit.record(action, outcome=outcome, actor_id=actor_id, actor_role=actor_role,
                 patient_id=patient_id, target_id=target_id, client_ip=caller.client_ip, detail=detail)


def _audit_account(caller: Caller, action: str, account: Account, *, outcome: str = "ok",
                   detail: dict | None = None, as_actor: bool = False) -> None:
    """An event about one account: its patient id (for patients) and its id as the target."""
    _audit(caller, action, patient_id=_patient_of(account), target_id=account.id, outcome=outcome,
           detail=detail, actor=account if as_actor else None)


def _patient_of(account: Account) -> str | None:
    return account.id if account.role == "patient" else None


def valid_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise BadRequest("email: not a valid email address.", code="invalid_email")
    return email


def _not_blank(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise BadRequest(f"{field}: must not be blank.", code="invalid_request")
    return value


def valid_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise BadRequest(
            "username: use 3 to 128 letters, digits or . _ @ + - (an email address works too).",
            code="invalid_username",
        )
    return username


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "email": account.email,
        "name": account.name,
        "role": account.role,
        "email_status": account.email_status,
    }


def patient_json(account: Account) -> dict[str, Any]:
    return {
        **account_json(account),
        "mrn": account.mrn,
        "date_of_birth": account.date_of_birth,
        "has_signed_in": bool(account.has_signed_in),
        "locked": bool(account.locked_until and account.locked_until > clock.now()),
        "created_at": iso(account.created_at),
    }


# ---------------------------------------------------------------- temporary passwords

def _temporary_password(hours: int) -> tuple[str, list]:
    """A fresh temporary password and the update actions that store it (voiding any older one)."""
    temporary = passwords.new_temporary_password()
    actions = [
        Account.temp_password_hash.set(passwords.hash_password(temporary)),
        Account.temp_password_expires_at.set(clock.now() + timedelta(hours=hours)),
    ]
    return temporary, actions


def issue_temporary_password(account: Account, hours: int) -> str:
    """A fresh single-use temporary password; it voids any older one. Returns the plain text,
    which only ever goes into the one mail that carries it."""
    temporary, actions = _temporary_password(hours)
    account_store.update(account, actions)
    return temporary


def _send_mail(account: Account, template: str, to: str | None = None, **context) -> str:
    """Send an account mail; "sent" or "failed". A failed mail is logged and audited by the caller
    and never turns the answer into an error: a sign-in refusal must look the same either way."""
    try:
        sender.send(to or account.email, template, **context)
        return "sent"
    except sender.MailError as err:
        logger.warning("account mail failed", extra={"account_id": account.id, "template": template, "error_code": err.code})
    except Exception:  # noqa: BLE001 - see the docstring
        logger.exception("account mail failed", extra={"account_id": account.id, "template": template})
    return "failed"


# ---------------------------------------------------------------- registration

def _new_account(*, role: str, username: str, name: str, email: str, date_of_birth: str | None = None,
                 mrn: str | None = None, temporary_hours: int | None = None) -> tuple[Account, str | None]:
    """A new account (not yet saved), with a temporary password when `temporary_hours` is given:
    it is stored in the same write that creates the account, so no account exists without one."""
    now = clock.now()
    prefix = "p_" if role == "patient" else "s_"
    account = Account(
        prefix + secrets.token_hex(10),
        role=role,
        username=username,
        name=name,
        email=email,
        email_status="ok",
        date_of_birth=date_of_birth,
        mrn=mrn,
        search_shard=account_store.PATIENT_SHARD if role == "patient" else None,
        name_lower=name.casefold() if role == "patient" else None,
        has_signed_in=False,
        failed_logins=0,
        lock_count=0,
        created_at=now,
        updated_at=now,
    )
    temporary = None
    if temporary_hours is not None:
        temporary = passwords.new_temporary_password()
        account.temp_password_hash = passwords.hash_password(temporary)
        account.temp_password_expires_at = now + timedelta(hours=temporary_hours)
    return account, temporary


def register_patient(caller: Caller, *, name: str, date_of_birth: str, email: str, mrn: str) -> Account:
    """The username defaults to the email on file; the invitation carries a temporary password.
    The account and the claims on its username and MRN are one transaction."""
    name, mrn = _not_blank("name", name), _not_blank("mrn", mrn)
    email = valid_email(email)
    hours = get_settings().invitation_hours
    account, temporary = _new_account(role="patient", username=email, name=name, email=email,
                                      date_of_birth=date_of_birth, mrn=mrn, temporary_hours=hours)
    try:
        account_store.create(account)
    except UniqueTaken as taken:
        _audit(caller, "patient.register", outcome="conflict", detail={"field": taken.field})
        if taken.field == "mrn":
            raise Conflict("mrn: a patient with this MRN is already registered.", code="mrn_taken") from None
        raise Conflict("username: an account with this email as username already exists.", code="username_taken") from None
    mail = _send_mail(account, "invitation", username=account.username, temporary_password=temporary, hours=hours)
    _audit_account(caller, "patient.register", account, detail={"invitation": mail})
    return account


def create_staff(caller: Caller, *, username: str, email: str, name: str, role: str) -> Account:
    if role not in ("staff", "admin"):
        raise BadRequest("role: must be staff or admin.", code="invalid_role")
    hours = get_settings().invitation_hours
    account, temporary = _new_account(role=role, username=valid_username(username), name=_not_blank("name", name),
                                      email=valid_email(email), temporary_hours=hours)
    try:
        account_store.create(account)
    except UniqueTaken:
        _audit(caller, "staff.create", outcome="conflict", detail={"field": "username", "role": role})
        raise Conflict("username: that username is taken.", code="username_taken") from None
    mail = _send_mail(account, "staff_welcome", username=account.username, temporary_password=temporary, hours=hours)
    _audit_account(caller, "staff.create", account, detail={"role": role, "welcome": mail})
    return account


def ensure_account(role: str, username: str, password: str, email: str, name: str, *,
                   enforce_policy: bool = True) -> Account:
    """An account with a chosen password, for bootstrapping (the local stack, `portal create-admin`).
    An existing username is returned as it is (also when a second process creates it at the same
    moment). The operator's own first-admin password may skip the policy (the local stack warns)."""
    existing = account_store.find_by_username(username)
    if existing is not None:
        return existing
    if enforce_policy:
        passwords.check_policy(password, name=name, email=email, username=username)
    account, _ = _new_account(role=role, username=valid_username(username), name=name, email=valid_email(email))
    account.password_hash = passwords.hash_password(password)
    account.has_signed_in = True
    try:
        account_store.create(account)
    except UniqueTaken:
        existing = account_store.find_by_username(username)
        if existing is None:
            raise
        return existing
    audit.record("staff.create", actor_role="system", target_id=account.id, patient_id=_patient_of(account),
                 detail={"role": role, "via": "bootstrap"})
    return account


# ---------------------------------------------------------------- sign-in

def _lock_period(lock_count: int) -> timedelta:
    """15 minutes, then 30, 60, … (doubling with each lock since the last good sign-in), 24 h at most."""
    return min(timedelta(minutes=get_settings().lockout_base_minutes) * (2 ** min(lock_count, 16)), MAX_LOCK)


def _record_failure(account: Account, caller: Caller) -> None:
    """Count a failed sign-in atomically; the request that reaches the threshold locks the account.
    The lock is a conditional update, so concurrent failures lock (and mail) once, and a request
    that lost the race cannot stretch the lock."""
    settings = get_settings()
    account_store.update(account, [Account.failed_logins.add(1)])  # refreshes `account` with the new count
    if account.failed_logins < settings.lockout_threshold:
        return
    now = clock.now()
    locked_until = now + _lock_period(account.lock_count or 0)
    if not account_store.update(
        account,
        [Account.failed_logins.set(0), Account.lock_count.add(1), Account.locked_until.set(locked_until)],
        condition=(Account.failed_logins >= settings.lockout_threshold)
        & (Account.locked_until.does_not_exist() | (Account.locked_until <= now)),
    ):
        return  # another request locked it a moment ago
    mail = _send_mail(account, "account_locked", locked_until=iso(locked_until))
    _audit_account(caller, "account.locked", account, detail={"until": iso(locked_until), "mail": mail})


def _refuse(caller: Caller, account: Account | None, outcome: str) -> InvalidCredentials:
    """A failed sign-in: counted against the client address, audited, answered like any other."""
    ratelimit.hit(_failures_key(caller), get_settings().login_failures_per_client_per_hour, _HOUR)
    if account is None:
        _audit(caller, "auth.login", outcome=outcome)
    else:
        _audit_account(caller, "auth.login", account, outcome=outcome, as_actor=True)
    return InvalidCredentials()


_HOUR = 3600


def _failures_key(caller: Caller) -> str:
    return f"login-failures-ip#{caller.client_ip}"


def _find_for_sign_in(caller: Caller, username: str) -> Account | None:
    """The account behind `username`, once the client address is known not to be over its limit of
    failed sign-ins (across all usernames: the lockout guards each account, this stops one address
    trying passwords across many). The username's owner and the address's failures are read in one
    round trip; the limit is checked before any account is, so the 429 says nothing about one."""
    limit = get_settings().login_failures_per_client_per_hour
    failures = ratelimit.count_read(_failures_key(caller), _HOUR)
    owner_id = None
    if username:
        owner_id, failed = read_together(account_store.owner_read(account_store.username_key(username)), failures)
    else:
        [failed] = read_together(failures)
    if failed >= limit:
        _audit(caller, "auth.login", outcome="rate_limited_client")
        raise RateLimited(ratelimit.seconds_left(_HOUR))
    return account_store.get(owner_id) if owner_id else None


def login(caller: Caller, username: str, password: str) -> NewSession:
    """Unknown username, wrong password and locked account all answer InvalidCredentials, and
    every attempt pays for exactly one Argon2 verification: the password's shape says whether it
    is checked against the temporary password or the chosen one (no chosen password has that shape)."""
    account = _find_for_sign_in(caller, username.strip())
    now = clock.now()
    if account is None:
        passwords.verify(None, password)
        raise _refuse(caller, None, "unknown_user")
    if account.locked_until and account.locked_until > now:
        passwords.verify(None, password)
        raise _refuse(caller, account, "locked")
    if passwords.looks_temporary(password):
        temp_hash = account.temp_password_hash
        current = temp_hash if account.temp_password_expires_at and account.temp_password_expires_at > now else None
        if passwords.verify(current, password):
            return _temporary_sign_in(caller, account, temp_hash)
    elif passwords.verify(account.password_hash, password):
        if account.failed_logins or account.lock_count or account.locked_until:
            account_store.update(account, [Account.failed_logins.set(0), Account.lock_count.set(0),
                                           Account.locked_until.remove()])
        session = sessions.create(account.id, account.role, must_change_password=False, client_ip=caller.client_ip)
        _audit_account(caller, "auth.login", account, as_actor=True)
        return session
    _record_failure(account, caller)
    raise _refuse(caller, account, "bad_password")


def _temporary_sign_in(caller: Caller, account: Account, temp_hash: str) -> NewSession:
    """Single use: the temporary password leaves the account (only if it is still the same one;
    a concurrent second use loses), and so does the old password, which works only until the
    temporary one is used. The temporary password lives on in this session alone, for the
    forced change."""
    if not account_store.update(
        account,
        [Account.temp_password_hash.remove(), Account.temp_password_expires_at.remove(),
         Account.password_hash.remove(), Account.failed_logins.set(0), Account.updated_at.set(clock.now())],
        condition=Account.temp_password_hash == temp_hash,
    ):
        raise _refuse(caller, account, "temporary_password_used")
    session = sessions.create(account.id, account.role, must_change_password=True,
                              client_ip=caller.client_ip, temp_password_hash=temp_hash)
    _audit_account(caller, "auth.login", account, detail={"temporary_password": True}, as_actor=True)
    return session


def logout(caller: Caller) -> None:
    sessions.end(caller.principal)
    _audit(caller, "auth.logout", target_id=caller.actor_id)


def _load(principal: Principal) -> Account:
    account = account_store.get(principal.account_id)
    if account is None:
        raise NotFound("The account no longer exists.")
    return account


def _check_current_password(caller: Caller, account: Account, current_password: str, action: str) -> None:
    """The current password (the temporary one in a forced-change session). Failures count towards
    the lockout like sign-in failures, so a borrowed session cannot guess it without limit."""
    principal = caller.principal
    locked = bool(account.locked_until and account.locked_until > clock.now())
    expected = principal.temp_password_hash if principal.must_change_password else account.password_hash
    if passwords.verify(None if locked else expected, current_password):
        return
    if not locked:
        _record_failure(account, caller)
    _audit_account(caller, action, account, outcome="locked" if locked else "bad_password")
    raise InvalidCredentials("current_password: the current password is not correct.")


def change_password(caller: Caller, current_password: str, new_password: str) -> None:
    """Mailed to the address on file first; then the new hash replaces the old one, any pending
    temporary password is voided, and every other session of the account ends."""
    principal = caller.principal
    account = _load(principal)
    _check_current_password(caller, account, current_password, "account.password_change")
    try:
        passwords.check_policy(new_password, name=account.name, email=account.email, username=account.username)
    except passwords.WeakPassword:
        _audit_account(caller, "account.password_change", account, outcome="weak_password")
        raise
    mail = _send_mail(account, "password_changed")
    account_store.update(
        account,
        [
            Account.password_hash.set(passwords.hash_password(new_password)),
            Account.temp_password_hash.remove(),
            Account.temp_password_expires_at.remove(),
            Account.has_signed_in.set(True),
            Account.failed_logins.set(0),
            Account.updated_at.set(clock.now()),
        ],
    )
    ended = sessions.end_others(account.id, keep=principal.token_hash)
    if principal.must_change_password:
        sessions.upgrade(principal)
    _audit_account(caller, "account.password_change", account, detail={"other_sessions_ended": ended, "mail": mail})


# ---------------------------------------------------------------- recovery

def forgot_password(caller: Caller, username: str) -> str:
    """Always the same answer, after the same work: per client address too many requests get 429
    (that says nothing about any account), and every other request queues a recovery job, which
    `recovery.handle` runs later (look-up, per-account limit, the mail). The old password keeps
    working until the temporary one is used."""
    settings = get_settings()
    allowed, retry_after = ratelimit.hit(f"forgot-password-ip#{caller.client_ip}",
                                         settings.forgot_password_per_client_per_hour, 3600)
    if not allowed:
        _audit(caller, "auth.forgot_password", outcome="rate_limited_client")
        raise RateLimited(retry_after)
    # Imported here: recovery builds on this module.
    from chalicelib.services import recovery

    recovery.enqueue(caller, username.strip())
    return FORGOT_PASSWORD_ANSWER


def audit_forgot_password(caller: Caller, account: Account | None, *, outcome: str = "ok",
                          detail: dict | None = None) -> None:
    """A recovery job's outcome, with the account it named when there is one."""
    if account is None:
        _audit(caller, "auth.forgot_password", outcome=outcome, detail=detail)
    else:
        _audit_account(caller, "auth.forgot_password", account, outcome=outcome, detail=detail, as_actor=True)


def forgot_username(caller: Caller, form: dict[str, Any]) -> str:
    """The form goes to the staff forms queue whether or not anything matches."""
    settings = get_settings()
    allowed, retry_after = ratelimit.hit(f"forgot-username-ip#{caller.client_ip}",
                                         settings.forgot_password_per_client_per_hour, 3600)
    if not allowed:
        _audit(caller, "forms.forgot_username", outcome="rate_limited_client")
        raise RateLimited(retry_after)
    entry_id = "form_" + secrets.token_hex(10)
    work_store.add(work_store.WorkEntry(entry_id, kind="form", created_at=clock.now(),
                                        reason="forgot_username", data={k: v for k, v in form.items() if v}))
    _audit(caller, "forms.forgot_username", target_id=entry_id)
    return FORGOT_USERNAME_ANSWER


# ---------------------------------------------------------------- My Profile

def me(principal: Principal) -> dict[str, Any]:
    return account_json(_load(principal))


def change_username(caller: Caller, username: str, current_password: str) -> str:
    """Any unused valid name, email-shaped or not. The look-up first only spares a mail about a
    name that is plainly taken; the rename transaction is what guarantees one owner per name."""
    account = _load(caller.principal)
    username = valid_username(username)
    _check_current_password(caller, account, current_password, "account.username_change")
    old = account.username
    if account_store.owner_of(account_store.username_key(username)) not in (None, account.id):
        _audit_account(caller, "account.username_change", account, outcome="conflict")
        raise Conflict("username: that username is taken.", code="username_taken")
    mail = _send_mail(account, "username_changed")
    try:
        account_store.rename(account, username, clock.now())
    except UniqueTaken:
        _audit_account(caller, "account.username_change", account, outcome="conflict")
        raise Conflict("username: that username is taken.", code="username_taken") from None
    _audit_account(caller, "account.username_change", account, detail={"mail": mail, "old_username": old})
    return account.username


def _set_email(account: Account, email: str) -> None:
    account_store.update(
        account,
        [
            Account.email.set(email),
            Account.email_lower.set(account_store.email_lower(email)),
            Account.email_status.set("ok"),
            Account.email_bad_reason.remove(),
            Account.email_bad_at.remove(),
            Account.bad_email_shard.remove(),
            Account.updated_at.set(clock.now()),
        ],
    )


def _mail_email_change(account: Account, new_email: str) -> dict[str, str]:
    """Before the change: to the address on file, then to the new one."""
    return {
        "mail_old_address": _send_mail(account, "email_changed", to=account.email, is_new_address=False),
        "mail_new_address": _send_mail(account, "email_changed", to=new_email, is_new_address=True),
    }


def change_email(caller: Caller, email: str, current_password: str) -> str:
    """The username never changes with the email, even when it is the old address."""
    account = _load(caller.principal)
    email = valid_email(email)
    _check_current_password(caller, account, current_password, "account.email_change")
    mails = _mail_email_change(account, email)
    _set_email(account, email)
    _audit_account(caller, "account.email_change", account, detail=mails)
    return email


def staff_change_email(caller: Caller, patient_id: str, email: str) -> Account:
    account = get_patient(patient_id)
    email = valid_email(email)
    mails = _mail_email_change(account, email)
    _set_email(account, email)
    _audit_account(caller, "patient.email_change", account, detail=mails)
    return account


# ---------------------------------------------------------------- staff views

def get_patient(patient_id: str) -> Account:
    account = account_store.get(patient_id)
    if account is None or account.role != "patient":
        raise NotFound("No patient with that id.")
    return account


def _date_searched(query: str) -> str | None:
    """The date of birth a search is, as stored (YYYY-MM-DD): typed so, or US style MM/DD/YYYY."""
    for typed in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(query, typed).date().isoformat()
        except ValueError:
            continue
    return None


def search_patients(caller: Caller, query: str) -> list[dict[str, Any]]:
    """By exact MRN, username or email, date of birth, or words of the name (see the store).
    Every patient shown in the results is an access to that patient's record: one audit event
    each (the query itself may be a name, so it is not recorded)."""
    query = query.strip()[:100]
    found = account_store.search_patients(query, date_of_birth=_date_searched(query))
    _audit(caller, "patient.search", detail={"results": len(found)})
    for account in found:
        _audit_account(caller, "patient.search_result", account)
    return [patient_json(account) for account in found]


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden("Your account is not allowed to do this.")
