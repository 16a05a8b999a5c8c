"""A seller's orders as CSV, one row per order line, for a spreadsheet or an accounting tool.

Written for Excel as much as for code, as every CSV here (``server.spreadsheet``: UTF-8
with a byte-order mark, formula cells as text), with times in the display time zone; the
``from``/``to`` filters read as every report's do (``server.periods``).
"""

from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet

from orders.documents.common import newest_tracking, with_details
from orders.documents.labels import address_lines
from orders.models import Order
from orders.selectors import orders_visible_to
from server.accounts.models import User
from server.periods import display_zone
from server.spreadsheet import BOM, csv_line

COLUMNS = (
    "order", "date", "buyer", "address", "phone", "line", "qty", "unit", "unit_price",
    "line_amount", "discount", "total", "currency", "payment", "status", "carrier", "tracking",
)  # fmt: skip
BATCH = 200  # orders per query, and per chunk written to the client


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


def order_rows(order: Order) -> Iterator[list[object]]:
    """One row per line; the order's own columns repeat on each (sum ``line_amount`` for
    goods, or ``total`` over distinct ``order`` values)."""
    address = order.address if isinstance(order.address, dict) else {}
    tracking = newest_tracking(order)
    placed = order.created_at.astimezone(display_zone()).strftime("%Y-%m-%d %H:%M:%S")
    whole = [str(address.get("name") or ""), *address_lines(address)]
    for line in order.lines.all():
        yield [
            order.pk, placed, order.buyer, ", ".join(p for p in whole if p),
            address.get("phone") or "", line.name, line.qty, line.unit,
            f"{line.unit_price:.2f}", f"{line.amount:.2f}", f"{order.discount:.2f}",
            f"{order.total:.2f}", order.currency, order.payment_method, order.status,
            tracking.carrier if tracking else "", tracking.number if tracking else "",
        ]  # fmt: skip


def csv_chunks(orders: QuerySet[Order], *, batch: int | None = None) -> Iterator[str]:
    """The CSV text in pieces, oldest order first: the header, then ``batch`` orders a
    piece, each piece one query (keyset on id), so memory stays flat however many orders."""
    batch = batch or BATCH
    yield BOM + csv_line(COLUMNS)
    after = 0
    while True:
        part = list(with_details(orders.filter(pk__gt=after).order_by("pk"))[:batch])
        if not part:
            return
        yield "".join(csv_line(row) for order in part for row in order_rows(order))
        after = part[-1].pk
