"""What the label and the export both read of an order: its lines, buyer and newest shipment,
in as few queries as a batch of orders allows."""

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from orders.carriers import CARRIERS
from orders.models import Order, OrderLine, Shipment


@dataclass(frozen=True)
class Tracking:
    carrier: str  # the carrier's code, as the API and webhooks name it
    carrier_name: str
    number: str


def with_details(orders: QuerySet[Order]) -> QuerySet[Order]:
    """``orders`` with what a label or an export row shows, fetched in one query each."""
    return orders.select_related("farm", "buyer").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
        Prefetch("shipments", queryset=Shipment.objects.order_by("id")),
    )


def newest_tracking(order: Order) -> Tracking | None:
    """The tracking number of the order's newest shipment (a re-shipment replaces the
    first), or None before it ships or when its carrier gives none (own delivery)."""
    newest = max(order.shipments.all(), key=lambda shipment: shipment.pk, default=None)
    if newest is None or not newest.tracking_number:
        return None
    carrier = CARRIERS.get(newest.carrier)
    return Tracking(
        carrier=newest.carrier,
        carrier_name=carrier.name if carrier is not None else newest.carrier,
        number=newest.tracking_number,
    )
