"""FHIR R4 from the EHR, read with `fhir.resources` (its R4B models, which match R4 for these
resources, as the take-away records use): a Bundle holding DiagnosticReport, Observation and
Patient resources, or one DiagnosticReport with its Observations (and Patient) contained.

The library checks the resources' shapes; this module reads what a report says. The file is one
message: it is read whole, or quarantined whole.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chalicelib.clock import utc
from chalicelib.services.results import values
from chalicelib.services.results.model import (
    CODED,
    CORRECTED,
    FINAL,
    MAX_FHIR_BYTES,
    MAX_IDENTIFIERS,
    MAX_OBSERVATIONS,
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
    ReferenceRange,
    Report,
    Unreadable,
)

_STATUSES = {"registered": PRELIMINARY, "partial": PRELIMINARY, "preliminary": PRELIMINARY, "final": FINAL,
             "amended": CORRECTED, "corrected": CORRECTED, "appended": CORRECTED}
_COMPARATORS = ("<", "<=", ">=", ">")


def is_fhir(data: bytes) -> bool:
    return data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"{"


def messages(data: bytes) -> list[Message]:
    """The file as one message: its reports, or why it cannot be read."""
    message = Message(1, data)
    try:
        message.reports = _reports(_load(data))
    except Unreadable as bad:
        message.unreadable = bad
    except Exception as err:  # noqa: BLE001 - whatever the library meets in a malformed resource is this file's
        message.unreadable = Unreadable(UNPARSEABLE, f"The file could not be read as FHIR ({type(err).__name__}).")
    return [message]


def _load(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_FHIR_BYTES:
        raise Unreadable(UNPARSEABLE, f"The FHIR file is larger than {MAX_FHIR_BYTES // 1_000_000} MB; send a Bundle "
                         "per report (or per few reports).")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise Unreadable(UNPARSEABLE, f"The file is not UTF-8 text (byte {err.start}), as FHIR JSON must be.") from None
    except (ValueError, RecursionError):
        raise Unreadable(UNPARSEABLE, "The file is not valid JSON.") from None
    if not isinstance(document, dict):
        raise Unreadable(UNPARSEABLE, "The file is JSON but not a FHIR resource.")
    return document


def _validated(resource: dict[str, Any]) -> Any:
    """The resource as `fhir.resources` reads it (its shape checked), or Unreadable naming the
    first field it refused."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
    except (KeyError, ValueError, AttributeError, TypeError):
        raise Unreadable(UNPARSEABLE, f"{str(kind)[:40]!r} is not a FHIR resource type.") from None
    try:
        return model.model_validate(resource)
    except ValidationError as err:
        problems = err.errors()
        where = ".".join(str(part) for part in (problems[0]["loc"] if problems else ()))[:120]
        raise Unreadable(UNPARSEABLE, f"The {kind} is not valid FHIR R4 (at {where or 'the top'}).") from None


def _reports(document: dict[str, Any]) -> list[tuple[Identity, Report]]:
    kind = document.get("resourceType")
    if kind == "Bundle":
        bundle = _validated(document)
        resources = {}
        for entry in bundle.entry or []:
            if entry.resource is None:
                continue
            resources[entry.fullUrl or ""] = entry.resource
            resource_id = getattr(entry.resource, "id", None)
            if resource_id:
                resources[f"{entry.resource.get_resource_type()}/{resource_id}"] = entry.resource
        reports = [r for r in resources.values() if r.get_resource_type() == "DiagnosticReport"]
        reports = list({id(r): r for r in reports}.values())
    elif kind == "DiagnosticReport":
        report = _validated(document)
        resources = {f"#{c.id}": c for c in report.contained or [] if getattr(c, "id", None)}
        reports = [report]
    else:
        raise Unreadable(NOT_A_RESULT, f"A FHIR {str(kind)[:40]} is not a lab result (a Bundle with a "
                         "DiagnosticReport, or a DiagnosticReport).")
    if not reports:
        raise Unreadable(NOT_A_RESULT, "The Bundle holds no DiagnosticReport.")
    patients = [r for r in {id(r): r for r in resources.values()}.values() if r.get_resource_type() == "Patient"]
    return [(_identity(report, resources, patients), _report(report, resources)) for report in reports]


def _identity(report: Any, resources: dict[str, Any], patients: list[Any]) -> Identity:
    subject = report.subject
    patient = resources.get(subject.reference) if subject is not None and subject.reference else None
    if patient is None and subject is not None and subject.reference:
        patient = resources.get(f"#{subject.reference.lstrip('#')}")
    if patient is None and len(patients) == 1:
        patient = patients[0]
    identifiers: list[str] = []
    birth_date = None
    if patient is not None and patient.get_resource_type() == "Patient":
        identifiers = [i.value for i in patient.identifier or [] if i.value]
        birth_date = patient.birthDate.isoformat() if patient.birthDate else None
    elif subject is not None and subject.identifier is not None and subject.identifier.value:
        identifiers = [subject.identifier.value]
    if not identifiers:
        raise Unreadable(UNKNOWN_PATIENT, "The report names no patient with an identifier (a Patient resource, "
                         "or the subject's identifier).")
    if len(identifiers) > MAX_IDENTIFIERS:
        raise Unreadable(UNPARSEABLE, f"The patient has {len(identifiers)} identifiers; the portal reads at most "
                         f"{MAX_IDENTIFIERS}.")
    return Identity(identifiers=identifiers, birth_date=birth_date)


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value)
    return values.hl7_time(str(value).replace("-", ""), "UTC") if str(value) else None


