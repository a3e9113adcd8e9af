"""The demo clinic's lab results (`make run`): HL7 v2 files put under `lab/` as a lab interface
would, read by the lab function like any other: three HbA1c results for Maria Garcia (a trend), a
lipid panel, and for James Okafor a preliminary blood count and a potassium that needs a call."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.clock import clock

LAB = r"MSH|^~\&|HNAM|RIVERSIDE_LAB|PORTAL|RIVERSIDE|{sent}||ORU^R01|{control}|P|2.5.1||||||UNICODE UTF-8"
PROVIDER = "1982745136^OSEI^AMA^^^^MD"


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def _message(control: str, mrn: str, born: str, order: str, test: str, status: str, taken: datetime,
             observations: list[str]) -> str:
    segments = [LAB.format(sent=_ts(taken + timedelta(hours=6)), control=control),
                f"PID|1||{mrn}^^^RIVERSIDE^MR||||{born}",
                f"OBR|1||{order}^RIVERSIDE_LAB|{test}|||{_ts(taken)}|||||||||{PROVIDER}||||||"
                f"{_ts(taken + timedelta(hours=5))}|||{status}",
                *observations]
    return "\r".join(segments) + "\r"


def _obx(number: int, code: str, value: str, unit: str, reference: str, flag: str, status: str = "F") -> str:
    return f"OBX|{number}|NM|{code}^LN||{value}|{unit}^{unit}^UCUM|{reference}|{flag}|||{status}"


def files() -> dict[str, bytes]:
    """File name -> the HL7 it holds, dated relative to today."""
    today = clock.now().replace(hour=8, minute=0, second=0, microsecond=0, tzinfo=None)
    maria, james = ("MRN1001", "19750614"), ("MRN1002", "19881102")
    found = {}
    for number, (months, value) in enumerate(((9, "7.8"), (5, "7.1"), (1, "6.4")), start=1):
        found[f"a1c-{number}.hl7"] = _message(f"DEMO-A1C-{number}", *maria, f"DEMO-A1C-{number}",
                                              "4548-4^Hemoglobin A1c^LN", "F", today - timedelta(days=30 * months),
                                              [_obx(1, "4548-4^Hemoglobin A1c", value, "%", "4.0-5.6", "H")])
    found["lipids.hl7"] = _message("DEMO-LIPIDS-1", *maria, "DEMO-LIPIDS-1", "57698-3^Lipid panel^LN", "F",
                                   today - timedelta(days=30), [
                                       _obx(1, "2093-3^Cholesterol", "212", "mg/dL", "<200", "H"),
                                       _obx(2, "2085-9^HDL Cholesterol", "48", "mg/dL", ">40", "N"),
                                       _obx(3, "13457-7^LDL Cholesterol", "138", "mg/dL", "<100", "H"),
                                       _obx(4, "2571-8^Triglyceride", "130", "mg/dL", "<150", "N")])
    found["cbc.hl7"] = _message("DEMO-CBC-1", *james, "DEMO-CBC-1", "58410-2^Complete blood count^LN", "P",
                                today - timedelta(days=1), [
                                    _obx(1, "6690-2^Leukocytes", "11.2", "10*3/uL", "4.0-10.5", "H", "P"),
                                    _obx(2, "718-7^Hemoglobin", "14.1", "g/dL", "13.5-17.5", "N", "P")])
    found["potassium.hl7"] = _message("DEMO-K-1", *james, "DEMO-K-1", "2823-3^Potassium^LN", "F", today, [
        _obx(1, "2823-3^Potassium", "6.8", "mmol/L", "3.5-5.1", "HH")])
    return {name: text.encode() for name, text in found.items()}


def drop_all() -> int:
    """Put the demo files under lab/demo/ (the pump hands them to the lab function)."""
    from chalicelib.services.results import intake

    for name, data in files().items():
        intake.drop(f"demo-{name}", data)
    return len(files())
