"""A farm live with a showcase, buyers and coupons, built through the services, and the
invariants the order tests check after every race."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from catalog import services as catalog
from catalog.models import Product
from coupons.models import Claim
from coupons.services import campaigns, claims, drops
from orders.models import Order, OrderLine, OrderStatus, Shipment
from orders.services.placing import order_place
from server.accounts import services as accounts
from streams import services as streams
from streams.models import ShowcaseItem
from tests.conftest import PASSWORD

ADDRESS = {
    "name": "Somchai Jaidee",
    "phone": "0812345678",
    "line1": "99 Moo 3",
    "province": "Nan",
    "postcode": "55000",
}
LIVE_STATUSES = [s for s in OrderStatus.values if s != OrderStatus.CANCELLED]


def user(name: str, role: str = "viewer"):
    made = accounts.user_register(username=name, password=PASSWORD, role=role)
    type(made).objects.filter(pk=made.pk).update(date_joined=timezone.now() - timedelta(days=3))
    made.refresh_from_db()
    return made


def world(
    *, stock: int = 40, allotment: int = 10, shipping: str = "0", pinned: bool = False,
    **deal: Any,
) -> dict:
    """A farm with two products and a live session; ``allotment`` units of the first on its
    showcase at 80.00, and that product ``pinned`` for the room."""
    now = timezone.now()
    host = user("host", "host")
    farm = catalog.farm_create(
        owner=host, name="Ban Rai", province="Nan", district="Pua",
        shipping_fee=Decimal(shipping),
    )  # fmt: skip
    product = catalog.product_create(
        actor=host, farm=farm, name="Mango", unit="kg", price=Decimal("100.00"), stock=stock
    )
    other = catalog.product_create(
        actor=host, farm=farm, name="Honey", unit="jar", price=Decimal("50.00"), stock=5
    )
    session = streams.session_create(host=host, farm=farm, title="Live", now=now)
    streams.session_start(session=session, actor=host, now=now)
    item = None
    if allotment:
        item = streams.showcase_add(
            session=session, actor=host, product=product, live_price=Decimal("80.00"),
            allotment=allotment, now=now, **deal,
        )  # fmt: skip
    if pinned:
        streams.showcase_pin(session=session, actor=host, product_id=product.pk, now=now)
    return {
        "host": host, "farm": farm, "product": product, "other": other, "session": session,
        "item": item,
    }  # fmt: skip


def coupon(w: dict, holder, **terms: Any) -> Claim:
    """A claim of ``holder``'s from a fresh campaign's drop in the world's session."""
    promoter = user(f"promo{Claim.objects.count()}{holder.pk}", "promoter")
    fields = {
        "name": "Mango season", "kind": "percent", "value": Decimal("10"), "budget": 10,
        "per_user_limit": 1, "claim_ttl_s": 3600, **terms,
    }  # fmt: skip
    campaign = campaigns.campaign_create(owner=promoter, **fields)
    drop = drops.drop_open(
        session=w["session"], campaign=campaign, actor=promoter, quantity=5, duration_s=600,
        now=timezone.now(),
    )  # fmt: skip
    return claims.claim_create(drop_id=drop.pk, user=holder, now=timezone.now())


def place_live(buyer, w: dict, qty: int = 1, claim=None, method: str = "cod", now=None):
    """``order_place`` of ``qty`` units of the world's offer, through the service."""
    return order_place(
        buyer=buyer, session=w["session"].pk, items=[{"product": w["product"].pk, "qty": qty}],
        claim=claim, address=ADDRESS, payment_method=method, now=now or timezone.now(),
    )  # fmt: skip


def body(w: dict, qty: int = 1, **extra: Any) -> dict:
    return {
        "session": w["session"].pk,
        "items": [{"product": w["product"].pk, "qty": qty}],
        "address": ADDRESS,
        "payment_method": "promptpay",
        **extra,
    }


def holding_orders():
    """Orders that still hold their units and coupon: all but the cancelled ones and those
    refunded before they shipped (both gave them back)."""
    shipped = Exists(Shipment.objects.filter(order=OuterRef("pk")))
    released = Q(status=OrderStatus.CANCELLED) | (Q(status=OrderStatus.REFUNDED) & ~shipped)
    return Order.objects.exclude(released)


def units_in_live_orders(product: Product) -> int:
    lines = OrderLine.objects.filter(product=product, order__in=holding_orders())
    return lines.aggregate(n=Sum("qty"))["n"] or 0


def assert_stock_conserved(product: Product, initial: int) -> None:
    """Every unit is in the shop, in a live allotment, or in a live order: none made, none
    lost, none below zero."""
    product.refresh_from_db()
    left = ShowcaseItem.objects.filter(product=product).aggregate(n=Sum("left"))["n"] or 0
    assert product.stock >= 0 and left >= 0
    assert product.stock + left + units_in_live_orders(product) == initial


def assert_claims_once() -> None:
    """No claim is redeemed by two live orders, and each redeemed claim by exactly one."""
    for claim in Claim.objects.all():
        live = holding_orders().filter(claim=claim).count()
        assert live == (1 if claim.status == "redeemed" else 0), (claim.status, live)
