"""A parcel's tracking timeline: scans from a carrier's signed webhook, or typed by the farm
for carriers that report none.

Carriers send scans late, twice and out of order. Each scan is stored once (the carrier's id
for it, per shipment); the timeline is ordered by the carrier's time, not by arrival; the
shipment's status is its latest scan by that time, except that ``delivered`` is final: a late
``in_transit`` after it moves nothing back. The first ``delivered`` scan delivers the order.
"""

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import IntegrityError, transaction

from orders.carriers import Scan, carrier_get
from orders.models import (
    Order,
    OrderStatus,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TrackingKind,
    WebhookEvent,
)
from orders.services.fulfilment import delivered
from orders.services.rules import roles_of
from server.accounts.models import User
from server.errors import Conflict, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)

# A scan typed by hand may be a few minutes ahead of our clock, not more.
FUTURE_SLACK = timedelta(minutes=5)
Outcome = Literal["applied", "duplicate", "ignored"]


def _record(*, shipment: Shipment, scan: Scan, source: str, now: datetime) -> bool:
    """Store one scan and move what it moves; False when this scan was stored before."""
    try:
        with transaction.atomic():
            TrackingEvent.objects.create(
                shipment=shipment, kind=scan.kind, at=scan.at, location=scan.location,
                note=scan.note, source=source, external_id=scan.external_id, recorded_at=now,
            )  # fmt: skip
    except IntegrityError:  # tracking_event_once
        return False
    # Locked, the order first as every transition locks it (then the parcel): two scans of
    # one parcel settle its status one after the other, and a scan racing the farm's own
    # ``deliver`` waits for it instead of deadlocking with it.
    _orders_lock([shipment.order_id])
    shipment = Shipment.objects.select_for_update().get(pk=shipment.pk)
    if shipment.status != ShipmentStatus.DELIVERED:
        latest = shipment.events.order_by("-at", "-id").first()
        if scan.kind == TrackingKind.DELIVERED:
            shipment.status, shipment.delivered_at = ShipmentStatus.DELIVERED, scan.at
        elif latest is not None:
            shipment.status = latest.kind
        shipment.save(update_fields=["status", "delivered_at"])
        if scan.kind == TrackingKind.DELIVERED:
            order = Order.objects.get(pk=shipment.order_id)
            if order.status == OrderStatus.SHIPPED:
                delivered(order=order, shipment=shipment, by=_by(source), at=scan.at, now=now)
    return True


def _orders_lock(ids: list[int]) -> None:
    """Row locks on these orders, in id order (so two webhooks naming the same parcels in
    another order cannot deadlock), held to the end of the transaction."""
    locked = Order.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
    list(locked.values_list("pk", flat=True))


def _by(source: str) -> str:
    return "seller" if source == "manual" else "carrier"


def tracking_event_add(
    *,
    order_id: int,
    shipment_id: int,
    actor: User,
    kind: str,
    at: datetime | None,
    location: str,
    note: str,
    now: datetime,
) -> TrackingEvent | None:
    """The farm types a scan of a parcel its carrier does not report. ``delivered``
    delivers the order. Raises ``Invalid`` (unknown kind, a time in the future),
    ``NotFound``, ``Forbidden`` (not the farm's host), ``Conflict`` (the carrier reports its
    own scans)."""
    if kind not in TrackingKind.values:
        raise Invalid("Unknown kind.", fields={"kind": list(TrackingKind.values)})
    at = at or now
    if at > now + FUTURE_SLACK:
        raise Invalid("A scan cannot be in the future.", fields={"at": ["In the future."]})
    shipment = (
        Shipment.objects.select_related("order__farm")
        .filter(pk=shipment_id, order_id=order_id)
        .first()
    )
    if shipment is None or not roles_of(shipment.order, actor) - {"staff"}:
        raise NotFound("No such shipment.")
    if "seller" not in roles_of(shipment.order, actor):
        raise Forbidden("Only the farm enters its parcels' scans.")
    if carrier_get(shipment.carrier).webhook:
        raise Conflict(f"{carrier_get(shipment.carrier).name} reports this parcel's scans.")
    scan = Scan(tracking_number=shipment.tracking_number, kind=kind, at=at,
                location=location, note=note, external_id="")  # fmt: skip
    with transaction.atomic():
        _record(shipment=shipment, scan=scan, source="manual", now=now)
    return shipment.events.order_by("-id").first()


def carrier_webhook_apply(*, carrier: str, event: dict[str, Any], now: datetime) -> Outcome:
    """Act on a verified carrier webhook once (its ``webhook-id``). Raises ``Invalid`` for a
    body we cannot read; scans of parcels we do not know are ``ignored``."""
    adapter = carrier_get(carrier)
    scans = adapter.webhook_scans(event)
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(
                    provider=f"carrier:{carrier}", event_id=event["id"], received_at=now
                )
        except IntegrityError:
            return "duplicate"
        numbers = {scan.tracking_number for scan in scans}
        shipments = {
            s.tracking_number: s
            for s in Shipment.objects.filter(carrier=carrier, tracking_number__in=numbers)
        }
        _orders_lock([s.order_id for s in shipments.values()])
        applied = False
        for scan in sorted(scans, key=lambda s: s.at):
            shipment = shipments.get(scan.tracking_number)
            if shipment is None:
                log.warning("%s scan for unknown parcel %s", carrier, scan.tracking_number)
                continue
            applied |= _record(shipment=shipment, scan=scan, source=carrier, now=now)
        return "applied" if applied else "ignored"
