"""server/periods.py: one reading of ?from=&to= for the reports and the orders export."""

from datetime import UTC, date, datetime

import pytest

from server.errors import Invalid
from server.periods import month_end, query_date, query_instant


def test_a_day_or_a_month_and_its_end() -> None:
    assert query_date("2025-03-01", "from") == date(2025, 3, 1)
    assert query_date("2024-02", "from") == date(2024, 2, 1)
    assert query_date("2024-02", "to", end=True) == date(2024, 2, 29)
    assert month_end(date(2025, 12, 1)) == date(2025, 12, 31)
    assert query_date(None, "from") is None and query_date("", "to") is None


def test_a_bound_is_the_farms_wall_clock_and_to_takes_the_day_whole(settings) -> None:
    settings.DISPLAY_TIME_ZONE = "Asia/Bangkok"
    assert query_instant("2025-03-01", "from") == datetime(2025, 2, 28, 17, 0, tzinfo=UTC)
    assert query_instant("2025-03-01", "to", end=True) == datetime(2025, 3, 1, 17, tzinfo=UTC)
    assert query_instant("2025-02", "to", end=True) == datetime(2025, 2, 28, 17, tzinfo=UTC)
    # a time without an offset is the wall clock; `to` includes that very moment
    assert query_instant("2025-03-01T08:00", "from") == datetime(2025, 3, 1, 1, tzinfo=UTC)
    upper = query_instant("2025-03-01T08:00:00+07:00", "to", end=True)
    assert upper == datetime(2025, 3, 1, 1, 0, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    ["2025-02-30", "2025-13", "yesterday", "2025-1-1", "0001-01-01", "9999-12-31",
     "\uff12\uff10\uff12\uff15-\uff10\uff13-\uff10\uff11", "๒๕๖๘-๐๓-๐๑", "\x00",
     "2025-01-01T25:00", "1" * 100],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(Invalid) as refused:
        query_instant(raw, "from")
    assert refused.value.extra["fields"] == {"from": ["Not a date."]}
