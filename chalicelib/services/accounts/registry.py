"""Accounts: registration, My Profile (password, username, email) and the staff's patient views.

Every change to an account is mailed to the address on file before it is made, and audited.
Sign-in and the lockout live in `sign_in`, forgotten passwords and usernames in `recovery`,
the caller type in `identity`.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import cast

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, Conflict, NotFound, RateLimited
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access import passwords, ratelimit, sessions, sign_in, temporary_passwords
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from chalicelib.services.accounts import account_mail, contact, email_address
from chalicelib.services.accounts import phone as phone_number
from chalicelib.services.accounts.answers import Account as AccountAnswer
from chalicelib.services.accounts.answers import Patient
from chalicelib.services.answers import LanguageCode
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store.accounts import Account, UniqueTaken
from chalicelib.vocabulary import OFFICE_ROLES, Role

_HOUR = 3600
USERNAME_RE = re.compile(r"^[A-Za-z0-9._@+\-]{3,128}$")


def valid_email(email: str, field: str = "email") -> str:
    """An email address by its syntax (chalicelib/services/accounts/email_address.py); 400 naming `field`."""
    return email_address.valid(email, field)


def _not_blank(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise BadRequest(N_("Must not be blank."), field=field, code="invalid_request")
    return value


def valid_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise BadRequest(
            N_("Use 3 to 128 letters, digits or . _ @ + - (an email address works too)."), field="username",
            code="invalid_username",
        )
    if "@" in username and email_address.problem(username):  # email-shaped: then an email address
        raise BadRequest(N_("A username with an @ must be a valid email address."), field="username", code="invalid_username")
    return username


def account_json(account: Account) -> AccountAnswer:
    """An account as its owner sees it: its id, username, email, name, role and language."""
    return {
        "id": account.id,
        "username": account.username,
        "email": account.email,
        "name": account.name,
        "role": cast(Role, account.role),
        "email_status": account.email_status,
        "phone": account.phone,
        "notifications": contact.notifications_json(account),
        "result_release": "after_review" if account.result_release == "after_review" else "immediately",
        "language": cast(LanguageCode, account.language or "en"),
    }


def patient_json(account: Account) -> Patient:
    return {
        **account_json(account),
        "mrn": account.mrn,
        "date_of_birth": account.date_of_birth,
        "sms_opted_out_at": iso(account.sms_opted_out_at),
        "has_signed_in": bool(account.has_signed_in),
        "locked": bool(account.locked_until and account.locked_until > clock.now()),
        "created_at": iso(account.created_at),
        "active": account.disabled_at is None,
        "access_reason": account.disabled_reason,
    }


# ---------------------------------------------------------------- registration

def new_account(*, role: str, username: str, name: str, email: str | None, date_of_birth: str | None = None,
                 mrn: str | None = None, temporary_hours: int | None = None, phone: str | None = None,
                 language: str | None = None) -> tuple[Account, str | None]:
    """A new account (not yet saved), with a temporary password when `temporary_hours` is given:
    it is stored in the same write that creates the account, so no account exists without one."""
    now = clock.now()
    prefix = "p_" if role == Role.PATIENT else "s_"
    account = Account(
        prefix + secrets.token_hex(10),
        role=role,
        username=username,
        name=name,
        email=email,
        email_status="ok",
        date_of_birth=date_of_birth,
        mrn=mrn,
        phone=phone,
        language=language,
        search_shard=account_store.PATIENT_SHARD if role == Role.PATIENT else account_store.STAFF_SHARD,
        name_lower=name.casefold(),
        has_signed_in=False,
        failed_logins=0,
        lock_count=0,
        created_at=now,
        updated_at=now,
    )
    temporary = None
    if temporary_hours is not None:
        temporary = temporary_passwords.first(account, temporary_hours)
    return account, temporary


LANGUAGES = ("en", "es")
# What each registration conflict says, next to the field the staff member typed it in (the
# username of a new patient is the email they typed).
_TAKEN = {
    "mrn": ("mrn", N_("A patient with this MRN is already registered.")),
    "username": ("email", N_("This email is already the username of another account.")),
}


def _registration_conflict(taken: list[str]) -> Conflict:
    """409 naming every field in conflict: `mrn_taken` when the MRN is (the same patient, most
    likely), else `username_taken`; `fields` marks each one."""
    fields = dict(_TAKEN[name] for name in taken)
    return Conflict(code="mrn_taken" if "mrn" in taken else "username_taken", fields=fields)


def _username_from(name: str) -> str:
    """A username for a patient without an email: the first word of their name and four digits
    (`maria4821`); their enrolment letter prints it, and they may choose another as they enrol."""
    words = account_store.fold_words(name)
    first = "".join(char for char in (words[0] if words else "") if char.isascii() and char.isalnum())[:20]
    return f"{first or 'patient'}{secrets.randbelow(9000) + 1000}"


def register_patient(caller: Caller, *, name: str, date_of_birth: str, email: str | None, mrn: str,
                     phone: str | None = None, language: str | None = None) -> Account:
    """The username defaults to the email on file; the invitation carries a temporary password.
    A patient may have no email (a phone only, or neither): the username is made from the name
    and nothing is mailed; the office prints an enrolment letter instead (`letters`).
    The account and the claims on its username and MRN are one transaction. A conflict names
    every field in conflict (the email, the MRN, or both)."""
    name, mrn = _not_blank("name", name), _not_blank("mrn", mrn)
    email = valid_email(email) if email and email.strip() else None
    phone = phone_number.valid(phone)
    if (language or "en") not in LANGUAGES:
        raise BadRequest(N_("Must be en or es."), field="language", code="invalid_request")
    hours = get_settings().invitation_hours
    for attempt in range(5):
        account, temporary = new_account(role="patient", username=email or _username_from(name), name=name,
                                          email=email, date_of_birth=date_of_birth, mrn=mrn,
                                          temporary_hours=hours if email else None, phone=phone,
                                          language=language or "en")
        try:
            account_store.create(account)
            break
        except UniqueTaken as taken:
            fields = account_store.taken_claims(account.username, mrn) or [taken.field]
            if not email and fields == ["username"] and attempt < 4:
                continue  # a made-up username someone has: make another
            audit.record_for(caller, "patient.register", outcome="conflict", detail={"field": ",".join(fields)})
            raise _registration_conflict(fields) from None
    mail = (account_mail.send(account, "invitation", username=account.username, temporary_password=temporary,
                              hours=hours) if email else "none")
    audit.record_about(caller, "patient.register", account, detail={"invitation": mail})
    return account


def create_staff(caller: Caller, *, username: str, email: str, name: str, role: str,
                 npi: str | None = None) -> Account:
    if role not in OFFICE_ROLES:
        raise BadRequest(N_("Must be staff, admin or provider."), field="role", code="invalid_role")
    npi = (npi or "").strip() or None
    if npi is not None and (role != Role.PROVIDER or len(npi) != 10 or not npi.isdigit()):
        raise BadRequest(N_("An NPI is ten digits, and only a provider has one."), field="npi", code="invalid_npi")
    hours = get_settings().invitation_hours
    account, temporary = new_account(role=role, username=valid_username(username), name=_not_blank("name", name),
                                      email=valid_email(email), temporary_hours=hours)
    account.npi = npi
    try:
        account_store.create(account)
    except UniqueTaken:
        audit.record_for(caller, "staff.create", outcome="conflict", detail={"field": "username", "role": role})
        raise Conflict(N_("That username is taken."), field="username", code="username_taken") from None
    mail = account_mail.send(account, "staff_welcome", username=account.username, temporary_password=temporary, hours=hours)
    audit.record_about(caller, "staff.create", account, detail={"role": role, "welcome": mail})
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
    account, _ = new_account(role=role, username=valid_username(username), name=name, email=valid_email(email))
    account.password_hash = passwords.hash_password(password)
    account.has_signed_in = True
    try:
        account_store.create(account)
    except UniqueTaken:
        existing = account_store.find_by_username(username)
        if existing is None:
            raise
        return existing
    audit.record("staff.create", actor_role="system", target_id=account.id, patient_id=audit.patient_of(account),
                 detail={"role": role, "via": "bootstrap"})
    return account


def _load(principal: Principal) -> Account:
    account = account_store.get(principal.account_id)
    if account is None:
        raise NotFound(N_("The account no longer exists."))
    return account


def change_password(caller: Caller, current_password: str, new_password: str) -> None:
    """Mailed to the address on file first; then the new hash replaces the old one, any pending
    temporary password is voided, and every other session of the account ends."""
    principal = caller.signed_in
    account = _load(principal)
    sign_in.check_current_password(caller, account, current_password, "account.password_change")
    try:
        passwords.check_policy(new_password, name=account.name, email=account.email or "", username=account.username)
    except passwords.WeakPassword:
        audit.record_about(caller, "account.password_change", account, outcome="weak_password")
        raise
    mail = account_mail.send(account, "password_changed")
    account_store.set_password(account, passwords.hash_password(new_password), clock.now())
    ended = sessions.end_others(account.id, keep=principal.token_hash)
    if principal.must_change_password:
        sessions.upgrade(principal)
    audit.record_about(caller, "account.password_change", account, detail={"other_sessions_ended": ended, "mail": mail})


# ---------------------------------------------------------------- My Profile

def me(principal: Principal) -> AccountAnswer:
    return account_json(_load(principal))


def change_username(caller: Caller, username: str, current_password: str) -> str:
    """Any unused valid name, email-shaped or not. The look-up first only spares a mail about a
    name that is plainly taken; the rename transaction is what guarantees one owner per name."""
    account = _load(caller.signed_in)
    allowed, retry_after = ratelimit.hit(f"username-change#{account.id}", get_settings().username_changes_per_hour, _HOUR)
    if not allowed:
        audit.record_about(caller, "account.username_change", account, outcome="rate_limited")
        raise RateLimited(retry_after, N_("Too many username changes; try again later."), field="username")
    try:
        username = valid_username(username)
    except BadRequest:
        audit.record_about(caller, "account.username_change", account, outcome="invalid_username")
        raise
    sign_in.check_current_password(caller, account, current_password, "account.username_change")
    old = account.username
    if account_store.owner_of(account_store.username_key(username)) not in (None, account.id):
        audit.record_about(caller, "account.username_change", account, outcome="conflict")
        raise Conflict(N_("That username is taken."), field="username", code="username_taken")
    mail = account_mail.send(account, "username_changed")
    try:
        account_store.change_username(account, username, clock.now())
    except UniqueTaken:
        audit.record_about(caller, "account.username_change", account, outcome="conflict")
        raise Conflict(N_("That username is taken."), field="username", code="username_taken") from None
    audit.record_about(caller, "account.username_change", account, detail={"mail": mail, "old_username": old})
    return account.username


def _mail_email_change(account: Account, new_email: str) -> dict[str, str]:
    """Before the change: to the address on file, then to the new one."""
    return {
        "mail_old_address": account_mail.send(account, "email_changed", to=account.email, is_new_address=False),
        "mail_new_address": account_mail.send(account, "email_changed", to=new_email, is_new_address=True),
    }


def change_email(caller: Caller, email: str, current_password: str) -> str:
    """The username never changes with the email, even when it is the old address."""
    account = _load(caller.signed_in)
    email = valid_email(email)
    sign_in.check_current_password(caller, account, current_password, "account.email_change")
    mails = _mail_email_change(account, email)
    account_store.change_email(account, email, clock.now())
    audit.record_about(caller, "account.email_change", account, detail=mails)
    return email


def change_language(caller: Caller, language: str) -> str:
    """The language of the caller's own pages and mails (en | es); audited."""
    account = _load(caller.signed_in)
    if language not in LANGUAGES:
        raise BadRequest(N_("Must be en or es."), field="language", code="invalid_request")
    account_store.set_language(account, language, clock.now())
    audit.record_about(caller, "account.language_change", account, detail={"language": language})
    return language


