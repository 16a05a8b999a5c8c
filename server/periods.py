"""Periods in a query string (``?from=&to=``): one reading of a day, a month or a time for
every report and export, so the same ``from=2025-03-01`` means the same orders everywhere.

A day is a day on the farms' wall clock (``DISPLAY_TIME_ZONE``), taken whole:
``to=2025-03-01`` includes all of it, on a page and in the API alike (the API otherwise
runs in UTC, ``server.middleware``: a Thai seller's 1 March is not UTC's). Only
ASCII digits count (Python's ``\\d`` also takes Thai and full-width digits), and only years
a database column and every time zone can hold, with room for a bound's shift.
"""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.dateparse import parse_datetime

from server.errors import Invalid

YEARS = (2000, 2100)
DAY_OR_MONTH = "YYYY-MM-DD or YYYY-MM, years 2000 to 2100"
MAX_TEXT = 40  # longer than any ISO 8601 time: refused before it is parsed
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)


def _not_a_date(name: str, what: str = DAY_OR_MONTH) -> Invalid:
    return Invalid(f"{name} must be a date: {what}.", fields={name: ["Not a date."]})


def month_end(first: date) -> date:
    """The last day of ``first``'s month."""
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def query_date(raw: str | None, name: str, *, end: bool = False) -> date | None:
    """``YYYY-MM-DD``, or ``YYYY-MM`` (its first day, or with ``end`` its last); None when
    absent. Raises ``Invalid`` naming the field."""
    if raw in (None, ""):
        return None
    try:
        if m := _DAY.fullmatch(raw):
            day = date(int(m[1]), int(m[2]), int(m[3]))
        elif m := _MONTH.fullmatch(raw):
            first = date(int(m[1]), int(m[2]), 1)
            day = month_end(first) if end else first
        else:
            day = None
    except ValueError:
        day = None
    if day is None or not YEARS[0] <= day.year <= YEARS[1]:
        raise _not_a_date(name)
    return day


def display_zone() -> ZoneInfo:
    """Where the farms are: the zone a day, a month and a printed time are read in."""
    return ZoneInfo(settings.DISPLAY_TIME_ZONE)


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """``[start 00:00, end+1 00:00)`` on the farms' clock: both days count whole."""
    zone = display_zone()
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


def query_instant(raw: str | None, name: str, *, end: bool = False) -> datetime | None:
    """A bound of ``[from, to)`` as an instant: a day or month as ``query_date`` reads it
    (``to`` includes it whole, so its bound is the next midnight), or an ISO 8601 time
    (without an offset: the farms' clock; ``to`` includes that very moment). None
    when absent; raises ``Invalid`` naming the field."""
    if raw in (None, ""):
        return None
    what = DAY_OR_MONTH + ", or an ISO 8601 time"
    if len(raw) > MAX_TEXT:
        raise _not_a_date(name, what)
    if _DAY.fullmatch(raw) or _MONTH.fullmatch(raw):
        day = query_date(raw, name, end=end)
        assert day is not None
        lower, upper = day_bounds(day, day)
        return upper if end else lower
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None or not YEARS[0] <= moment.year <= YEARS[1]:
        raise _not_a_date(name, what)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=display_zone())
    return moment + timedelta(microseconds=1) if end else moment