def _concept(concept: Any) -> tuple[str | None, str | None, str | None]:
    """(code, display, system) of a CodeableConcept's first coding, its text first for the display."""
    if concept is None:
        return None, None, None
    coding = (concept.coding or [None])[0]
    code = coding.code if coding is not None else None
    display = concept.text or (coding.display if coding is not None else None)
    return code, display, (str(coding.system) if coding is not None and coding.system else None)


def _report(report: Any, resources: dict[str, Any]) -> Report:
    status = _STATUSES.get(str(report.status))
    if status is None:
        raise Unreadable(NOT_A_RESULT, f"A report whose status is {str(report.status)[:30]} has no result to show "
                         "(a cancelled report, or one entered in error, is taken back by the office in the portal).")
    code, title, _ = _concept(report.code)
    filler = next((i for i in report.identifier or [] if i.value), None)
    placer = next((b.identifier for b in report.basedOn or [] if b.identifier is not None and b.identifier.value), None)
    performer = next((p.display for p in report.performer or [] if p.display), None)
    facility = (filler.system if filler is not None and filler.system else None) or performer or "FHIR"
    observations = []
    for reference in report.result or []:
        resource = resources.get(reference.reference or "")
        if resource is None or resource.get_resource_type() != "Observation":
            raise Unreadable(UNPARSEABLE, "The report names an Observation the file does not hold.")
        observations.append(_observation(resource, status))
        if len(observations) > MAX_OBSERVATIONS:
            raise Unreadable(UNPARSEABLE, f"A report holds more than {MAX_OBSERVATIONS:,} observations.")
    ordered_by = None
    requester = next((p for p in report.resultsInterpreter or [] if p.display), None)
    if requester is not None:
        ordered_by = Provider(name=requester.display, npi=(requester.identifier.value if requester.identifier else None))
    return Report(
        facility=str(facility)[:200], title=(title or code or "Lab result")[:200], status=status,
        observations=observations,
        filler_order=str(filler.value) if filler is not None else None,
        placer_order=str(placer.value) if placer is not None else None,
        code=code, collected_at=_moment(report.effectiveDateTime), reported_at=_moment(report.issued),
        performing_lab=performer, ordered_by=ordered_by,
        notes=[report.conclusion[:MAX_TEXT]] if report.conclusion else [],
    )


def _observation(resource: Any, report_status: str) -> Observation:
    code, name, system = _concept(resource.code)
    interpretation = _concept((resource.interpretation or [None])[0])[0]
    flag, critical = values.flag(interpretation)
    observation = Observation(
        code=(code or name or "result")[:100], name=(name or code or "Result")[:200], value=None, system=system,
        flag=flag, critical=critical, status=_STATUSES.get(str(resource.status), report_status),
        observed_at=_moment(resource.effectiveDateTime),
        notes=[n.text[:MAX_TEXT] for n in resource.note or [] if n.text],
    )
    if resource.referenceRange:
        reference = resource.referenceRange[0]
        low = float(reference.low.value) if reference.low is not None and reference.low.value is not None else None
        high = float(reference.high.value) if reference.high is not None and reference.high.value is not None else None
        text = reference.text or _range_text(low, high)
        observation.reference_range = ReferenceRange(low=low, high=high, text=text)
    if resource.valueQuantity is not None and resource.valueQuantity.value is not None:
        observation.value, observation.value_type = float(resource.valueQuantity.value), NUMERIC
        observation.unit = resource.valueQuantity.unit or resource.valueQuantity.code
        comparator = str(resource.valueQuantity.comparator or "")
        observation.comparator = comparator if comparator in _COMPARATORS else None
    elif resource.valueCodeableConcept is not None:
        value_code, display, _ = _concept(resource.valueCodeableConcept)
        observation.value, observation.value_code, observation.value_type = display or value_code, value_code, CODED
    elif resource.valueInteger is not None:
        observation.value, observation.value_type = float(resource.valueInteger), NUMERIC
    elif resource.valueString is not None:
        observation.value, observation.value_type = resource.valueString[:MAX_TEXT], TEXT
    elif resource.valueBoolean is not None:
        observation.value, observation.value_type = ("Yes" if resource.valueBoolean else "No"), TEXT
    return observation


def _range_text(low: float | None, high: float | None) -> str | None:
    def shown(value: float) -> str:
        return f"{value:g}"

    if low is not None and high is not None:
        return f"{shown(low)}-{shown(high)}"
    if high is not None:
        return f"<{shown(high)}"
    return f">{shown(low)}" if low is not None else None
