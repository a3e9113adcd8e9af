"""Lab results on the pages: the patient's result (values, units, ranges, flags in words, a range
bar per numeric value, the lab's notes, comments with their author), a test's trend (a chart drawn
on the server and the same numbers as a table), a caregiver's view of both, and the office's
result (every version) and quarantined lab messages (the raw message, retry, close)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chalice import Blueprint
from markupsafe import Markup

from chalicelib import i18n
from chalicelib.clock import local_text, parse_iso
from chalicelib.errors import NotFound
from chalicelib.frontdoor import PROXY, acting_for
from chalicelib.i18n import N_
from chalicelib.services.access.identity import Caller
from chalicelib.services.caregivers import grants as caregivers
from chalicelib.services.followup import sweep as followup
from chalicelib.services.results import chart, critical, quarantine, view, words
from chalicelib.settings import get_settings
from chalicelib.web.framework import PATIENT, SIGNED_IN, STAFF, PageCtx, page, redirect

bp = Blueprint(__name__)

STATUS_WORDS = words.STATUS_WORDS
REASON_WORDS = {"unparseable": N_("The message could not be read"),
                "unknown_patient": N_("No patient in the portal matches it"),
                "birth_date_mismatch": N_("The birth date is not the one on file"),
                "not_a_result": N_("It is not a lab result")}
_BELOW, _WITHIN, _ABOVE = N_("below the range"), N_("within the range"), N_("above the range")
_OUTSIDE_FLAGS = words.OUTSIDE_FLAGS
flag_words, value_text, range_text = words.flag_words, words.value_text, words.range_text


def _t(text: str, language: str) -> str:
    return i18n.gettext(text, language)


def _outside(observation: dict[str, Any]) -> bool:
    if observation.get("flag") in _OUTSIDE_FLAGS:
        return True
    reference, value = observation.get("reference_range") or {}, observation.get("value")
    if not isinstance(value, int | float):
        return False
    low, high = reference.get("low"), reference.get("high")
    return (low is not None and value < low) or (high is not None and value > high)


def _bar(observation: dict[str, Any], language: str) -> Markup | None:
    value, reference = observation.get("value"), observation.get("reference_range") or {}
    if observation.get("value_type") != "numeric" or not isinstance(value, int | float):
        return None
    low, high = reference.get("low"), reference.get("high")
    position = _BELOW if low is not None and value < low else _ABOVE if high is not None and value > high else _WITHIN
    label = f"{value_text(observation)} {observation.get('unit') or ''}".strip() + f": {_t(position, language)} " \
            f"{range_text(observation)}".rstrip()
    drawn = chart.range_bar_svg(float(value), low, high, label=label, outside=_outside(observation))
    return Markup(drawn) if drawn else None  # noqa: S704 - chart.py escapes every text it draws


def rows(observations: Any, language: str, trend_base: str | None) -> list[dict[str, Any]]:
    """What the result table shows of each observation."""
    shown = []
    for observation in observations:
        code = str(observation.get("code") or "")
        shown.append({
            **observation, "value_text": value_text(observation), "range_text": range_text(observation),
            "flag_words": flag_words(observation, language), "outside": _outside(observation),
            "bar": _bar(observation, language),
            "trend_href": f"{trend_base}/{quote(code, safe='')}"
            if trend_base and code and observation.get("trend_points", 0) >= 2 else None,
        })
    return shown


def _date(moment: Any, language: str) -> str:
    return local_text(moment, get_settings().clinic_time_zone, with_time=False, language=language)


def trend_chart(trend: Any, language: str) -> Markup:
    points = [chart.Point(parse_iso(p["at"]), float(p["value"]),
                          p.get("flag") in _OUTSIDE_FLAGS) for p in trend["points"]]
    reference = trend.get("reference_range") or {}
    unit = trend.get("unit") or ""
    title = i18n.gettext(N_("%(test)s over time"), language) % {"test": trend["name"]}
    first, last = (_date(points[0].at, language), _date(points[-1].at, language)) if points else ("", "")
    description = i18n.gettext(N_("%(count)s values from %(first)s to %(last)s, in %(unit)s. The shaded band is the "
                                  "reference range. The same values are in the table below."), language) % {
        "count": len(points), "first": first, "last": last, "unit": unit or "—"}
    band = i18n.gettext(N_("Reference range: %(range)s"), language) % {
        "range": range_text({"reference_range": reference}) or "—"}
    drawn = chart.trend_svg(
        points, reference.get("low"), reference.get("high"), title=title, description=description,
        date_label=lambda at: _date(at, language), band_label=band,
        point_label=lambda p: f"{_date(p.at, language)}: {chart.number(p.value)} {unit}".rstrip())
    return Markup(drawn)  # noqa: S704 - chart.py escapes every text it draws


def _trend_rows(trend: Any, language: str, result_base: str) -> list[dict[str, Any]]:
    return [{**p, "value_text": chart.number(float(p["value"])),
             "flag_words": words.flag_words(p, language),
             "outside": p.get("flag") in _OUTSIDE_FLAGS, "href": f"{result_base}/{quote(p['result_id'], safe='')}"}
            for p in trend["points"]]


def _result_page(ctx: PageCtx, caller: Caller, result_id: str, base: str, **context: Any):
    result = view.open_result(caller, result_id)
    language = ctx.language()
    return ctx.render("result.html", result=result, rows=rows(result["observations"], language, f"{base}/trends"),
                      base=base, status_words=STATUS_WORDS, **context)


def _trend_page(ctx: PageCtx, caller: Caller, code: str, base: str, **context: Any):
    trend = view.trend(caller, code)
    language = ctx.language()
    return ctx.render("result_trend.html", trend=trend, chart=trend_chart(trend, language),
                      points=_trend_rows(trend, language, base), base=base, **context)


@page(bp, "/results/{result_id}", access=PATIENT)
def result(ctx: PageCtx, result_id: str):
    return _result_page(ctx, ctx.caller, result_id, "/results")


@page(bp, "/results/trends/{code}", access=PATIENT)
def result_trend(ctx: PageCtx, code: str):
    return _trend_page(ctx, ctx.caller, code, "/results")


# ---------------------------------------------------------------- caregivers

def _acting(ctx: PageCtx, patient_id: str) -> tuple[Caller, dict[str, Any]]:
    """The caller acting for `patient_id`: the same grant check as the API's (404 without one)."""
    from dataclasses import replace

    if ctx.principal is None or ctx.principal.role != PROXY:
        raise NotFound(N_("There is no such page for your account."))
    acting, scope, _ = acting_for(ctx.principal, patient_id)
    cared = next((dict(p) for p in caregivers.patients_of(ctx.principal.account_id) if p["id"] == acting), None)
    return replace(ctx.caller, acting_for=acting, scope=scope), cared or {"id": acting, "name": ""}


