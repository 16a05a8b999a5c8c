"""A finished-looking live session for the report tests (integration and browser): known
viewers, chat, a coupon drop that runs out, and orders, all through the services, so every
number on the report, the campaign's return, the payouts and the impact page is known.
Orders are delivered through the fulfilment services (paid, accepted, packed, shipped,
delivered), at the dates the payouts read."""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from catalog.models import Farm
from coupons.services import campaigns, claims, drops
from orders.models import Order, Payment
from orders.services.fulfilment import order_accept, order_deliver, order_pack, order_ship
from orders.services.payments import payment_event_apply
from streams import metrics, services
from tests.integration.order_world import place_live, user, world

JAN = datetime(2025, 1, 15, 10, tzinfo=UTC)
FEB = datetime(2025, 2, 3, 10, tzinfo=UTC)


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def deliver(order: Order, host: Any, at: datetime) -> None:
    """Take ``order`` down the main line to ``delivered`` at ``at``, as bank and farm would."""
    order = Order.objects.get(pk=order.pk)
    if order.status == "pending_payment":
        payment = Payment.objects.get(order=order)
        event = {"id": f"evt_{order.pk}", "type": "payment.succeeded",
                 "data": {"reference": payment.reference, "amount": str(payment.amount),
                          "currency": payment.currency}}  # fmt: skip
        payment_event_apply(provider=payment.provider, event=event, now=at)
        order_accept(order_id=order.pk, actor=host, now=at)
    order_pack(order_id=order.pk, actor=host, now=at)
    order_ship(order_id=order.pk, actor=host, carrier="manual", tracking_number="", now=at)
    order_deliver(order_id=order.pk, actor=host, now=at)
    assert Order.objects.get(pk=order.pk).status == "delivered"


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """On a thread of its own: a browser test's thread already runs Playwright's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def report_world() -> dict[str, Any]:
    """Minute T: 4 viewers join (samples 3 and 5), b1 chats twice, a drop of 2 runs out in
    6 s (b1, b2). Minute T+1: samples 2, b2 chats, b1 orders 2 kg with the coupon (COD), b2
    orders 1 kg (PromptPay, never paid). Minute T+2: b3 orders 3 kg (COD). b1's order is
    delivered in January 2025, b3's in February."""
    w = world(allotment=20)
    Farm.objects.filter(pk=w["farm"].pk).update(
        poverty_county=True, households=3, county_code="5507"
    )
    t = minute(timezone.now()) - timedelta(minutes=5)
    s = w["session"]
    b1, b2, b3 = user("b1"), user("b2"), user("b3")
    for member in (f"u{b1.pk}", f"u{b2.pk}", f"u{b3.pk}", "anon"):
        _run(metrics.viewer_joined(session_id=s.pk, member=member, at=t))
    _run(metrics.viewer_joined(session_id=s.pk, member=f"u{b1.pk}", at=t))  # again
    metrics.viewers_sample({s.pk: 3}, at=t)
    metrics.viewers_sample({s.pk: 5}, at=t + timedelta(seconds=1))
    metrics.viewers_sample({s.pk: 2}, at=t + timedelta(seconds=61))
    services.chat_post(session=s, user=b1, text="hello", now=t + timedelta(seconds=10))
    services.chat_post(session=s, user=b1, text="mango!", now=t + timedelta(seconds=11))
    services.chat_post(session=s, user=b2, text="hi", now=t + timedelta(seconds=70))
    promoter = user("promoter", "promoter")
    campaign = campaigns.campaign_create(
        owner=promoter, name="Mango season", kind="percent", value=Decimal("10"), budget=10,
        per_user_limit=1, claim_ttl_s=3600,
    )  # fmt: skip
    drop = drops.drop_open(
        session=s, campaign=campaign, actor=promoter, quantity=2, duration_s=600, now=t
    )
    c1 = claims.claim_create(drop_id=drop.pk, user=b1, now=t + timedelta(seconds=5))
    claims.claim_create(drop_id=drop.pk, user=b2, now=t + timedelta(seconds=6))
    o1 = place_live(b1, w, qty=2, claim=c1.pk, method="cod", now=t + timedelta(seconds=65))
    o2 = place_live(b2, w, qty=1, method="promptpay", now=t + timedelta(seconds=70))
    o3 = place_live(b3, w, qty=3, method="cod", now=t + timedelta(seconds=130))
    deliver(o1, w["host"], JAN)
    deliver(o3, w["host"], FEB)
    return {**w, "t": t, "b1": b1, "b2": b2, "b3": b3, "promoter": promoter,
            "campaign": campaign, "drop": drop, "orders": (o1, o2, o3)}  # fmt: skip
