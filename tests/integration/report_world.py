"""A finished-looking live session for the report tests (integration and browser): known
viewers, chat, a coupon drop that runs out, and orders, all through the services, so every
number on the report, the campaign's return, the payouts and the impact page is known.
Orders are delivered through the fulfilment services (paid, accepted, packed, shipped,
delivered), at the dates the payouts read."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from catalog.models import Farm
from coupons.services import campaigns, claims, drops
from frontend.demo_world import deliver as deliver_order
from frontend.demo_world import viewers_join
from orders.models import Order
from streams import metrics, services
from tests.integration.order_world import place_live, user, world

JAN = datetime(2025, 1, 15, 10, tzinfo=UTC)
FEB = datetime(2025, 2, 3, 10, tzinfo=UTC)


def minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def deliver(order: Order, host: Any, at: datetime) -> None:
    """``frontend.demo_world.deliver``, checked."""
    deliver_order(order, host, at)
    assert Order.objects.get(pk=order.pk).status == "delivered"


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
    members = [f"u{b1.pk}", f"u{b2.pk}", f"u{b3.pk}", "anon", f"u{b1.pk}"]  # b1 again
    viewers_join(session_id=s.pk, members=members, at=t)
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
