"""The release rules without AWS: which result is held (the clinic's setting, the patient's choice),
and the sweep's release of the holds that ran out, page by page, each once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.services.results import release
from chalicelib.services.results.model import Observation, Report
from chalicelib.settings import get_settings
from chalicelib.store.accounts import Account

NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)


def report(flag: str | None) -> Report:
    return Report(facility="LAB", title="GLUCOSE", status="final", filler_order="1",
                  observations=[Observation(code="1554-5", name="GLUCOSE", value=182.0, flag=flag)])


@pytest.mark.parametrize(("clinic", "choice", "flag", "held"), [
    ("immediate", None, "high", None),
    ("after_review", None, "high", "flagged"),
    ("after_review", None, None, None),
    ("immediate", "after_review", None, "patient_choice"),
])
def test_a_result_is_held_for_a_flag_under_after_review_or_always_by_the_patients_choice(
        monkeypatch, clinic, choice, flag, held):
    # Given the clinic's RESULT_RELEASE and the patient's own choice
    monkeypatch.setattr(release, "get_settings", lambda: replace(get_settings(), result_release=clinic))
    patient = Account("p1", role="patient", result_release=choice)
    # When a result with (or without) a flag arrives / Then it is held for that reason, or released
    assert release.hold_reason(report(flag), patient) == held


class Page(list):
    def __init__(self, items, last_evaluated_key):
        super().__init__(items)
        self.last_evaluated_key = last_evaluated_key


def test_the_sweep_releases_each_due_hold_once_page_by_page_and_counts_what_a_review_took(monkeypatch):
    # Given three holds due, in pages of two, the second already released by a review
    items = [SimpleNamespace(id=f"r{n}", patient_id="p1", version=1, round=0, kind="result") for n in range(3)]
    pages, released, audited, told = [], [], [], []

    def held_due(now, limit, last_evaluated_key=None):
        start = last_evaluated_key or 0
        pages.append(start)
        return Page(items[start:start + limit], start + limit if start + limit < len(items) else None)

    monkeypatch.setattr(release.item_store, "held_due", held_due)
    monkeypatch.setattr(release.account_store, "get", lambda account_id: Account(account_id, role="patient"))
    monkeypatch.setattr(release.notices, "new_leased_item_notice", lambda item, number, now: (item.id, number))
    monkeypatch.setattr(release.results_store, "release",
                        lambda item, now, due_at, notice, comment=None: item.id != "r1" and not released.append(notice))
    monkeypatch.setattr(release.notices, "deliver", lambda notice, account, leased: "sent")
    monkeypatch.setattr(release.audit, "record", lambda action, **kw: audited.append((action, kw["detail"]["by"])))

    # When the sweep's release runs
    swept = release.release_due(NOW, lambda: False, lambda result, version, at: told.append(result), page_size=2)

    # Then it read both pages, released the two still held with their first notice, and counted the other
    assert pages == [0, 2] and released == [("r0", 1), ("r2", 1)] and told == ["r0", "r2"]
    assert (swept.released, swept.taken, swept.errors, swept.complete) == (2, 1, 0, True)
    assert audited == [("result.release", "hold_expired")] * 2
