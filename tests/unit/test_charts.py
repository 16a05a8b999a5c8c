"""The server-drawn charts (frontend/charts.py): geometry proportional to the data, every
text escaped (session titles and campaign names are user input)."""

import re
from decimal import Decimal

from frontend.charts import Series, bar_chart, hbar_chart, line_chart

HOSTILE = '<script>alert(1)</script>" onload="x'


def widths(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect class="bar"[^>]* width="([0-9.]+)"', svg)]


def test_hbars_are_as_long_as_their_values_and_names_are_text() -> None:
    svg = hbar_chart(
        chart_id="c", title=HOSTILE, desc="d", labels=[HOSTILE, "b", "c"],
        values=[Decimal("160.00"), Decimal("40.00"), 0], shown=["160.00 THB", "40.00 THB", "0"],
    )  # fmt: skip
    assert "<script>" not in svg and 'onload="x' not in svg
    assert svg.count("&lt;script&gt;") == 3  # the title, the row's label, the bar's title
    long, short, none = widths(svg)
    assert long > 0 and abs(short - long / 4) < 0.1 and none == 0
    # as tall as its rows: a campaign with many sessions is not squeezed
    assert 'viewBox="0 0 640 208"' in svg
    assert 'viewBox="0 0 640 1616"' in hbar_chart(
        chart_id="c", title="t", desc="d", labels=["x"] * 25, values=[1] * 25
    )


def test_an_empty_chart_draws_no_marks() -> None:
    assert widths(hbar_chart(chart_id="c", title="t", desc="d", labels=[], values=[])) == []
    svg = bar_chart(chart_id="c", title="t", desc="d", labels=[], values=[])
    assert "<rect" not in svg and 'role="img"' in svg


def test_time_labels_thin_out_and_alternate_for_phones() -> None:
    labels = [f"10:{m:02d}" for m in range(40)]
    svg = line_chart(
        chart_id="v", title="t", desc="d", labels=labels,
        series=[Series("Viewers", list(range(40)))],
    )  # fmt: skip
    shown = re.findall(r'<text class="axis( minor)?" x="[0-9.]+" y="212"', svg)
    assert len(shown) == 8  # every fifth minute
    assert [bool(m) for m in shown] == [False, True] * 3 + [False, False]  # the last stays
    [points] = re.findall(r'points="([^"]+)"', svg)
    assert len(points.split()) == 40
