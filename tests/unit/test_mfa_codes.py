"""The second factor's rules without AWS: RFC 6238 codes, the drift window, recovery codes, who
owes what at sign-in, and the QR code as inline SVG."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.services.access import mfa, passwords
from chalicelib.services.access.mfa_policy import owed_at_sign_in

# RFC 6238 appendix B: the SHA-1 seed "12345678901234567890"; the 8-digit codes' last six digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"),
               (2000000000, "279037")]


@pytest.mark.parametrize(("unix_time", "code"), RFC_VECTORS)
def test_codes_are_rfc_6238_sha1_six_digits_thirty_seconds(unix_time, code):
    # Given the RFC's secret and a moment
    moment = datetime.fromtimestamp(unix_time, UTC)

    # When the code of that moment's step is made
    made = mfa.code_at(RFC_SECRET, mfa.step_at(moment))

    # Then it is the RFC's
    assert made == code


def test_one_step_of_drift_either_way_matches_and_two_do_not():
    # Given a moment and the codes of the steps around it
    now = datetime(2026, 11, 30, 9, 0, 10, tzinfo=UTC)
    step = mfa.step_at(now)
    codes = {offset: mfa.code_at(RFC_SECRET, step + offset) for offset in (-2, -1, 0, 1, 2)}

    # When each is checked at that moment
    matched = {offset: mfa._matching_steps(RFC_SECRET, code, now) for offset, code in codes.items()}

    # Then the three in the window match their own step, the two outside match nothing of theirs
    assert all(step + offset in matched[offset] for offset in (-1, 0, 1))
    assert step - 2 not in matched[-2] and step + 2 not in matched[2]


def test_a_code_may_carry_spaces_but_nothing_else():
    now = datetime(2026, 11, 30, 9, 0, 10, tzinfo=UTC)
    code = mfa.code_at(RFC_SECRET, mfa.step_at(now))

    assert mfa._matching_steps(RFC_SECRET, f" {code[:3]} {code[3:]} ", now) == [mfa.step_at(now)]
    assert mfa._matching_steps(RFC_SECRET, code + "0", now) == []
    assert mfa._matching_steps(RFC_SECRET, code[:5] + "x", now) == []
    assert mfa._matching_steps(RFC_SECRET, "٠١٢٣٤٥", now) == []  # digits, but not ASCII ones


def test_ten_recovery_codes_each_with_its_own_tag_and_hash():
    # When recovery codes are made
    shown, hashes = mfa._new_recovery_codes()

    # Then there are ten different ones, shown as xxxx-xxxx-xxxx, each hashed under its own tag
    assert len(shown) == 10 and len(set(shown)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", code) for code in shown)
    assert sorted(hashes) == sorted(code[:4] for code in shown)
    for code in shown:
        plain = mfa._normal_recovery(code.upper())
        assert hashes[plain[:4]].startswith("$argon2id$") and passwords.verify(hashes[plain[:4]], plain)


@pytest.mark.parametrize(("role", "secret", "owed"), [
    ("staff", None, "enroll"), ("admin", None, "enroll"), ("patient", None, "none"),
    ("staff", "S", "verify"), ("admin", "S", "verify"), ("patient", "S", "verify"),
])
def test_what_a_password_sign_in_still_owes(role, secret, owed):
    assert owed_at_sign_in(SimpleNamespace(role=role, mfa_secret=secret)) == owed


def test_the_qr_code_is_an_inline_labelled_svg_of_the_uri():
    # Given an enrolment
    enrolment = mfa.Enrolment("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "otpauth://totp/Patient%20Portal:desk?secret=X")

    # When its QR code is drawn
    svg = enrolment.qr_svg()

    # Then it is an SVG element to put in the page (no XML declaration, no script, no style), labelled
    assert svg.startswith('<svg role="img" aria-label="')
    assert "<?xml" not in svg and "<script" not in svg and "style=" not in svg
    assert enrolment.grouped_secret == "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
