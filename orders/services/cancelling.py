"""Cancelling an order (the buyer, the farm's host, or a payment deadline that passed): its
stock and its coupon go back, once, whoever asks and however often. A refund of an order that
never shipped gives them back through the same ``order_give_back``.

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
from orders.models import Order, OrderLine, OrderStatus, PaymentMethod, ShowcaseBuyer
from orders.services.payments import payments_refund
from orders.services.rules import action_allowed, action_check
from orders.services.stock import offer_gate, product_gate, stock_changed, stock_release
from orders.services.transitions import order_transition
from server.accounts.models import User
from server.errors import Conflict, NotFound
from streams.models import LiveSession, SessionStatus, ShowcaseItem

SWEEP_BATCH = 500
Effects = list[Callable[[], None]]


def order_cancel(*, order_id: int, actor: User, now: datetime, note: str = "") -> Order:
    """The buyer (until the farm packs it) or the farm's host (until it ships) cancels.
    Raises ``NotFound`` (not theirs to see), ``NotCancellable`` (not from this status)."""
    with transaction.atomic():
        # Locked: a payment webhook or a second cancel waits, then finds the new status.
        order = _locked(order_id)
        if order is None:
            raise NotFound("No such order.")
        try:
            roles = action_check(order, "cancel", actor)
        except Conflict as exc:
            raise NotCancellable(exc.message, **exc.extra) from None
        buyer_may = action_allowed(order, "cancel", roles & {"buyer"})
        by = "buyer" if buyer_may else "seller"
        moved = _cancel(order=order, name="cancel", kind="cancelled", reason=by, by=by,
                        now=now, actor=actor, note=note)  # fmt: skip
        if moved is None:  # the row is locked and checked: only a bug gets here
            raise NotCancellable(f"An order that is {order.status} cannot be cancelled.")
        effects = moved
        transaction.on_commit(lambda: [effect() for effect in effects], robust=True)
    return order


def order_expire(*, order_id: int, now: datetime) -> bool:
    """Cancel an unpaid order whose deadline has passed; False (a no-op) otherwise."""
    with transaction.atomic():
        order = _locked(order_id)
        if order is None or order.payment_due_at is None or order.payment_due_at > now:
            return False
        moved = _cancel(order=order, name="expire", kind="expired", reason="payment_timeout",
                        by="system", now=now)  # fmt: skip
        if moved is None:
            return False
        transaction.on_commit(lambda: [effect() for effect in moved], robust=True)
    return True


def orders_expire_unpaid(*, now: datetime) -> int:
    """The beat's safety net behind each order's own deadline task."""
    due = Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, payment_due_at__lte=now)
    ids = list(due.order_by("payment_due_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    return sum(order_expire(order_id=pk, now=now) for pk in ids)


def _locked(order_id: int) -> Order | None:
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("farm")
        .filter(pk=order_id)
        .first()
    )


def _cancel(
    *,
    order: Order,
    name: str,
    kind: str,
    reason: str,
    by: str,
    now: datetime,
    actor: User | None = None,
    note: str = "",
) -> Effects | None:
    """Move the (locked) order by ``name`` to cancelled and give back what it held; the
    effects to run after commit, or None when it did not move."""
    was = order.status
    data = {"reason": reason, **({"note": note} if note else {})}
    if not order_transition(order=order, name=name, kind=kind, by=by, now=now, actor=actor,
                            topic="order.cancelled", data=data, cancel_reason=reason):  # fmt: skip
        return None
    if was != OrderStatus.PENDING_PAYMENT and order.payment_method != PaymentMethod.COD:
        payments_refund(order=order, kind="refund_due", by=by, actor=actor, now=now)
    return order_give_back(order=order, now=now)


def order_give_back(*, order: Order, now: datetime) -> Effects:
    """Return an unshipped order's units and its coupon, inside the transaction that moved it
    out of the live statuses (that move happens once, so this does too); the effects on the
    gates and the room, to run after commit."""
    effects: Effects = []
    for line in order.lines.order_by("product_id"):
        effects += _line_return(order=order, line=line)
    if order.claim_id is not None:
        _claim_return(claim_id=order.claim_id, now=now)
    return effects


def _line_return(*, order: Order, line: OrderLine) -> Effects:
    effects: Effects = []
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

