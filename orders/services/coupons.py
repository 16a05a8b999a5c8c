"""What a claimed coupon gives, read in one place."""

from typing import Any

from coupons.models import Claim
from orders.pricing import Terms


def claim_terms(claim: Claim) -> tuple[Terms, dict[str, Any]]:
    """The claim's discount terms, and where it applies: ``{"farms", "products",
    "sessions"}`` (lists of ids; an empty list means everywhere) and ``currency`` (an order
    in another currency is out of scope).

    Read from the claim's campaign today; once claims carry a snapshot of the terms taken
    when they were claimed, this reads the claim's own fields instead, so a campaign edited
    later changes no coupon already held."""
    campaign = claim.campaign
    terms = Terms(
        kind=campaign.kind,
        value=campaign.value,
        max_discount=campaign.max_discount,
        min_spend=campaign.min_spend,
    )
    scope = {
        "farms": list(campaign.farms.values_list("pk", flat=True)),
        "products": list(campaign.products.values_list("pk", flat=True)),
        "sessions": list(campaign.sessions.values_list("pk", flat=True)),
        "currency": campaign.currency,
    }
    return terms, scope
