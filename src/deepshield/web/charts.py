"""Bar charts drawn on the server as SVG: plain functions from numbers to markup.

The transparency page draws its charts here, so they need no JavaScript and no chart library,
and they obey the pages' Content-Security-Policy: no ``style=`` attribute anywhere (``style-src
'self'`` blocks them), only SVG presentation attributes and the ``chart-*`` classes of
``site.css``. What a caller may rely on:

- the result is one well-formed ``<svg>`` element (XML: it parses with ``xml.etree``), safe to put
  in a page as it is (every text and attribute value is escaped);
- ``role="img"`` with ``aria-labelledby`` naming its ``<title>`` and ``<desc>``, so a screen
  reader hears the chart's title and a one-sentence summary (the page adds a data table too);
- one ``<rect class="chart-bar">`` per bar, in the order given, carrying ``data-label`` and
  ``data-value`` (the value as given), and sized in proportion to its value on a scale that
  starts at 0; every bar's value is also written as text beside it;
- a reference value (a legal clock, say) is a ``<line class="chart-reference">`` across its
  bar's row, with ``data-value``, and its own text label;
- ids inside the SVG start with ``chart_id``, so several charts can share a page.

Colours meet WCAG 2.2 AA on white: text #1d1d1f (16:1), bars #4b2a86 (10:1, non-text 3:1 is
the rule), the reference line #a4161a (7:1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

#: The drawing's width in SVG units; it scales down to the page (``.charts svg`` in site.css).
WIDTH = 640
INK = "#1d1d1f"
MUTED = "#4a4a55"
BAR = "#4b2a86"
REFERENCE = "#a4161a"
GRID = "#b9b7c6"
FONT_SIZE = 14
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value (0 or more), and optionally a reference value drawn across
    its row (a deadline), with the words for it (``reference_label``)."""

    label: str
    value: float
    reference: float | None = None
    reference_label: str = ""


