"""The SVG the result pages draw on the server: round axis ticks, the reference band where the
range is, a value outside its range drawn as a square (never colour alone), every text escaped,
each drawing named for screen readers; and the words and numbers the tables show."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from chalicelib.services.results import chart, words

SVG = "{http://www.w3.org/2000/svg}"


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed


@pytest.mark.parametrize(("low", "high", "ticks"), [
    (70, 182, [50, 100, 150, 200]), (0.6, 1.2, [0.6, 0.8, 1.0, 1.2]),
    (5, 5, [4.5, 5.0, 5.5]), (-2, 2, [-2, -1, 0, 1, 2]),
])
def test_ticks_are_round_and_cover_the_values(low, high, ticks):
    found = chart.nice_ticks(low, high)
    assert found[0] <= low and found[-1] >= high
    assert found == pytest.approx(ticks)


def points(*values: tuple[int, float, bool]) -> list[chart.Point]:
    return [chart.Point(datetime(2024, month, 1, tzinfo=UTC), value, outside) for month, value, outside in values]


def test_a_trend_draws_the_band_the_line_and_an_out_of_range_value_as_a_square():
    # Given three glucose values, the middle one high, and a range of 70-99
    svg = chart.trend_svg(points((1, 85, False), (2, 182, True), (3, 95, False)), 70, 99,
                          title="Glucose over time", description="3 values", date_label=lambda at: at.strftime("%b"),
                          band_label="Reference range: 70-99", point_label=lambda p: f"{p.value:g} mg/dL")
    root = parsed(svg)

    # Then it is an image named by its title and description, with a band, a line, two dots and one square
    assert root.get("role") == "img" and root.get("aria-labelledby") == "trend-title trend-desc"
    assert root.find(f"{SVG}title").text == "Glucose over time" and root.find(f"{SVG}desc").text == "3 values"
    band = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == chart.BAND)
    squares = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == chart.OUT]
    assert len(squares) == 1 and squares[0].find(f"{SVG}title").text == "182 mg/dL"
    assert len(list(root.iter(f"{SVG}circle"))) == 2 and root.find(f"{SVG}polyline") is not None
    # And the band spans 70 to 99 on the axis (higher values are drawn higher up)
    square_y = float(squares[0].get("y"))
    assert square_y < float(band.get("y"))
    # And no style attribute anywhere (the pages' CSP allows none)
    assert "style=" not in svg


def test_a_trend_with_one_bound_or_one_point_still_draws():
    svg = chart.trend_svg(points((1, 4.2, False)), None, 5.1, title="K", description="1", date_label=str,
                          band_label="<5.1", point_label=lambda p: "x")
    root = parsed(svg)
    assert len(list(root.iter(f"{SVG}circle"))) == 1 and root.find(f"{SVG}polyline") is None


def test_every_text_in_a_drawing_is_escaped():
    svg = chart.trend_svg(points((1, 1, False)), None, None, title="<script>x</script>", description="a & b",
                          date_label=lambda at: "<b>", band_label="", point_label=lambda p: '"><svg onload=1>')
    assert "<script>" not in svg and "<b>" not in svg and "onload=1>" not in svg
    assert parsed(svg).find(f"{SVG}title").text == "<script>x</script>"


@pytest.mark.parametrize(("value", "low", "high", "outside"), [(98, 70, 99, False), (182, 70, 105, True),
                                                              (60, 40, None, False), (0.2, None, 0.5, False)])
def test_a_range_bar_places_the_value_against_its_range(value, low, high, outside):
    svg = chart.range_bar_svg(value, low, high, label=f"{value} within", outside=outside)
    root = parsed(svg)
    assert root.get("role") == "img" and root.get("aria-label") == f"{value} within"
    marker = root.find(f"{SVG}circle") if not outside else [r for r in root.iter(f"{SVG}rect") if r.get("fill") == chart.OUT][0]
    band = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == chart.BAND)
    x = float(marker.get("cx") or float(marker.get("x")) + 5)
    left, right = float(band.get("x")), float(band.get("x")) + float(band.get("width"))
    assert (left <= x <= right) != outside


def test_a_range_bar_needs_a_bound():
    assert chart.range_bar_svg(5, None, None, label="5", outside=False) is None


@pytest.mark.parametrize(("observation", "language", "shown"), [
    ({"flag": "high"}, "en", "High"), ({"flag": "critical_low", "critical": True}, "en", "Critically low"),
    ({"flag": "abnormal", "critical": True}, "en", "Critically abnormal"), ({"flag": None}, "en", "Not flagged"),
    ({"flag": "high"}, "es", "Alto"), ({"flag": "critical_high", "critical": True}, "es", "Críticamente alto"),
])
def test_flags_are_said_in_words_in_the_readers_language(observation, language, shown):
    assert words.flag_words(observation, language) == shown


@pytest.mark.parametrize(("observation", "value", "range_"), [
    ({"value": 182.0, "value_type": "numeric", "reference_range": {"low": 70, "high": 105, "text": "70_105"}}, "182", "70_105"),
    ({"value": 0.5, "value_type": "numeric", "comparator": "<", "reference_range": {"low": None, "high": 5.0, "text": None}},
     "< 0.5", "< 5"),
    ({"value": 1.02, "value_type": "numeric", "reference_range": {"low": 1.005, "high": 1.03, "text": None}}, "1.02",
     "1.005–1.03"),
    ({"value": "Negative", "value_type": "text", "reference_range": None}, "Negative", ""),
])
def test_values_and_ranges_read_as_the_lab_wrote_them(observation, value, range_):
    assert words.value_text(observation) == value and words.range_text(observation) == range_
