"""Schemathesis against the published OpenAPI document as a caregiver: every operation open to a
caregiver, with ids of no one and with the ids of the records of the patient they care for. See
`tests/support/fuzz.py` for what is fuzzed, what is left out and why, and how to replay a failure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.fuzz import assert_clean, fuzz_as

pytestmark = pytest.mark.slow


def test_generated_requests_as_a_caregiver_never_fail_and_always_match_the_document(portal):
    # Given a caregiver of a patient, signed in, with records of their own, in an hour of the run's own
    # When schemathesis sends valid and invalid requests to every operation open to them
    fuzz = fuzz_as(portal, "caregiver", datetime(2034, 6, 3, 9, 0, 5, tzinfo=UTC))

    # Then every answer matched the document, none was a 5xx, there were enough of them, success
    # answers among them, and the session survived the run
    assert_clean(fuzz, min_requests=1000, min_successes=20)
