"""The reports' response shapes for the OpenAPI schema (/api/schema/). The selectors build the
JSON themselves (amounts already as strings, "from" is a key no Python class attribute can
be); these describe it, so clients and schemathesis can check every field."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field, inline_serializer
from rest_framework import serializers

from catalog.models import Currency


def _money(**kwargs: Any) -> serializers.DecimalField:
    # COERCE_DECIMAL_TO_STRING: documented as a decimal string, as sent ("480.00").
    return serializers.DecimalField(max_digits=14, decimal_places=2, **kwargs)


def _text(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(allow_blank=True, **kwargs)


def _ints(*names: str) -> dict[str, serializers.Field]:
    return {name: serializers.IntegerField() for name in names}


def _amounts(*names: str) -> dict[str, serializers.Field]:
    return {name: _money() for name in names}


_TIMELINE_MINUTE = inline_serializer(
    "ReportMinute",
    {
        "minute": serializers.DateTimeField(),
        **_ints("viewers", "viewers_peak", "new_viewers", "chat", "claims", "orders", "units"),
        **_amounts("gmv", "discount"),
    },
)
_DROP = inline_serializer(
    "ReportDrop",
    {
        "id": serializers.IntegerField(),
        "campaign": serializers.IntegerField(),
        "campaign_name": _text(),
        "opens_at": serializers.DateTimeField(),
        "closes_at": serializers.DateTimeField(),
        "closed_at": serializers.DateTimeField(allow_null=True),
        "close_reason": _text(allow_null=True),
        **_ints("quantity", "claimed", "redeemed"),
        "exhausted_after_s": serializers.FloatField(
            allow_null=True, help_text="Seconds from opening to the last coupon claimed."
        ),
        "redemption_rate": serializers.FloatField(),
    },
)
_PRODUCT = inline_serializer(
    "ReportProduct",
    {
        "product": serializers.IntegerField(),
        "name": _text(),
        **_ints("orders", "units"),
        "gmv": _money(),
        "share": serializers.FloatField(help_text="Share of the session's GMV, 0 to 1."),
    },
)
_MONEY_INTS = ("orders_standing", "orders_cancelled", "orders_refunded", "orders_settled")
_MONEY_AMOUNTS = (
    "gmv",
    "discount",
    "promoter_discount",
    "farm_discount",
    "shipping",
    "fee_expected",
    "farm_expected",
    "farm_received",
    "fee_settled",
)


# Written out, not a component: OpenAPI 3.0 cannot make a referenced object nullable (the
# "nullable" beside an allOf does not reach into it), and a promoter gets null here.
@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "description": "What the farm is paid; null for a promoter reading the report.",
        "properties": {
            **{name: {"type": "integer"} for name in _MONEY_INTS},
            **{name: {"type": "string", "format": "decimal"} for name in _MONEY_AMOUNTS},
            "platform_fee_percent": {"type": "string"},
        },
        "required": [*_MONEY_INTS, *_MONEY_AMOUNTS, "platform_fee_percent"],
    }
)
class _MoneyField(serializers.JSONField):
    pass


SESSION_REPORT = inline_serializer(
    "SessionReport",
    {
        "session": inline_serializer(
            "ReportSession",
            {
                "id": serializers.IntegerField(),
                "title": _text(),
                "status": _text(),
                "farm": inline_serializer(
                    "ReportFarm",
                    {
                        "id": serializers.IntegerField(),
                        "name": _text(),
                        "province": _text(),
                        "poverty_county": serializers.BooleanField(),
                    },
                ),
                "started_at": serializers.DateTimeField(allow_null=True),
                "ended_at": serializers.DateTimeField(allow_null=True),
            },
        ),
        "currency": serializers.ChoiceField(choices=Currency.choices),
        "totals": inline_serializer(
            "ReportTotals",
            {
                **_ints(
                    "viewers",
                    "viewers_peak",
                    "chat_messages",
                    "chatters",
                    "claims",
                    "claimers",
                    "orders",
                    "buyers",
                    "units",
                    "redeemed",
                ),
                **_amounts("gmv", "discount"),
            },
        ),
        "funnel": inline_serializer(
            "ReportFunnelStep",
            {
                "step": serializers.ChoiceField(
                    choices=["viewers", "chatters", "claimers", "buyers", "paid"]
                ),
                "count": serializers.IntegerField(),
            },
            many=True,
        ),
        "timeline": serializers.ListField(child=_TIMELINE_MINUTE),
        "drops": serializers.ListField(child=_DROP),
        "products": serializers.ListField(child=_PRODUCT),
        "money": _MoneyField(allow_null=True),
    },
)

_PAYOUT_ORDER = inline_serializer(
    "PayoutOrder",
    {
        "order": serializers.IntegerField(),
        "settled_at": serializers.DateTimeField(),
        "payment_method": _text(),
        "currency": serializers.ChoiceField(choices=Currency.choices),
        **_amounts(
            "subtotal", "discount", "promoter_discount", "shipping_fee", "total", "fee", "payout"
        ),
    },
)
FARM_PAYOUTS = inline_serializer(
    "FarmPayouts",
    {
        "farm": inline_serializer(
            "PayoutFarm", {"id": serializers.IntegerField(), "name": _text()}
        ),
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "platform_fee_percent": _text(),
        "orders": serializers.ListField(child=_PAYOUT_ORDER),
        "totals": inline_serializer(
            "PayoutTotals",
            {
                "orders": serializers.IntegerField(),
                **_amounts("total", "promoter_discount", "fee", "payout"),
            },
        ),
    },
)


def _month() -> serializers.RegexField:
    # A new field each time: one field instance under two names keeps only the last name.
    return serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM")


IMPACT = inline_serializer(
    "Impact",
    {
        "from": _month(),
        "to": _month(),
        "province": _text(allow_null=True),
        "currency": serializers.ChoiceField(choices=Currency.choices),
        "totals": inline_serializer(
            "ImpactTotals",
            {
                **_amounts("income", "income_poverty", "income_per_household"),
                **_ints("orders", "farms", "households", "households_poverty"),
            },
        ),
        "provinces": serializers.ListField(
            child=inline_serializer(
                "ImpactProvince",
                {
                    "province": _text(),
                    **_amounts("income", "income_poverty"),
                    **_ints("farms", "households", "households_poverty"),
                },
            )
        ),
        "poverty_counties": serializers.ListField(
            child=inline_serializer(
                "ImpactCounty",
                {
                    "province": _text(),
                    "district": _text(),
                    "county_code": _text(),
                    "income": _money(),
                    **_ints("farms", "households"),
                },
            )
        ),
        "months": serializers.ListField(
            child=inline_serializer(
                "ImpactMonth",
                {"month": _month(), "income": _money(), **_ints("farms", "households", "orders")},
            )
        ),
    },
)

CSV = OpenApiTypes.STR
FORMAT = OpenApiParameter(
    "format", str, enum=["json", "csv"], description="`csv` answers text/csv (errors stay JSON)."
)
