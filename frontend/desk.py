"""The seller desk: a host's farms, products, sessions, orders and outbound webhooks.

Lists are rendered here, on the server, a page of rows at a time, so a desk with hundreds of
orders opens at once on a phone; every change goes through the REST API from the page's ES
modules (frontend/static/frontend/desk*.js), the same endpoints partner systems use. Every
query below starts from the signed-in user's own farms: another host's rows never reach a page.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from catalog.models import Currency, Farm, Product
from orders import selectors as order_selectors
from orders.models import Order, OrderStatus
from orders.outbound import TOPICS
from streams.models import LiveSession, SessionStatus

PAGE_SIZE = 50
# The statuses a seller acts on, in the order the work is done.
TO_HANDLE = (OrderStatus.PAID, OrderStatus.ACCEPTED, OrderStatus.PACKED)

TRACKING_KINDS = {
    "picked_up": _("Picked up by the carrier"),
    "in_transit": _("In transit"),
    "out_for_delivery": _("Out for delivery"),
    "delivered": _("Delivered"),
    "failed_attempt": _("Delivery attempt failed"),
    "returned": _("Returned to the farm"),
}
# History entries that are not a status the order moved to.
HISTORY_KINDS = {
    "placed": _("Order placed"),
    "payment_failed": _("Payment failed"),
    "refund_due": _("Refund due to the buyer"),
}
ACTORS = {
    "buyer": _("buyer"),
    "seller": _("you"),
    "system": _("Talad Live"),
    "carrier": _("carrier"),
    "provider": _("payment provider"),
}


def host_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-out visitors go to the login page (and come back); a signed-in user who does
    not sell gets a 403 page that says how to start selling."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (request.user.is_host or request.user.is_staff):
            return render(request, "frontend/desk/not_host.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def _page(request: HttpRequest, rows: QuerySet) -> Page:
    raw = request.GET.get("page", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 1
    return Paginator(rows, PAGE_SIZE).get_page(number)


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def _own_farms(request: HttpRequest) -> QuerySet[Farm]:
    return Farm.objects.filter(owner=request.user).order_by("id")


def _own_sessions(request: HttpRequest) -> QuerySet[LiveSession]:
    return LiveSession.objects.filter(farm__owner=request.user).select_related("farm")


def _seller_orders(request: HttpRequest) -> QuerySet[Order]:
    return order_selectors.orders_visible_to(user=request.user, view="seller")


@host_page
def desk_home(request: HttpRequest) -> HttpResponse:
    farms = _own_farms(request).annotate(
        product_count=Count("products", filter=Q(products__is_active=True))
    )
    counts = dict(
        _seller_orders(request)
        .filter(status__in=TO_HANDLE)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    to_handle = [(status, status.label, counts.get(status.value, 0)) for status in TO_HANDLE]
    upcoming = (
        _own_sessions(request)
        .exclude(status=SessionStatus.ENDED)
        .order_by("status", "scheduled_at", "id")[:5]
    )
    return render(
        request,
        "frontend/desk/home.html",
        {"farms": farms, "to_handle": to_handle, "upcoming": upcoming, "tab": "home"},
    )


@host_page
def farm_form(request: HttpRequest, farm_id: int | None = None) -> HttpResponse:
    farm = None
    if farm_id is not None:
        farm = _own_farms(request).filter(pk=farm_id).first()
        if farm is None:
            raise Http404
    return render(request, "frontend/desk/farm_form.html", {"farm": farm, "tab": "home"})


@host_page
def product_list(request: HttpRequest) -> HttpResponse:
    products = Product.objects.filter(farm__owner=request.user).select_related("farm")
    return render(
        request,
        "frontend/desk/products.html",
        {
            "page": _page(request, products.order_by("farm_id", "name", "id")),
            "farms": _own_farms(request),
            "tab": "products",
        },
    )


@host_page
def product_form(request: HttpRequest, product_id: int | None = None) -> HttpResponse:
    farms = list(_own_farms(request))
    product = None
    if product_id is not None:
        product = Product.objects.filter(pk=product_id, farm__owner=request.user).first()
        if product is None:
            raise Http404
    elif not farms:
        return redirect("desk-farm-new")
    return render(
        request,
        "frontend/desk/product_form.html",
        {
            "product": product,
            "farms": farms,
            "currencies": Currency.choices,
            "max_upload": settings.UPLOAD_MAX_BODY_BYTES,
            "tab": "products",
        },
    )


@host_page
def session_list(request: HttpRequest) -> HttpResponse:
    sessions = _own_sessions(request).order_by("-scheduled_at", "-id")
    return render(
        request,
        "frontend/desk/sessions.html",
        {
            "page": _page(request, sessions),
            "farms": _own_farms(request),
            "languages": settings.LANGUAGES,
            "tab": "sessions",
        },
    )


def _order_filters(request: HttpRequest) -> tuple[str | None, LiveSession | None]:
    """The list's filters as the seller may use them: an unknown status or a session that
    is not theirs is dropped, never an error page."""
    status = request.GET.get("status") or None
    if status not in OrderStatus.values:
        status = None
    raw = request.GET.get("session", "")
    session = None
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        session = _own_sessions(request).filter(pk=int(raw)).first()
    return status, session


@host_page
def order_list(request: HttpRequest) -> HttpResponse:
    status, session = _order_filters(request)
    orders = _seller_orders(request).select_related("session")
    if session is not None:
        orders = orders.filter(session=session)
    counts = dict(orders.order_by().values_list("status").annotate(n=Count("id")))
    if status is not None:
        orders = orders.filter(status=status)
    return render(
        request,
        "frontend/desk/orders.html",
        {
            "page": _page(request, orders),
            "query": _query_without_page(request),
            "status": status,
            "session": session,
            "statuses": [(s.value, s.label, counts.get(s.value, 0)) for s in OrderStatus],
            "status_labels": dict(OrderStatus.choices),
            "all_count": sum(counts.values()),
            "sessions": _own_sessions(request).order_by("-id")[:100],
            "tab": "orders",
        },
    )


def _when(value: Any) -> Any:
    """An ISO time from the order's JSON as a datetime, so templates format it per language."""
    return parse_datetime(value) if isinstance(value, str) else None


