"""A seller's orders as CSV, one row per order line, for a spreadsheet or an accounting tool.

Written for Excel as much as for code: UTF-8 with a byte-order mark (without it Excel reads
Thai as mojibake), times in the display time zone, and every cell that a spreadsheet would
run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return first) prefixed with ``'``:
a buyer's name or address must never become ``=HYPERLINK(...)`` on a seller's screen.
"""

import csv
import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from orders.documents.common import newest_tracking, with_details
from orders.documents.labels import address_lines
from orders.models import Order
from orders.selectors import orders_visible_to
from server.accounts.models import User
from server.errors import Invalid

COLUMNS = (
    "order", "date", "buyer", "address", "phone", "line", "qty", "unit", "unit_price",
    "line_amount", "discount", "total", "currency", "payment", "status", "carrier", "tracking",
)  # fmt: skip
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 200  # orders per query, and per chunk written to the client
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def safe_cell(value: Any) -> str:
    """``value`` as a cell no spreadsheet evaluates (OWASP's CSV injection advice)."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.DISPLAY_TIME_ZONE)


def export_bound(name: str, raw: str | None, *, end: bool) -> datetime | None:
    """``from``/``to`` as an instant: a day (``2025-11-29``, in the display time zone; ``to``
    includes the whole day, so the bound returned for it is the next midnight) or an ISO
    8601 time (without an offset: the display time zone). Raises ``Invalid``."""
    if raw in (None, ""):
        return None
    refused = Invalid(
        f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time.",
        fields={name: ["Not a date."]},
    )
    if len(raw) > 40:
        raise refused
    moment: datetime | None = None
    try:
        if _DAY.fullmatch(raw):
            if (day := parse_date(raw)) is not None:
                moment = datetime.combine(day, time.min, tzinfo=_zone())
                moment += timedelta(days=1) if end else timedelta(0)
        elif (moment := parse_datetime(raw)) is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_zone())
            moment += timedelta(microseconds=1) if end else timedelta(0)
    except (ValueError, OverflowError):
        raise refused from None
    # Years a database column and every time zone can hold, with room for the bounds' shift.
    if moment is None or not 1900 <= moment.year <= 9000:
        raise refused
    return moment


def orders_for_export(
    *, user: User, session_id: int | None, since: datetime | None, until: datetime | None
) -> QuerySet[Order]:
    """The orders of the user's farms (none for anyone else, as ``GET /api/orders/``),
    placed in [since, until). ``until`` is exclusive."""
    orders = orders_visible_to(user=user, view="seller").prefetch_related(None)
    if session_id is not None:
        orders = orders.filter(session_id=session_id)
    if since is not None:
        orders = orders.filter(created_at__gte=since)
    if until is not None:
        orders = orders.filter(created_at__lt=until)
    return orders


def order_rows(order: Order) -> Iterator[list[str]]:
    """One row per line; the order's own columns repeat on each (sum ``line_amount`` for
    goods, or ``total`` over distinct ``order`` values)."""
    address = order.address if isinstance(order.address, dict) else {}
    tracking = newest_tracking(order)
    placed = order.created_at.astimezone(_zone()).strftime("%Y-%m-%d %H:%M:%S")
    whole = [str(address.get("name") or ""), *address_lines(address)]
    for line in order.lines.all():
        yield [
            safe_cell(cell)
            for cell in (
                order.pk, placed, order.buyer, ", ".join(p for p in whole if p),
                address.get("phone") or "", line.name, line.qty, line.unit,
                f"{line.unit_price:.2f}", f"{line.amount:.2f}", f"{order.discount:.2f}",
                f"{order.total:.2f}", order.currency, order.payment_method, order.status,
                tracking.carrier if tracking else "", tracking.number if tracking else "",
            )
        ]  # fmt: skip


class _Line:
    """csv.writer's file: hands back each written line instead of storing it."""

    def write(self, text: str) -> str:
        return text


def csv_chunks(orders: QuerySet[Order], *, batch: int | None = None) -> Iterator[str]:
    """The CSV text in pieces, oldest order first: the header, then ``batch`` orders a
    piece, each piece one query (keyset on id), so memory stays flat however many orders."""
    batch = batch or BATCH
    writer = csv.writer(_Line())
    yield BOM + writer.writerow(COLUMNS)
    after = 0
    while True:
        part = list(with_details(orders.filter(pk__gt=after).order_by("pk"))[:batch])
        if not part:
            return
        yield "".join(writer.writerow(row) for order in part for row in order_rows(order))
        after = part[-1].pk
