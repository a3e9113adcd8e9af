"""HL7 v2 ORU^R01 (2.3 to 2.5.1) read with python-hl7 (`hl7`): the library parses each message
and unescapes its fields (`\\F\\`, `\\S\\`, `\\T\\`, `\\R\\`, `\\E\\`, `\\.br\\`); this module reads the
fields by position.

A file may hold many messages, in FHS/BHS batches or not, with MLLP framing bytes, and segments
ended by CR, LF or CRLF. The file is cut into messages on their MSH segments (what the library's
`split_file` does, keeping any stray segment so it is quarantined rather than dropped), and each
message is decoded in the character set its MSH-18 declares: one message that cannot be read is
quarantined alone, the others are read.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.services.results import values
from chalicelib.services.results.model import (
    CODED,
    CORRECTED,
    FINAL,
    MAX_IDENTIFIERS,
    MAX_MESSAGE_BYTES,
    MAX_OBSERVATIONS,
    MAX_SEGMENTS,
    MAX_TEXT,
    NOT_A_RESULT,
    NUMERIC,
    PRELIMINARY,
    TEXT,
    UNKNOWN_PATIENT,
    UNPARSEABLE,
    Identity,
    Message,
    Observation,
    Provider,
    Report,
    Unreadable,
)

_FRAMING = (b"\x0b", b"\x1c")  # MLLP's start and end bytes
_BOM = b"\xef\xbb\xbf"
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")  # batch and file headers and trailers: nothing to read
# MSH-18 (HL7 table 0211) -> Python's codec. Absent: UTF-8, which ASCII is part of.
_CHARSETS = {"": "utf-8", "ASCII": "ascii", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "UTF8": "utf-8",
             **{f"8859/{n}": f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)}}
_COMPARATOR_RE = re.compile(r"^\s*(<=|>=|<|>)\s*(\S+)\s*$")
_SYSTEM_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,60}$")  # a coding system's name (LN, SCT, 99LAB, an OID), not words
_SYSTEMS = {"LN": "http://loinc.org", "SCT": "http://snomed.info/sct", "UCUM": "http://unitsofmeasure.org"}
_CODED_TYPES = ("CE", "CWE", "CNE", "CF")
_NUMERIC_TYPES = ("NM", "SN")


def is_hl7(data: bytes) -> bool:
    """Starts like HL7, or holds a message header at the start of a line."""
    start = data.removeprefix(_BOM).lstrip(b" \t\r\n" + b"".join(_FRAMING))[:3]
    return start in (b"MSH", b"FHS", b"BHS") or b"\rMSH" in data or b"\nMSH" in data


def cut(data: bytes) -> list[bytes]:
    """The file cut into its messages' own bytes (segments ended by CR), on their MSH segments:
    batch and file headers and trailers dropped, MLLP bytes and LF or CRLF line ends undone.
    Segments before the first MSH come first, as a piece of their own (it is quarantined).
    Unreadable for a file that holds no message at all."""
    data = data.removeprefix(_BOM)
    for byte in _FRAMING:
        data = data.replace(byte, b"")
    data = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    # Latin-1 gives one character per byte, so the messages are cut from the bytes as they came
    # and each is then decoded in its own declared character set.
    text = data.decode("latin-1")
    stray: list[str] = []
    groups: list[list[str]] = []
    for line in text.split("\r"):
        segment = line.strip()
        if not segment or segment[:3] in _ENVELOPE:
            continue
        if segment[:3] == "MSH":
            groups.append([segment])
        elif groups:
            groups[-1].append(segment)
        else:
            stray.append(segment)
    if not groups:
        raise Unreadable(UNPARSEABLE, "The file holds no HL7 message (no MSH segment).")
    return [_raw(group) for group in ([stray] if stray else []) + groups]


def messages(data: bytes, clinic_zone: str) -> list[Message]:
    """Every message of an HL7 file, each read or with the reason it cannot be."""
    return [read_message(number, raw, clinic_zone) for number, raw in enumerate(cut(data), start=1)]


def _raw(segments: list[str]) -> bytes:
    return ("\r".join(segments) + "\r").encode("latin-1")


def read_message(number: int, raw: bytes, clinic_zone: str) -> Message:
    """One message's reports (or why it cannot be read); never raises."""
    message = Message(number, raw)
    try:
        if not raw.startswith(b"MSH"):
            raise Unreadable(UNPARSEABLE, "Segments before the first MSH segment belong to no message.")
        if len(raw) > MAX_MESSAGE_BYTES:
            raise Unreadable(UNPARSEABLE, f"The message is larger than {MAX_MESSAGE_BYTES // 1_000_000} MB; the portal "
                             "reads results as values (ask the lab not to embed documents in it).")
        if raw.count(b"\r") > MAX_SEGMENTS:
            raise Unreadable(UNPARSEABLE, f"The message has more than {MAX_SEGMENTS:,} segments; a report may hold "
                             f"at most {MAX_OBSERVATIONS:,} observations. Ask the lab to split it.")
        message.reports = _reports(_parse(raw), clinic_zone)
    except Unreadable as bad:
        message.unreadable = bad
    except Exception as err:  # noqa: BLE001 - whatever the library meets in a malformed message is that message's
        message.unreadable = Unreadable(UNPARSEABLE, f"The message could not be read as HL7 ({type(err).__name__}).")
    return message


