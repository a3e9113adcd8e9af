"""Lab results in the patient's take-away records: each current result as a FHIR R4
DiagnosticReport with its Observations (plain dicts, as the rest of `bundle.json`; the tests
validate them with `fhir.resources`' R4B models), and as rows of a table in `index.html`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib import i18n
from chalicelib.clock import clock, parse_iso
from chalicelib.services.results import words
from chalicelib.settings import get_settings
from chalicelib.store import results as results_store

_IDS = uuid.UUID("6f1c1d7e-3f0b-4c55-9a43-0e8f4b7f2a10")  # the namespace of the portal's FHIR ids (bundle.py)
_STATUS = {"preliminary": "preliminary", "final": "final", "corrected": "corrected"}
_INTERPRETATION = {"low": "L", "high": "H", "critical_low": "LL", "critical_high": "HH", "abnormal": "A"}
_V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_COMPARATORS = ("<", "<=", ">=", ">")


def _urn(kind: str, portal_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_IDS, f'{kind}/{portal_id}')}"


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    resource["id"] = full_url.removeprefix("urn:uuid:")
    return {"fullUrl": full_url, "resource": resource}


def _identifier(value: str) -> dict[str, str]:
    return {"system": f"{get_settings().portal_url}/fhir/identifiers/result", "value": value}


def _observation(observation: dict[str, Any], subject: dict[str, str], when: str | None) -> dict[str, Any]:
    coding: dict[str, str] = {"code": str(observation.get("code") or "")}
    if observation.get("system"):
        coding["system"] = str(observation["system"])
    if observation.get("name"):
        coding["display"] = str(observation["name"])
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": _STATUS.get(str(observation.get("status")), "final"),
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [coding], "text": str(observation.get("name") or coding["code"])}, "subject": subject,
    }
    if observation.get("observed_at") or when:
        resource["effectiveDateTime"] = observation.get("observed_at") or when
    value, unit = observation.get("value"), observation.get("unit")
    if observation.get("value_type") == "numeric" and isinstance(value, int | float):
        quantity: dict[str, Any] = {"value": value}
        if unit:
            quantity["unit"] = unit
        if observation.get("comparator") in _COMPARATORS:
            quantity["comparator"] = observation["comparator"]
        resource["valueQuantity"] = quantity
    elif observation.get("value_type") == "coded" and value is not None:
        concept: dict[str, Any] = {"text": str(value)}
        if observation.get("value_code"):
            concept["coding"] = [{"code": str(observation["value_code"]), "display": str(value)}]
        resource["valueCodeableConcept"] = concept
    elif value is not None:
        resource["valueString"] = str(value)
    flag = observation.get("flag")
    code = "AA" if flag == "abnormal" and observation.get("critical") else _INTERPRETATION.get(str(flag))
    if code:
        resource["interpretation"] = [{"coding": [{"system": _V3, "code": code}]}]
    reference = observation.get("reference_range") or {}
    if reference:
        shown: dict[str, Any] = {}
        for bound in ("low", "high"):
            if reference.get(bound) is not None:
                shown[bound] = {"value": reference[bound], **({"unit": unit} if unit else {})}
        if reference.get("text"):
            shown["text"] = str(reference["text"])
        if shown:
            resource["referenceRange"] = [shown]
    if observation.get("notes"):
        resource["note"] = [{"text": str(note)} for note in observation["notes"]]
    return resource


def report_entries(result_id: str, version: int, report: dict[str, Any], patient_url: str,
                   patient_name: str) -> list[dict[str, Any]]:
    """One result as a DiagnosticReport followed by its Observations (bundle entries)."""
    subject = {"reference": patient_url, "display": patient_name}
    when = report.get("collected_at") or report.get("reported_at")
    observations = [_entry(_urn("observation", f"{result_id}/{number}"), _observation(o, subject, when))
                    for number, o in enumerate(report.get("observations") or [], start=1)]
    diagnostic: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [_identifier(result_id)],
        "status": "amended" if report.get("status") == "corrected" else _STATUS.get(str(report.get("status")), "final"),
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
        "code": {"text": str(report.get("title") or "Lab result")},
        "subject": subject,
        "result": [{"reference": o["fullUrl"]} for o in observations],
    }
    if report.get("code"):
        diagnostic["code"]["coding"] = [{"code": str(report["code"]), "display": str(report.get("title") or "")}]
    if when:
        diagnostic["effectiveDateTime"] = when
    if report.get("reported_at"):
        diagnostic["issued"] = report["reported_at"]
    if report.get("performing_lab"):
        diagnostic["performer"] = [{"display": str(report["performing_lab"])}]
    if report.get("notes"):
        diagnostic["conclusion"] = "\n".join(str(n) for n in report["notes"])
    if version > 1:
        diagnostic["meta"] = {"versionId": str(version)}
    return [_entry(_urn("result", result_id), diagnostic), *observations]


def _released(patient_id: str) -> list[results_store.ResultVersion]:
    now = clock.now()
    return [row for row in results_store.current_for_patient(patient_id)
            if row.released_at is not None and row.released_at <= now]


def fhir_entries(patient_id: str, patient_url: str, patient_name: str) -> list[dict[str, Any]]:
    """Every released result of the patient (its current version), oldest sample first."""
    return [entry for row in _released(patient_id)
            for entry in report_entries(row.id, int(row.version), row.report(), patient_url, patient_name)]


def index_rows(patient_id: str, language: str, when: Callable[[datetime | None, bool], str]) -> list[dict[str, Any]]:
    """The results as `index.html` lists them: each test a row, its flag in words."""
    rows = []
    for row in _released(patient_id):
        report = row.report()
        collected = report.get("collected_at") or report.get("reported_at")
        for observation in report.get("observations") or []:
            rows.append({
                "report": str(report.get("title") or ""), "test": str(observation.get("name") or ""),
                "value": words.value_text(observation), "unit": str(observation.get("unit") or ""),
                "range": words.range_text(observation), "flag": words.flag_words(observation, language),
                "date": when(parse_iso(collected) if collected else None, False),
                "status": i18n.gettext(words.STATUS_WORDS.get(str(report.get("status")), words.STATUS_WORDS["final"]),
                                       language),
            })
    return rows
