"""Real-shaped lab files read into reports: HL7's normative-edition example, a Cerner-style panel
with UCUM units, an HIE forward with two PID-3 repetitions, a batch of two patients, a narrative
with escapes, a preliminary then final then corrected count, critical values and a FHIR R4 Bundle.
(The parsers only: matching and publishing are the integration tests' part.)"""

from __future__ import annotations

from chalicelib.services.results import reader
from chalicelib.services.results.model import NOT_A_RESULT
from tests.fixtures.lab import load

ZONE = "America/New_York"


def reports_of(name: str):
    messages = reader.read(load(name), ZONE)
    assert all(m.unreadable is None for m in messages), [m.unreadable.message for m in messages if m.unreadable]
    return [pair for m in messages for pair in m.reports]


def test_the_normative_example_reads_a_structured_numeric_value_its_range_and_flag():
    # Given HL7's own example (v2.4): OBX-5 `^182` (SN), OBX-7 `70_105`, OBX-8 `H`
    # When it is read
    [(who, report)] = reports_of("normative_glucose.hl7")

    # Then the patient, the order, the provider and the value with its range and flag are there
    assert who.identifiers == ["555-44-4444"] and who.birth_date == "1962-03-20"
    assert report.filler_order == "1045813^GHH LAB" and report.placer_order == "845439^GHH OE"
    assert report.status == "final" and report.title == "GLUCOSE"
    assert report.ordered_by.npi == "555-55-5555" and report.ordered_by.name == "Patricia P Primary, MD"
    [glucose] = report.observations
    assert (glucose.code, glucose.value, glucose.value_type, glucose.unit) == ("1554-5", 182.0, "numeric", "mg/dl")
    assert (glucose.reference_range.low, glucose.reference_range.high, glucose.reference_range.text) == (70, 105, "70_105")
    assert glucose.flag == "high" and not glucose.critical


def test_a_cerner_style_panel_reads_ucum_units_npi_and_a_greater_than_value():
    # Given a basic metabolic panel with CRLF line ends, units as code^text^UCUM, the NPI in ORC-12
    [(who, report)] = reports_of("cerner_bmp_ucum.hl7")

    # Then nine observations with their UCUM codes, flags in words the API uses, eGFR `>60`
    assert who.identifiers == ["1234567"] and report.title == "Basic metabolic panel"
    assert report.ordered_by.npi == "1982745136" and report.performing_lab == "RIVERSIDE REGIONAL LAB"
    by_code = {o.code: o for o in report.observations}
    assert len(by_code) == 9 and by_code["2951-2"].unit == "mmol/L" and by_code["2951-2"].flag == "low"
    assert by_code["3094-0"].flag == "high" and by_code["2345-7"].flag is None
    egfr = by_code["33914-3"]
    assert (egfr.value, egfr.comparator, egfr.reference_range.low) == (60.0, ">", 60.0)
    assert egfr.notes == ["eGFR calculated with the CKD-EPI 2021 equation."]
    # And the times are UTC (sent with -0400)
    assert report.collected_at.isoformat() == "2024-03-12T11:15:00+00:00"


def test_an_hie_forward_keeps_every_pid3_repetition_and_reads_through_mllp_framing_and_lf():
    [(who, report)] = reports_of("hie_forward_two_ids.hl7")
    assert who.identifiers == ["HIE-88213409", "2222222"]
    assert report.filler_order == "QL-552201^QUESTLAB" and report.observations[0].value == 6.9
    assert report.observations[0].notes == ["Forwarded by the state health information exchange."]


def test_a_batch_holds_two_messages_for_two_patients_with_coded_and_text_values():
    [(first, lipids), (second, urine)] = reports_of("batch_two_patients.hl7")
    assert first.identifiers == ["3333333"] and second.identifiers == ["4444444"]
    assert [o.flag for o in lipids.observations] == ["high", None, None, "high"]
    assert lipids.observations[0].reference_range.high == 200 and lipids.observations[2].reference_range.low == 40
    color, nitrite, gravity = urine.observations
    assert (color.value, color.value_code, color.value_type) == ("Yellow", "YEL", "coded")
    assert (nitrite.value, nitrite.value_type, nitrite.reference_range.text) == ("Negative", "text", "Negative")
    assert gravity.value == 1.02 and gravity.reference_range.low == 1.005


def test_a_narrative_unescapes_line_breaks_and_every_separator():
    [(_, report)] = reports_of("narrative_escapes.hl7")
    gross, diagnosis = report.observations
    assert gross.value.splitlines() == ["Received in formalin, labeled & dated: skin, left forearm.",
                                        "Measures 0.6 x 0.4 x 0.3 cm.", "Entirely submitted in cassette A1."]
    assert diagnosis.value.splitlines() == ["Skin, left forearm, shave biopsy:", "Seborrheic keratosis | no atypia.",
                                            "Margins clear ^ see comment."]
    assert diagnosis.notes == ["Reviewed by Dr. Lee \\ Dr. Park ~ second opinion concurs."]


def test_preliminary_final_and_corrected_share_the_order_and_differ_in_content():
    # Given the same count sent as preliminary, final and corrected
    [(_, preliminary)] = reports_of("cbc_preliminary.hl7")
    [(_, final)] = reports_of("cbc_final.hl7")
    [(_, corrected)] = reports_of("cbc_corrected.hl7")

    # Then one order, three statuses, three fingerprints
    assert preliminary.order_key() == final.order_key() == corrected.order_key()
    assert [r.status for r in (preliminary, final, corrected)] == ["preliminary", "final", "corrected"]
    assert len({r.fingerprint() for r in (preliminary, final, corrected)}) == 3
    assert corrected.observations[1].value == 11.4 and corrected.observations[1].flag == "low"


def test_the_same_report_in_another_envelope_has_the_same_fingerprint():
    # Given the normative message again with CRLF, MLLP framing and another control id
    [(_, once)] = reports_of("normative_glucose.hl7")
    again = b"\x0b" + load("normative_glucose.hl7").replace(b"CNTRL-3456", b"CNTRL-9999").replace(b"\r", b"\r\n") + b"\x1c\r"
    [message] = reader.read(again, ZONE)

    # Then it is the same report
    assert message.reports[0][1].fingerprint() == once.fingerprint()


def test_critical_flags_are_marked_critical():
    [(_, report)] = reports_of("critical_values.hl7")
    assert [(o.flag, o.critical) for o in report.observations] == [("critical_high", True), ("critical_low", True)]


def test_a_fhir_bundle_reads_its_patient_report_and_observations():
    [(who, report)] = reports_of("fhir_lipid_bundle.json")
    assert who.identifiers == ["8888888"] and who.birth_date == "1966-11-23"
    assert report.filler_order == "LAB-2024-55120" and report.placer_order == "ORD-99120"
    assert report.title == "Lipid panel" and report.performing_lab == "Riverside Regional Laboratory"
    assert report.notes == ["Total cholesterol above the desirable range."]
    cholesterol, hdl, ldl = report.observations
    assert (cholesterol.value, cholesterol.flag, cholesterol.reference_range.high) == (238.0, "high", 200.0)
    assert hdl.reference_range.low == 40.0 and hdl.flag is None
    assert ldl.notes == ["Measured directly: triglycerides above 400 mg/dL."]


def test_an_adt_message_is_not_a_result():
    [message] = reader.read(load("adt_not_a_result.hl7"), ZONE)
    assert message.unreadable.reason == NOT_A_RESULT and not message.reports