def _quiet_library() -> None:
    """python-hl7 logs a field it cannot unescape with the field's text: a message's content (PHI)
    must never reach the logs, so its loggers are switched off (the portal says what it needs)."""
    import logging

    import hl7.containers
    import hl7.util

    for module in (hl7.util, hl7.containers):
        logging.getLogger(module.__file__).disabled = True


def _parse(raw: bytes) -> Any:
    import hl7

    _quiet_library()

    header = raw.split(b"\r", 1)[0].decode("latin-1")
    try:
        declared = _value(hl7.parse(header).segment("MSH"), 18) if header.startswith("MSH") and len(header) > 8 else ""
    except Exception:  # noqa: BLE001 - a header the library cannot read: the whole message fails below
        declared = ""
    codec = _CHARSETS.get(declared.strip().upper(), "utf-8")
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as err:
        said = f"MSH-18 declares {declared.strip()[:40]}" if declared.strip() else "MSH-18 declares none, so UTF-8"
        raise Unreadable(UNPARSEABLE, f"The message is not valid {codec.upper()} text ({said}); byte {err.start} "
                         "cannot be read. Ask the lab to send it in the character set it declares.") from None
    if len(header) < 8:
        raise Unreadable(UNPARSEABLE, "The MSH segment is too short to be an HL7 header.")
    return hl7.parse(text)


# ---------------------------------------------------------------- fields by position

def _value(segment: Any, field: int, repeat: int = 1, component: int = 1, subcomponent: int = 1) -> str:
    """One field's component, unescaped by the library; "" when absent."""
    try:
        value = segment.extract_field(field_num=field, repeat_num=repeat, component_num=component,
                                      subcomponent_num=subcomponent)
    except (IndexError, KeyError, ValueError, TypeError, AttributeError):
        return ""
    return str(value).replace("\r", "\n").strip() if value is not None else ""


def _repetitions(segment: Any, field: int) -> int:
    import hl7

    if field >= len(segment):
        return 0
    content = segment[field]
    return len(content) if len(content) and isinstance(content[0], hl7.Repetition) else 1


def _text(message: Any, segment: Any, field: int) -> str:
    """A text field whole (TX, FT, ST): every repetition a line, each unescaped (`\\.br\\` is a
    line break), component separators kept as they came."""
    import hl7

    if field >= len(segment):
        return ""
    content = segment[field]
    parts = [str(rep) for rep in content] if len(content) and isinstance(content[0], hl7.Repetition) else [str(content)]
    lines = [message.unescape(part) for part in parts]
    return "\n".join(line.replace("\r", "\n") for line in lines).strip()[:MAX_TEXT]


def _tag(segment: Any) -> str:
    return str(segment[0]) if len(segment) else ""


