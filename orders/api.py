"""Orders over HTTP: place (with ``Idempotency-Key``), list, read, cancel."""

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from orders import selectors
from orders.errors import LeaseLost
from orders.models import OrderStatus, PaymentMethod
from orders.services.cancelling import order_cancel
from orders.services.idempotency import (
    Lease,
    Replay,
    idempotency_abandon,
    idempotency_begin,
    idempotency_key_check,
    request_fingerprint,
)
from orders.services.placing import MAX_LINES, MAX_QTY, order_place
from orders.services.stock import Taken, stock_settle
from server.api import Pagination, validated
from server.errors import Invalid

MAX_ID = 2**62


class ItemIn(serializers.Serializer):
    product = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    qty = serializers.IntegerField(min_value=1, max_value=MAX_QTY)


class AddressIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    phone = serializers.CharField(max_length=30)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    subdistrict = serializers.CharField(max_length=100, required=False, allow_blank=True)
    district = serializers.CharField(max_length=100, required=False, allow_blank=True)
    province = serializers.CharField(max_length=100)
    postcode = serializers.CharField(max_length=10)
    country = serializers.CharField(max_length=2, min_length=2, default="TH")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class OrderIn(serializers.Serializer):
    session = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True
    )
    items = ItemIn(many=True, allow_empty=False, max_length=MAX_LINES)
    claim = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    address = AddressIn()
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices)


def _param(request: Request, name: str, choices: Any = None, number: bool = False) -> Any:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if number:
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise Invalid(f"{name} must be a whole number.", fields={name: ["Not a number."]})
        return int(raw)
    if raw not in choices:
        raise Invalid(f"Unknown {name}.", fields={name: sorted(choices)})
    return raw


class OrderViewSet(viewsets.GenericViewSet):
    """Buyers see their orders, hosts their farms' orders (both merged; ``?as=buyer`` or
    ``?as=seller`` keeps one side)."""

    permission_classes = [IsAuthenticated]
    pagination_class = Pagination
    serializer_class = OrderIn  # what OPTIONS describes
    lookup_value_regex = r"[0-9]{1,18}"

    @extend_schema(
        parameters=[
            OpenApiParameter("as", str, enum=list(selectors.VIEWS)),
            OpenApiParameter("status", str, enum=list(OrderStatus.values)),
            OpenApiParameter("session", int),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def list(self, request: Request) -> Response:
        orders = selectors.orders_visible_to(
            user=request.user, view=_param(request, "as", selectors.VIEWS)
        )
        if (status := _param(request, "status", OrderStatus.values)) is not None:
            orders = orders.filter(status=status)
        if (session := _param(request, "session", number=True)) is not None:
            orders = orders.filter(session_id=session)
        page = self.paginate_queryset(orders)
        return self.get_paginated_response([selectors.order_data(o) for o in page])

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request: Request, pk: str) -> Response:
        order = selectors.order_for(order_id=int(pk), user=request.user)
        return Response(selectors.order_data(order))

    @extend_schema(
        request=OrderIn,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: OpenApiTypes.OBJECT},
    )
    def create(self, request: Request) -> Response:
        fields = validated(OrderIn, request)
        status, body, headers = order_create(
            user=request.user, fields=fields, key=request.headers.get("Idempotency-Key"),
            path=request.path, data=request.data,
        )  # fmt: skip
        return Response(body, status=status, headers=headers)

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        order_cancel(order_id=int(pk), actor=request.user, now=timezone.now())
        order = selectors.order_for(order_id=int(pk), user=request.user)
        return Response(selectors.order_data(order))


def order_create(
    *,
    user: Any,
    fields: dict[str, Any],
    key: str | None,
    path: str,
    data: Any,
    admitted: Taken | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """``POST /api/orders/`` once its body is valid: the ``Idempotency-Key`` lease (or the
    stored answer), then ``order_place``. Returns (status, body, headers); raises the
    refusals. ``admitted``: units already taken for it on the event loop (``orders.storm``),
    from here on ``order_place``'s to confirm or give back."""
    now = timezone.now()
    lease: Lease | None = None
    try:
        if key is not None:
            begun = idempotency_begin(
                user=user,
                key=idempotency_key_check(key),
                fingerprint=request_fingerprint(method="POST", path=path, body=data),
                now=now,
            )
            if isinstance(begun, Replay):
                if admitted is not None:
                    stock_settle([admitted], confirm=False)
                return begun.status_code, begun.response, {"Idempotent-Replayed": "true"}
            lease = begun
    except BaseException:
        if admitted is not None:
            stock_settle([admitted], confirm=False)
        raise
    try:
        order = order_place(
            buyer=user,
            session=fields.get("session"),
            items=fields["items"],
            claim=fields.get("claim"),
            address=dict(fields["address"]),
            payment_method=fields["payment_method"],
            now=now,
            lease=lease,
            admitted=admitted,
        )
    except Exception as exc:
        # Refused (or failed before anything was written): a retry may run again.
        if lease is not None and not isinstance(exc, LeaseLost):
            idempotency_abandon(lease=lease)
        raise
    return 201, selectors.order_data(order, placed=True), {}