@page(bp, "/caregiver/patients/{patient_id}/results/{result_id}", access=SIGNED_IN)
def caregiver_result(ctx: PageCtx, patient_id: str, result_id: str):
    caller, patient = _acting(ctx, patient_id)
    base = f"/caregiver/patients/{quote(patient_id, safe='')}"
    return _result_page(ctx, caller, result_id, f"{base}/results", patient=patient, back=base)


@page(bp, "/caregiver/patients/{patient_id}/results/trends/{code}", access=SIGNED_IN)
def caregiver_result_trend(ctx: PageCtx, patient_id: str, code: str):
    caller, patient = _acting(ctx, patient_id)
    base = f"/caregiver/patients/{quote(patient_id, safe='')}"
    return _trend_page(ctx, caller, code, f"{base}/results", patient=patient, back=base)


# ---------------------------------------------------------------- the office

@page(bp, "/staff/results/{result_id}", access=STAFF)
def staff_result(ctx: PageCtx, result_id: str):
    found = view.staff_result(ctx.caller, result_id)
    language = ctx.language()
    versions = [{**v, "rows": rows(v["observations"], language, None)} for v in reversed(found["versions"])]
    return ctx.render("result_staff.html", result=found, versions=versions, status_words=STATUS_WORDS)


CALL_OUTCOME_WORDS = {"reached": N_("Reached the patient"), "left_message": N_("Left a message"),
                      "no_answer": N_("No answer"), "wrong_number": N_("Wrong number")}


@page(bp, "/staff/queue/follow-ups/{item_id}/called", ("POST",), access=STAFF)
def follow_up_called(ctx: PageCtx, item_id: str):
    """"Mark called" on the queue: the outcome and a note close the item's follow-up."""
    return ctx.submit("CriticalCallBody",
                      lambda body: followup.record_call(ctx.caller, item_id, body.outcome, body.note),
                      lambda status, errors: ctx.render(
                          "critical_call.html", status=status, errors=errors, values=ctx.form,
                          call_action=f"/staff/queue/follow-ups/{quote(item_id, safe='')}/called"),
                      done="/staff/queue#follow-ups", notice="follow-up-resolved")


@page(bp, "/staff/queue/critical/{result_id}/called", ("POST",), access=STAFF)
def critical_result_called(ctx: PageCtx, result_id: str):
    """The office records its call about a critical result (the queue's form): the entry is cleared."""
    return ctx.submit("CriticalCallBody",
                      lambda body: critical.record_call(ctx.caller, result_id, body.outcome, body.note),
                      lambda status, errors: ctx.render("critical_call.html", status=status, errors=errors,
                                                        values=ctx.form, call_action=f"/staff/queue/critical/"
                                                        f"{quote(result_id, safe='')}/called"),
                      done="/staff/queue#critical-results")


def _quarantine_page(ctx: PageCtx, entry_id: str, status: int = 200, **context: Any):
    entry = quarantine.entry_view(ctx.caller, entry_id)
    return ctx.render("result_quarantine.html", status=status, entry=entry, reasons=REASON_WORDS,
                      close_errors=context.pop("close_errors", {}), values=ctx.form, **context)


@page(bp, "/staff/results/quarantine/{entry_id}", access=STAFF)
def quarantined_lab_message(ctx: PageCtx, entry_id: str):
    return _quarantine_page(ctx, entry_id)


@page(bp, "/staff/results/quarantine/{entry_id}/retry", ("POST",), access=STAFF)
def retry_lab_message(ctx: PageCtx, entry_id: str):
    done = quarantine.retry(ctx.caller, entry_id)
    return redirect(f"/staff/results/quarantine/{quote(done['id'], safe='')}")


@page(bp, "/staff/results/quarantine/{entry_id}/close", ("POST",), access=STAFF)
def close_lab_message(ctx: PageCtx, entry_id: str):
    entry = quarantine.lab_entry(entry_id)  # this page closes lab messages only: 404 for other entries
    return ctx.submit("ResolveBody", lambda body: followup.resolve(ctx.caller, entry.id, body.note),
                      lambda status, errors: _quarantine_page(ctx, entry_id, status, close_errors=errors),
                      done=f"/staff/results/quarantine/{quote(entry.id, safe='')}")
