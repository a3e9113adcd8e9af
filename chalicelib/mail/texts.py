"""Text messages (SMS) through Amazon SNS: the only code that talks to SNS's SMS API, beside the
SES sender for mail.

A text says which clinic it is from, that a new item is waiting in the portal, and the portal's
address: never what the item holds. It is in the patient's language and fits in one SMS segment
where it can: characters outside the GSM 03.38 alphabet (which would make every segment hold 70
characters instead of 160) are written without their accent (`í` → `i`). Texts go out as
`Transactional` (SNS's higher-priority route for messages a person is waiting for).

SNS keeps the account's list of numbers that replied STOP: `opted_out(number)` asks it before a
text goes out. Locally (moto), every text SNS accepted is read back for `GET /dev/texts`.
"""

from __future__ import annotations

import json
import sys
import unicodedata
import urllib.request

from botocore.exceptions import BotoCoreError, ClientError
from typing_extensions import TypedDict

from chalicelib import aws, i18n
from chalicelib.clock import clock, iso
from chalicelib.i18n import N_
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# The item notice's words, by the item's kind and whether it is a reminder; `%(url)s` is the
# portal's address. Nothing medical; STOP is honoured (carriers expect it said).
ITEM_TEXTS = {
    ("document", False): N_("%(clinic)s: you have a new document in your patient portal. Sign in at %(url)s "
                            "Reply STOP to end texts."),
    ("result", False): N_("%(clinic)s: you have a new test result in your patient portal. Sign in at %(url)s "
                          "Reply STOP to end texts."),
    ("message", False): N_("%(clinic)s: you have a new message in your patient portal. Sign in at %(url)s "
                           "Reply STOP to end texts."),
    ("document", True): N_("%(clinic)s reminder: a new document is waiting in your patient portal. %(url)s "
                           "Reply STOP to end texts."),
    ("result", True): N_("%(clinic)s reminder: a new test result is waiting in your patient portal. %(url)s "
                         "Reply STOP to end texts."),
    ("message", True): N_("%(clinic)s reminder: a new message is waiting in your patient portal. %(url)s "
                          "Reply STOP to end texts."),
}
DEFAULT_KIND = "document"

# SNS answers these when it is busy or briefly failing: try again later.
TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "InternalError", "InternalFailure",
                   "ServiceUnavailable", "KMSThrottlingException"}

# The GSM 03.38 alphabet (basic set) and its extension (each of those counts as two characters).
GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = "^{}\\[~]|€\f"
SEGMENT_GSM, SEGMENT_GSM_PART = 160, 153
SEGMENT_UCS2, SEGMENT_UCS2_PART = 70, 67


class TextError(Exception):
    def __init__(self, code: str, transient: bool):
        super().__init__(code)
        self.code = code
        self.transient = transient


def gsm7(text: str) -> str:
    """`text` in the GSM alphabet where a character outside it has a plain form (an accent
    dropped: `á` → `a`, `Í` → `I`; typographic quotes and dashes made plain); anything else is kept
    (the text is then sent as UCS-2)."""
    plain = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."}
    out = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENSION:
            out.append(char)
            continue
        char = plain.get(char, char)
        base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM_BASIC for c in base) else char)
    return "".join(out)


def segments(text: str) -> int:
    """How many SMS parts `text` takes (GSM-7: 160 characters, 153 each when split; UCS-2: 70, 67)."""
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in text):
        length = sum(2 if char in GSM_EXTENSION else 1 for char in text)
        return 1 if length <= SEGMENT_GSM else -(-length // SEGMENT_GSM_PART)
    units = sum(2 if ord(char) > 0xFFFF else 1 for char in text)
    return 1 if units <= SEGMENT_UCS2 else -(-units // SEGMENT_UCS2_PART)


def item_text(language: str | None, item_kind: str | None, reminder: bool = False) -> str:
    """The words of an item notice by text, in the patient's language, in the GSM alphabet."""
    settings = get_settings()
    kind = item_kind if item_kind is not None and (item_kind, reminder) in ITEM_TEXTS else DEFAULT_KIND
    words = i18n.gettext(ITEM_TEXTS[(kind, reminder)], language) % {"clinic": settings.clinic_name,
                                                                      "url": settings.portal_url}
    return gsm7(words)


def _sns():
    return aws.client("sns")


def _failure(err: ClientError | BotoCoreError) -> TextError:
    if isinstance(err, BotoCoreError):
        return TextError(type(err).__name__, True)
    code = err.response.get("Error", {}).get("Code", "Unknown")
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    return TextError(code, code in TRANSIENT_CODES or status >= 500)


def opted_out(phone: str) -> bool:
    """Whether the number replied STOP to this account's texts (SNS's opted-out list)."""
    try:
        return bool(_sns().check_if_phone_number_is_opted_out(phoneNumber=phone).get("isOptedOut"))
    except (ClientError, BotoCoreError) as err:
        failed = _failure(err)
        logger.warning("text opt-out check failed", extra={"error_code": failed.code, "transient": failed.transient})
        raise failed from err


def send(to: str, text: str) -> str:
    """Send one text (E.164 number); returns SNS's message id. Raises TextError (transient or not)."""
    try:
        answer = _sns().publish(PhoneNumber=to, Message=text, MessageAttributes={
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})
    except (ClientError, BotoCoreError) as err:
        failed = _failure(err)
        logger.warning("text not sent", extra={"error_code": failed.code, "transient": failed.transient})
        raise failed from err
    message_id = str(answer["MessageId"])
    if get_settings().dev_routes:
        _SENT_AT[message_id] = iso(clock.now())
    logger.info("text sent", extra={"segments": segments(text)})
    return message_id


# ---------------------------------------------------------------- the local stage's texts

# When each text was sent, by SNS message id, on the portal's clock (local stage only: moto keeps no time).
_SENT_AT: dict[str, str] = {}


def _accepted_in_this_process() -> list[tuple[str, str, str]] | None:
    """(message id, number, text) of every text the moto server this process runs accepted."""
    if "moto.server" not in sys.modules:
        return None
    from moto.sns.models import sns_backends

    return [(message_id, number, text) for regions in list(sns_backends.values()) for backend in list(regions.values())
            for message_id, (number, text) in list(backend.sms_messages.items())]


def _accepted_over_http() -> list[tuple[str, str, str]]:
    endpoint = (get_settings().ses_endpoint or "").rstrip("/")
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as answer:  # noqa: S310 - local stack
        data = json.load(answer)
    return [(found.get("message_id", ""), found.get("phone_number", ""), found.get("message", ""))
            for found in data.get("sns", {}).get("SMS", []) or []]


class Text(TypedDict):
    """A text message the local SNS accepted, as `accepted` reads it back (the local stage's `GET
    /dev/texts`)."""

    to: str
    text: str
    sent_at: str | None


def accepted(to: str | None = None) -> list[Text]:
    """Every text SNS accepted so far, oldest first, or only those to one number: {to, text, sent_at}."""
    found = _accepted_in_this_process()
    rows = found if found is not None else _accepted_over_http()
    return [{"to": number, "text": text, "sent_at": _SENT_AT.get(message_id)}
            for message_id, number, text in rows if to is None or number == to]
