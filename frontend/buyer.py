"""The viewer's and buyer's pages: the live page, my orders, my coupons.

Server-rendered first (a weak network shows the page before any script runs), then
enhanced by ES modules (frontend/static/frontend/live.js, buyer.js) that talk to the same
REST API and live socket every other client uses. Reads go through the apps' selectors.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from coupons import selectors as coupon_selectors
from coupons.models import ClaimStatus
from orders import selectors as order_selectors
from orders.models import OrderStatus, PaymentMethod
from orders.payments.providers import payment_method_check
from server.errors import Invalid
from streams.models import LiveSession

ORDERS_PER_PAGE = 20

# The buyer's words for tracking events (docs: INTERFACES "Order JSON"); an unknown kind
# shows as it is, so a carrier's new event never hides.
TRACKING_LABELS = {
    "picked_up": _("Picked up by the carrier"),
    "in_transit": _("On the way"),
    "out_for_delivery": _("Out for delivery"),
    "delivered": _("Delivered"),
    "failed_attempt": _("Delivery attempt failed"),
    "returned": _("Returned to the farm"),
}
# A cash-on-delivery order is paid at the door: until then the page says so, not after.
COD_DUE_STATUSES = frozenset({OrderStatus.ACCEPTED, OrderStatus.PACKED, OrderStatus.SHIPPED})
# History entries that are not a status the order moved to, in the buyer's words.
HISTORY_LABELS = {
    "placed": _("Order placed"),
    "expired": _("Not paid in time"),
    "payment_failed": _("Payment failed"),
    "refund_due": _("Refund due to you"),
}
ACTOR_LABELS = {
    "buyer": _("you"),
    "seller": _("the farm"),
    "system": _("Talad Live"),
    "carrier": _("the carrier"),
    "provider": _("the payment provider"),
}


def _payment_methods(currency: str) -> list[tuple[str, str]]:
    """The methods this deployment takes for ``currency``, as the order API will judge them."""
    available = []
    for method in PaymentMethod:
        try:
            payment_method_check(method=method.value, currency=currency)
        except Invalid:
            continue
        available.append((method.value, method.label))
    return available


def live(request: HttpRequest, session_id: int) -> HttpResponse:
    """A live session for anyone, signed in or not: the socket fills in what changes."""
    session = (
        LiveSession.objects.select_related("farm", "host").filter(pk=session_id).first()
    )
    if session is None:
        raise Http404("No such session.")
    showcase = list(session.showcase.select_related("product").order_by("position", "id"))
    pinned = max(
        (i for i in showcase if i.pinned_at is not None), key=lambda i: i.pinned_at, default=None
    )
    currency = pinned.product.currency if pinned else "THB"
    return render(
        request,
        "frontend/live.html",
        {
            "session": session,
            "farm": session.farm,
            "pinned": pinned,
            "showcase": showcase,
            "payment_methods": _payment_methods(currency),
            "status_labels": {s.value: s.label for s in OrderStatus},
        },
    )


def _when(value: Any) -> Any:
    return parse_datetime(value) if isinstance(value, str) else value


def _events(events: Any, labels: dict[str, Any]) -> list[dict[str, Any]]:
    """Timeline entries newest first, each with a label and a datetime for the template."""
    shown = []
    for event in events or []:
        if not isinstance(event, dict):
            continue
        kind = str(event.get("kind", ""))
        label = labels.get(kind) or OrderStatus.__members__.get(kind.upper()) or kind
        shown.append(
            {
                **event,
                "label": getattr(label, "label", label),
                "when": _when(event.get("at")),
                "by_label": ACTOR_LABELS.get(event.get("by", ""), ""),
            }
        )
    return shown[::-1]


def _shown(order: Any) -> dict[str, Any]:
    """The order's public shape (what the API answers) with what the template formats."""
    data: dict[str, Any] = order_selectors.order_data(order)
    data["status_label"] = _status_label(data["status"])
    data["created"] = _when(data["created_at"])
    data["due"] = _when(data.get("payment_due_at"))
    return data


def _status_label(status: str) -> str:
    try:
        return str(OrderStatus(status).label)
    except ValueError:  # a state this page does not know yet: show its name
        return status


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    """The orders I bought (not my farm's: sellers have the desk), newest first."""
    orders = order_selectors.orders_visible_to(user=request.user, view="buyer")
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [_shown(order) for order in page]
    return render(request, "frontend/my_orders.html", {"orders": rows, "page": page})


@login_required
def my_order(request: HttpRequest, order_id: int) -> HttpResponse:
    """One of my orders; anyone else's is a 404, as the API answers it."""
    order = (
        order_selectors.orders_visible_to(user=request.user, view="buyer")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    data = _shown(order)
    return render(
        request,
        "frontend/my_order.html",
        {
            "order": data,
            "pending": data["status"] == OrderStatus.PENDING_PAYMENT,
            "cod_due": data["payment_method"] == PaymentMethod.COD
            and data["status"] in COD_DUE_STATUSES,
            "method_label": _method_label(data["payment_method"]),
            "timeline": _events(data.get("tracking"), TRACKING_LABELS),
            "history": _events(data.get("history"), HISTORY_LABELS),
        },
    )


def _method_label(method: str) -> str:
    try:
        return str(PaymentMethod(method).label)
    except ValueError:
        return method


@login_required
def my_coupons(request: HttpRequest) -> HttpResponse:
    """My coupons with the terms each was won under; usable ones first, then the rest."""
    claims = coupon_selectors.claims_of(user=request.user).exclude(status=ClaimStatus.RELEASED)
    now = timezone.now()
    # A claim past its time counts as expired here even before the sweep marks it so.
    usable = [c for c in claims if c.status == ClaimStatus.CLAIMED and c.expires_at > now]
    spent = [c for c in claims if c not in usable]
    return render(request, "frontend/my_coupons.html", {"usable": usable, "spent": spent})
