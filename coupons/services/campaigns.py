"""Campaign writes. Raise ``NotCampaignOwner`` (403), ``BadCampaign`` (400).

A promoter funds campaigns anywhere (``funded_by: promoter``). A host funds vouchers of its
own farm only (``funded_by: farm``): the campaign names that host's farms and nothing of
anyone else's, so its budget can never be spent on another farm's sales.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from catalog.models import Currency, Farm, Product
from coupons.errors import BadCampaign, NotCampaignOwner
from coupons.models import Campaign, CampaignStatus, DiscountKind, Funder
from coupons.services.drops import drops_close_for_campaign
from server.accounts.models import User
from streams.models import LiveSession

SCOPES = ("farms", "products", "sessions")
# Who may move a campaign from one status to another.
TRANSITIONS = {
    CampaignStatus.DRAFT: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ACTIVE: {CampaignStatus.PAUSED, CampaignStatus.ENDED},
    CampaignStatus.PAUSED: {CampaignStatus.ACTIVE, CampaignStatus.ENDED},
    CampaignStatus.ENDED: set(),
}
# The largest amount a fixed discount, a cap or a minimum spend may name: far above any
# basket sold live, low enough that a typo of a few zeros is refused.
MAX_AMOUNT = Decimal("100000")


def _check_terms(fields: dict[str, Any], current: Campaign | None = None) -> None:
    def get(name: str) -> Any:
        return fields[name] if name in fields else getattr(current, name, None)

    def amount(name: str) -> Decimal | None:
        value = get(name)
        return None if value is None else Decimal(str(value))

    kind, value, cap = get("kind"), amount("value"), amount("max_discount")
    if value is not None and value <= 0:
        raise BadCampaign("A discount is more than 0.", fields={"value": ["More than 0."]})
    if kind == DiscountKind.PERCENT and value is not None and value > Decimal("100"):
        raise BadCampaign("A percent discount is at most 100.", fields={"value": ["At most 100."]})
    if kind == DiscountKind.FIXED and value is not None and value > MAX_AMOUNT:
        raise BadCampaign(
            f"A fixed discount is at most {MAX_AMOUNT}.",
            fields={"value": [f"At most {MAX_AMOUNT}."]},
        )
    if cap is not None and not Decimal("0") < cap <= MAX_AMOUNT:
        raise BadCampaign(
            f"A discount cap is more than 0 and at most {MAX_AMOUNT}.",
            fields={"max_discount": [f"More than 0, at most {MAX_AMOUNT}."]},
        )
    min_spend = amount("min_spend")
    if min_spend is not None and not Decimal("0") <= min_spend <= MAX_AMOUNT:
        raise BadCampaign(
            f"A minimum spend is 0 to {MAX_AMOUNT}.",
            fields={"min_spend": [f"0 to {MAX_AMOUNT}."]},
        )
    currency = get("currency")
    if currency is not None and currency not in Currency.values:
        raise BadCampaign(
            f"Unknown currency {currency!r}.", fields={"currency": sorted(Currency.values)}
        )
    starts, ends = get("starts_at"), get("ends_at")
    if starts and ends and ends <= starts:
        raise BadCampaign("A campaign ends after it starts.", fields={"ends_at": ["Too early."]})
    if current is not None and "budget" in fields and fields["budget"] < current.issued:
        raise BadCampaign(
            f"{current.issued} coupons are already out; the budget cannot be lower.",
            fields={"budget": [f"At least {current.issued}."]},
        )


def _ids(values: Any) -> set[int]:
    return {getattr(v, "pk", v) for v in values or ()}


def _check_funder(owner: User, funded_by: str, scopes: dict[str, Any]) -> None:
    """Who may fund what: see the module's docstring."""
    if funded_by != Funder.FARM:
        if not (owner.is_promoter or owner.is_staff):
            raise NotCampaignOwner(
                "Only promoters fund campaigns; a host funds its own farm's vouchers "
                "(funded_by: farm)."
            )
        return
    farms = _ids(scopes["farms"])
    own = set(Farm.objects.filter(owner=owner).values_list("id", flat=True))
    if not farms or not farms <= own:
        raise NotCampaignOwner("A farm funds vouchers for itself only: name your own farms.")
    products = _ids(scopes["products"])
    sessions = _ids(scopes["sessions"])
    if Product.objects.filter(pk__in=products).exclude(farm_id__in=farms).exists() or (
        LiveSession.objects.filter(pk__in=sessions).exclude(farm_id__in=farms).exists()
    ):
        raise NotCampaignOwner("A farm's vouchers cover that farm's products and sessions only.")


def campaign_create(*, owner: User, **fields: Any) -> Campaign:
    """A promoter funds a campaign, or a host its own farm's vouchers. New campaigns are
    active unless sent as draft."""
    scopes = {name: fields.pop(name, None) for name in SCOPES}
    _check_funder(owner, fields.get("funded_by", Funder.PROMOTER), scopes)
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


def campaign_update(*, campaign: Campaign, actor: User, now: datetime, **fields: Any) -> Campaign:
    """Change terms (for claims made from now on: a claim keeps the terms it was won
    under) or move status along ``TRANSITIONS``; pausing or ending closes its open drops."""
    if not (actor.is_staff or campaign.owner_id == actor.pk):
        raise NotCampaignOwner("Only this campaign's owner may change it.")
    if "funded_by" in fields and fields["funded_by"] != campaign.funded_by:
        raise BadCampaign(
            "Who funds a campaign is set when it is made.", fields={"funded_by": ["Fixed."]}
        )
    scopes = {name: fields.pop(name) for name in SCOPES if name in fields}
    if campaign.funded_by == Funder.FARM and scopes:
        current = {name: getattr(campaign, name).all() for name in SCOPES}
        _check_funder(campaign.owner, Funder.FARM, {**current, **scopes})
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
        if moving and fields["status"] in (CampaignStatus.PAUSED, CampaignStatus.ENDED):
            drops_close_for_campaign(campaign, now)
    return campaign
