"""Coupon reads: a promoter's numbers, a viewer's coupons."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet

from coupons.models import Campaign, Claim, ClaimStatus, Drop
from server.accounts.models import User

# The order side adds what only it knows (discount given, orders, GMV and new buyers of
# orders that used a coupon; ``by_session``: the same per session). Numbers from several
# providers add up; ``by_session`` entries merge into the per-session breakdown.
campaign_money_providers: list[Callable[[Campaign], dict[str, Any]]] = []

SESSION_ZERO = {"orders": 0, "gmv": Decimal("0.00"), "discount_given": Decimal("0.00")}


def campaign_stats(*, campaign: Campaign) -> dict[str, Any]:
    """A campaign's return: coupons claimed and used, what they cost, what they drove, per
    session too."""
    counts = Claim.objects.filter(campaign=campaign).aggregate(
        claimed=Count("id"),
        held=Count("id", filter=Q(status=ClaimStatus.CLAIMED)),
        redeemed=Count("id", filter=Q(status=ClaimStatus.REDEEMED)),
        expired=Count("id", filter=Q(status=ClaimStatus.EXPIRED)),
        released=Count("id", filter=Q(status=ClaimStatus.RELEASED)),
    )
    sessions: dict[int | None, dict[str, Any]] = {}
    per_drop = (
        Drop.objects.filter(campaign=campaign)
        .values("session", "session__title")
        .annotate(
            drops=Count("id", distinct=True),
            claimed=Count("claims", distinct=True),
            redeemed=Count("claims", filter=Q(claims__status=ClaimStatus.REDEEMED), distinct=True),
        )
        .order_by("session")
    )
    for row in per_drop:
        sessions[row["session"]] = {
            "session": row["session"], "title": row["session__title"], "drops": row["drops"],
            "claimed": row["claimed"], "redeemed": row["redeemed"], **SESSION_ZERO,
        }  # fmt: skip
    money: dict[str, Any] = {
        "discount_given": Decimal("0.00"), "gmv": Decimal("0.00"), "orders": 0, "buyers": 0,
        "new_buyers": 0, "new_buyers_platform": 0,
    }  # fmt: skip
    for provider in campaign_money_providers:
        for key, value in provider(campaign).items():
            if key == "by_session":
                for session_id, numbers in value.items():
                    entry = sessions.setdefault(
                        session_id,
                        {"session": session_id, "title": "", "drops": 0, "claimed": 0,
                         "redeemed": 0, **SESSION_ZERO},
                    )  # fmt: skip
                    for name, number in numbers.items():
                        entry[name] = entry.get(name, 0) + number
            else:
                money[key] = money.get(key, 0) + value
    cost = money["discount_given"]
    return {
        "campaign": campaign.pk,
        "name": campaign.name,
        "funded_by": campaign.funded_by,
        "drops": campaign.drops.count(),
        "budget": campaign.budget,
        "issued": campaign.issued,
        **counts,
        "redemption_rate": (
            round(counts["redeemed"] / counts["claimed"], 4) if counts["claimed"] else 0.0
        ),
        **money,
        "cost": cost,
        # GMV per unit of discount: what each baht of the campaign's cost brought in.
        "return_on_cost": round(float(money["gmv"] / cost), 2) if cost else None,
        "sessions": sorted(sessions.values(), key=lambda s: (s["session"] is None, s["session"])),
        "currency": campaign.currency,
    }


def claims_of(*, user: User) -> QuerySet[Claim]:
    return Claim.objects.filter(user=user).select_related("campaign", "drop").order_by("-id")


def campaigns_visible_to(*, user: User) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.prefetch_related("farms", "products", "sessions")
    return campaigns if user.is_staff else campaigns.filter(owner=user)