def _entity(segment: Any, field: int) -> str | None:
    """An entity identifier (EI: `845439^GHH OE`) as one string, or None."""
    number, namespace = _value(segment, field, 1, 1), _value(segment, field, 1, 2)
    return (f"{number}^{namespace}" if namespace else number) or None


def _provider(segment: Any, field: int) -> Provider | None:
    """An XCN (`555-55-5555^PRIMARY^PATRICIA P^^^^MD`): id, family and given names, degree."""
    npi, family, given = _value(segment, field, 1, 1), _value(segment, field, 1, 2), _value(segment, field, 1, 3)
    if not (npi or family or given):
        return None
    middle, prefix, degree = _value(segment, field, 1, 4), _value(segment, field, 1, 6), _value(segment, field, 1, 7)
    return Provider(npi=npi or None, family=family or None, given=given or None,
                    name=values.person_name(" ".join(p for p in (given, middle) if p), family, degree, prefix))


# ---------------------------------------------------------------- a message's reports

def _reports(message: Any, clinic_zone: str) -> list[tuple[Identity, Report]]:
    msh = message.segment("MSH")
    kind, event = _value(msh, 9, 1, 1).upper(), _value(msh, 9, 1, 2).upper()
    if kind != "ORU":
        shown = f"{kind}^{event}" if event else kind or "(no type)"
        raise Unreadable(NOT_A_RESULT, f"A {shown[:20]} message is not a lab result (ORU^R01).")
    facility = _value(msh, 4, 1, 2) or _value(msh, 4) or _value(msh, 3) or "unknown facility"
    sent_at = values.hl7_time(_value(msh, 7), clinic_zone)
    message_id = _value(msh, 10) or None
    reports: list[tuple[Identity | None, Report]] = []
    identity: Identity | None = None
    order: dict[str, Any] = {}
    report: Report | None = None
    observation: Observation | None = None
    for segment in message:
        tag = _tag(segment)
        if tag == "PID":
            identity, report, observation, order = _identity(segment), None, None, {}
        elif tag == "ORC":
            order = {"placer": _entity(segment, 2), "filler": _entity(segment, 3), "provider": _provider(segment, 12)}
            report, observation = None, None
        elif tag == "OBR":
            report = _report(segment, order, facility, sent_at, message_id, clinic_zone)
            reports.append((identity, report))
            observation = None
        elif tag == "OBX":
            if report is None:
                raise Unreadable(UNPARSEABLE, "An OBX segment comes before any OBR segment.")
            if len(report.observations) >= MAX_OBSERVATIONS:
                raise Unreadable(UNPARSEABLE, f"A report holds more than {MAX_OBSERVATIONS:,} observations (OBX "
                                 "segments); the portal keeps a report as one result. Ask the lab to split it.")
            observation = _observation(message, segment, report.status, clinic_zone)
            report.observations.append(observation)
            if not report.performing_lab:
                report.performing_lab = _value(segment, 23) or None
        elif tag == "NTE":
            note = _text(message, segment, 3)
            if note and observation is not None:
                observation.notes.append(note)
            elif note and report is not None:
                report.notes.append(note)
    if not reports:
        raise Unreadable(NOT_A_RESULT, "The message holds no report (no OBR segment).")
    checked = []
    for who, each in reports:
        if who is None or not who.identifiers:
            raise Unreadable(UNKNOWN_PATIENT, "The message names no patient (no PID segment, or no identifier in "
                             "PID-3).")
        if not (each.filler_order or each.placer_order):
            raise Unreadable(UNPARSEABLE, "A report has neither a filler nor a placer order number (OBR-3, OBR-2).")
        if not each.performing_lab:
            each.performing_lab = _value(msh, 4) or None
        if not each.status:
            each.status = _status_of(each)
        checked.append((who, each))
    return checked


def _identity(pid: Any) -> Identity:
    count = _repetitions(pid, 3)
    if count > MAX_IDENTIFIERS:
        raise Unreadable(UNPARSEABLE, f"PID-3 repeats {count:,} times; the portal reads at most {MAX_IDENTIFIERS}.")
    identifiers = [_value(pid, 3, repeat, 1) for repeat in range(1, count + 1)]
    return Identity(identifiers=[i for i in identifiers if i], birth_date=values.hl7_date(_value(pid, 7)))