@host_page
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _seller_orders(request).select_related("session", "buyer").filter(pk=order_id).first()
    if order is None:
        raise Http404
    data = order_selectors.order_data(order)
    statuses = dict(OrderStatus.choices)
    history = [
        {
            **entry,
            "label": statuses.get(entry.get("kind"))
            or HISTORY_KINDS.get(entry.get("kind"))
            or TRACKING_KINDS.get(entry.get("kind"))
            or capfirst(str(entry.get("kind", "")).replace("_", " ").replace(".", " ")),
            "by_label": ACTORS.get(entry.get("by"), entry.get("by") or ""),
            "when": _when(entry.get("at")),
        }
        for entry in data.get("history", [])
    ]
    shipments = [
        {
            **shipment,
            "events": [
                {
                    **event,
                    "label": TRACKING_KINDS.get(event.get("kind"), event.get("kind")),
                    "when": _when(event.get("at")),
                }
                for event in shipment.get("events", [])
            ],
        }
        for shipment in data.get("shipments", [])
    ]
    return render(
        request,
        "frontend/desk/order.html",
        {
            "order": order,
            "data": data,
            "history": history,
            "shipments": shipments,
            "tab": "orders",
        },
    )


@host_page
def webhook_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "frontend/desk/webhooks.html",
        {"topics": TOPICS, "tab": "webhooks"},
    )


@host_page
def webhook_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    # The API answers 404 for an endpoint that is not this seller's; the page says so.
    return render(
        request,
        "frontend/desk/webhook.html",
        {"endpoint_id": endpoint_id, "tab": "webhooks"},
    )


urlpatterns = [
    path("", desk_home, name="desk"),
    path("farms/new/", farm_form, name="desk-farm-new"),
    path("farms/<int:farm_id>/", farm_form, name="desk-farm"),
    path("products/", product_list, name="desk-products"),
    path("products/new/", product_form, name="desk-product-new"),
    path("products/<int:product_id>/", product_form, name="desk-product"),
    path("sessions/", session_list, name="desk-sessions"),
    path("orders/", order_list, name="desk-orders"),
    path("orders/<int:order_id>/", order_detail, name="desk-order"),
    path("webhooks/", webhook_list, name="desk-webhooks"),
    path("webhooks/<int:endpoint_id>/", webhook_detail, name="desk-webhook"),
]
