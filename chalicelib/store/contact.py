"""How a patient is reached: the phone on file, the notice channels chosen (email, text messages)
and SMS opt-outs, on the account row (`chalicelib/store/accounts.py`)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.expressions.update import Action

from chalicelib.store.accounts import Account
from chalicelib.store.base import conditional


def set_phone(account: Account, phone: str | None, texts_possible: bool, now: datetime) -> None:
    """A new phone on file (None removes it). A new number has no opt-out of its own yet; a number
    that cannot take texts (or none) turns texts off."""
    actions: list[Action] = [Account.phone.set(phone) if phone else Account.phone.remove(),
                             Account.updated_at.set(now)]
    if phone != account.phone:
        actions.append(Account.sms_opted_out_at.remove())
    if not texts_possible:
        actions.append(Account.notify_sms.set(False))
    account.update(actions=actions)


def set_channels(account: Account, email: bool, sms: bool, now: datetime) -> None:
    """The notice channels chosen; choosing texts again forgets an earlier opt-out mark."""
    actions: list[Action] = [Account.notify_email.set(email), Account.notify_sms.set(sms), Account.updated_at.set(now)]
    if sms:
        actions.append(Account.sms_opted_out_at.remove())
    account.update(actions=actions)


def mark_sms_opted_out(account: Account, phone: str, now: datetime) -> bool:
    """Texts off because the number replied STOP, only while it is still the number on file and
    texts are on. False when another request got there first or the number changed."""
    return conditional(lambda: account.update(
        actions=[Account.notify_sms.set(False), Account.sms_opted_out_at.set(now), Account.updated_at.set(now)],
        condition=(Account.phone == phone) & (Account.notify_sms == True),  # noqa: E712 - a DynamoDB condition
    ))
