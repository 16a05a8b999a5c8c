"""What a claimed coupon gives, read in one place."""

from typing import Any

from coupons.models import Claim
from orders.pricing import Terms


def claim_terms(claim: Claim) -> tuple[Terms, dict[str, Any]]:
    """The claim's discount terms, and where it applies: ``{"farms", "products",
    "sessions"}`` (lists of ids; empty or missing means everywhere) and ``currency`` (an
    order in another currency is out of scope).

    Read from the snapshot the claim took when it was won, never from its campaign: a
    campaign edited later changes no coupon already held."""
    terms = Terms(
        kind=claim.kind,
        value=claim.value,
        max_discount=claim.max_discount,
        min_spend=claim.min_spend,
    )
    return terms, {**(claim.scope or {}), "currency": claim.currency}
