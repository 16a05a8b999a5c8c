"""Coupon reads: a promoter's numbers, a viewer's coupons."""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet

from coupons.models import Campaign, CampaignStatus, Claim, ClaimStatus, Drop
from server.accounts.models import User
from streams.models import LiveSession

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


def campaigns_spendable(*, session: LiveSession, user: User, now: datetime) -> QuerySet[Campaign]:
    """Running campaigns ``user`` may open drops of in ``session`` (the rule of
    ``coupons.services.drops.may_spend``, as a query): what the studio offers its host, so a
    host never has to guess ids of campaigns a promoter made for its farm."""
    campaigns = Campaign.objects.filter(status=CampaignStatus.ACTIVE).filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=now),
        Q(ends_at__isnull=True) | Q(ends_at__gt=now),
    )
    if not user.is_staff:
        mine = Q(owner=user)
        if session.host_id == user.pk:
            mine |= Q(farms=session.farm_id) | Q(sessions=session.pk)
        campaigns = campaigns.filter(mine)
    return campaigns.distinct().order_by("-id")


def drops_of(*, campaign: Campaign) -> QuerySet[Drop]:
    """A campaign's drops, newest first, with the session each ran in."""
    return Drop.objects.filter(campaign=campaign).select_related("session").order_by("-id")
