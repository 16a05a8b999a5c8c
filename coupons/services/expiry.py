"""Coupons given back: by their holder, or when their time to use them has passed."""

from datetime import datetime

from django.db import transaction
from django.db.models import F

from coupons.models import Campaign, CampaignUser, Claim, ClaimStatus, Drop, DropState
from coupons.services.drops import drop_gate


def claim_release(*, claim: Claim, now: datetime, status: str = ClaimStatus.RELEASED) -> bool:
    """Give an unused coupon back (the user's choice, or expiry): its unit returns to the
    campaign's budget and the user may claim again. Returns whether it changed."""
    with transaction.atomic():
        changed = Claim.objects.filter(pk=claim.pk, status=ClaimStatus.CLAIMED).update(
            status=status
        )
        if not changed:
            return False
        CampaignUser.objects.filter(
            campaign_id=claim.campaign_id, user_id=claim.user_id, held__gt=0
        ).update(held=F("held") - 1)
        drop = Drop.objects.select_for_update().get(pk=claim.drop_id)
        Drop.objects.filter(pk=drop.pk, claimed__gt=0).update(claimed=F("claimed") - 1)
        unit_open = drop.state == DropState.OPEN
        if not unit_open:
            # The drop is over: the unit goes back to the campaign's budget instead.
            Campaign.objects.filter(pk=claim.campaign_id, issued__gt=0).update(
                issued=F("issued") - 1
            )
        transaction.on_commit(
            lambda: drop_gate(drop).release(user=claim.user_id, unit_open=unit_open)
        )
    return True


def claims_expire(*, now: datetime) -> int:
    """Release every claim whose time to use it has passed (anti-hoarding)."""
    overdue = Claim.objects.filter(status=ClaimStatus.CLAIMED, expires_at__lte=now)
    return sum(claim_release(claim=c, now=now, status=ClaimStatus.EXPIRED) for c in overdue)
