"""Lab results in the take-away records: each result a FHIR R4 DiagnosticReport with its
Observations (values, units, ranges, flags, notes) that `fhir.resources` accepts, read from the
real-shaped fixtures."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle

from chalicelib.services.results import reader, records
from tests.fixtures.lab import load

PATIENT = "urn:uuid:5b0d9c2e-0000-4000-8000-000000000001"


def entries_of(name: str) -> list[dict]:
    reports = [report for m in reader.read(load(name), "America/New_York") for _, report in m.reports]
    return [entry for number, report in enumerate(reports)
            for entry in records.report_entries(f"r_{name}_{number}", 2, report.content(), PATIENT, "Eve Everywoman")]


@pytest.mark.parametrize("name", ["normative_glucose.hl7", "cerner_bmp_ucum.hl7", "batch_two_patients.hl7",
                                  "narrative_escapes.hl7", "cbc_corrected.hl7", "critical_values.hl7",
                                  "fhir_lipid_bundle.json"])
def test_each_fixture_makes_resources_a_fhir_validator_accepts(name):
    # Given the results a fixture makes, in a collection bundle with their patient
    entries = entries_of(name)
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": PATIENT, "resource": {"resourceType": "Patient", "id": PATIENT[9:]}}, *entries]}

    # When fhir.resources reads it
    parsed = Bundle.model_validate(bundle)

    # Then every report points at its observations, all in the bundle
    urls = {entry.fullUrl for entry in parsed.entry}
    reports = [e.resource for e in parsed.entry if e.resource.get_resource_type() == "DiagnosticReport"]
    assert reports and all(ref.reference in urls for report in reports for ref in report.result)


def test_a_value_its_unit_range_flag_and_the_report_status_are_kept():
    diagnostic, glucose = (entry["resource"] for entry in entries_of("normative_glucose.hl7"))
    assert diagnostic["status"] == "final" and diagnostic["code"]["text"] == "GLUCOSE"
    assert glucose["valueQuantity"] == {"value": 182.0, "unit": "mg/dl"}
    assert glucose["referenceRange"] == [{"low": {"value": 70.0, "unit": "mg/dl"}, "high": {"value": 105.0, "unit": "mg/dl"},
                                          "text": "70_105"}]
    assert glucose["interpretation"][0]["coding"][0]["code"] == "H"
    corrected = entries_of("cbc_corrected.hl7")[0]["resource"]
    assert corrected["status"] == "amended" and corrected["meta"] == {"versionId": "2"}
    critical = [e["resource"] for e in entries_of("critical_values.hl7")][1:]
    assert [o["interpretation"][0]["coding"][0]["code"] for o in critical] == ["HH", "LL"]
