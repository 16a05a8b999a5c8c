"""Placing an order: stock through the gate, then one transaction the database guards.

1. The lines are checked for shape (no database).
2. Each line takes its units from a gate (``orders.services.stock``): a buyer refused
   ``out_of_stock`` is answered from Redis alone.
3. One transaction reads the products, session and coupon, prices the order
   (``orders.pricing``), redeems the coupon (a conditional update), writes the order, its
   lines (with their gate tokens), its payment and its history; last, just before the
   commit, it takes the units again by conditional updates (``left >= n``, ``stock >= n``:
   the final guard, whatever the gate said), so a storm's orders hold the offer's row only
   from there to the commit, and, with an ``Idempotency-Key``, stores the answer.
4. After commit the admissions are confirmed and the room hears ``stock`` and
   ``order.ticker``; on any failure they are given back. A process killed between 2 and 4
   leaves admissions that reconcile settles against the lines.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from catalog.models import Farm, Product
from coupons.models import Claim, ClaimStatus
from orders.errors import ClaimExpired, CouponNotApplicable, DealLimitReached, OutOfStock
from orders.events import OrderTicker, mask
from orders.models import (
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    ShowcaseBuyer,
)
from orders.outbound import order_event
from orders.payments.providers import payment_method_check
from orders.pricing import Line, Terms, quote
from orders.selectors import order_data
from orders.services.coupons import claim_terms
from orders.services.idempotency import Lease, idempotency_complete
from orders.services.payments import payment_open
from orders.services.stock import Taken, stock_changed, stock_settle, stock_take
from server.accounts.models import User
from server.errors import Invalid, NotFound
from server.publisher import publish
from streams import metrics
from streams.models import LiveSession, ShowcaseItem

MAX_LINES = 50
MAX_QTY = 1000


@dataclass(frozen=True, slots=True)
class LineIn:
    product: int
    qty: int


def _lines(items: Sequence[Mapping[str, Any]]) -> list[LineIn]:
    """Distinct products, 1..``MAX_QTY`` each, 1..``MAX_LINES`` lines, in product order (so
    concurrent orders lock rows in one order)."""
    if not 1 <= len(items) <= MAX_LINES:
        raise Invalid(
            f"An order has 1 to {MAX_LINES} lines.", fields={"items": ["1 to 50 lines."]}
        )
    lines = [LineIn(product=int(item["product"]), qty=int(item["qty"])) for item in items]
    if len({line.product for line in lines}) != len(lines):
        raise Invalid("Each product once per order.", fields={"items": ["Duplicate product."]})
    if any(not 1 <= line.qty <= MAX_QTY for line in lines):
        raise Invalid(f"Quantities are 1 to {MAX_QTY}.", fields={"items": ["Bad quantity."]})
    return sorted(lines, key=lambda line: line.product)


def order_place(
    *,
    buyer: User,
    session: int | None,
    items: Sequence[Mapping[str, Any]],
    claim: int | None,
    address: dict[str, Any],
    payment_method: str,
    now: datetime,
    lease: Lease | None = None,
    admitted: Taken | None = None,
) -> Order:
    """Place one farm's order. ``session`` and ``claim`` are ids. ``admitted``: the units
    of a one-line order already taken from its gate on the event loop (``orders.storm``);
    from here on they are this call's to confirm or give back. Raises ``Invalid``,
    ``NotFound``, ``OutOfStock``, ``DealLimitReached``, ``ClaimExpired``,
    ``CouponNotApplicable``, ``Unavailable``, ``LeaseLost``."""
    taken: list[Taken] = [admitted] if admitted is not None else []
    try:
        payment_method_check(method=payment_method)
        lines = _lines(items)
        if admitted is not None and [(line.product, line.qty) for line in lines] != [
            (admitted.product, admitted.qty)
        ]:
            raise Invalid("The admission is not this order's.")  # a bug, never a buyer's
        for line in lines[len(taken) :]:
            taken.append(
                stock_take(
                    buyer_id=buyer.pk,
                    session_id=session,
                    product_id=line.product,
                    qty=line.qty,
                    now=now,
                )
            )
        with transaction.atomic():
            order = _write(
                buyer=buyer, session_id=session, taken=taken, claim_id=claim, address=address,
                payment_method=payment_method, now=now, lease=lease,
            )  # fmt: skip
            transaction.on_commit(lambda: _after_commit(order, taken, buyer), robust=True)
    except BaseException:
        stock_settle(taken, confirm=False)
        raise
    return order


def _after_commit(order: Order, taken: list[Taken], buyer: User) -> None:
    stock_settle(taken, confirm=True)
    live = [item for item in taken if item.live]
    if order.session_id is not None and live:
        stock_changed(session_id=order.session_id, product_ids=[item.product for item in live])
        for item in live:
            ticker = OrderTicker(buyer=mask(str(buyer)), product=item.product, qty=item.qty)
            publish(order.session_id, ticker)
    if order.status == OrderStatus.PENDING_PAYMENT:
        from orders.tasks import expire_order  # the tasks module imports these services

        expire_order.apply_async(kwargs={"order_id": order.pk}, eta=order.payment_due_at)


def _products(taken: list[Taken]) -> tuple[dict[int, Product], Farm]:
    products = Product.objects.select_related("farm").in_bulk([item.product for item in taken])
    for item in taken:
        product = products.get(item.product)
        if product is None:
            raise Invalid("No such product.", fields={"items": [f"No product {item.product}."]})
        if not product.is_active:
            raise Invalid(
                f"{product.name} is not on sale.", fields={"items": [f"{product.pk} not on sale."]}
            )
    farms = {product.farm_id for product in products.values()}
    if len(farms) > 1:
        raise Invalid(
            "An order holds one farm's products; place one order per farm.",
            fields={"items": ["Several farms."]},
        )
    if len({product.currency for product in products.values()}) > 1:
        raise Invalid("An order is in one currency.", fields={"items": ["Several currencies."]})
    return products, next(iter(products.values())).farm


def _claim(
    *, claim_id: int, buyer: User, now: datetime
) -> tuple[Claim, Terms, dict[str, Any]]:
    claim = Claim.objects.filter(pk=claim_id, user=buyer).first()
    if claim is None:
        raise NotFound("No such coupon of yours.")
    if claim.status == ClaimStatus.REDEEMED:
        raise ClaimExpired("This coupon is already used on another order.")
    if claim.status != ClaimStatus.CLAIMED or claim.expires_at <= now:
        raise ClaimExpired("This coupon has expired.")
    terms, scope = claim_terms(claim)
    return claim, terms, scope


def _in_scope(scope: Mapping[str, Any], *, farm: int, session: int | None, product: int) -> bool:
    farms, sessions, products = (scope.get(k) or [] for k in ("farms", "sessions", "products"))
    return (
        (not farms or farm in farms)
        and (not sessions or session in sessions)
        and (not products or product in products)
    )


def _write(
    *,
    buyer: User,
    session_id: int | None,
    taken: list[Taken],
    claim_id: int | None,
    address: dict[str, Any],
    payment_method: str,
    now: datetime,
    lease: Lease | None = None,
) -> Order:
    products, farm = _products(taken)
    currency = next(iter(products.values())).currency
    payment_method_check(method=payment_method, currency=currency)
    if session_id is not None:
        session = LiveSession.objects.filter(pk=session_id).only("farm_id").first()
        if session is None or session.farm_id != farm.pk:
            raise Invalid(
                "The session is not this farm's.", fields={"session": ["Not this farm's."]}
            )
    items = {
        item.product_id: item
        for item in ShowcaseItem.objects.filter(
            session_id=session_id, product_id__in=[t.product for t in taken if t.live]
        )
    }
    for t in taken:
        if t.live and t.product not in items:  # the offer went away under the gate
            raise OutOfStock("This live offer has ended.", product=t.product, left=0)
    price = {
        t.product: items[t.product].live_price if t.live else products[t.product].price
        for t in taken
    }
    claim, terms, scope = (None, None, None)
    if claim_id is not None:
        claim, terms, scope = _claim(claim_id=claim_id, buyer=buyer, now=now)
        if scope["currency"] != currency:
            raise CouponNotApplicable(f"The coupon is for orders in {scope['currency']}.")
    priced = quote(
        lines=[
            Line(
                product=t.product,
                unit_price=price[t.product],
                qty=t.qty,
                eligible=scope is None
                or _in_scope(scope, farm=farm.pk, session=session_id, product=t.product),
            )
            for t in taken
        ],
        terms=terms,
        shipping_fee=farm.shipping_fee,
    )
    if claim is not None:
        redeemed = Claim.objects.filter(
            pk=claim.pk, status=ClaimStatus.CLAIMED, expires_at__gt=now
        ).update(status=ClaimStatus.REDEEMED, redeemed_at=now)
        if not redeemed:
            raise ClaimExpired("This coupon was just used on another order, or expired.")
    if payment_method == PaymentMethod.COD:
        status = OrderStatus.ACCEPTED
    elif priced.total == Decimal("0"):
        status = OrderStatus.PAID
    else:
        status = OrderStatus.PENDING_PAYMENT
    try:
        with transaction.atomic():
            order = Order.objects.create(
                buyer=buyer, farm=farm, session_id=session_id, claim=claim, status=status,
                payment_method=payment_method, currency=currency, subtotal=priced.subtotal,
                discount=priced.discount, shipping_fee=priced.shipping_fee, total=priced.total,
                address=address,
                payment_due_at=(
                    now + timedelta(seconds=settings.ORDER_PAYMENT_TTL_S)
                    if status == OrderStatus.PENDING_PAYMENT
                    else None
                ),
                created_at=now, updated_at=now,
            )  # fmt: skip
    except IntegrityError:  # order_claim_once: the coupon's other live order won
        raise ClaimExpired("This coupon is already used on another order.") from None
    lines = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product_id=t.product,
                showcase_item=items[t.product] if t.live else None,
                name=products[t.product].name,
                unit=products[t.product].unit,
                unit_price=price[t.product],
                qty=t.qty,
                amount=price[t.product] * t.qty,
                from_allotment=t.qty if t.live else 0,
                gate_token=t.token,
            )
            for t in taken
        ]
    )
    if session_id is not None:
        _count_in_session(order, lines, session_id=session_id, buyer=buyer, now=now)
    if status != OrderStatus.PAID:  # a coupon that covers it all leaves nothing to pay
        payment_open(order=order, now=now)
    OrderEvent.objects.create(
        order=order, kind="placed", actor=buyer, at=now,
        data={"status": status, "total": str(priced.total), "claim": claim_id},
    )  # fmt: skip
    order_event(order=order, topic="order.created", now=now)
    if status == OrderStatus.PAID:
        order_event(order=order, topic="order.paid", now=now)
    response = order_data(order, placed=True) if lease is not None else None
    # The hot rows last: a storm's orders of one offer queue on its row from this update to
    # their commit, so little else happens in between.
    for t in taken:
        if t.live:
            _take_allotment(item=items[t.product], buyer=buyer, qty=t.qty)
        elif not Product.objects.filter(pk=t.product, stock__gte=t.qty).update(
            stock=F("stock") - t.qty
        ):
            raise OutOfStock(f"{products[t.product].name} is out of stock.", product=t.product)
    if lease is not None:
        # After the hot rows, so an order waiting on them has not touched its key's row: a
        # retry (its node died meanwhile) hears "still running" at once, not a lock wait.
        idempotency_complete(lease=lease, status_code=201, response=response)
    return order


def _count_in_session(
    order: Order, lines: list[OrderLine], *, session_id: int, buyer: User, now: datetime
) -> None:
    """The session's live metrics (``streams.metrics``) count the order once it committed."""
    sold = [metrics.SoldLine(product=ln.product_id, name=ln.name, units=ln.qty, amount=ln.amount)
            for ln in lines]  # fmt: skip
    transaction.on_commit(
        lambda: metrics.order_record(
            session_id=session_id, buyer_id=buyer.pk, at=now, subtotal=order.subtotal,
            discount=order.discount, currency=order.currency,
            redeemed=order.claim_id is not None, lines=sold,
        ),
        robust=True,
    )  # fmt: skip


def _take_allotment(*, item: ShowcaseItem, buyer: User, qty: int) -> None:
    """The database's guards for a live line: the allotment's ``left`` and, for a flash
    deal, the buyer's units so far (a Redis flush cannot lift either)."""
    if item.per_buyer_limit:
        ShowcaseBuyer.objects.get_or_create(item=item, user=buyer)
        within = ShowcaseBuyer.objects.filter(
            item=item, user=buyer, bought__lte=item.per_buyer_limit - qty
        ).update(bought=F("bought") + qty)
        if not within:
            raise DealLimitReached("You hold as many units of this deal as one buyer may.")
    if not ShowcaseItem.objects.filter(pk=item.pk, left__gte=qty).update(left=F("left") - qty):
        raise OutOfStock("This live offer is sold out.", product=item.product_id, left=0)
