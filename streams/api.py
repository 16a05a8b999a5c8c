"""Session endpoints: list, detail, create, lifecycle, showcase, pin."""

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import Farm, Product
from server.api import validated
from server.jsonlimits import BIGINT_MAX
from streams import selectors, services
from streams.models import LiveSession, ShowcaseItem


class ShowcaseItemSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="product.name", read_only=True)
    unit = serializers.CharField(source="product.unit", read_only=True)
    currency = serializers.CharField(source="product.currency", read_only=True)
    price = serializers.DecimalField(
        source="product.price", max_digits=12, decimal_places=2, read_only=True
    )
    pinned = serializers.SerializerMethodField()

    class Meta:
        model = ShowcaseItem
        fields = (
            "product",
            "name",
            "unit",
            "currency",
            "price",
            "live_price",
            "allotment",
            "left",
            "position",
            "pinned",
            "deal_ends_at",
            "per_buyer_limit",
        )

    def get_pinned(self, item: ShowcaseItem) -> bool:
        return item.pinned_at is not None


class SessionSerializer(serializers.ModelSerializer):
    farm = serializers.PrimaryKeyRelatedField(queryset=Farm.objects.all())
    farm_name = serializers.CharField(source="farm.name", read_only=True)
    province = serializers.CharField(source="farm.province", read_only=True)
    poverty_county = serializers.BooleanField(source="farm.poverty_county", read_only=True)
    host = serializers.PrimaryKeyRelatedField(read_only=True)
    host_name = serializers.CharField(source="host.__str__", read_only=True)

    class Meta:
        model = LiveSession
        fields = (
            "id",
            "farm",
            "farm_name",
            "province",
            "poverty_county",
            "host",
            "host_name",
            "title",
            "description",
            "language",
            "status",
            "scheduled_at",
            "started_at",
            "ended_at",
        )
        read_only_fields = ("status", "started_at", "ended_at")


class SessionDetailSerializer(SessionSerializer):
    showcase = ShowcaseItemSerializer(many=True, read_only=True)

    class Meta(SessionSerializer.Meta):
        fields = (*SessionSerializer.Meta.fields, "showcase")


class ShowcaseIn(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    live_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("9999999999")
    )
    allotment = serializers.IntegerField(min_value=1, max_value=2_000_000_000)
    deal_ends_at = serializers.DateTimeField(required=False, allow_null=True)
    per_buyer_limit = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, allow_null=True
    )


class PinIn(serializers.Serializer):
    product = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SessionSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return selectors.session_list()

    def get_serializer_class(self):
        return SessionDetailSerializer if self.action == "retrieve" else SessionSerializer

    def create(self, request: Request) -> Response:
        fields = validated(SessionSerializer, request)
        session = services.session_create(host=request.user, now=timezone.now(), **fields)
        return Response(SessionSerializer(session).data, status=201)

    @extend_schema(request=None, responses=SessionSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def start(self, request: Request, pk: str) -> Response:
        session = services.session_start(
            session=self.get_object(), actor=request.user, now=timezone.now()
        )
        return Response(SessionSerializer(session).data)

    @extend_schema(request=None, responses=SessionSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def end(self, request: Request, pk: str) -> Response:
        session = services.session_end(
            session=self.get_object(), actor=request.user, now=timezone.now()
        )
        return Response(SessionSerializer(session).data)

    @extend_schema(request=ShowcaseIn, responses={201: ShowcaseItemSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def showcase(self, request: Request, pk: str) -> Response:
        session = self.get_object()
        fields = validated(ShowcaseIn, request)
        item = services.showcase_add(
            session=session, actor=request.user, now=timezone.now(), **fields
        )
        return Response(ShowcaseItemSerializer(item).data, status=201)

    @extend_schema(request=PinIn, responses=ShowcaseItemSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def pin(self, request: Request, pk: str) -> Response:
        item = services.showcase_pin(
            session=self.get_object(),
            actor=request.user,
            product_id=validated(PinIn, request)["product"],
            now=timezone.now(),
        )
        return Response(ShowcaseItemSerializer(item).data)
