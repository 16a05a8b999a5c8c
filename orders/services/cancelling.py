"""Cancelling an order (the buyer, the farm's host, or a payment deadline that passed): its
stock and its coupon go back, once, whoever asks and however often.

Stock goes back where it came from: to the session's allotment while the session is live,
else to the product's stock (an ended session already returned its allotment there). The
coupon goes back to ``claimed`` (it keeps its place in the drop's gate: the user still holds
it) while its time lasts, else it expires the way coupons expire (``claim_release``).
"""

from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import F

from catalog.models import Product
from coupons.models import Claim, ClaimStatus
from coupons.services.expiry import claim_release
from orders.errors import NotCancellable
from orders.models import Order, OrderEvent, OrderLine, OrderStatus, ShowcaseBuyer
from orders.outbound import order_event
from orders.services.stock import offer_gate, product_gate, stock_changed, stock_release
from orders.services.transitions import order_transition
from server.accounts.models import User
from server.errors import NotFound
from streams.models import LiveSession, SessionStatus, ShowcaseItem

CANCELLABLE = (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.ACCEPTED)
SWEEP_BATCH = 500


def order_cancel(*, order_id: int, actor: User, now: datetime) -> Order:
    """The buyer, or the farm's host, cancels before shipping. Raises ``NotFound`` (not
    theirs to see), ``NotCancellable``."""
    order = Order.objects.select_related("farm").filter(pk=order_id).first()
    if order is None or actor.pk not in (order.buyer_id, order.farm.owner_id):
        raise NotFound("No such order.")
    reason = "buyer" if actor.pk == order.buyer_id else "seller"
    if not _cancel(order_id=order_id, source=CANCELLABLE, kind="cancelled", reason=reason,
                   now=now, actor=actor):  # fmt: skip
        order.refresh_from_db()
        raise NotCancellable(f"An order that is {order.status} cannot be cancelled.")
    order.refresh_from_db()
    return order


def order_expire(*, order_id: int, now: datetime) -> bool:
    """Cancel an unpaid order whose deadline has passed; False (a no-op) otherwise."""
    return _cancel(
        order_id=order_id, source=(OrderStatus.PENDING_PAYMENT,), kind="expired",
        reason="payment_timeout", now=now, due_by=now,
    )  # fmt: skip


def orders_expire_unpaid(*, now: datetime) -> int:
    """The beat's safety net behind each order's own deadline task."""
    due = Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, payment_due_at__lte=now)
    ids = list(due.order_by("payment_due_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    return sum(order_expire(order_id=pk, now=now) for pk in ids)


def _cancel(
    *,
    order_id: int,
    source: tuple[str, ...],
    kind: str,
    reason: str,
    now: datetime,
    actor: User | None = None,
    due_by: datetime | None = None,
) -> bool:
    effects: list[Callable[[], None]] = []
    with transaction.atomic():
        # Locked: a payment webhook or a second cancel waits, then finds the new status.
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or order.status not in source:
            return False
        if due_by is not None and (order.payment_due_at is None or order.payment_due_at > due_by):
            return False
        was = order.status
        order_transition(
            order_id=order.pk, source=[was], target=OrderStatus.CANCELLED, kind=kind, now=now,
            actor=actor, data={"reason": reason, "from": was}, cancel_reason=reason,
        )  # fmt: skip
        order_event(order=order, topic="order.cancelled", now=now, data={"reason": reason})
        if was == OrderStatus.PAID:
            OrderEvent.objects.create(
                order=order, kind="refund_due", actor=actor, at=now,
                data={"amount": str(order.total), "currency": order.currency},
            )  # fmt: skip
        for line in order.lines.order_by("product_id"):
            effects += _line_return(order=order, line=line)
        if order.claim_id is not None:
            _claim_return(claim_id=order.claim_id, now=now)
        transaction.on_commit(lambda: [effect() for effect in effects], robust=True)
    return True


def _line_return(*, order: Order, line: OrderLine) -> list[Callable[[], None]]:
    effects: list[Callable[[], None]] = []
    to_shop = line.qty - line.from_allotment
    if line.from_allotment:
        # Locked before the session is read: an ending session holds this row while it
        # moves the allotment's rest to the shop, and we then see it ended.
        item = ShowcaseItem.objects.select_for_update().get(pk=line.showcase_item_id)
        n = line.from_allotment
        live = LiveSession.objects.filter(pk=item.session_id, status=SessionStatus.LIVE).exists()
        if live:
            ShowcaseItem.objects.filter(pk=item.pk).update(left=F("left") + n)
            gate = offer_gate(item.session_id, item.product_id)
            effects.append(lambda: stock_release(gate=gate, user=order.buyer_id, n=n))
            effects.append(
                lambda: stock_changed(session_id=item.session_id, product_ids=[item.product_id])
            )
        else:
            to_shop += n
        if item.per_buyer_limit:
            ShowcaseBuyer.objects.filter(item=item, user_id=order.buyer_id, bought__gte=n).update(
                bought=F("bought") - n
            )
    if to_shop:
        Product.objects.filter(pk=line.product_id).update(stock=F("stock") + to_shop)
        gate = product_gate(line.product_id)
        effects.append(lambda: stock_release(gate=gate, user=order.buyer_id, n=to_shop))
    return effects


def _claim_return(*, claim_id: int, now: datetime) -> None:
    returned = Claim.objects.filter(pk=claim_id, status=ClaimStatus.REDEEMED).update(
        status=ClaimStatus.CLAIMED, redeemed_at=None
    )
    if not returned:
        return
    claim = Claim.objects.get(pk=claim_id)
    if claim.expires_at <= now:
        claim_release(claim=claim, now=now, status=ClaimStatus.EXPIRED)

