"""A provider's "Results to review": every version of a result puts an open `result_review` entry
on the work table (in the version's own transaction, `results.publish`), routed there and then
(`providers.routing`): the entry records the providers it goes to (`routed_to`, or every provider)
and sits in the sparse `open_queue` index under its route's key (`result_review@<provider id>`, or
`result_review@*`); a result routed to several providers adds one entry per further provider. The
list reads only its provider's key and every provider's key, so it costs what it shows, not the
backlog. A review closes the result's entries and, with a comment, adds it to the result under the
provider's name (`role: "provider"`): the result is unread again and the patient told (the comment
never goes into the notice)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import clock, iso
from chalicelib.errors import Conflict, Forbidden, NotFound
from chalicelib.i18n import N_
from chalicelib.observability import logger
from chalicelib.services import audit
from chalicelib.services.access.identity import Caller
from chalicelib.services.followup import notices
from chalicelib.services.providers import routing
from chalicelib.services.providers.answers import ResultsToReview, ResultToReview, Reviewed
from chalicelib.services.results import release
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store
from chalicelib.store import work as work_store
from chalicelib.store.accounts import Account
from chalicelib.vocabulary import Role

RESULT_REVIEW = "result_review"  # the work entry's kind
RESULT = "result"  # the item kind of a lab result
EVERY_PROVIDER = "*"  # the route of a result that names no provider of the portal
_TRIES = 3


def entry_id(result_id: str, version: int) -> str:
    return f"{RESULT_REVIEW}#{result_id}#v{version}"


def _queue(route: str) -> str:
    """The open-queue key of the entries routed to one provider (or to every provider)."""
    return f"{RESULT_REVIEW}@{route}"


def new_entries(result_id: str, version: int, patient_id: str, data: dict[str, Any], now: datetime
                ) -> list[work_store.WorkEntry]:
    """The open review entries of one version, routed now (written in the version's transaction):
    the version's entry under its first provider's key, and one more per further provider."""
    to, named = routing.routed(data, routing.providers())
    routes = [p.id for p in to] if named else [EVERY_PROVIDER]
    body = {"result_id": result_id, "version": version, **data, "routed_to": routes}
    first = entry_id(result_id, version)
    return [work_store.WorkEntry(first if n == 0 else f"{first}@{route}", kind=RESULT_REVIEW,
                                 open_kind=_queue(route), created_at=now, patient_id=patient_id, item_id=result_id,
                                 reason="to_review", data=body)
            for n, route in enumerate(routes)]


def routed_now(entry: work_store.WorkEntry) -> list[work_store.WorkEntry]:
    """The entries an open review entry written before results were routed at publication (queued
    under the bare kind) becomes: itself under its route's key, and one per further provider."""
    data = _data(entry)
    return new_entries(str(data.get("result_id") or entry.item_id), int(data.get("version") or 1),
                       entry.patient_id or "", data, entry.created_at)


def mark_released(result_id: str, version: int, at: datetime) -> None:
    """A held result was released (by the sweep): its open entries of that version show when, as
    the list's `released_at` (one batched read of the version's entries, and a write each)."""
    first = work_store.among([entry_id(result_id, version)])
    further = [f"{e.id}@{route}" for e in first if e.open_kind for route in _routes(_data(e))[1:]]
    for entry in [e for e in first if e.open_kind] + (work_store.open_among(further) if further else []):
        work_store.set_data(entry, "released_at", iso(at))


def last_review(result_id: str, versions: int) -> tuple[str | None, datetime | None]:
    """(who, when) a provider last reviewed the result (any version), or (None, None): what the
    office sees on the result. One batched read, and one for the reviewer's name."""
    reviewed = [e for e in work_store.among([entry_id(result_id, v) for v in range(1, versions + 1)])
                if e.resolution == "reviewed" and e.resolved_at is not None]
    if not reviewed:
        return None, None
    last = max(reviewed, key=lambda e: e.resolved_at or e.created_at)
    reviewer = account_store.get(last.resolved_by) if last.resolved_by else None
    return (reviewer.name if reviewer is not None else last.resolved_by), last.resolved_at


def _provider(caller: Caller) -> Account:
    principal = caller.signed_in
    if principal.role != Role.PROVIDER:
        raise Forbidden(N_("Only a provider reviews results."), code="not_a_provider")
    account = account_store.get(principal.account_id)
    if account is None:
        raise Forbidden(N_("Only a provider reviews results."), code="not_a_provider")
    return account


def _data(entry: work_store.WorkEntry) -> dict[str, Any]:
    data: dict[str, Any] = entry.data.as_dict() if entry.data is not None else {}
    return data


def _routes(data: dict[str, Any]) -> list[str]:
    return [str(route) for route in data.get("routed_to") or [EVERY_PROVIDER]]


def _sort_key(row: ResultToReview) -> tuple[int, int, float]:
    reported = row["reported_at"] or row["waiting_since"]
    moment = datetime.fromisoformat(reported.replace("Z", "+00:00")).timestamp()
    return (0 if row["critical"] else 1, 0 if row["flags"] else 1, -moment)


def to_review(caller: Caller) -> ResultsToReview:
    """The results routed to the calling provider (and those routed to nobody) that no provider has
    reviewed yet: critical first, then abnormal, then newest; each result once (its latest version)."""
    me = _provider(caller)
    latest: dict[str, tuple[work_store.WorkEntry, bool]] = {}
    for entry, named in [*((e, True) for e in work_store.open_entries(_queue(me.id))),
                         *((e, False) for e in work_store.open_entries(_queue(EVERY_PROVIDER)))]:
        data = _data(entry)
        known = latest.get(entry.item_id or "")
        if known is None or int(_data(known[0]).get("version") or 1) < int(data.get("version") or 1):
            latest[entry.item_id or ""] = (entry, named)
    patients = import_store.accounts_by_id({e.patient_id for e, _ in latest.values() if e.patient_id})
    now = clock.now()
    rows: list[ResultToReview] = []
    for entry, named in latest.values():
        data = _data(entry)
        patient = patients.get(entry.patient_id or "")
        rows.append({
            "id": entry.item_id or "", "version": int(data.get("version") or 1), "patient_id": entry.patient_id,
            "patient_name": patient.name if patient is not None else None, "title": str(data.get("title") or ""),
            "flags": int(data.get("flags") or 0), "critical": bool(data.get("critical")),
            "reported_at": data.get("reported_at"), "released_at": data.get("released_at"),
            "waiting_since": iso(entry.created_at) or "",
            "waited_hours": max(0, int((now - entry.created_at).total_seconds() // 3600)),
            "ordered_by_name": data.get("ordered_by_name"), "routed_to_me": named,
        })
    rows.sort(key=_sort_key)
    audit.record_for(caller, "provider.results_listed", detail={"count": len(rows)})
    return {"results": rows}


def _comment_on(item: item_store.Item, author: str, text: str) -> None:
    """Add the provider's comment and start a new round with its notice (one transaction)."""
    for _ in range(_TRIES):
        now = clock.now()
        expected_round = int(item.round or 0)
        comment = item_store.Comment(author=author, text=text, created_at=now, role="provider")
        item.round = expected_round + 1
        notice = notices.new_leased_item_notice(item, 1, now)
        due_at = now + timedelta(days=get_settings().follow_up_days)
        if item_store.add_comment_with_notice(item, comment, now, due_at, notice, expected_round):
            notices.deliver(notice, leased=True)
            return
        fresh = item_store.get(item.id)
        if fresh is None or fresh.status == item_store.RETRACTED:
            raise NotFound(N_("No result with that id."))
        item = fresh
    raise Conflict(N_("The result changed while the comment was saved; please try again."))


def review(caller: Caller, result_id: str, comment: str | None) -> Reviewed:
    """Mark a result reviewed (any provider may: they cover for each other; the audit names who it
    was routed to and who reviewed it), with an optional comment for the patient."""
    me = _provider(caller)
    item = item_store.get(result_id)
    if item is None or item.kind != RESULT or item.status == item_store.RETRACTED:
        raise NotFound(N_("No result with that id."))
    versions = int(item.version or 1)
    entries = work_store.open_among([entry_id(result_id, v) for v in range(1, versions + 1)])
    routes = _routes(_data(entries[-1])) if entries else []
    named = bool(routes) and routes != [EVERY_PROVIDER]
    further = [f"{e.id}@{route}" for e in entries for route in _routes(_data(e))[1:]]
    entries += work_store.open_among(further) if further else []
    found = import_store.accounts_by_id(routes) if named else {}
    to = [found[route] for route in routes if route in found]
    text = (comment or "").strip()
    # A held result is released by its review, with the comment and one notice for both (`release`).
    released = item_store.is_held(item) and release.on_review(caller, item, me.name, text or None)
    if text and not released:
        _comment_on(item, me.name, text)
    now = clock.now()
    for entry in entries:
        work_store.resolve(entry, me.id, None, now, resolution="reviewed")
    covered = bool(entries) and named and me.id not in {p.id for p in to}
    audit.record_for(caller, "result.review", patient_id=item.patient_id, target_id=result_id,
                     detail={"reviewed_by": me.name, "routed_to": ", ".join(p.name for p in to) if named else "all",
                             "covering": covered, "comment": bool(text), "released": released})
    logger.info("result reviewed", extra={"result_id": result_id, "covering": covered, "comment": bool(text),
                                          "released": released})
    return {"id": result_id, "reviewed_at": iso(now) or ""}
