"""Farm and product endpoints: anyone reads, only the owning host writes."""

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import services
from catalog.models import Farm, Product
from server.api import validated
from server.errors import Invalid


class FarmSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    owner_name = serializers.CharField(source="owner.__str__", read_only=True)

    class Meta:
        model = Farm
        fields = (
            "id",
            "owner",
            "owner_name",
            "name",
            "story",
            "province",
            "district",
            "village",
            "poverty_county",
            "county_code",
            "households",
            "cooperative",
            "verified",
            "shipping_fee",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("verified", "created_at", "updated_at")
        extra_kwargs = {
            "households": {"min_value": 1, "max_value": 100_000},
            "shipping_fee": {"min_value": Decimal("0"), "max_value": Decimal("100000")},
        }


class ProductSerializer(serializers.ModelSerializer):
    farm = serializers.PrimaryKeyRelatedField(queryset=Farm.objects.all())
    price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("9999999999")
    )
    stock = serializers.IntegerField(min_value=0, max_value=2_000_000_000, required=False)

    class Meta:
        model = Product
        fields = (
            "id",
            "farm",
            "name",
            "description",
            "unit",
            "price",
            "currency",
            "stock",
            "photo",
            "harvested_on",
            "ships_by",
            "is_active",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")


class ProductUpdateSerializer(ProductSerializer):
    """A product stays with the farm it was created on."""

    farm = serializers.PrimaryKeyRelatedField(read_only=True)


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid(f"{name} must be a whole number.", fields={name: ["Not a number."]})
    return int(raw)


class _ReadCreatePatchViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """List and retrieve from DRF; create and PATCH go through the app's services."""

    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"[0-9]+"


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("province", str), OpenApiParameter("poverty_county", bool)]
    )
)
class FarmViewSet(_ReadCreatePatchViewSet):
    serializer_class = FarmSerializer

    def get_queryset(self):
        queryset = Farm.objects.select_related("owner")
        if province := self.request.query_params.get("province"):
            queryset = queryset.filter(province=province)
        if self.request.query_params.get("poverty_county") in ("true", "1"):
            queryset = queryset.filter(poverty_county=True)
        return queryset

    def create(self, request: Request) -> Response:
        farm = services.farm_create(owner=request.user, **validated(FarmSerializer, request))
        return Response(FarmSerializer(farm).data, status=201)

    def partial_update(self, request: Request, pk: str) -> Response:
        farm = self.get_object()
        fields = validated(FarmSerializer, request, instance=farm, partial=True)
        farm = services.farm_update(farm=farm, actor=request.user, **fields)
        return Response(FarmSerializer(farm).data)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("farm", int)]))
class ProductViewSet(_ReadCreatePatchViewSet):
    serializer_class = ProductSerializer

    def get_queryset(self):
        queryset = Product.objects.select_related("farm")
        if (farm := _int_param(self.request, "farm")) is not None:
            queryset = queryset.filter(farm_id=farm)
        return queryset

    def create(self, request: Request) -> Response:
        fields = validated(ProductSerializer, request)
        product = services.product_create(actor=request.user, **fields)
        return Response(ProductSerializer(product, context={"request": request}).data, status=201)

    @extend_schema(request=ProductUpdateSerializer, responses=ProductSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        product = self.get_object()
        fields = validated(ProductUpdateSerializer, request, instance=product, partial=True)
        product = services.product_update(product=product, actor=request.user, **fields)
        return Response(ProductSerializer(product, context={"request": request}).data)
