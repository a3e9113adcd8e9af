"""How the portal reaches a patient: the phone on file (E.164, `phone.py`) and the notice channels,
email and text messages (SMS), chosen by the patient on My Profile or by the office for them.

- Email is on unless turned off; texts are off unless chosen, and need a number that can take
  them (`no_mobile_number` otherwise).
- A notice goes by every channel that works now (`channels`): email when chosen, on file and not
  bouncing; texts when chosen, to a mobile number that has not replied STOP.
- An opt-out (STOP: the number is on SNS's opted-out list, seen before a text goes out or by the
  daily check of that list) turns texts off; the patient's record shows it with its date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from typing_extensions import TypedDict

from chalicelib.clock import clock, iso
from chalicelib.errors import BadRequest, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import logger, metrics
from chalicelib.services import audit
from chalicelib.services.access import sign_in
from chalicelib.services.access.identity import Caller
from chalicelib.services.accounts import phone as phone_number
from chalicelib.services.accounts.answers import Notifications
from chalicelib.store import accounts as account_store
from chalicelib.store import contact as contact_store
from chalicelib.store.accounts import Account
from chalicelib.vocabulary import Role


class PhoneAnswer(TypedDict):
    """`PUT /api/me/phone`: the number as stored (E.164), or null when removed."""

    phone: str | None


@dataclass(frozen=True)
class Channels:
    """Where a notice to this patient goes now."""

    email: bool
    sms: bool

    @property
    def any(self) -> bool:
        return self.email or self.sms


def email_chosen(account: Account) -> bool:
    return account.notify_email is not False


def sms_chosen(account: Account) -> bool:
    return bool(account.notify_sms)


def channels(account: Account) -> Channels:
    """The channels a notice uses now (the opt-out list is asked again when a text goes out)."""
    email = email_chosen(account) and bool(account.email) and account.email_status != "bad"
    sms = sms_chosen(account) and account.sms_opted_out_at is None and phone_number.can_take_texts(account.phone)
    return Channels(email, sms)


def why_unreachable(account: Account | None) -> str:
    """Why no notice can go out (the follow-up entry's reason): the address bounced, or there is
    no channel at all (no email chosen or on file, no texts)."""
    if account is not None and account.email and account.email_status == "bad" and email_chosen(account):
        return "bad_email"
    return "no_channel"


def notifications_json(account: Account) -> Notifications:
    return {"email": email_chosen(account), "sms": sms_chosen(account)}


class Reach(TypedDict):
    """What My Profile shows of how the patient is reached."""

    phone: str | None
    notifications: Notifications
    sms_opted_out_at: str | None
    texts_possible: bool


def my_reach(caller: Caller) -> Reach:
    account = _own(caller)
    return {"phone": account.phone, "notifications": notifications_json(account),
            "sms_opted_out_at": iso(account.sms_opted_out_at),
            "texts_possible": phone_number.can_take_texts(account.phone)}


# ---------------------------------------------------------------- choices

def _choose(caller: Caller, account: Account, email: bool, sms: bool, action: str, now: datetime) -> dict[str, bool]:
    if sms and not phone_number.can_take_texts(account.phone):
        audit.record_about(caller, action, account, outcome="no_mobile_number")
        raise BadRequest(N_("Add a mobile phone number first: texts need one."), field="sms", code="no_mobile_number")
    if email and not account.email:
        audit.record_about(caller, action, account, outcome="no_email_address")
        raise BadRequest(N_("Add an email address first: there is none on file."), field="email",
                         code="no_email_address")
    if not (email or sms) and (account.email or phone_number.can_take_texts(account.phone)):
        audit.record_about(caller, action, account, outcome="no_channel")
        raise BadRequest(N_("Choose email, text messages or both: notices are how you hear of new items."),
                         field="email", code="no_channel")
    contact_store.set_channels(account, email, sms, now)
    account.notify_email, account.notify_sms = email, sms
    if sms:
        account.sms_opted_out_at = None
    audit.record_about(caller, action, account, detail={"email": email, "sms": sms})
    return {"email": email, "sms": sms}


def choose_my_channels(caller: Caller, email: bool, sms: bool) -> dict[str, bool]:
    """The patient's own choice (My Profile, `PUT /api/me/notifications`)."""
    account = _own(caller)
    return _choose(caller, account, email, sms, "account.notifications_change", clock.now())


def choose_for_patient(caller: Caller, patient_id: str, email: bool, sms: bool) -> dict[str, bool]:
    """The office's choice for a patient who asked on the phone or at the desk."""
    return _choose(caller, _patient(patient_id), email, sms, "patient.notifications_change", clock.now())


# ---------------------------------------------------------------- the phone on file

def _own(caller: Caller) -> Account:
    account = account_store.get(caller.principal.account_id) if caller.principal else None
    if account is None:
        raise NotFound(N_("The account no longer exists."))
    return account


def _patient(patient_id: str) -> Account:
    account = account_store.get(patient_id)
    if account is None or account.role != Role.PATIENT:
        raise NotFound(N_("No patient with that id."))
    return account


def _set_phone(account: Account, phone: str | None, now: datetime) -> None:
    texts = phone_number.can_take_texts(phone)
    contact_store.set_phone(account, phone, texts, now)
    if phone != account.phone:
        account.sms_opted_out_at = None
    if not texts:
        account.notify_sms = False
    account.phone = phone


def change_my_phone(caller: Caller, phone: str, current_password: str) -> str | None:
    """The patient's own number, confirmed by their password (blank removes it; texts then stop)."""
    account = _own(caller)
    try:
        number = phone_number.valid(phone)
    except BadRequest:
        audit.record_about(caller, "account.phone_change", account, outcome="invalid_phone")
        raise
    sign_in.check_current_password(caller, account, current_password, "account.phone_change")
    _set_phone(account, number, clock.now())
    audit.record_about(caller, "account.phone_change", account, detail={"removed": number is None})
    return number


def change_patient_phone(caller: Caller, patient_id: str, phone: str | None) -> Account:
    """The number the office calls and texts go to (blank removes it); audited."""
    account = _patient(patient_id)
    number = phone_number.valid(phone)
    _set_phone(account, number, clock.now())
    audit.record_about(caller, "patient.phone_change", account, detail={"removed": number is None})
    return account


# ---------------------------------------------------------------- opt-outs

def opted_out(account: Account, number: str, seen: str, now: datetime) -> bool:
    """The number replied STOP (`seen`: before a text, or by the daily check): texts off, audited,
    counted. False when texts were already off or the number has changed."""
    if not contact_store.mark_sms_opted_out(account, number, now):
        return False
    account.notify_sms, account.sms_opted_out_at = False, now
    audit.record("account.sms_opt_out", actor_role="system", patient_id=audit.patient_of(account),
                 target_id=account.id, detail={"seen": seen})
    metrics.add_metric(name="TextOptOut", unit="Count", value=1)
    logger.info("texts turned off: opted out", extra={"account_id": account.id, "seen": seen})
    return True
