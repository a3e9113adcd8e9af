"""Accounts: registration, sign-in, temporary passwords, lockout, recovery and My Profile.

Every change to an account is mailed to the address on file before it is made, and audited.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
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
           outcome: str = "ok", detail: dict | None = None) -> None:
    audit.record(action, outcome=outcome, actor_id=caller.actor_id, actor_role=caller.actor_role,
                 patient_id=patient_id, target_id=target_id, client_ip=caller.client_ip, detail=detail)


def _patient_of(account: Account) -> str | None:
    return account.id if account.role == "patient" else None


def valid_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise BadRequest("email: not a valid email address.", code="invalid_email")
    return email


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

def issue_temporary_password(account: Account, hours: int) -> str:
    """A fresh single-use temporary password; it voids any older one. Returns the plain text,
    which only ever goes into the one mail that carries it."""
    temporary = passwords.new_temporary_password()
    expires = clock.now() + timedelta(hours=hours)
    account_store.update(
        account,
        [
            Account.temp_password_hash.set(passwords.hash_password(temporary)),
            Account.temp_password_expires_at.set(expires),
        ],
    )
    return temporary


def _send_mail(account: Account, template: str, to: str | None = None, **context) -> bool:
    """Account mails; a mail that SES refuses is logged and does not undo the change."""
    try:
        sender.send(to or account.email, template, **context)
        return True
    except sender.MailError as err:
        logger.warning("account mail failed", extra={"account_id": account.id, "template": template, "error_code": err.code})
        return False


# ---------------------------------------------------------------- registration

def _new_account(*, role: str, username: str, name: str, email: str, date_of_birth: str | None = None,
                 mrn: str | None = None) -> Account:
    now = clock.now()
    prefix = "p_" if role == "patient" else "s_"
    return Account(
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


def register_patient(caller: Caller, *, name: str, date_of_birth: str, email: str, mrn: str) -> Account:
    """The username defaults to the email on file; the invitation carries a temporary password."""
    email = valid_email(email)
    account = _new_account(role="patient", username=email, name=name.strip(), email=email,
                           date_of_birth=date_of_birth, mrn=mrn.strip())
    try:
        account_store.create(account)
    except UniqueTaken as taken:
        _audit(caller, "patient.register", outcome="conflict", detail={"field": taken.field})
        if taken.field == "mrn":
            raise Conflict("mrn: a patient with this MRN is already registered.", code="mrn_taken") from None
        raise Conflict("username: an account with this email as username already exists.", code="username_taken") from None
    _audit(caller, "patient.register", patient_id=account.id, target_id=account.id)
    hours = get_settings().invitation_hours
    temporary = issue_temporary_password(account, hours)
    _send_mail(account, "invitation", username=account.username, temporary_password=temporary, hours=hours)
    return account


def create_staff(caller: Caller, *, username: str, email: str, name: str, role: str) -> Account:
    if role not in ("staff", "admin"):
        raise BadRequest("role: must be staff or admin.", code="invalid_role")
    account = _new_account(role=role, username=valid_username(username), name=name.strip(), email=valid_email(email))
    try:
        account_store.create(account)
    except UniqueTaken:
        raise Conflict("username: that username is taken.", code="username_taken") from None
    _audit(caller, "staff.create", target_id=account.id, detail={"role": role})
    hours = get_settings().invitation_hours
    temporary = issue_temporary_password(account, hours)
    _send_mail(account, "staff_welcome", username=account.username, temporary_password=temporary, hours=hours)
    return account


def ensure_account(role: str, username: str, password: str, email: str, name: str, *,
                   enforce_policy: bool = True) -> Account:
    """An account with a chosen password, for bootstrapping (the local stack, `portal create-admin`).
    An existing username is returned as it is. The operator's own first-admin password may skip
    the policy (the local stack warns when it does)."""
    existing = account_store.find_by_username(username)
    if existing is not None:
        return existing
    if enforce_policy:
        passwords.check_policy(password, name=name, email=email, username=username)
    account = _new_account(role=role, username=valid_username(username), name=name, email=valid_email(email))
    account.password_hash = passwords.hash_password(password)
    account.has_signed_in = True
    account_store.create(account)
    audit.record("staff.create", target_id=account.id, detail={"role": role, "via": "bootstrap"})
    return account


# ---------------------------------------------------------------- sign-in

def _lock_period(lock_count: int) -> timedelta:
    return min(timedelta(minutes=get_settings().lockout_base_minutes) * (2 ** lock_count), MAX_LOCK)


def _record_failure(account: Account, caller: Caller) -> None:
    settings = get_settings()
    account_store.update(account, [Account.failed_logins.add(1)])
    if account.failed_logins < settings.lockout_threshold:
        return
    now = clock.now()
    locked_until = now + _lock_period(account.lock_count or 0)
    account_store.update(
        account,
        [Account.failed_logins.set(0), Account.lock_count.add(1), Account.locked_until.set(locked_until)],
    )
    _audit(caller, "account.locked", patient_id=_patient_of(account), target_id=account.id,
           detail={"until": iso(locked_until)})
    _send_mail(account, "account_locked", locked_until=iso(locked_until))


def login(caller: Caller, username: str, password: str) -> NewSession:
    """Unknown username, wrong password and locked account all answer InvalidCredentials, and
    each pays for one Argon2 verification."""
    account = account_store.find_by_username(username.strip()) if username.strip() else None
    now = clock.now()
    if account is None:
        passwords.verify(None, password)
        _audit(caller, "auth.login", outcome="unknown_user")
        raise InvalidCredentials()
    if account.locked_until and account.locked_until > now:
        passwords.verify(None, password)
        _audit(caller, "auth.login", outcome="locked", patient_id=_patient_of(account), target_id=account.id)
        raise InvalidCredentials()
    if account.password_hash and passwords.verify(account.password_hash, password):
        if account.failed_logins or account.lock_count or account.locked_until:
            account_store.update(account, [Account.failed_logins.set(0), Account.lock_count.set(0),
                                           Account.locked_until.remove()])
        session = sessions.create(account.id, account.role, must_change_password=False, client_ip=caller.client_ip)
        _audit(caller, "auth.login", patient_id=_patient_of(account), target_id=account.id)
        return session
    temp_hash = account.temp_password_hash
    if (temp_hash and account.temp_password_expires_at and account.temp_password_expires_at > now
            and passwords.verify(temp_hash, password)):
        # Single use: the temporary password leaves the account (only if it is still the same one)
        # and lives on in this session only, for the forced change.
        try:
            account_store.update(
                account,
                [Account.temp_password_hash.remove(), Account.temp_password_expires_at.remove(),
                 Account.failed_logins.set(0)],
                condition=Account.temp_password_hash == temp_hash,
            )
        except account_store.UpdateError:
            raise InvalidCredentials() from None
        session = sessions.create(account.id, account.role, must_change_password=True,
                                  client_ip=caller.client_ip, temp_password_hash=temp_hash)
        _audit(caller, "auth.login", patient_id=_patient_of(account), target_id=account.id,
               detail={"temporary_password": True})
        return session
    if not account.password_hash and not temp_hash:
        passwords.verify(None, password)
    _record_failure(account, caller)
    _audit(caller, "auth.login", outcome="bad_password", patient_id=_patient_of(account), target_id=account.id)
    raise InvalidCredentials()


def logout(caller: Caller) -> None:
    sessions.end(caller.principal)
    _audit(caller, "auth.logout", target_id=caller.actor_id)


def _load(principal: Principal) -> Account:
    account = account_store.get(principal.account_id)
    if account is None:
        raise NotFound("The account no longer exists.")
    return account


def _check_current_password(caller: Caller, account: Account, current_password: str, action: str) -> None:
    principal = caller.principal
    if principal.must_change_password:
        ok = passwords.verify(principal.temp_password_hash, current_password)
    else:
        ok = passwords.verify(account.password_hash, current_password)
    if not ok:
        _audit(caller, action, outcome="bad_password", patient_id=_patient_of(account), target_id=account.id)
        raise InvalidCredentials("current_password: the current password is not correct.")


def change_password(caller: Caller, current_password: str, new_password: str) -> None:
    principal = caller.principal
    account = _load(principal)
    _check_current_password(caller, account, current_password, "account.password_change")
    try:
        passwords.check_policy(new_password, name=account.name, email=account.email, username=account.username)
        if principal.temp_password_hash and passwords.verify(principal.temp_password_hash, new_password):
            raise passwords.WeakPassword("new_password: a temporary password cannot become your password.")
    except passwords.WeakPassword:
        _audit(caller, "account.password_change", outcome="weak_password", patient_id=_patient_of(account),
               target_id=account.id)
        raise
    _send_mail(account, "password_changed")
    account_store.update(
        account,
        [
            Account.password_hash.set(passwords.hash_password(new_password)),
            Account.has_signed_in.set(True),
            Account.failed_logins.set(0),
            Account.updated_at.set(clock.now()),
        ],
    )
    ended = sessions.end_others(account.id, keep=principal.token_hash)
    if principal.must_change_password:
        sessions.upgrade(principal)
    _audit(caller, "account.password_change", patient_id=_patient_of(account), target_id=account.id,
           detail={"other_sessions_ended": ended})


# ---------------------------------------------------------------- recovery

def forgot_password(caller: Caller, username: str) -> str:
    """Always the same answer. Per client address too many requests get 429 (that says nothing
    about any account); per account, requests past the limit are quietly not mailed."""
    settings = get_settings()
    allowed, retry_after = ratelimit.hit(f"forgot-password-ip#{caller.client_ip}",
                                         settings.forgot_password_per_client_per_hour, 3600)
    if not allowed:
        raise RateLimited(retry_after)
    account = account_store.find_by_username(username.strip()) if username.strip() else None
    if account is None:
        _audit(caller, "auth.forgot_password", outcome="unknown_user")
        return FORGOT_PASSWORD_ANSWER
    allowed, _ = ratelimit.hit(f"forgot-password-account#{account.id}",
                               settings.forgot_password_per_account_per_hour, 3600)
    if not allowed or account.email_status == "bad":
        outcome = "rate_limited" if not allowed else "bad_email"
        _audit(caller, "auth.forgot_password", outcome=outcome, patient_id=_patient_of(account), target_id=account.id)
        return FORGOT_PASSWORD_ANSWER
    temporary = issue_temporary_password(account, settings.reset_hours)
    _send_mail(account, "password_reset", temporary_password=temporary, hours=settings.reset_hours)
    _audit(caller, "auth.forgot_password", patient_id=_patient_of(account), target_id=account.id)
    return FORGOT_PASSWORD_ANSWER


def forgot_username(caller: Caller, form: dict[str, Any]) -> str:
    """The form goes to the staff forms queue whether or not anything matches."""
    settings = get_settings()
    allowed, retry_after = ratelimit.hit(f"forgot-username-ip#{caller.client_ip}",
                                         settings.forgot_password_per_client_per_hour, 3600)
    if not allowed:
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
    account = _load(caller.principal)
    username = valid_username(username)
    _check_current_password(caller, account, current_password, "account.username_change")
    if account_store.owner_of(account_store.username_key(username)) not in (None, account.id):
        _audit(caller, "account.username_change", outcome="conflict", patient_id=_patient_of(account), target_id=account.id)
        raise Conflict("username: that username is taken.", code="username_taken")
    _send_mail(account, "username_changed")
    try:
        account_store.rename(account, username, clock.now())
    except UniqueTaken:
        _audit(caller, "account.username_change", outcome="conflict", patient_id=_patient_of(account), target_id=account.id)
        raise Conflict("username: that username is taken.", code="username_taken") from None
    _audit(caller, "account.username_change", patient_id=_patient_of(account), target_id=account.id)
    return account.username


def _set_email(account: Account, email: str) -> None:
    account_store.update(
        account,
        [
            Account.email.set(email),
            Account.email_status.set("ok"),
            Account.email_bad_reason.remove(),
            Account.email_bad_at.remove(),
            Account.bad_email_shard.remove(),
            Account.updated_at.set(clock.now()),
        ],
    )


def change_email(caller: Caller, email: str, current_password: str) -> str:
    """The username never changes with the email, even when it is the old address."""
    account = _load(caller.principal)
    email = valid_email(email)
    _check_current_password(caller, account, current_password, "account.email_change")
    old = account.email
    _send_mail(account, "email_changed", to=old, is_new_address=False)
    _send_mail(account, "email_changed", to=email, is_new_address=True)
    _set_email(account, email)
    _audit(caller, "account.email_change", patient_id=_patient_of(account), target_id=account.id)
    return email


def staff_change_email(caller: Caller, patient_id: str, email: str) -> Account:
    account = get_patient(patient_id)
    email = valid_email(email)
    old = account.email
    _send_mail(account, "email_changed", to=old, is_new_address=False)
    _send_mail(account, "email_changed", to=email, is_new_address=True)
    _set_email(account, email)
    _audit(caller, "patient.email_change", patient_id=account.id, target_id=account.id)
    return account_store.get(account.id)


# ---------------------------------------------------------------- staff views

def get_patient(patient_id: str) -> Account:
    account = account_store.get(patient_id)
    if account is None or account.role != "patient":
        raise NotFound("No patient with that id.")
    return account


def search_patients(caller: Caller, query: str) -> list[dict[str, Any]]:
    found = account_store.search_patients(query.strip()[:100])
    _audit(caller, "patient.search", detail={"results": len(found)})
    return [patient_json(account) for account in found]


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden("Your account is not allowed to do this.")
