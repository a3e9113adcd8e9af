"""Server-drawn SVG for results: a trend chart (values over time against the reference band) and a
small range bar per numeric value. No JavaScript, no style sheet: presentation attributes only
(the pages' Content-Security-Policy allows no inline style), every text escaped, and each drawing
named for screen readers (`role="img"`, a title and a description). Colour never carries the
meaning alone: a value outside its range is also drawn as a different shape, and the pages show the
same numbers in a table with the flag in words.

Small code of our own rather than a chart library: two drawings of a few shapes each, tested
(tests/unit/test_results_chart.py), and nothing more to load in the API function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from chalicelib.services.results import words

BAND = "#d8eed9"  # the reference range
BAND_EDGE = "#5a9a5e"
LINE = "#1f4e8c"
OUT = "#b3261e"  # a value outside its range (also drawn as a square)
AXIS = "#5f6368"
GRID = "#e3e5e8"
TEXT = "#202124"


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    outside: bool  # flagged by the lab, or beyond the reference range


number = words.number  # a value as a person reads it (axis ticks, point titles)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high < low:
        low, high = high, low
    if high == low:
        spread = abs(high) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks: list[float] = []
    value = first
    while value < high + step * 0.5 and len(ticks) < 20:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _scale(domain: tuple[float, float], pixels: tuple[float, float]) -> Callable[[float], float]:
    (d0, d1), (p0, p1) = domain, pixels
    span = (d1 - d0) or 1.0
    return lambda v: p0 + (v - d0) / span * (p1 - p0)


def trend_svg(points: list[Point], low: float | None, high: float | None, *, title: str, description: str,
              date_label: Callable[[datetime], str], band_label: str, point_label: Callable[[Point], str],
              width: int = 640, height: int = 280) -> str:
    """Values over time: the reference band (either bound may be missing), the line through the
    values, each value a dot (a square when outside its range) titled with its date and value."""
    left, right, top, bottom = 56, 16, 16, 40
    values = [p.value for p in points] + [v for v in (low, high) if v is not None]
    ticks = nice_ticks(min(values), max(values)) if values else [0.0, 1.0]
    y = _scale((ticks[0], ticks[-1]), (height - bottom, top))
    times = [p.at.timestamp() for p in points]
    start, end = (min(times), max(times)) if times else (0.0, 1.0)
    if start == end:
        start, end = start - 86400, end + 86400
    x = _scale((start, end), (left + 12, width - right - 12))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend-chart" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-labelledby="trend-title trend-desc" focusable="false">',
             f'<title id="trend-title">{escape(title)}</title><desc id="trend-desc">{escape(description)}</desc>']
    if low is not None or high is not None:
        band_top = y(high) if high is not None else top
        band_bottom = y(low) if low is not None else height - bottom
        parts.append(f'<rect x="{left}" y="{band_top:.1f}" width="{width - left - right}" '
                     f'height="{max(band_bottom - band_top, 1):.1f}" fill="{BAND}" stroke="{BAND_EDGE}" '
                     f'stroke-dasharray="4 3"><title>{escape(band_label)}</title></rect>')
    for tick in ticks:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="12" '
                     f'fill="{TEXT}">{escape(number(tick))}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="{AXIS}"/>'
                 f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="{AXIS}"/>')
    labelled = set(range(len(points))) if len(points) <= 6 else {0, len(points) // 2, len(points) - 1}
    for index in sorted(labelled):
        if 0 <= index < len(points):
            anchor = "start" if index == 0 and len(points) > 1 else "end" if index == len(points) - 1 and len(points) > 1 \
                else "middle"
            parts.append(f'<text x="{x(times[index]):.1f}" y="{height - bottom + 18}" text-anchor="{anchor}" '
                         f'font-size="12" fill="{TEXT}">{escape(date_label(points[index].at))}</text>')
    if len(points) > 1:
        path = " ".join(f"{x(t):.1f},{y(p.value):.1f}" for t, p in zip(times, points, strict=True))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    for t, point in zip(times, points, strict=True):
        cx, cy = x(t), y(point.value)
        label = f"<title>{escape(point_label(point))}</title>"
        if point.outside:
            parts.append(f'<rect x="{cx - 5:.1f}" y="{cy - 5:.1f}" width="10" height="10" fill="{OUT}" '
                         f'stroke="#ffffff" stroke-width="1.5">{label}</rect>')
        else:
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{LINE}" stroke="#ffffff" '
                         f'stroke-width="1.5">{label}</circle>')
    parts.append("</svg>")
    return "".join(parts)


def range_bar_svg(value: float, low: float | None, high: float | None, *, label: str, outside: bool,
                  width: int = 160, height: int = 22) -> str | None:
    """Where one value sits against its range: a track, the range as a band, the value as a marker
    (a square when outside, a circle inside). None when there is no bound to draw against."""
    if low is None and high is None:
        return None
    bounds = [v for v in (low, high) if v is not None]
    span = (max(bounds) - min(bounds)) if len(bounds) == 2 else abs(bounds[0]) or 1.0
    domain_low = min([value, *bounds]) - span * 0.25
    domain_high = max([value, *bounds]) + span * 0.25
    x = _scale((domain_low, domain_high), (6, width - 6))
    middle = height / 2
    band_left = x(low) if low is not None else 6
    band_right = x(high) if high is not None else width - 6
    marker = (f'<rect x="{x(value) - 5:.1f}" y="{middle - 5:.1f}" width="10" height="10" fill="{OUT}"/>' if outside
              else f'<circle cx="{x(value):.1f}" cy="{middle:.1f}" r="5" fill="{LINE}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="range-bar" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}" focusable="false">'
            f'<line x1="6" x2="{width - 6}" y1="{middle}" y2="{middle}" stroke="{AXIS}" stroke-width="2"/>'
            f'<rect x="{band_left:.1f}" y="{middle - 6}" width="{max(band_right - band_left, 2):.1f}" height="12" '
            f'fill="{BAND}" stroke="{BAND_EDGE}"/>{marker}</svg>')