def staff_change_phone(caller: Caller, patient_id: str, phone: str | None) -> Account:
    """The phone the office calls (blank removes it); audited, nothing mailed (the patient's
    sign-in and mail do not depend on it)."""
    return contact.change_patient_phone(caller, patient_id, phone)


def staff_change_language(caller: Caller, patient_id: str, language: str) -> str:
    """The language of a patient's pages, mails, texts and letters (en | es), set by the office for
    a patient who asked; audited. 404 for an unknown patient, 400 naming the field for another
    language (nothing changes then)."""
    if language not in LANGUAGES:
        raise BadRequest(N_("Must be en or es."), field="language", code="invalid_request")
    account = get_patient(patient_id)
    account_store.set_language(account, language, clock.now())
    audit.record_about(caller, "patient.language_change", account, detail={"language": language})
    return language


def staff_change_email(caller: Caller, patient_id: str, email: str) -> Account:
    account = get_patient(patient_id)
    email = valid_email(email)
    mails = _mail_email_change(account, email)
    account_store.change_email(account, email, clock.now())
    audit.record_about(caller, "patient.email_change", account, detail=mails)
    return account


# ---------------------------------------------------------------- staff views

def get_patient(patient_id: str) -> Account:
    account = account_store.get(patient_id)
    if account is None or account.role != Role.PATIENT:
        raise NotFound(N_("No patient with that id."))
    return account


def _date_searched(query: str) -> str | None:
    """The date of birth a search is, as stored (YYYY-MM-DD): typed so, or US style MM/DD/YYYY."""
    for typed in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(query, typed).date().isoformat()
        except ValueError:
            continue
    return None


def search_patients(caller: Caller, query: str) -> list[Patient]:
    """By exact MRN, username or email, date of birth, or words of the name (see the store).
    Every patient shown in the results is an access to that patient's record: one audit event
    each (the query itself may be a name, so it is not recorded)."""
    query = query.strip()[:100]
    found = account_store.search_patients(query, date_of_birth=_date_searched(query))
    audit.record_for(caller, "patient.search", detail={"results": len(found)})
    for account in found:
        audit.record_about(caller, "patient.search_result", account)
    return [patient_json(account) for account in found]


