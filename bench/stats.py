"""Figures from measured values, the same in every benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of unsorted ``values`` (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def table(results: Sequence[Any], columns: Sequence[tuple[str, str, str]], other: str) -> str:
    """One aligned row per result: ``columns`` are (attribute, format, heading); a result's
    ``other`` answers and ``note``, when it has any, follow on a line of its own."""
    widths = [max(len(h), len(fmt.format(getattr(results[0], n)))) for n, fmt, h in columns]
    lines = [" | ".join(h.rjust(w) for (_, _, h), w in zip(columns, widths, strict=True))]
    for r in results:
        cells = [
            fmt.format(getattr(r, name)).rjust(w)
            for (name, fmt, _), w in zip(columns, widths, strict=True)
        ]
        lines.append(" | ".join(cells))
        if r.other or r.note:
            lines.append(f"    {r.variant}: {other} {r.other} {r.note}")
    return "\n".join(lines)
