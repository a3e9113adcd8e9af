"""What a lab report says, whichever format brought it (HL7 v2 or FHIR R4): the report, its
observations, the patient it names, or why a message cannot be read.

These are plain values: the parsers make them, the publisher stores them (as JSON, beside the
result's item) and the pages and the API show them. Nothing here talks to AWS.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.clock import iso, parse_iso

# A report's (and an observation's) status, as the patient and the API name it.
PRELIMINARY, FINAL, CORRECTED = "preliminary", "final", "corrected"
STATUSES = (PRELIMINARY, FINAL, CORRECTED)
# How a value is read.
NUMERIC, TEXT, CODED = "numeric", "text", "coded"
# Flags, as the API names them (null: none, or normal).
LOW, HIGH, CRITICAL_LOW, CRITICAL_HIGH, ABNORMAL = "low", "high", "critical_low", "critical_high", "abnormal"
FLAGS = (LOW, HIGH, CRITICAL_LOW, CRITICAL_HIGH, ABNORMAL)

# Why a message goes to the office's quarantine instead of a patient.
UNPARSEABLE = "unparseable"
UNKNOWN_PATIENT = "unknown_patient"
BIRTH_DATE_MISMATCH = "birth_date_mismatch"
NOT_A_RESULT = "not_a_result"
REASONS = (UNPARSEABLE, UNKNOWN_PATIENT, BIRTH_DATE_MISMATCH, NOT_A_RESULT)

# What one report may hold: a result is one row (DynamoDB keeps at most 400 KB a row).
MAX_OBSERVATIONS = 1000
MAX_TEXT = 32_000  # characters of one observation's text or one note
MAX_IDENTIFIERS = 20  # PID-3 repetitions (or FHIR identifiers) looked up per patient
# What one message may be before it is parsed at all (a parse takes time in proportion to its size,
# and a function that runs out of time would meet the same message on every delivery).
MAX_MESSAGE_BYTES = 2_000_000
MAX_SEGMENTS = 3 * MAX_OBSERVATIONS + 100
MAX_FHIR_BYTES = 4_000_000


class Unreadable(Exception):
    """A message (or file) that cannot become a result: quarantined with this reason and message
    (the message is for the office; it may name what the message holds, so it is never logged)."""

    def __init__(self, reason: str, message: str, patient_id: str | None = None):
        super().__init__(reason)
        self.reason, self.message, self.patient_id = reason, message, patient_id


@dataclass
class ReferenceRange:
    low: float | None = None
    high: float | None = None
    text: str | None = None


@dataclass
class Observation:
    """One test's value, as the lab sent it."""

    code: str
    name: str
    value: float | str | None
    value_type: str = TEXT
    system: str | None = None
    unit: str | None = None
    reference_range: ReferenceRange | None = None
    flag: str | None = None
    critical: bool = False  # LL, HH or AA: the office calls the patient
    status: str = FINAL
    comparator: str | None = None  # `<`, `>`, `<=`, `>=` of a value such as `<^0.5`
    value_code: str | None = None  # a coded value's code (its text is `value`)
    observed_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["observed_at"] = iso(self.observed_at)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        data = dict(data)
        reference = data.pop("reference_range", None)
        observed = data.pop("observed_at", None)
        return cls(**data, reference_range=ReferenceRange(**reference) if reference else None,
                   observed_at=parse_iso(observed) if observed else None)


@dataclass
class Provider:
    """Who ordered the test (OBR-16, else ORC-12; FHIR: the ServiceRequest's requester or the
    report's performer): kept so results can be routed to their provider."""

    npi: str | None = None
    family: str | None = None
    given: str | None = None
    name: str | None = None  # as shown: "Patricia P Primary, MD"


@dataclass
class Identity:
    """Who a report is about, as the message says: the identifiers (any may be the clinic's MRN)
    and the birth date when it carries one (YYYY-MM-DD)."""

    identifiers: list[str]
    birth_date: str | None = None


@dataclass
class Report:
    """One report (an OBR with its OBX and NTE segments, or a DiagnosticReport)."""

    facility: str
    title: str
    status: str
    observations: list[Observation]
    filler_order: str | None = None
    placer_order: str | None = None
    code: str | None = None
    collected_at: datetime | None = None
    reported_at: datetime | None = None
    performing_lab: str | None = None
    ordered_by: Provider | None = None
    notes: list[str] = field(default_factory=list)
    message_id: str | None = None  # MSH-10 (never part of what makes two deliveries the same)

    def order_key(self) -> str:
        """The order this report belongs to: its filler order number, else its placer order
        number, with the sending facility. Every version of the report shares it."""
        number = f"filler:{self.filler_order}" if self.filler_order else f"placer:{self.placer_order or ''}"
        return f"{self.facility}\n{number}"

    def content(self) -> dict[str, Any]:
        """What the patient reads of it (everything but how it travelled)."""
        return {
            "title": self.title, "status": self.status, "code": self.code,
            "collected_at": iso(self.collected_at), "reported_at": iso(self.reported_at),
            "performing_lab": self.performing_lab,
            "ordered_by": asdict(self.ordered_by) if self.ordered_by else None,
            "observations": [o.as_json() for o in self.observations], "notes": list(self.notes),
        }

    def fingerprint(self) -> str:
        """The same report delivered again (in another file, with other line ends or another
        message id) has the same fingerprint; any change of value, status or note changes it."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def has_order(report: Report) -> bool:
    return bool(report.filler_order or report.placer_order)


@dataclass
class Message:
    """One message of a lab file: the reports it holds, each with the patient it names, or why it
    cannot be read. `raw` is the message's own bytes (what the office sees in quarantine)."""

    index: int
    raw: bytes
    reports: list[tuple[Identity, Report]] = field(default_factory=list)
    unreadable: Unreadable | None = None
