"""Phone numbers, read with `phonenumbers` (Google's libphonenumber) and stored in E.164
(`+19195550142`): typed as people write them (`(919) 555-0142`, `919.555.0142`, `+1 919 555 0142`),
national numbers read as the clinic's country (`CLINIC_COUNTRY`, US by default). The one check
behind every place the portal takes a phone number (registration, the CSV import, the patient's
record, My Profile, the forgot-username form).

Refused, with 400 `invalid_phone` naming the field: what is not a number, a number that does not
exist in its country's numbering plan, a number of another country than the clinic's, a
premium-rate or shared-cost number, and short codes (too short to be a subscriber's number).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import BadRequest
from chalicelib.i18n import N_
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

MAX_LENGTH = 40
# Why a text is not a number the portal takes (catalog ids; `{country}` and `{count}` are filled in).
TOO_LONG = N_("Use at most {count} characters.")
NOT_A_NUMBER = N_("Not a phone number: write it as you would dial it, for example (919) 555-0142.")
NOT_IN_USE = N_("Not a phone number in use: check the area code and the number of digits.")
FOREIGN = N_("Use a phone number of this country ({country}).")
PREMIUM = N_("Premium-rate and shared-cost numbers are not accepted.")


def _parsed(text: str) -> PhoneNumber | tuple[str, dict[str, object]]:
    """The number, or why it is not one (a catalog id and its values)."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    if len(text) > MAX_LENGTH:
        return TOO_LONG, {"count": MAX_LENGTH}
    country = get_settings().clinic_country
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return NOT_A_NUMBER, {}
    if not phonenumbers.is_valid_number(number):
        return NOT_IN_USE, {}
    if phonenumbers.region_code_for_number(number) != country:
        return FOREIGN, {"country": country}
    if phonenumbers.number_type(number) in (PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST):
        return PREMIUM, {}
    return number


def problem(text: str) -> str | None:
    """What is wrong with `text` as a phone number (an English sentence), or None when it is one."""
    found = _parsed(text.strip())
    if isinstance(found, tuple):
        message, params = found
        return message.format(**params)
    return None


def valid(text: str | None, field: str = "phone") -> str | None:
    """The number in E.164 (None when blank); otherwise 400 `invalid_phone` naming `field`."""
    text = (text or "").strip()
    if not text:
        return None
    found = _parsed(text)
    if isinstance(found, tuple):
        message, params = found
        raise BadRequest(message, field=field, params=params, code="invalid_phone")
    import phonenumbers

    return str(phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.E164))


def can_take_texts(stored: str | None) -> bool:
    """Whether a stored number may receive text messages: a mobile number (or, as in the US, one
    whose plan does not tell mobile from fixed line). A fixed line, toll-free or pager number may not."""
    if not stored:
        return False
    import phonenumbers
    from phonenumbers import PhoneNumberType

    try:
        number = phonenumbers.parse(stored, get_settings().clinic_country)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
        PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def shown(stored: str | None) -> str | None:
    """A stored number as the clinic writes it: national for its own country ((919) 555-0142),
    international otherwise; a number stored before E.164 (free text) as it was typed."""
    if not stored:
        return None
    import phonenumbers

    try:
        number = phonenumbers.parse(stored, get_settings().clinic_country)
    except phonenumbers.NumberParseException:
        return stored
    if not phonenumbers.is_valid_number(number):
        return stored
    same_country = phonenumbers.region_code_for_number(number) == get_settings().clinic_country
    style = phonenumbers.PhoneNumberFormat.NATIONAL if same_country else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return str(phonenumbers.format_number(number, style))
