"""Bad lab files are quarantined or read, never a crash: 10,000 OBX segments, deeply repeated
fields, invalid UTF-8, a wrong character set in MSH-18, stray segments, missing parts. One bad
message in a file never keeps the others from being read."""

from __future__ import annotations

import time

import pytest

from chalicelib.services.results import reader
from chalicelib.services.results.model import MAX_TEXT, UNKNOWN_PATIENT, UNPARSEABLE, Unreadable
from tests.fixtures.lab import load

ZONE = "America/New_York"
HEADER = r"MSH|^~\&|LAB|RIVERSIDE_LAB|PORTAL|RIVERSIDE|20240101120000||ORU^R01|X1|P|2.5.1"
PID = "PID|1||9000001^^^RIVERSIDE^MR||DOE^JANE||19800101|F"
OBR = "OBR|1||ORD-1^LAB|2345-7^Glucose^LN|||20240101080000"


def message(*segments: str, header: str = HEADER) -> bytes:
    return ("\r".join((header, *segments)) + "\r").encode()


def test_ten_thousand_obx_segments_are_quarantined_quickly_as_too_many_for_one_result():
    # Given a report with 10,000 observations
    data = message(PID, OBR, *(f"OBX|{n}|NM|2345-7^Glucose^LN||{n}|mg/dL|70-99|N|||F" for n in range(1, 10_001)))
    started = time.perf_counter()

    # When it is read
    [found] = reader.read(data, ZONE)

    # Then it is quarantined as unparseable, saying why, without reading the rest
    assert found.unreadable.reason == UNPARSEABLE and "1,000 observations" in found.unreadable.message
    assert time.perf_counter() - started < 5  # counted before it is parsed: a generous bound


def test_a_message_over_the_size_limit_is_quarantined_before_it_is_parsed():
    data = message(PID, OBR, "OBX|1|ED|x^Report||^application^pdf^Base64^" + "A" * 2_100_000)
    [found] = reader.read(data, ZONE)
    assert found.unreadable.reason == UNPARSEABLE and "larger than 2 MB" in found.unreadable.message


def test_deeply_repeated_fields_are_bounded():
    # Given PID-3 repeated 20,000 times, and a TX value repeated 20,000 times
    many_ids = message("PID|1||" + "~".join(f"ID{n}" for n in range(20_000)) + "||DOE^JANE", OBR, "OBX|1|NM|x||1")
    long_text = message(PID, OBR, "OBX|1|TX|x^Narrative||" + "~".join("line" for _ in range(20_000)) + "||||||F")

    # Then the identifiers are refused, and the text is read, cut at the portal's limit
    [ids] = reader.read(many_ids, ZONE)
    assert ids.unreadable.reason == UNPARSEABLE and "PID-3 repeats" in ids.unreadable.message
    [text] = reader.read(long_text, ZONE)
    assert text.unreadable is None and len(text.reports[0][1].observations[0].value) <= MAX_TEXT


def test_invalid_utf8_quarantines_that_message_only():
    # Given a batch whose second message holds bytes that are not UTF-8 (and MSH-18 declares none)
    good = load("normative_glucose.hl7")
    bad = message(PID, OBR, "OBX|1|ST|x^Comment||caf\xe9".replace("\xe9", "@"))  # placeholder swapped below
    bad = bad.replace(b"caf@", b"caf\xe9\xff")
    data = good + bad + good.replace(b"1045813", b"1045814")

    # When it is read
    first, second, third = reader.read(data, ZONE)

    # Then the first and third are read and the second is quarantined, naming the byte
    assert first.unreadable is None and third.unreadable is None
    assert second.unreadable.reason == UNPARSEABLE and "not valid UTF-8" in second.unreadable.message
    assert second.raw.startswith(b"MSH|") and b"caf\xe9\xff" in second.raw  # the office sees its own bytes


