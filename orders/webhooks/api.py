"""Outbound webhook endpoints over HTTP (docs/webhooks.md): the owner's own only; anyone
else's answers 404 as if it did not exist."""

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from orders.outbound import TOPICS
from orders.webhooks import services
from orders.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from server.api import validated
from server.errors import Invalid, NotFound

MAX_ID = 2**62
DELIVERY_PAGE = 50


class EndpointIn(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=TOPICS), allow_empty=False, max_length=len(TOPICS)
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class EndpointOut(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=TOPICS))

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "url",
            "events",
            "description",
            "is_active",
            "disabled_reason",
            "created_at",
        )


class EndpointCreatedOut(EndpointOut):
    secret = serializers.CharField(help_text="whsec_…: shown here once, never again.")

    class Meta(EndpointOut.Meta):
        fields = (*EndpointOut.Meta.fields, "secret")


class AttemptOut(serializers.Serializer):
    at = serializers.DateTimeField()
    response_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.CharField(source="event.event_id")
    topic = serializers.CharField(source="event.topic")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptOut(many=True)


def _delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    data = DeliveryOut(delivery).data
    if delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
        data["next_attempt_at"] = None
    return data


def _id(raw: str, name: str = "id") -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) > MAX_ID:
        raise NotFound(f"No such {name}.")
    return int(raw)


class WebhookEndpointViewSet(viewsets.ViewSet):
    """A seller's endpoints receive their farms' order events; staff's, every farm's."""

    permission_classes = [IsAuthenticated]
    lookup_value_regex = r"[0-9]{1,18}"

    @extend_schema(responses=EndpointOut(many=True), tags=["webhooks"])
    def list(self, request: Request) -> Response:
        return Response(EndpointOut(services.endpoints_of(owner=request.user), many=True).data)

    @extend_schema(request=EndpointIn, responses={201: EndpointCreatedOut}, tags=["webhooks"])
    def create(self, request: Request) -> Response:
        fields = validated(EndpointIn, request)
        endpoint = services.endpoint_create(
            owner=request.user, url=fields["url"], events=fields["events"],
            description=fields.get("description", ""), now=timezone.now(),
        )  # fmt: skip
        if fields.get("is_active") is False:
            endpoint = services.endpoint_update(
                endpoint=endpoint, now=timezone.now(), is_active=False
            )
        return Response(EndpointCreatedOut(endpoint).data, status=201)

    @extend_schema(responses=EndpointOut, tags=["webhooks"])
    def retrieve(self, request: Request, pk: str) -> Response:
        endpoint = services.endpoint_for(endpoint_id=_id(pk), user=request.user)
        return Response(EndpointOut(endpoint).data)

    @extend_schema(request=EndpointIn(partial=True), responses=EndpointOut, tags=["webhooks"])
    def partial_update(self, request: Request, pk: str) -> Response:
        endpoint = services.endpoint_for(endpoint_id=_id(pk), user=request.user)
        fields = validated(EndpointIn, request, partial=True)
        endpoint = services.endpoint_update(endpoint=endpoint, now=timezone.now(), **fields)
        return Response(EndpointOut(endpoint).data)

    @extend_schema(responses={204: None}, tags=["webhooks"])
    def destroy(self, request: Request, pk: str) -> Response:
        endpoint = services.endpoint_for(endpoint_id=_id(pk), user=request.user)
        services.endpoint_delete(endpoint=endpoint)
        return Response(status=204)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=DeliveryStatus.values),
            OpenApiParameter("before", int, description="Only deliveries with a smaller id."),
        ],
        responses=DeliveryOut(many=True),
        tags=["webhooks"],
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str) -> Response:
        """Newest first, 50 at a time; page back with ``?before=<the last id>``."""
        endpoint = services.endpoint_for(endpoint_id=_id(pk), user=request.user)
        rows = (
            WebhookDelivery.objects.filter(endpoint=endpoint)
            .select_related("event")
            .prefetch_related("attempts")
            .order_by("-id")
        )
        status = request.query_params.get("status")
        if status:
            if status not in DeliveryStatus.values:
                raise Invalid("Unknown status.", fields={"status": list(DeliveryStatus.values)})
            rows = rows.filter(status=status)
        before = request.query_params.get("before")
        if before:
            if not before.isascii() or not before.isdigit() or len(before) > 18:
                raise Invalid(
                    "before must be a whole number.", fields={"before": ["Not a number."]}
                )
            rows = rows.filter(pk__lt=int(before))
        return Response([_delivery_json(d) for d in rows[:DELIVERY_PAGE]])

    @extend_schema(request=None, responses={202: DeliveryOut}, tags=["webhooks"])
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]{1,18})/resend",
    )
    def resend(self, request: Request, pk: str, delivery_id: str) -> Response:
        endpoint = services.endpoint_for(endpoint_id=_id(pk), user=request.user)
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint, pk=_id(delivery_id)).first()
        if delivery is None:
            raise NotFound("No such delivery.")
        delivery = services.delivery_resend(delivery=delivery, now=timezone.now())
        fresh = (
            WebhookDelivery.objects.select_related("event")
            .prefetch_related("attempts")
            .get(pk=delivery.pk)
        )
        return Response(_delivery_json(fresh), status=202)
