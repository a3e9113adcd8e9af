"""What the providers' routes answer (see chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing_extensions import TypedDict

from chalicelib.services.answers import Time


class ResultToReview(TypedDict):
    """One result on a provider's "Results to review" list."""

    id: str
    version: int
    patient_id: str | None
    patient_name: str | None
    title: str
    flags: int  # how many of its values carry a flag
    critical: bool
    reported_at: Time | None
    released_at: Time | None
    waiting_since: Time
    waited_hours: int
    ordered_by_name: str | None
    routed_to_me: bool  # False: another provider's result (or nobody's), listed to all


class ResultsToReview(TypedDict):
    results: list[ResultToReview]


class Reviewed(TypedDict):
    id: str
    reviewed_at: Time
