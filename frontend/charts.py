"""Charts drawn on the server as small inline SVG: no script, no library, readable by screen
readers (``role="img"`` with a title and a description; each page also prints the numbers
as a table). Every chart page uses these two functions."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 12, 28
Number = int | float | Decimal


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Number]
    css: str = "s1"  # the stroke/fill class (frontend/static/frontend/reports.css)


def _scale(top: float) -> float:
    """A round axis maximum at or above ``top``."""
    if top <= 0:
        return 1.0
    step = 10 ** (len(str(int(top))) - 1)
    return float(((int(top) // step) + 1) * step)


def _frame(
    chart_id: str, title: str, desc: str, body: list[str], top: float, labels: Sequence[str]
) -> SafeString:
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]
    for i in range(5):  # gridlines and axis numbers
        y = PAD_TOP + plot_h - plot_h * i / 4
        value = top * i / 4
        shown = f"{value:,.0f}" if top >= 8 else f"{value:,.1f}"
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 4}" y="{y + 4:.1f}" '
            f'text-anchor="end">{shown}</text>'
        )
    n = len(labels)
    every = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            x = PAD_LEFT + (plot_w * (i + 0.5) / n if n else 0)
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts += body
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)


def line_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    markers: Sequence[tuple[int, str]] = (),
) -> SafeString:
    """Lines over ``labels`` (one point per label); ``markers`` are (index, label) moments
    drawn as dashed vertical lines (e.g. coupon drops)."""
    n = len(labels)
    top = _scale(max((float(v) for s in series for v in s.values), default=0))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    body = []
    for index, label in markers:
        x = PAD_LEFT + plot_w * (index + 0.5) / max(n, 1)
        body.append(
            f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" '
            f'y1="{PAD_TOP}" y2="{PAD_TOP + plot_h}">'
            f"<title>{escape(label)}</title></line>"
        )
    for s in series:
        points = " ".join(
            f"{PAD_LEFT + plot_w * (i + 0.5) / max(n, 1):.1f},"
            f"{PAD_TOP + plot_h - plot_h * float(v) / top:.1f}"
            for i, v in enumerate(s.values)
        )
        body.append(
            f'<polyline class="line {s.css}" points="{points}">'
            f"<title>{escape(s.label)}</title></polyline>"
        )
    return _frame(chart_id, title, desc, body, top, labels)


def bar_chart(
    *, chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[Number]
) -> SafeString:
    """One bar per label (months, funnel steps)."""
    n = len(labels)
    top = _scale(max((float(v) for v in values), default=0))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(n, 1)
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * float(value) / top
        body.append(
            f'<rect class="bar" x="{PAD_LEFT + slot * i + slot * 0.15:.1f}" '
            f'y="{PAD_TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {escape(str(value))}</title></rect>"
        )
    return _frame(chart_id, title, desc, body, top, labels)
