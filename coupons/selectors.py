"""Coupon reads: a promoter's numbers, a viewer's coupons."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet

from coupons.models import Campaign, Claim, ClaimStatus
from server.accounts.models import User

# The order side adds what only it knows (discount given, GMV of orders that used a coupon).
campaign_money_providers: list[Callable[[Campaign], dict[str, Decimal]]] = []


def campaign_stats(*, campaign: Campaign) -> dict[str, Any]:
    counts = Claim.objects.filter(campaign=campaign).aggregate(
        claimed=Count("id"),
        held=Count("id", filter=Q(status=ClaimStatus.CLAIMED)),
        redeemed=Count("id", filter=Q(status=ClaimStatus.REDEEMED)),
        expired=Count("id", filter=Q(status=ClaimStatus.EXPIRED)),
        released=Count("id", filter=Q(status=ClaimStatus.RELEASED)),
    )
    money = {"discount_given": Decimal("0.00"), "gmv": Decimal("0.00")}
    for provider in campaign_money_providers:
        for key, value in provider(campaign).items():
            money[key] = money.get(key, Decimal("0.00")) + value
    return {
        "campaign": campaign.pk,
        "drops": campaign.drops.count(),
        "budget": campaign.budget,
        "issued": campaign.issued,
        **counts,
        "redemption_rate": (
            round(counts["redeemed"] / counts["claimed"], 4) if counts["claimed"] else 0.0
        ),
        **money,
        "currency": campaign.currency,
    }


def claims_of(*, user: User) -> QuerySet[Claim]:
    return Claim.objects.filter(user=user).select_related("campaign", "drop").order_by("-id")


def campaigns_visible_to(*, user: User) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.prefetch_related("farms", "products", "sessions")
    return campaigns if user.is_staff else campaigns.filter(owner=user)
