"""Who may take which of an order's moves, and until when (docs/api.md "Who may do what").

The model's ``@transition`` table says which moves exist from each status; this says which
of them a person may take. A status listed here is a narrowing of the table, never a widening:
``action_allowed`` asks both.
"""

from typing import Any

from django_fsm import can_proceed

from orders.carriers import carrier_get
from orders.models import Order, OrderStatus, PaymentStatus
from server.accounts.models import User
from server.errors import Conflict, Forbidden, NotFound

S = OrderStatus

# action -> role -> the statuses it may be taken from (None: wherever the table allows).
WHO: dict[str, dict[str, frozenset[str] | None]] = {
    "accept": {"seller": None},
    "pack": {"seller": None},
    "ship": {"seller": None},
    # A carrier that reports scans says ``delivered`` itself; by hand only for the others.
    "deliver": {"seller": None},
    # The buyer until the farm has packed it; the farm until it ships.
    "cancel": {"buyer": frozenset({S.PENDING_PAYMENT, S.PAID, S.ACCEPTED}), "seller": None},
    # Money taken and the sale not final yet (``completed`` ends the window).
    "refund_request": {"buyer": None},
    "refund": {"seller": None, "staff": None},
}
ACTIONS = tuple(WHO)


def roles_of(order: Order, user: Any) -> set[str]:
    """buyer, seller (the farm's host), staff: what ``user`` is to ``order``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    roles = set()
    if user.pk == order.buyer_id:
        roles.add("buyer")
    if user.pk == order.farm.owner_id:
        roles.add("seller")
    if user.is_staff:
        roles.add("staff")
    return roles


def _condition(order: Order, action: str) -> str | None:
    """Why ``action`` is not possible for this order beyond its status; None when it is."""
    if action == "deliver":
        shipments = list(order.shipments.all())
        if shipments and carrier_get(shipments[-1].carrier).webhook:
            return "Its carrier reports the delivery."
    if action == "refund_request":
        payments = order.payments.all()
        if not any(p.status == PaymentStatus.SUCCEEDED for p in payments):
            return "Nothing was paid for this order yet; cancel it or refuse the parcel."
    return None


def action_allowed(order: Order, action: str, roles: set[str]) -> bool:
    """May someone with ``roles`` take ``action`` on ``order`` as it is now?"""
    who = WHO.get(action, {})
    if not can_proceed(getattr(order, action)):
        return False
    if not any(role in who and (who[role] is None or order.status in who[role]) for role in roles):
        return False
    return _condition(order, action) is None


def actions_for(order: Order, user: Any) -> list[str]:
    """The actions the order JSON lists for ``user``: what they may do now."""
    roles = roles_of(order, user)
    return [action for action in ACTIONS if roles and action_allowed(order, action, roles)]


def action_check(order: Order, action: str, actor: User) -> set[str]:
    """The actor's roles, when they may take ``action`` now. Raises ``NotFound`` (not theirs
    to see), ``Forbidden`` (never theirs to take), ``Conflict`` (not from this status, or a
    condition of the order's)."""
    roles = roles_of(order, actor)
    if not roles - {"staff"} and not (roles and "staff" in WHO[action]):
        raise NotFound("No such order.")
    if not roles & set(WHO[action]):
        raise Forbidden(f"You may not {action.replace('_', ' ')} this order.")
    if not action_allowed(order, action, roles):
        reason = _condition(order, action) if can_proceed(getattr(order, action)) else None
        raise Conflict(
            reason or f"The order is {order.status}: you cannot {action.replace('_', ' ')} it now.",
            status=order.status,
        )
    return roles
