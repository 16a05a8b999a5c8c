"""A past for the platform, made the way the product makes it: viewers joining a live, the
bank confirming a payment, the farm packing and shipping, Thailand Post scanning a parcel.

Every step goes through the service the real path calls (the provider's webhook event, the
carrier's webhook body, the fulfilment moves), at a time the caller gives, so what the demo
seed and the report tests build is what the platform would have recorded then: history
rows, outbox events, the session's metric buckets.
"""

import asyncio
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from orders.carriers.s10 import s10_check_digit
from orders.models import Order, Payment, PaymentStatus
from orders.services.fulfilment import order_accept, order_deliver, order_pack, order_ship
from orders.services.payments import payment_event_apply
from orders.services.tracking import carrier_webhook_apply
from server.accounts.models import User
from streams import metrics

# Thailand Post's status codes for a parcel's usual journey (orders.carriers.thailandpost).
PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED = "103", "201", "301", "501"


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` on a loop of its own thread: the caller's thread may already run
    one (a browser test's Playwright, an async view)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def viewers_join(*, session_id: int, members: Sequence[str], at: datetime) -> None:
    """``members`` open the live page at ``at``, as the live socket counts them."""

    async def join() -> None:
        for member in members:
            await metrics.viewer_joined(session_id=session_id, member=member, at=at)

    run_async(join())


def payment_confirm(*, order: Order, at: datetime) -> None:
    """The provider confirms the order's pending payment at ``at``: the event its signed
    webhook carries (the sandbox page sends the same), applied once."""
    payment = Payment.objects.get(order=order, status=PaymentStatus.PENDING)
    event = {"id": f"evt_{payment.reference}", "type": "payment.succeeded",
             "data": {"reference": payment.reference, "amount": str(payment.amount),
                      "currency": payment.currency}}  # fmt: skip
    payment_event_apply(provider=payment.provider, event=event, now=at)


def s10_number(serial: int, prefix: str = "EF", country: str = "TH") -> str:
    """A well-formed S10 tracking number for ``serial`` (0..99,999,999)."""
    digits = f"{serial:08d}"
    return f"{prefix}{digits}{s10_check_digit(digits)}{country}"


def carrier_scans(
    *, tracking_number: str, scans: Sequence[tuple[str, datetime, str, str]], now: datetime
) -> None:
    """Thailand Post reports ``scans`` (status code, time, location, description) of one
    parcel in one webhook body, received at ``now``; a ``501`` delivers the order."""
    items = [
        {"barcode": tracking_number, "status": code, "status_date": at.isoformat(),
         "location": location, "status_description": note}
        for code, at, location, note in scans
    ]  # fmt: skip
    event = {"id": f"tp-{tracking_number}-{len(items)}-{int(now.timestamp())}", "items": items}
    carrier_webhook_apply(carrier="thailandpost", event=event, now=now)


def deliver(order: Order, host: User, at: datetime) -> None:
    """Take ``order`` down the main line to ``delivered`` at ``at``, as bank and farm would
    (a parcel the farm delivers itself)."""
    order = Order.objects.get(pk=order.pk)
    if order.status == "pending_payment":
        payment_confirm(order=order, at=at)
        order_accept(order_id=order.pk, actor=host, now=at)
    order_pack(order_id=order.pk, actor=host, now=at)
    order_ship(order_id=order.pk, actor=host, carrier="manual", tracking_number="", now=at)
    order_deliver(order_id=order.pk, actor=host, now=at)

