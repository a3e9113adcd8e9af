"""A lab file, whatever its format: HL7 v2 (one or many messages) or FHIR R4 JSON (one message).
Every file becomes a list of messages, each read or holding the reason it cannot be; a file with
no message at all raises Unreadable. Nothing here raises anything else, whatever the bytes."""

from __future__ import annotations

from chalicelib.services.results import fhir_reports, hl7v2
from chalicelib.services.results.model import UNPARSEABLE, Message, Unreadable


def read(data: bytes, clinic_zone: str) -> list[Message]:
    if not data.strip():
        raise Unreadable(UNPARSEABLE, "The file is empty.")
    if fhir_reports.is_fhir(data):
        return fhir_reports.messages(data)
    if hl7v2.is_hl7(data):
        return hl7v2.messages(data, clinic_zone)
    raise Unreadable(UNPARSEABLE, "The file is neither HL7 v2 (which starts with MSH, FHS or BHS) nor FHIR JSON.")
