"""Lab results: the patient opens one (which writes the read receipt) and a test's trend; the office
sees every version, and sends a quarantined lab message to be read again."""

from chalice import Blueprint

from chalicelib.api.http import PATIENT_RECORD, STAFF, Ctx, route
from chalicelib.services.results import critical, quarantine, view
from chalicelib.services.results.answers import (
    CriticalCallRecorded,
    LabQuarantineEntry,
    Result,
    SentAgain,
    StaffResult,
    Trend,
)

bp = Blueprint(__name__)


@route(bp, "/api/results/trends", access=PATIENT_RECORD, response=Trend, query="ResultTrendQuery",
       responses={404: "not_found"})
def result_trend(ctx: Ctx):
    """Every released numeric value of one test (`?code=`), oldest first, with the latest reference range."""
    return view.trend(ctx.caller, ctx.query.get("code"))


@route(bp, "/api/results/{result_id}", access=PATIENT_RECORD, response=Result, query="PatientRecordQuery",
       responses={404: "not_found"})
def open_result(ctx: Ctx, result_id: str):
    """Values, units, ranges, flags, notes and comments; the first open records the read receipt."""
    return view.open_result(ctx.caller, result_id)


@route(bp, "/api/staff/results/{result_id}", access=STAFF, response=StaffResult, responses={404: "not_found"})
def staff_result(ctx: Ctx, result_id: str):
    """One result for the office: patient, receipts, notices and every version's values."""
    return view.staff_result(ctx.caller, result_id)


@route(bp, "/api/staff/quarantine/{entry_id}", access=STAFF, response=LabQuarantineEntry,
       responses={404: "not_found"})
def quarantined_lab_message(ctx: Ctx, entry_id: str):
    """A quarantined lab message: why, and the message as it came (its first 64 KB, as text)."""
    return quarantine.entry_view(ctx.caller, entry_id)


@route(bp, "/api/staff/quarantine/{entry_id}/retry", "POST", access=STAFF, response=SentAgain, status=202,
       responses={404: "not_found", 409: "already_resolved"})
def retry_lab_message(ctx: Ctx, entry_id: str):
    """Send a quarantined lab message to be read again (once the patient is registered, say): 202,
    it is read again by the lab intake, published, or quarantined with its new reason."""
    return quarantine.retry(ctx.caller, entry_id)


@route(bp, "/api/staff/queue/critical/{result_id}/called", "POST", access=STAFF, response=CriticalCallRecorded,
       body="CriticalCallBody", responses={404: "not_found"})
def critical_result_called(ctx: Ctx, result_id: str):
    """The patient was called about a critical result: the outcome (reached, left_message,
    no_answer, wrong_number) and an optional note clear its entry from the queue."""
    return critical.record_call(ctx.caller, result_id, ctx.body.outcome, ctx.body.note)