def _number(value: float) -> str:
    """A value as people read it: whole numbers without a decimal point, others to 2 places."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _coordinate(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _check(chart_id: str, bars: Sequence[Bar]) -> None:
    if not _ID.match(chart_id):
        raise ValueError(f"a chart id is a letter then letters, digits, - or _ (up to 64); got {chart_id!r}")
    for bar in bars:
        for value in (bar.value, bar.reference):
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"bar {bar.label!r}: values are finite and 0 or more; got {value!r}")


def _scale(values: Sequence[float]) -> tuple[float, float]:
    """``(end of the scale, step between its ticks)``: about four steps of 1, 2 or 5 times a power
    of ten, enough to hold the largest value; whole steps when every value is whole (counts)."""
    largest = max(values, default=0.0)
    whole = all(float(value).is_integer() for value in values)
    if largest <= 0:
        return 1.0, 1.0
    rough = largest / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    if whole:
        step = max(1.0, math.ceil(step))
    return float(step * math.ceil(largest / step - 1e-9)), float(step)


def _ticks(maximum: float, step: float) -> list[float]:
    return [step * i for i in range(round(maximum / step) + 1)]


def _open(chart_id: str, title: str, description: str, height: float) -> list[str]:
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return [
        Markup('<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{}" viewBox="0 0 {} {}" '
               'width="{}" height="{}" role="img" aria-labelledby="{} {}" focusable="false" '
               'font-family="system-ui, sans-serif" font-size="{}">').format(
            chart_id, WIDTH, _coordinate(height), WIDTH, _coordinate(height), title_id, desc_id, FONT_SIZE),
        Markup('<title id="{}">{}</title>').format(title_id, title),
        Markup('<desc id="{}">{}</desc>').format(desc_id, description),
    ]


def _text(x: float, y: float, content: str, *, anchor: str = "start", fill: str = INK,
          css_class: str = "chart-text") -> str:
    return Markup('<text class="{}" x="{}" y="{}" text-anchor="{}" fill="{}">{}</text>').format(
        css_class, _coordinate(x), _coordinate(y), anchor, fill, content)


def _empty(chart_id: str, title: str, description: str, empty_text: str) -> Markup:
    parts = _open(chart_id, title, description, 60)
    parts.append(_text(WIDTH / 2, 36, empty_text, anchor="middle", fill=MUTED, css_class="chart-empty"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def bar_chart(chart_id: str, title: str, description: str, bars: Sequence[Bar], *,
              unit: str = "", empty_text: str = "Nothing to show for this period.") -> Markup:
    """Horizontal bars, one row per ``Bar``, labels on the left and values at the bars' ends;
    ``unit`` follows every value (``"h"``). With no bars, a chart that says ``empty_text``.
    Raises ``ValueError`` for a bad ``chart_id`` or a negative or infinite value."""
    _check(chart_id, bars)
    if not bars:
        return _empty(chart_id, title, description, empty_text)
    label_width, value_room, top, row, bar_height = 150.0, 70.0, 28.0, 40.0, 22.0
    has_reference = any(bar.reference is not None for bar in bars)
    if has_reference:
        row += 16  # room under the bar for the reference's words
    plot_left, plot_right = label_width, WIDTH - value_room
    plot_width = plot_right - plot_left
    maximum, step = _scale([value for bar in bars for value in (bar.value, bar.reference)
                            if value is not None])
    height = top + row * len(bars) + 12
    parts = _open(chart_id, title, description, height)
    # The scale: light vertical lines with their values above the plot.
    for tick in _ticks(maximum, step):
        x = plot_left + plot_width * tick / maximum
        parts.append(Markup('<line class="chart-grid" x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{3}" '
                            'stroke-width="1"/>').format(_coordinate(x), _coordinate(top - 6),
                                                         _coordinate(height - 8), GRID))
        parts.append(_text(x, top - 10, f"{_number(tick)}{unit}", anchor="middle", fill=MUTED,
                           css_class="chart-tick"))
    for index, bar in enumerate(bars):
        y = top + row * index + 6
        width = plot_width * bar.value / maximum
        parts.append(_text(plot_left - 8, y + bar_height / 2 + 5, bar.label, anchor="end",
                           css_class="chart-label"))
        parts.append(Markup('<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}" fill="{}" '
                            'data-label="{}" data-value="{}"/>').format(
            _coordinate(plot_left), _coordinate(y), _coordinate(width), _coordinate(bar_height), BAR,
            bar.label, _number(bar.value)))
        parts.append(_text(plot_left + width + 6, y + bar_height / 2 + 5, f"{_number(bar.value)}{unit}",
                           css_class="chart-value"))
        if bar.reference is not None:
            x = plot_left + plot_width * bar.reference / maximum
            parts.append(Markup('<line class="chart-reference" x1="{0}" y1="{1}" x2="{0}" y2="{2}" '
                                'stroke="{3}" stroke-width="3" stroke-dasharray="5 3" data-label="{4}" '
                                'data-value="{5}"/>').format(
                _coordinate(x), _coordinate(y - 4), _coordinate(y + bar_height + 4), REFERENCE,
                bar.reference_label or bar.label, _number(bar.reference)))
            words = bar.reference_label or f"{_number(bar.reference)}{unit}"
            anchor = "end" if x > plot_left + plot_width / 2 else "start"
            parts.append(_text(x + (-4 if anchor == "end" else 4), y + bar_height + 16, words,
                               anchor=anchor, fill=REFERENCE, css_class="chart-reference-label"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def column_chart(chart_id: str, title: str, description: str, bars: Sequence[Bar], *,
                 empty_text: str = "Nothing to show for this period.") -> Markup:
    """Vertical columns left to right (weeks, say), each labelled below and valued above. Labels
    are written as given, so keep them short (``"4 May"``). With no bars, a chart that says
    ``empty_text``. Raises ``ValueError`` as ``bar_chart``; references are not drawn here."""
    _check(chart_id, bars)
    if not bars:
        return _empty(chart_id, title, description, empty_text)
    left, right, top, bottom = 44.0, 12.0, 24.0, 48.0
    plot_height = 200.0
    height = top + plot_height + bottom
    plot_width = WIDTH - left - right
    slot = plot_width / len(bars)
    column_width = max(4.0, slot * 0.7)
    maximum, step = _scale([bar.value for bar in bars])
    baseline = top + plot_height
    parts = _open(chart_id, title, description, height)
    for tick in _ticks(maximum, step):
        y = baseline - plot_height * tick / maximum
        parts.append(Markup('<line class="chart-grid" x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{3}" '
                            'stroke-width="1"/>').format(_coordinate(left), _coordinate(y),
                                                         _coordinate(WIDTH - right), GRID))
        parts.append(_text(left - 6, y + 5, _number(tick), anchor="end", fill=MUTED, css_class="chart-tick"))
    # Label every column when they fit, else every n-th, so the words never overlap.
    label_every = max(1, math.ceil(len(bars) * 56 / plot_width))
    for index, bar in enumerate(bars):
        centre = left + slot * index + slot / 2
        column_height = plot_height * bar.value / maximum
        parts.append(Markup('<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}" fill="{}" '
                            'data-label="{}" data-value="{}"/>').format(
            _coordinate(centre - column_width / 2), _coordinate(baseline - column_height),
            _coordinate(column_width), _coordinate(column_height), BAR, bar.label, _number(bar.value)))
        if bar.value > 0 or len(bars) <= 16:
            parts.append(_text(centre, baseline - column_height - 5, _number(bar.value), anchor="middle",
                               css_class="chart-value"))
        if index % label_every == 0:
            parts.append(_text(centre, baseline + 20, bar.label, anchor="middle", css_class="chart-label"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
