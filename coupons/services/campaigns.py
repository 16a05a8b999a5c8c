"""Campaign writes. Raise ``NotCampaignOwner`` (403), ``BadCampaign`` (400)."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from coupons.errors import BadCampaign, NotCampaignOwner
from coupons.models import Campaign, CampaignStatus, DiscountKind
from server.accounts.models import User

SCOPES = ("farms", "products", "sessions")
# Who may move a campaign from one status to another.
TRANSITIONS = {
    CampaignStatus.DRAFT: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ACTIVE: {CampaignStatus.PAUSED, CampaignStatus.ENDED},
    CampaignStatus.PAUSED: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ENDED: set(),
}


def _check_terms(fields: dict[str, Any], current: Campaign | None = None) -> None:
    def get(name: str) -> Any:
        return fields[name] if name in fields else getattr(current, name, None)

    kind, value = get("kind"), get("value")
    if kind == DiscountKind.PERCENT and value is not None and value > Decimal("100"):
        raise BadCampaign("A percent discount is at most 100.", fields={"value": ["At most 100."]})
    starts, ends = get("starts_at"), get("ends_at")
    if starts and ends and ends <= starts:
        raise BadCampaign("A campaign ends after it starts.", fields={"ends_at": ["Too early."]})
    if current is not None and "budget" in fields and fields["budget"] < current.issued:
        raise BadCampaign(
            f"{current.issued} coupons are already out; the budget cannot be lower.",
            fields={"budget": [f"At least {current.issued}."]},
        )


def campaign_create(*, owner: User, **fields: Any) -> Campaign:
    """A promoter funds a campaign. New campaigns are active unless sent as draft."""
    if not (owner.is_promoter or owner.is_staff):
        raise NotCampaignOwner("Only promoters run campaigns. Register with role 'promoter'.")
    scopes = {name: fields.pop(name, None) for name in SCOPES}
    status = fields.get("status", CampaignStatus.ACTIVE)
    if status not in (CampaignStatus.ACTIVE, CampaignStatus.DRAFT):
        raise BadCampaign("A new campaign is active or draft.", fields={"status": ["Not allowed."]})
    _check_terms(fields)
    with transaction.atomic():
        campaign = Campaign.objects.create(owner=owner, **fields)
        for name, values in scopes.items():
            if values:
                getattr(campaign, name).set(values)
    return campaign


def campaign_update(*, campaign: Campaign, actor: User, **fields: Any) -> Campaign:
    """Change terms or move status along ``TRANSITIONS``."""
    if not (actor.is_staff or campaign.owner_id == actor.pk):
        raise NotCampaignOwner("Only this campaign's promoter may change it.")
    scopes = {name: fields.pop(name) for name in SCOPES if name in fields}
    moving = "status" in fields and fields["status"] != campaign.status
    if moving and fields["status"] not in TRANSITIONS[CampaignStatus(campaign.status)]:
        raise BadCampaign(
            f"A campaign cannot go from {campaign.status} to {fields['status']}.",
            fields={"status": ["Not allowed from here."]},
        )
    _check_terms(fields, campaign)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(campaign, name, value)
        if fields:
            campaign.save(update_fields=list(fields))
        for name, values in scopes.items():
            getattr(campaign, name).set(values)
    return campaign


def campaign_is_running(campaign: Campaign, now: datetime) -> bool:
    return (
        campaign.status == CampaignStatus.ACTIVE
        and (campaign.starts_at is None or campaign.starts_at <= now)
        and (campaign.ends_at is None or now < campaign.ends_at)
    )