def test_msh18_is_honoured_and_a_wrong_one_is_quarantined_or_read():
    # Given Latin-1 text declared as 8859/1, Latin-1 text declared as UTF-8, and UTF-8 declared as 8859/1
    latin_header = HEADER + "||||||8859/1"
    utf8_header = HEADER + "||||||UNICODE UTF-8"
    text = "OBX|1|ST|x^Comment||Muestra hemolizada, repetir toma (sí)||||||F"
    declared_latin = message(PID, OBR, header=latin_header).replace(b"\r", b"\r", 1) + text.encode("latin-1") + b"\r"
    wrong_utf8 = message(PID, OBR, header=utf8_header) + text.encode("latin-1") + b"\r"
    utf8_as_latin = message(PID, OBR, header=latin_header) + text.encode("utf-8") + b"\r"

    # Then the first reads right, the second is quarantined, the third is read (as Latin-1 says)
    [right] = reader.read(declared_latin, ZONE)
    assert right.reports[0][1].observations[0].value.endswith("(sí)")
    [wrong] = reader.read(wrong_utf8, ZONE)
    assert wrong.unreadable.reason == UNPARSEABLE and "UNICODE UTF-8" in wrong.unreadable.message
    [misread] = reader.read(utf8_as_latin, ZONE)
    assert misread.unreadable is None


def test_a_stray_segment_before_the_first_header_is_quarantined_and_the_message_read():
    data = b"OBX|1|NM|x||1\r" + load("normative_glucose.hl7")
    stray, read = reader.read(data, ZONE)
    assert stray.unreadable.reason == UNPARSEABLE and stray.raw == b"OBX|1|NM|x||1\r"
    assert read.unreadable is None and read.reports


@pytest.mark.parametrize(("segments", "reason", "words"), [
    ((PID, "OBX|1|NM|x||1", OBR), UNPARSEABLE, "before any OBR"),
    ((PID, "OBR|1|||x^Test"), UNPARSEABLE, "order number"),
    ((OBR, "OBX|1|NM|x||1"), UNKNOWN_PATIENT, "names no patient"),
    (("PID|1||||DOE^JANE", OBR), UNKNOWN_PATIENT, "names no patient"),
])
def test_messages_missing_what_a_result_needs_say_what_is_missing(segments, reason, words):
    [found] = reader.read(message(*segments), ZONE)
    assert found.unreadable.reason == reason and words in found.unreadable.message


def reason_of(data: bytes) -> str:
    """Why a file that cannot become a result is quarantined (whole, or as its one message)."""
    try:
        [found] = reader.read(data, ZONE)
    except Unreadable as whole:
        return whole.reason
    assert found.unreadable is not None and not found.reports
    return found.unreadable.reason


@pytest.mark.parametrize("data", [b"", b"   \r\n", b"%PDF-1.7 not a lab file", b"\x00\x01\x02", b"MSH", b"MSH|^~",
                                  b"BHS|^~\\&\rBTS|0\r"])
def test_a_file_that_holds_no_readable_message_is_unparseable(data):
    assert reason_of(data) == UNPARSEABLE


@pytest.mark.parametrize(("data", "reason"), [
    (b"{", UNPARSEABLE), (b"{\"resourceType\": 5}", "not_a_result"), (b"{\"a\": " * 5000, UNPARSEABLE),
    (b"{\"resourceType\": \"Patient\"}", "not_a_result"),
    (b"{\"resourceType\": \"DiagnosticReport\", \"status\": \"final\"}", UNPARSEABLE),
    (b"{\"resourceType\": \"Bundle\", \"type\": \"collection\", \"entry\": [{\"resource\": {\"resourceType\": \"Nope\"}}]}",
     UNPARSEABLE),
    (b"{\"resourceType\": \"Bundle\", \"type\": \"collection\"}", "not_a_result"),
])
def test_broken_fhir_is_quarantined_with_a_reason(data, reason):
    assert reason_of(data) == reason
