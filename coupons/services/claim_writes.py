"""Writing one admitted claim: the database's guards, the terms it is won under, and settling
its gate admission either way."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from coupons.errors import AlreadyClaimed, DropClosed, LimitReached, SoldOut
from coupons.models import Campaign, CampaignUser, Claim, CloseReason, Drop, DropState
from coupons.services.drops import drop_close
from server.accounts.models import User
from server.gate import Admission, Gate
from streams import metrics

SCOPES = ("farms", "products", "sessions")


@dataclass(frozen=True)
class AdmittedClaim:
    gate: Gate
    admission: Admission
    drop_id: int
    user: User
    now: datetime


def claim_terms(campaign: Campaign) -> dict[str, Any]:
    """The campaign's terms as a claim keeps them (``claim_sql`` builds the same in SQL)."""
    return {
        "kind": campaign.kind,
        "value": campaign.value,
        "max_discount": campaign.max_discount,
        "min_spend": campaign.min_spend,
        "currency": campaign.currency,
        "scope": {
            name: sorted(getattr(campaign, name).values_list("id", flat=True)) for name in SCOPES
        },
    }


def claim_record(
    *, gate: Gate, admission: Admission, drop_id: int, user: User, now: datetime
) -> Claim:
    """Write an admitted claim, then settle the admission. Raises ``SoldOut``,
    ``DropClosed``, ``LimitReached``, ``AlreadyClaimed`` (after compensating the gate)."""
    try:
        with transaction.atomic():
            claim = _write(drop_id=drop_id, user=user, code=admission.token, now=now)
    except Exception:
        # Refused by the database's guards, or it failed: the unit goes back at once.
        gate.compensate(token=admission.token)
        raise
    gate.confirm(token=admission.token)
    metrics.claims_record(session_id=claim.drop.session_id, user_ids=[user.pk], at=now)
    # The writer whose update took the last unit closes the drop. Not the admission that saw
    # 0 left: under a storm it often commits before earlier admissions, and then nobody did.
    drop = claim.drop
    if drop.claimed >= drop.quantity:
        drop_close(drop=drop, reason=CloseReason.EXHAUSTED, now=now)
    return claim


def _write(*, drop_id: int, user: User, code: str, now: datetime) -> Claim:
    taken = Drop.objects.filter(pk=drop_id, state=DropState.OPEN, claimed__lt=F("quantity")).update(
        claimed=F("claimed") + 1
    )
    drop = Drop.objects.select_related("campaign").get(pk=drop_id)
    if not taken:
        if drop.state != DropState.OPEN and drop.close_reason != CloseReason.EXHAUSTED:
            raise DropClosed("This drop is closed.")
        raise SoldOut("All coupons of this drop are taken.")
    campaign = drop.campaign
    holder, _ = CampaignUser.objects.get_or_create(campaign=campaign, user=user)
    within_limit = CampaignUser.objects.filter(
        pk=holder.pk, held__lt=campaign.per_user_limit
    ).update(held=F("held") + 1)
    if not within_limit:
        raise LimitReached("You hold as many coupons of this campaign as one person may.")
    try:
        with transaction.atomic():
            return Claim.objects.create(
                drop=drop,
                campaign=campaign,
                user=user,
                code=code,
                expires_at=now + timedelta(seconds=campaign.claim_ttl_s),
                created_at=now,
                **claim_terms(campaign),
            )
    except IntegrityError:
        raise AlreadyClaimed("You already have a coupon from this drop.") from None