def _report(obr: Any, order: dict[str, Any], facility: str, sent_at: Any, message_id: str | None,
            clinic_zone: str) -> Report:
    stated = _value(obr, 25)
    report = Report(
        facility=facility,
        title=(_value(obr, 4, 1, 2) or _value(obr, 4, 1, 1) or "Lab result")[:200],
        status=values.status(stated) if stated else "",  # none stated: what its observations say (below)
        observations=[],
        placer_order=_entity(obr, 2) or order.get("placer"),
        filler_order=_entity(obr, 3) or order.get("filler"),
        code=_value(obr, 4, 1, 1) or None,
        collected_at=values.hl7_time(_value(obr, 7), clinic_zone),
        reported_at=values.hl7_time(_value(obr, 22), clinic_zone) or sent_at,
        ordered_by=_provider(obr, 16) or order.get("provider"),
        message_id=message_id,
    )
    return report


def _status_of(report: Report) -> str:
    """A report that states no status (OBR-25) is what its observations say."""
    statuses = {o.status for o in report.observations}
    if CORRECTED in statuses:
        return CORRECTED
    return FINAL if statuses == {FINAL} else PRELIMINARY


def _observation(message: Any, obx: Any, report_status: str, clinic_zone: str) -> Observation:
    value_type = _value(obx, 2).upper()
    code = _value(obx, 3, 1, 1) or _value(obx, 3, 1, 4)
    name = _value(obx, 3, 1, 2) or _value(obx, 3, 1, 5) or code or "Result"
    system = _value(obx, 3, 1, 3) if _value(obx, 3, 1, 1) else _value(obx, 3, 1, 6)
    system = system if _SYSTEM_RE.match(system) else ""
    flag, critical = values.flag(_value(obx, 8))
    stated = _value(obx, 11)
    observation = Observation(
        code=(code or name)[:100], name=name[:200], value=None, system=_SYSTEMS.get(system, system) or None,
        unit=(_value(obx, 6, 1, 1) or _value(obx, 6, 1, 2) or None),
        reference_range=values.reference_range(_value(obx, 7)), flag=flag, critical=critical,
        status=values.status(stated, report_status or FINAL) if stated else (report_status or FINAL),
        observed_at=values.hl7_time(_value(obx, 14), clinic_zone),
    )
    if value_type in _NUMERIC_TYPES:
        _numeric(obx, value_type, observation, message)
    elif value_type in _CODED_TYPES:
        observation.value_code = _value(obx, 5, 1, 1) or None
        observation.value = _value(obx, 5, 1, 2) or observation.value_code
        observation.value_type = CODED
    else:
        observation.value = _text(message, obx, 5) or None
    return observation


def _numeric(obx: Any, value_type: str, observation: Observation, message: Any) -> None:
    """NM (`182`, or `<0.5` as some labs write it) and SN (`^182`, `<^0.5`, `>^60`, `^1^:^128`)."""
    if value_type == "SN":
        comparator, first, separator, second = (_value(obx, 5, 1, c) for c in (1, 2, 3, 4))
        amount = values.number(first)
        if amount is not None and not separator and not second and comparator in ("", "<", ">", "<=", ">=", "="):
            observation.value, observation.value_type = amount, NUMERIC
            observation.comparator = comparator if comparator not in ("", "=") else None
            return
        observation.value = "".join(p for p in (comparator, first, separator, second) if p) or None
        return
    text = _text(message, obx, 5)
    amount = values.number(text)
    if amount is not None:
        observation.value, observation.value_type = amount, NUMERIC
        return
    bounded = _COMPARATOR_RE.match(text)
    if bounded and values.number(bounded.group(2)) is not None:
        observation.value, observation.value_type = values.number(bounded.group(2)), NUMERIC
        observation.comparator = bounded.group(1)
        return
    observation.value = text or None
    observation.value_type = TEXT
