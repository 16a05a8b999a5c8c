"""What the label and the export both read of an order: its lines, buyer and newest shipment,
in as few queries as a batch of orders allows."""

from dataclasses import dataclass
from functools import cache

from django.db.models import Prefetch, QuerySet

from orders.models import Order, OrderLine


@dataclass(frozen=True)
class Tracking:
    carrier: str
    number: str


@cache
def _has_shipments() -> bool:
    """Shipments (``orders.models.Shipment``, ``related_name="shipments"``) come with the
    fulfilment pipeline; until its models are in, an order simply has none. The one place
    that asks, so wiring them in is a change here only."""
    return any(rel.get_accessor_name() == "shipments" for rel in Order._meta.related_objects)


def with_details(orders: QuerySet[Order]) -> QuerySet[Order]:
    """``orders`` with what a label or an export row shows, fetched in one query each."""
    orders = orders.select_related("farm", "buyer").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    )
    if _has_shipments():
        orders = orders.prefetch_related("shipments")
    return orders


def newest_tracking(order: Order) -> Tracking | None:
    """The tracking number of the order's newest shipment (a re-shipment replaces the
    first), or None before it ships."""
    if not _has_shipments():
        return None
    newest = max(order.shipments.all(), key=lambda shipment: shipment.pk, default=None)
    if newest is None or not newest.tracking_number:
        return None
    return Tracking(carrier=str(newest.carrier or ""), number=str(newest.tracking_number))
