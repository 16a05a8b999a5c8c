"""Campaigns (promoters; hosts for their own farm's vouchers), drops (host or promoter),
claims (users), my coupons."""

from decimal import Decimal

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Farm, Product
from coupons import selectors
from coupons.models import Campaign, Claim, ClaimStatus, Drop
from coupons.services import campaigns, claims, drops
from server.api import validated
from server.errors import NotFound
from streams.models import LiveSession

MONEY = {"max_digits": 12, "decimal_places": 2}


class CampaignSerializer(serializers.ModelSerializer):
    value = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"))
    max_discount = serializers.DecimalField(
        **MONEY, min_value=Decimal("0.01"), required=False, allow_null=True
    )
    min_spend = serializers.DecimalField(**MONEY, min_value=Decimal("0"), required=False)
    budget = serializers.IntegerField(min_value=1, max_value=10_000_000)
    per_user_limit = serializers.IntegerField(min_value=1, max_value=100, required=False)
    claim_ttl_s = serializers.IntegerField(min_value=60, max_value=90 * 86400, required=False)
    farms = serializers.PrimaryKeyRelatedField(
        queryset=Farm.objects.all(), many=True, required=False
    )
    products = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.all(), many=True, required=False
    )
    sessions = serializers.PrimaryKeyRelatedField(
        queryset=LiveSession.objects.all(), many=True, required=False
    )

    class Meta:
        model = Campaign
        fields = (
            "id",
            "owner",
            "name",
            "kind",
            "value",
            "max_discount",
            "min_spend",
            "currency",
            "budget",
            "issued",
            "per_user_limit",
            "claim_ttl_s",
            "funded_by",
            "farms",
            "products",
            "sessions",
            "starts_at",
            "ends_at",
            "status",
            "created_at",
        )
        read_only_fields = ("owner", "issued", "created_at")


class SessionStatsOut(serializers.Serializer):
    session = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()
    drops = serializers.IntegerField()
    claimed = serializers.IntegerField()
    redeemed = serializers.IntegerField()
    orders = serializers.IntegerField()
    gmv = serializers.DecimalField(**MONEY)
    discount_given = serializers.DecimalField(**MONEY)


class StatsOut(serializers.Serializer):
    campaign = serializers.IntegerField()
    name = serializers.CharField()
    funded_by = serializers.CharField()
    drops = serializers.IntegerField()
    budget = serializers.IntegerField()
    issued = serializers.IntegerField()
    claimed = serializers.IntegerField()
    held = serializers.IntegerField()
    redeemed = serializers.IntegerField()
    expired = serializers.IntegerField()
    released = serializers.IntegerField()
    redemption_rate = serializers.FloatField()
    discount_given = serializers.DecimalField(**MONEY)
    cost = serializers.DecimalField(**MONEY)
    gmv = serializers.DecimalField(**MONEY)
    orders = serializers.IntegerField()
    buyers = serializers.IntegerField()
    new_buyers = serializers.IntegerField()
    new_buyers_platform = serializers.IntegerField()
    return_on_cost = serializers.FloatField(allow_null=True)
    sessions = SessionStatsOut(many=True)
    currency = serializers.CharField()


class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CampaignSerializer
    permission_classes = [IsAuthenticated]
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return selectors.campaigns_visible_to(user=self.request.user)

    def create(self, request: Request) -> Response:
        fields = validated(CampaignSerializer, request)
        campaign = campaigns.campaign_create(owner=request.user, **fields)
        return Response(CampaignSerializer(campaign).data, status=201)

    def partial_update(self, request: Request, pk: str) -> Response:
        campaign = self.get_object()
        fields = validated(CampaignSerializer, request, instance=campaign, partial=True)
        campaign = campaigns.campaign_update(
            campaign=campaign, actor=request.user, now=timezone.now(), **fields
        )
        return Response(CampaignSerializer(campaign).data)

    @extend_schema(responses=StatsOut)
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str) -> Response:
        return Response(StatsOut(selectors.campaign_stats(campaign=self.get_object())).data)


class DropIn(serializers.Serializer):
    # An id, looked up by the view: a campaign the caller may not spend and one that does not
    # exist get the same answer.
    campaign = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    duration_s = serializers.IntegerField(
        min_value=drops.MIN_DURATION_S, max_value=drops.MAX_DURATION_S
    )
    delay_s = serializers.IntegerField(min_value=0, max_value=300, required=False, default=0)


class DropOut(serializers.ModelSerializer):
    class Meta:
        model = Drop
        fields = (
            "id",
            "campaign",
            "session",
            "quantity",
            "claimed",
            "opens_at",
            "closes_at",
            "state",
            "close_reason",
        )


class SessionDropsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=DropIn, responses={201: DropOut}, tags=["coupons"])
    def post(self, request: Request, session_id: int) -> Response:
        session = get_object_or_404(LiveSession, pk=session_id)
        fields = validated(DropIn, request)
        campaign = Campaign.objects.filter(pk=fields.pop("campaign")).first()
        if campaign is None:
            raise NotFound(drops.NO_SUCH_CAMPAIGN)
        drop = drops.drop_open(
            session=session, campaign=campaign, actor=request.user, now=timezone.now(), **fields
        )
        return Response(DropOut(drop).data, status=201)


class DropCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: DropOut}, tags=["coupons"])
    def post(self, request: Request, drop_id: int) -> Response:
        drop = get_object_or_404(Drop.objects.select_related("campaign"), pk=drop_id)
        drop = drops.drop_cancel(drop=drop, actor=request.user, now=timezone.now())
        return Response(DropOut(drop).data)


class ClaimOut(serializers.ModelSerializer):
    claim = serializers.IntegerField(source="pk", read_only=True)

    class Meta:
        model = Claim
        fields = ("drop", "claim", "code", "expires_at")


class DropClaimView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: ClaimOut}, tags=["coupons"])
    def post(self, request: Request, drop_id: int) -> Response:
        won = claims.claim_create(drop_id=drop_id, user=request.user, now=timezone.now())
        return Response(ClaimOut(won).data, status=201)


class MyCouponOut(serializers.ModelSerializer):
    """A coupon with the terms it was won under (the claim's own, not its campaign's now)."""

    campaign_name = serializers.CharField(source="campaign.name")
    session = serializers.IntegerField(source="drop.session_id")

    class Meta:
        model = Claim
        fields = (
            "id",
            "code",
            "status",
            "drop",
            "session",
            "campaign",
            "campaign_name",
            "kind",
            "value",
            "max_discount",
            "min_spend",
            "currency",
            "scope",
            "expires_at",
            "created_at",
        )


@extend_schema(tags=["coupons"])
class MyCouponsView(ListAPIView):
    serializer_class = MyCouponOut
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        # Coupons a viewer gave back are gone from their wallet.
        return selectors.claims_of(user=self.request.user).exclude(status=ClaimStatus.RELEASED)
