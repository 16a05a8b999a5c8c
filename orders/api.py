"""Orders over HTTP: place (with ``Idempotency-Key``), list, read, and move them along the
pipeline (one action each, or many at once from the seller's desk); carriers, a parcel's
scans typed by hand, and carriers' signed webhooks."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors
from orders.carriers import CARRIERS, carrier_get
from orders.carriers.base import MAX_TRACKING
from orders.errors import LeaseLost
from orders.models import OrderStatus, PaymentMethod, TrackingKind
from orders.payments.signing import webhook_verify
from orders.services.cancelling import order_cancel
from orders.services.fulfilment import order_accept, order_deliver, order_pack, order_ship
from orders.services.idempotency import (
    Lease,
    Replay,
    idempotency_abandon,
    idempotency_begin,
    idempotency_key_check,
    request_fingerprint,
)
from orders.services.placing import MAX_LINES, MAX_QTY, order_place
from orders.services.refunds import MAX_REASON, order_refund, order_refund_request
from orders.services.stock import Taken, stock_settle
from orders.services.tracking import carrier_webhook_apply, tracking_event_add
from server.api import Pagination, validated
from server.errors import DomainError, Invalid, NotFound

MAX_ID = 2**62
MAX_BULK = 100


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


class CancelIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class RefundRequestIn(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON)


class ShipIn(serializers.Serializer):
    carrier = serializers.ChoiceField(choices=sorted(CARRIERS))
    tracking_number = serializers.CharField(
        max_length=MAX_TRACKING + 10, required=False, allow_blank=True, default=""
    )


class BulkOrderIn(serializers.Serializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    carrier = serializers.ChoiceField(choices=sorted(CARRIERS), required=False)
    tracking_number = serializers.CharField(
        max_length=MAX_TRACKING + 10, required=False, allow_blank=True, default=""
    )


class BulkIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=["accept", "pack", "ship", "cancel"])
    orders = BulkOrderIn(many=True, allow_empty=False, max_length=MAX_BULK)


class TrackingEventIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TrackingKind.choices)
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


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
        return self.get_paginated_response([selectors.order_data(o, request.user) for o in page])

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request: Request, pk: str) -> Response:
        order = selectors.order_for(order_id=int(pk), user=request.user)
        return Response(selectors.order_data(order, request.user))

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

    def _answer(self, request: Request, order_id: int) -> Response:
        """The order as the actor now sees it (staff, after a refund, see it too)."""
        try:
            order = selectors.order_for(order_id=order_id, user=request.user)
        except NotFound:
            if not request.user.is_staff:
                raise
            order = selectors.order_staff_view(order_id=order_id)
        return Response(selectors.order_data(order, request.user))

    @extend_schema(request=CancelIn, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        fields = validated(CancelIn, request)
        order_cancel(order_id=int(pk), actor=request.user, now=timezone.now(),
                     note=fields.get("reason", ""))  # fmt: skip
        return self._answer(request, int(pk))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        order_accept(order_id=int(pk), actor=request.user, now=timezone.now())
        return self._answer(request, int(pk))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def pack(self, request: Request, pk: str) -> Response:
        order_pack(order_id=int(pk), actor=request.user, now=timezone.now())
        return self._answer(request, int(pk))

    @extend_schema(request=ShipIn, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def ship(self, request: Request, pk: str) -> Response:
        fields = validated(ShipIn, request)
        order_ship(order_id=int(pk), actor=request.user, carrier=fields["carrier"],
                   tracking_number=fields["tracking_number"], now=timezone.now())  # fmt: skip
        return self._answer(request, int(pk))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def deliver(self, request: Request, pk: str) -> Response:
        order_deliver(order_id=int(pk), actor=request.user, now=timezone.now())
        return self._answer(request, int(pk))

    @extend_schema(request=RefundRequestIn, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], url_path="refund-request")
    def refund_request(self, request: Request, pk: str) -> Response:
        fields = validated(RefundRequestIn, request)
        order_refund_request(order_id=int(pk), actor=request.user, reason=fields["reason"],
                             now=timezone.now())  # fmt: skip
        return self._answer(request, int(pk))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def refund(self, request: Request, pk: str) -> Response:
        order_refund(order_id=int(pk), actor=request.user, now=timezone.now())
        return self._answer(request, int(pk))

    @extend_schema(request=BulkIn, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """One action over many orders (the seller's desk): each order on its own, so one
        that moved meanwhile fails alone."""
        fields = validated(BulkIn, request)
        take = _BULK[fields["action"]]
        results = []
        for item in fields["orders"]:
            try:
                take(item, request.user)
            except DomainError as exc:
                results.append({"id": item["id"], "ok": False, "error": exc.as_dict()["error"]})
                continue
            order = selectors.order_for(order_id=item["id"], user=request.user)
            results.append({"id": item["id"], "ok": True, "status": order.status})
        return Response({"results": results})

    @extend_schema(request=TrackingEventIn, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path=r"shipments/(?P<sid>[0-9]{1,18})/events")
    def shipment_events(self, request: Request, pk: str, sid: str) -> Response:
        """A scan the farm types for a parcel its carrier does not report."""
        fields = validated(TrackingEventIn, request)
        tracking_event_add(
            order_id=int(pk), shipment_id=int(sid), actor=request.user, kind=fields["kind"],
            at=fields["at"], location=fields["location"], note=fields["note"],
            now=timezone.now(),
        )  # fmt: skip
        order = selectors.order_for(order_id=int(pk), user=request.user)
        return Response(selectors.order_data(order, request.user), status=201)


def _bulk_ship(item: dict[str, Any], actor: Any) -> None:
    if "carrier" not in item:
        raise Invalid("Shipping needs a carrier.", fields={"carrier": ["Required."]})
    order_ship(order_id=item["id"], actor=actor, carrier=item["carrier"],
               tracking_number=item["tracking_number"], now=timezone.now())  # fmt: skip


_BULK: dict[str, Callable[[dict[str, Any], Any], object]] = {
    "accept": lambda item, actor: order_accept(order_id=item["id"], actor=actor,
                                               now=timezone.now()),
    "pack": lambda item, actor: order_pack(order_id=item["id"], actor=actor, now=timezone.now()),
    "ship": _bulk_ship,
    "cancel": lambda item, actor: order_cancel(order_id=item["id"], actor=actor,
                                               now=timezone.now()),
}  # fmt: skip


class CarrierOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    tracking = serializers.ChoiceField(choices=["s10", "free"])
    webhook = serializers.BooleanField()


class CarrierListView(APIView):
    """The carriers a farm may ship with, and how each is tracked."""

    permission_classes = [AllowAny]

    @extend_schema(responses=CarrierOut(many=True))
    def get(self, request: Request) -> Response:
        return Response([carrier.as_dict() for carrier in CARRIERS.values()])


class CarrierWebhookView(APIView):
    """A carrier reports scans. Signed (Standard Webhooks headers, the carrier's secret in
    ``CARRIER_WEBHOOK_SECRETS``); each delivery acted on once, each scan stored once."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request={"application/json": {"type": "object"}}, responses=OpenApiTypes.OBJECT,
                   auth=[])  # fmt: skip
    def post(self, request: Request, carrier: str) -> Response:
        if carrier not in CARRIERS or not carrier_get(carrier).webhook:
            raise NotFound("No such carrier webhook.")
        event = webhook_verify(provider=carrier, body=request.body, headers=request.headers,
                               secrets=settings.CARRIER_WEBHOOK_SECRETS)  # fmt: skip
        outcome = carrier_webhook_apply(carrier=carrier, event=event, now=timezone.now())
        return Response({"status": outcome})


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
