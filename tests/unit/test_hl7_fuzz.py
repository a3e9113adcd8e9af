"""The lab file reader under fuzz (hypothesis, a bounded number of examples in every run): any
bytes give either reports or a quarantine reason, never an exception of another kind. The
examples are random bytes, HL7-shaped segments built from the pieces real messages use, and the
fixtures with bytes flipped, cut or inserted."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.services.results import reader
from chalicelib.services.results.model import REASONS, Unreadable
from tests.fixtures.lab import FIXTURES, load

ZONE = "America/New_York"
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def outcome_is_a_result_or_a_reason(data: bytes) -> None:
    try:
        messages = reader.read(data, ZONE)
    except Unreadable as whole:
        assert whole.reason in REASONS and whole.message
        return
    assert messages
    for message in messages:
        if message.unreadable is not None:
            assert message.unreadable.reason in REASONS and message.unreadable.message and not message.reports
        else:
            assert message.reports
            for identity, report in message.reports:
                assert identity.identifiers and report.order_key() and report.status in ("preliminary", "final", "corrected")
                report.fingerprint()  # every report can be stored and compared
                assert all(o.value_type in ("numeric", "text", "coded") for o in report.observations)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(data):
    outcome_is_a_result_or_a_reason(data)


PIECES = st.sampled_from([
    "|", "^", "~", "\\", "&", "\\.br\\", "\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\", "\\X41\\", "\\.sp5\\", "\\.spX\\",
    "\\H\\", "\\Zabc\\", "\\", "ORU", "R01", "ADT", "NM", "SN", "TX", "FT", "CE", "CWE", "ST", "ED", "F", "P", "C",
    "H", "LL", "HH", "AA", "<", ">", "70-105", "70_105", "<5", ">60", "^182", "<^0.5", "1.2e308", "nan", "-",
    "19620320", "20240101120000-0400", "99999999", "MR", "8859/1", "UNICODE UTF-8", "\x00", "é", "\r", "\n",
])
SEGMENT_NAMES = st.sampled_from(["MSH", "PID", "ORC", "OBR", "OBX", "NTE", "PV1", "FHS", "BHS", "BTS", "FTS", "ZZZ"])


@st.composite
def hl7_like(draw) -> bytes:
    segments = [r"MSH|^~\&|LAB|FAC|||20240101||" + draw(st.sampled_from(["ORU^R01", "ADT^A08", "ORU", ""])) + "|1|P|2.5"]
    for _ in range(draw(st.integers(0, 8))):
        name = draw(SEGMENT_NAMES)
        fields = draw(st.lists(st.lists(PIECES | st.text(max_size=4), max_size=4).map("".join), max_size=14))
        segments.append("|".join([name, *fields]))
    ending = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    encoded = ending.join(segments).encode(draw(st.sampled_from(["utf-8", "latin-1"])), errors="replace")
    return (b"\x0b" + encoded + b"\x1c\r") if draw(st.booleans()) else encoded


@settings(FUZZ, max_examples=60)
@given(hl7_like())
def test_hl7_shaped_messages(data):
    outcome_is_a_result_or_a_reason(data)


@FUZZ
@given(st.sampled_from(sorted(FIXTURES)), st.data())
def test_fixtures_with_bytes_flipped_cut_or_inserted(name, data):
    original = bytearray(load(name))
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.integers(0, max(0, len(original) - 1)))
        change = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if change == "flip" and original:
            original[where] = data.draw(st.integers(0, 255))
        elif change == "cut":
            del original[where:where + data.draw(st.integers(1, 40))]
        else:
            original[where:where] = data.draw(st.sampled_from([b"|", b"^", b"~", b"\\", b"\r", b"\rMSH|", b"\xff", b"{",
                                                               b"\rOBX|1|NM|x||", b"\rPID|||", b"]", b"\"", b"\x0b"]))
    outcome_is_a_result_or_a_reason(bytes(original))
