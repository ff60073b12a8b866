"""The server-side SVG charts (``web.charts``): read back with ``xml.etree``, every bar and label
matches the numbers given, the text is escaped, and nothing needs a ``style`` attribute."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from deepshield.web import charts
from deepshield.web.charts import Bar

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def _bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "chart-bar"]


def _texts(root: ET.Element, css_class: str) -> list[str]:
    return [text.text or "" for text in root.iter(f"{SVG}text") if text.get("class") == css_class]


def test_a_bar_chart_has_one_bar_per_value_sized_in_proportion_and_labelled() -> None:
    data = [Bar("Removed", 6), Bar("Declined", 3), Bar("Pending", 0)]
    root = _parse(charts.bar_chart("chart-outcomes", "Decisions", "6 removed, 3 declined.", data))
    bars = _bars(root)
    assert [(bar.get("data-label"), bar.get("data-value")) for bar in bars] == [
        ("Removed", "6"), ("Declined", "3"), ("Pending", "0")]
    widths = [float(bar.get("width", "nan")) for bar in bars]
    assert widths[0] == pytest.approx(2 * widths[1], rel=0.01) and widths[2] == 0
    assert _texts(root, "chart-label") == ["Removed", "Declined", "Pending"]
    assert _texts(root, "chart-value") == ["6", "3", "0"]
    # The scale starts at 0: all bars start at the same x, the plot's left edge.
    assert len({bar.get("x") for bar in bars}) == 1


def test_the_chart_is_named_for_assistive_technology() -> None:
    root = _parse(charts.bar_chart("chart-a", "Appeals", "2 appeals filed.", [Bar("Filed", 2)]))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-a-title chart-a-desc"
    assert root.find(f"{SVG}title").text == "Appeals"  # type: ignore[union-attr]
    assert root.find(f"{SVG}title").get("id") == "chart-a-title"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "2 appeals filed."  # type: ignore[union-attr]
    assert root.get("id") == "chart-a"


def test_no_element_carries_a_style_attribute_the_policy_would_block() -> None:
    markup = str(charts.bar_chart("c1", "T", "D", [Bar("a", 1, reference=2, reference_label="clock")]))
    markup += str(charts.column_chart("c2", "T", "D", [Bar("4 May", 3), Bar("11 May", 0)]))
    assert "style=" not in markup and "<script" not in markup


def test_text_is_escaped_so_a_label_cannot_inject_markup() -> None:
    hostile = '<script>alert(1)</script> & "quoted"'
    markup = str(charts.bar_chart("c", hostile, hostile, [Bar(hostile, 1)]))
    assert "<script>" not in markup
    root = _parse(markup)  # still well-formed XML
    assert root.find(f"{SVG}title").text == hostile  # type: ignore[union-attr]
    assert _bars(root)[0].get("data-label") == hostile
    assert _texts(root, "chart-label") == [hostile]


def test_a_reference_line_sits_at_its_value_on_the_same_scale_as_the_bars() -> None:
    data = [Bar("US", 12, reference=48, reference_label="US clock: remove within 48 h"),
            Bar("AU", 30, reference=24, reference_label="AU clock: remove within 24 h")]
    root = _parse(charts.bar_chart("chart-action", "Time to action", "Median hours.", data, unit=" h"))
    bars = _bars(root)
    lines = [line for line in root.iter(f"{SVG}line") if line.get("class") == "chart-reference"]
    assert [(line.get("data-label"), line.get("data-value")) for line in lines] == [
        ("US clock: remove within 48 h", "48"), ("AU clock: remove within 24 h", "24")]
    left = float(bars[0].get("x", "nan"))
    per_hour = float(bars[0].get("width", "nan")) / 12
    for line, hours in zip(lines, (48, 24), strict=True):
        assert float(line.get("x1", "nan")) == pytest.approx(left + per_hour * hours, abs=0.2)
        assert line.get("x1") == line.get("x2")  # a vertical line across the bar's row
    assert float(bars[1].get("width", "nan")) == pytest.approx(per_hour * 30, abs=0.2)
    assert _texts(root, "chart-value") == ["12 h", "30 h"]
    assert _texts(root, "chart-reference-label") == ["US clock: remove within 48 h",
                                                     "AU clock: remove within 24 h"]


def test_a_column_chart_draws_weeks_left_to_right_with_heights_in_proportion() -> None:
    weeks = [Bar("4 May", 2), Bar("11 May", 0), Bar("18 May", 5)]
    root = _parse(charts.column_chart("chart-weekly", "Requests per week", "7 in 3 weeks.", weeks))
    bars = _bars(root)
    assert [bar.get("data-label") for bar in bars] == ["4 May", "11 May", "18 May"]
    assert [bar.get("data-value") for bar in bars] == ["2", "0", "5"]
    xs = [float(bar.get("x", "nan")) for bar in bars]
    assert xs == sorted(xs)
    heights = [float(bar.get("height", "nan")) for bar in bars]
    assert heights[2] == pytest.approx(2.5 * heights[0], rel=0.01) and heights[1] == 0
    # Every column stands on the same baseline.
    assert len({round(float(bar.get("y", "nan")) + float(bar.get("height", "nan")), 1) for bar in bars}) == 1
    assert _texts(root, "chart-label") == ["4 May", "11 May", "18 May"]


def test_an_empty_chart_says_so_instead_of_drawing_nothing() -> None:
    root = _parse(charts.bar_chart("chart-empty", "Appeals", "None.", [], empty_text="No appeals."))
    assert _bars(root) == []
    assert _texts(root, "chart-empty") == ["No appeals."]
    assert _parse(charts.column_chart("c", "T", "D", [])).get("role") == "img"


def test_fractional_values_are_written_plainly() -> None:
    root = _parse(charts.bar_chart("c", "T", "D", [Bar("EU", 1.5), Bar("UK", 0.25)], unit=" h"))
    assert _texts(root, "chart-value") == ["1.5 h", "0.25 h"]


@pytest.mark.parametrize("bad", [Bar("x", -1), Bar("x", float("inf")), Bar("x", 1, reference=float("nan"))])
def test_a_negative_or_infinite_value_is_refused(bad: Bar) -> None:
    with pytest.raises(ValueError, match="finite and 0 or more"):
        charts.bar_chart("c", "T", "D", [bad])


def test_a_chart_id_that_is_not_a_plain_name_is_refused() -> None:
    with pytest.raises(ValueError, match="chart id"):
        charts.bar_chart('x" onload="alert(1)', "T", "D", [Bar("a", 1)])
