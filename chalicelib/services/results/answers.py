"""The answers about lab results (see chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from chalicelib.services.answers import Time

ResultStatus = Literal["preliminary", "final", "corrected"]
ValueType = Literal["numeric", "text", "coded"]
Flag = Literal["low", "high", "critical_low", "critical_high", "abnormal"]


class ReferenceRange(TypedDict):
    """A test's reference range: either bound may be missing; `text` is the range as the lab sent it."""

    low: float | None
    high: float | None
    text: str | None


class ResultObservation(TypedDict):
    """One test of a result: its value (a number for `numeric`; text keeps its line breaks), unit,
    range and flag; `critical` for LL, HH and AA; `comparator` for a value such as `<0.5`."""

    code: str
    system: str | None
    name: str
    value: float | str | None
    value_type: ValueType
    unit: str | None
    reference_range: ReferenceRange | None
    flag: Flag | None
    status: ResultStatus
    critical: bool
    comparator: str | None
    value_code: str | None
    observed_at: Time | None
    notes: list[str]
    # On a patient's current result: how many released numeric values of this test they have (a
    # trend is shown from two).
    trend_points: NotRequired[int]


class ResultComment(TypedDict):
    author: str
    role: Literal["provider", "office"]
    text: str
    created_at: Time


class Result(TypedDict):
    """A lab result as its patient (or their caregiver) opens it (`view.open_result`)."""

    id: str
    title: str
    status: ResultStatus
    version: int
    updated: bool  # a later version replaced the first: the list says "Updated"
    ordered_by: str | None
    collected_at: Time | None
    reported_at: Time | None
    performing_lab: str | None
    released_at: Time | None
    read_at: Time | None
    observations: list[ResultObservation]
    notes: list[str]
    comments: list[ResultComment]


class ResultVersionValues(TypedDict):
    """One version of a result as the lab sent it (staff see every one)."""

    version: int
    status: ResultStatus
    reported_at: Time | None
    received_at: Time
    observations: list[ResultObservation]
    notes: list[str]


class StaffResult(Result):
    """A lab result for the office (`view.staff_result`): its patient, receipts and every version."""

    patient_id: str
    patient_name: str | None
    ordered_by_npi: str | None
    reviewed_by: str | None
    reviewed_at: Time | None
    held: bool
    critical: bool
    first_read_at: Time | None
    open_count: int
    notices_sent: int
    versions: list[ResultVersionValues]


class TrendPoint(TypedDict):
    at: Time
    value: float
    flag: Flag | None
    result_id: str


class Trend(TypedDict):
    """Every released numeric value of one test, oldest first (`view.trend`), in one unit, with the
    latest reference range (the chart's band)."""

    code: str
    name: str
    unit: str | None
    reference_range: ReferenceRange | None
    points: list[TrendPoint]


class CriticalResultEntry(TypedDict):
    """A result with a critical value, on the office's work queue until the patient is called."""

    id: str
    result_id: str
    version: int
    patient_id: str | None
    patient_name: str | None
    phone: str | None
    title: str | None
    flags: list[str]
    reported_at: Time | None
    created_at: Time
    ordered_by_name: str | None
    ordered_by_npi: str | None


class SentAgain(TypedDict):
    """A quarantined lab message sent back under `lab/` to be read again (`quarantine.retry`)."""

    id: str
    status: Literal["resolved"]
    resolution: Literal["sent_again"]
    key: str


class LabQuarantineEntry(TypedDict):
    """A quarantined lab message as the office reads it, its bytes shown as text (escaped where shown)."""

    id: str
    reason: str | None
    message: str | None
    key: str | None
    quarantine_key: str | None
    created_at: Time
    open: bool
    resolution: str | None
    resolved_by: str | None
    resolved_at: Time | None
    republished_key: str | None
    patient_id: str | None
    raw: str
    raw_truncated: bool


class CriticalCallRecorded(TypedDict):
    """A critical result's call, recorded (`critical.record_call`): its entry is cleared."""

    result_id: str
    outcome: Literal["reached", "left_message", "no_answer", "wrong_number"]
    called_at: Time
