"""Accounts over the years: admins list staff, disable and enable them and change their roles;
staff close and reopen a patient's portal access, re-send an invitation, unlock a locked account.

Disabling an account (or closing a patient's access) ends every one of its sessions at once, and
its sign-in is then refused exactly as any failed one (`sign_in.login`); while a patient's access
is closed no notice is mailed and follow-up stops (`notices.deliver`, `followup.follow_up_item`),
and their records are kept and still published. Every change, and every refusal, is audited.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from chalicelib.clock import clock
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access import sessions, temporary_passwords
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import account_mail, letters
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.accounts.answers import Patient, StaffMember
from chalicelib.services.caregivers.answers import CaregiverAccount
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store.accounts import Account
from chalicelib.vocabulary import OFFICE_ROLES, Role


def staff_json(account: Account) -> StaffMember:
    return {
        "id": account.id,
        "username": account.username,
        "email": account.email,
        "name": account.name,
        "role": cast(Literal[Role.STAFF, Role.ADMIN], account.role),
        "active": account.disabled_at is None,
        "mfa_enrolled": bool(account.mfa_secret),
    }


# ---------------------------------------------------------------- staff (admins)

def list_staff(caller: Caller) -> list[StaffMember]:
    """Every staff member and admin, by name."""
    audit.record_for(caller, "staff.list")
    return [staff_json(account) for account in account_store.list_staff()]


def _staff_member(staff_id: str) -> Account:
    account = account_store.get(staff_id)
    if account is None or account.role not in OFFICE_ROLES:
        raise NotFound(N_("No staff member with that id."))
    return account


def get_staff(staff_id: str) -> StaffMember:
    return staff_json(_staff_member(staff_id))


def update_staff(caller: Caller, staff_id: str, *, active: bool | None = None, role: str | None = None) -> StaffMember:
    """Disable or enable a staff member, change their role, or both. Either ends every session
    they have at once (a session carries its role). An admin can neither disable themselves nor
    change their own role: the clinic is never left without the admin making the change."""
    if active is None and role is None:
        raise BadRequest(N_("active or role: give at least one."), code="invalid_request")
    if role is not None and role not in OFFICE_ROLES:
        raise BadRequest(N_("Must be staff or admin."), field="role", code="invalid_role")
    account = _staff_member(staff_id)
    if account.id == caller.actor_id and active is False:
        audit.record_about(caller, "staff.disable", account, outcome="refused_self")
        raise Conflict(N_("You cannot disable your own account."), field="active", code="cannot_disable_self")
    if account.id == caller.actor_id and role is not None and role != account.role:
        audit.record_about(caller, "staff.role_change", account, outcome="refused_self")
        raise Conflict(N_("You cannot change your own role."), field="role", code="cannot_change_own_role")
    now = clock.now()
    changed = False
    if role is not None and role != account.role:
        old = account.role
        account_store.set_role(account, role, now)
        ended = sessions.end_all(account.id)
        audit.record_about(caller, "staff.role_change", account, detail={"from": old, "to": role, "sessions_ended": ended})
        changed = True
    if active is not None and active != (account.disabled_at is None):
        account_store.set_disabled(account, not active, None, now)
        detail = {"sessions_ended": sessions.end_all(account.id)} if not active else None
        audit.record_about(caller, "staff.enable" if active else "staff.disable", account, detail=detail)
        changed = True
    if not changed:
        audit.record_about(caller, "staff.update", account, outcome="unchanged")
    return staff_json(account)


# ---------------------------------------------------------------- patients (staff)

def access_json(account: Account) -> Patient:
    """The patient as staff see them, with their portal access."""
    return accounts.patient_json(account)


def set_patient_access(caller: Caller, patient_id: str, *, active: bool, reason: str) -> Patient:
    """Close (or reopen) a patient's portal access, with the reason (kept on the account, not in the
    trail, which holds identifiers only). Closing ends their sessions at once."""
    reason = reason.strip()
    if not reason:
        raise BadRequest(N_("Say why the access is closed or reopened."), field="reason", code="invalid_request")
    account = accounts.get_patient(patient_id)
    was_active = account.disabled_at is None
    account_store.set_disabled(account, not active, reason[:500], clock.now())
    detail: dict[str, Any] = {"was_active": was_active}
    if not active:
        detail["sessions_ended"] = sessions.end_all(account.id)
    audit.record_about(caller, "patient.access_reopen" if active else "patient.access_close", account, detail=detail)
    return access_json(account)


def set_caregiver_access(caller: Caller, caregiver_id: str, *, active: bool, reason: str) -> CaregiverAccount:
    """Close (or reopen) a caregiver's account, with the reason, as a patient's access is: closing
    ends its sessions at once and refuses its sign-in, so none of its grants is used while it is
    closed (they are kept, and work again once it is reopened). Any other id is a 404."""
    reason = reason.strip()
    if not reason:
        raise BadRequest(N_("Say why the account is closed or reopened."), field="reason", code="invalid_request")
    account = account_store.get(caregiver_id) if caregiver_id.startswith("c_") else None
    if account is None or account.role != Role.PROXY:
        audit.record_for(caller, "proxy.account_close" if not active else "proxy.account_reopen",
                         outcome="not_found", target_id=caregiver_id[:100])
        raise NotFound(N_("No caregiver with that id."))
    was_active = account.disabled_at is None
    account_store.set_disabled(account, not active, reason[:500], clock.now())
    detail: dict[str, Any] = {"was_active": was_active}
    if not active:
        detail["sessions_ended"] = sessions.end_all(account.id)
    audit.record_about(caller, "proxy.account_reopen" if active else "proxy.account_close", account, detail=detail)
    return {"id": account.id, "name": account.name, "email": account.email, "active": account.disabled_at is None}


def resend_invitation(caller: Caller, patient_id: str) -> str:
    """A fresh temporary password, mailed as the invitation is (the earlier ones keep working
    until they expire, the newest three at most). Refused while the access is closed."""
    account = accounts.get_patient(patient_id)
    if account.disabled_at is not None:
        audit.record_about(caller, "patient.invitation", account, outcome="access_closed")
        raise Conflict(N_("The patient's portal access is closed; reopen it first."), code="access_closed")
    letters.require_email(caller, account, "patient.invitation")  # none on file: a letter instead
    hours = get_settings().invitation_hours
    temporary = temporary_passwords.issue(account, hours)
    mail = account_mail.send(account, "invitation", username=account.username, temporary_password=temporary, hours=hours)
    audit.record_about(caller, "patient.invitation", account, detail={"mail": mail})
    return mail


def unlock(caller: Caller, patient_id: str) -> None:
    """The lock and the failure count are cleared, for a patient who called in."""
    account = accounts.get_patient(patient_id)
    detail = {"was_locked": bool(account.locked_until and account.locked_until > clock.now()),
              "failures": int(account.failed_logins or 0)}
    account_store.clear_failures(account)
    audit.record_about(caller, "patient.unlock", account, detail=detail)


# ---------------------------------------------------------------- signed-in devices

def end_own_session(caller: Caller, session_id: str) -> None:
    """End one of the caller's own sessions, by the id it is listed under; 404 for any other id
    (another account's sessions are never found)."""
    if not sessions.end_listed(caller.signed_in, session_id):
        audit.record_for(caller, "account.session_end", outcome="not_found", target_id=caller.actor_id)
        raise NotFound(N_("No session of yours with that id."))
    audit.record_for(caller, "account.session_end", target_id=caller.actor_id, detail={"session": session_id})
