"""Drops: a number of a campaign's coupons, claimable for a short time during a live.

Opening a drop sets its quantity aside from the campaign's budget (a conditional update), so
the coupons of every drop together never exceed the budget; closing it gives the unclaimed
ones back. A campaign's budget is spent only by those its owner chose: its owner, or the
host of a session its scope names (by farm or by session). Anyone else is told the campaign
does not exist, the answer a made-up id gets, so ids and budgets do not leak.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q

from coupons import events
from coupons.errors import BadCampaign, DropClosed, NotAllowedToDrop
from coupons.models import HELD, Campaign, Claim, CloseReason, Drop, DropState
from server.accounts.models import User
from server.errors import NotFound
from server.gate import Gate
from server.publisher import publish
from server.redis import redis_client
from streams.models import LiveSession, SessionStatus, ShowcaseItem

MIN_DURATION_S = 10
MAX_DURATION_S = 30 * 60


def drop_gate(drop: Drop) -> Gate:
    return gate_for(drop_id=drop.pk, campaign_id=drop.campaign_id)


def gate_for(*, drop_id: int, campaign_id: int) -> Gate:
    """Every drop of a campaign shares the campaign's hash tag: its per-user counts are one."""
    return Gate(scope=f"campaign:{campaign_id}", unit=f"drop:{drop_id}")


def scope_key(drop_id: int) -> str:
    return f"gate:dropscope:{drop_id}"


def _claims_by_user(*, held_only: bool, **filters: object) -> dict[int, int]:
    claims = Claim.objects.filter(**filters)
    if held_only:
        claims = claims.filter(status__in=HELD)
    rows = claims.values("user_id").annotate(n=Count("id"))
    return {row["user_id"]: row["n"] for row in rows}


def gate_facts(drop: Drop) -> tuple[int, dict[int, int]]:
    """What the gate should hold for a drop: units left, and who has taken one (a row of any
    status: a user who gave a coupon back cannot take the same drop's again)."""
    left = drop.quantity - drop.claimed if drop.state == DropState.OPEN else 0
    return max(left, 0), _claims_by_user(held_only=False, drop=drop)


def gate_build(drop: Drop, *, with_scope: bool) -> None:
    """(Re)build a drop's gate from the database's rows."""
    campaign = drop.campaign
    left, unit_users = gate_facts(drop)
    joined_before = drop.opens_at.timestamp() if settings.CLAIM_NEEDS_PRIOR_ACCOUNT else 0
    drop_gate(drop).build(
        left=left,
        opens_at=drop.opens_at.timestamp(),
        closes_at=drop.closes_at.timestamp(),
        unit_limit=1,
        scope_limit=campaign.per_user_limit,
        unit_users=unit_users,
        scope_users=_claims_by_user(held_only=True, campaign=campaign) if with_scope else None,
        state="open" if drop.state == DropState.OPEN else "closed",
        joined_before=joined_before,
    )
    redis_client().set(scope_key(drop.pk), f"campaign:{drop.campaign_id}", ex=7 * 24 * 3600)


def drop_open(
    *,
    session: LiveSession,
    campaign: Campaign,
    actor: User,
    quantity: int,
    duration_s: int,
    now: datetime,
    delay_s: int = 0,
) -> Drop:
    """Open a drop now (or after a short countdown). Raises ``NotFound`` (not this actor's
    to spend: see the module's docstring), ``BadCampaign`` (not running, not for this
    session or its products, over budget), ``DropClosed`` (the session is not live)."""
    if not may_spend(campaign=campaign, session=session, actor=actor):
        raise NotFound(NO_SUCH_CAMPAIGN)
    if session.status != SessionStatus.LIVE:
        raise DropClosed("Drops open only while the session is live.")
    if not campaign.is_running(now):
        raise BadCampaign("This campaign is not running.", fields={"campaign": ["Not active."]})
    if not _in_scope(campaign, session):
        raise BadCampaign(
            "This campaign does not cover this session.", fields={"campaign": ["Out of scope."]}
        )
    if not _sells_scoped_product(campaign, session):
        raise BadCampaign(
            "This session's showcase has none of this campaign's products.",
            fields={"campaign": ["None of its products is sold here."]},
        )
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise BadCampaign(
            f"A drop runs {MIN_DURATION_S} s to {MAX_DURATION_S} s.",
            fields={"duration_s": ["Out of range."]},
        )
    with transaction.atomic():
        # The budget is held here; the check constraint backs the condition.
        reserved = Campaign.objects.filter(
            pk=campaign.pk, issued__lte=F("budget") - quantity
        ).update(issued=F("issued") + quantity)
        if not reserved:
            campaign.refresh_from_db(fields=["issued", "budget"])
            left = campaign.budget - campaign.issued
            raise BadCampaign(
                f"Only {left} coupons left in this campaign's budget.",
                fields={"quantity": [f"At most {left}."]},
            )
        opens_at = now + timedelta(seconds=delay_s)
        drop = Drop.objects.create(
            campaign=campaign,
            session=session,
            quantity=quantity,
            opens_at=opens_at,
            closes_at=opens_at + timedelta(seconds=duration_s),
            created_by=actor,
        )
        drop.campaign = campaign
        # The gate exists before anyone can learn the drop's id from the broadcast.
        transaction.on_commit(lambda: gate_build(drop, with_scope=not _scope_built(campaign)))
        publish(session.pk, drop_event(drop, left=quantity))
    return drop


NO_SUCH_CAMPAIGN = "No such campaign."


def may_spend(*, campaign: Campaign, session: LiveSession, actor: User) -> bool:
    """Whether ``actor`` may open a drop of ``campaign`` in ``session``: staff, the campaign's
    owner, or the session's host when the campaign's scope names its farm or the session."""
    if actor.is_staff or actor.pk == campaign.owner_id:
        return True
    if actor.pk != session.host_id:
        return False
    return (
        campaign.farms.filter(pk=session.farm_id).exists()
        or campaign.sessions.filter(pk=session.pk).exists()
    )


def _scope_built(campaign: Campaign) -> bool:
    return bool(redis_client().exists(f"gate:{{campaign:{campaign.pk}}}:users"))


def _in_scope(campaign: Campaign, session: LiveSession) -> bool:
    sessions = set(campaign.sessions.values_list("id", flat=True))
    farms = set(campaign.farms.values_list("id", flat=True))
    if not sessions and not farms:
        return True  # products-only or no scope: any live where the products are sold
    return session.pk in sessions or session.farm_id in farms


def _sells_scoped_product(campaign: Campaign, session: LiveSession) -> bool:
    products = campaign.products.values_list("id", flat=True)
    if not products.exists():
        return True
    return ShowcaseItem.objects.filter(session=session, product_id__in=products).exists()


def drop_event(drop: Drop, *, left: int) -> events.CouponDrop:
    campaign = drop.campaign
    return events.CouponDrop(
        drop=drop.pk,
        campaign=campaign.pk,
        kind=campaign.kind,
        value=campaign.value,
        max_discount=campaign.max_discount,
        min_spend=campaign.min_spend,
        currency=campaign.currency,
        quantity=drop.quantity,
        left=left,
        opens_at=drop.opens_at,
        closes_at=drop.closes_at,
    )


def drop_close(*, drop: Drop, reason: str, now: datetime) -> bool:
    """Close an open drop (closing twice is a no-op) and give its unclaimed coupons back to
    the campaign's budget. Returns whether this call closed it."""
    with transaction.atomic():
        closed = Drop.objects.filter(pk=drop.pk, state=DropState.OPEN).update(
            state=DropState.CLOSED, close_reason=reason, closed_at=now
        )
        if not closed:
            return False
        drop.refresh_from_db()
        unclaimed = drop.quantity - drop.claimed
        if unclaimed:
            Campaign.objects.filter(pk=drop.campaign_id).update(issued=F("issued") - unclaimed)
        if reason != CloseReason.EXHAUSTED:
            # An exhausted gate stays as it is (0 left), so latecomers hear "sold out".
            transaction.on_commit(lambda: drop_gate(drop).close())
        publish(drop.session_id, events.CouponDropClosed(drop=drop.pk, reason=reason))
    return True


def drops_close_overdue(*, now: datetime, session_id: int | None = None) -> int:
    """Close drops whose time is up; from beat, and from the live loop per session."""
    overdue = Drop.objects.filter(state=DropState.OPEN, closes_at__lte=now)
    if session_id is not None:
        overdue = overdue.filter(session_id=session_id)
    return sum(drop_close(drop=d, reason=CloseReason.EXPIRED, now=now) for d in overdue)


def drops_close_for_session(session: LiveSession, now: datetime) -> None:
    """When a session ends, its open drops are cancelled."""
    for drop in Drop.objects.filter(session=session, state=DropState.OPEN):
        drop_close(drop=drop, reason=CloseReason.CANCELLED, now=now)


def drops_close_for_campaign(campaign: Campaign, now: datetime) -> int:
    """When a campaign is paused or ended, its open drops are cancelled."""
    open_drops = Drop.objects.filter(campaign=campaign, state=DropState.OPEN)
    return sum(drop_close(drop=d, reason=CloseReason.CANCELLED, now=now) for d in open_drops)


def drop_cancel(*, drop: Drop, actor: User, now: datetime) -> Drop:
    """Close a drop before its time: who opened it, or its campaign's owner. Coupons already
    claimed stay valid; cancelling a closed drop changes nothing. Raises
    ``NotAllowedToDrop``."""
    if not (actor.is_staff or actor.pk in (drop.created_by_id, drop.campaign.owner_id)):
        raise NotAllowedToDrop("Only who opened this drop, or its campaign's owner, cancels it.")
    drop_close(drop=drop, reason=CloseReason.CANCELLED, now=now)
    drop.refresh_from_db()
    return drop


def open_drops(session: LiveSession) -> list[dict]:
    """The snapshot's ``drops``: open drops of the session with coupons left."""
    result = []
    for drop in Drop.objects.filter(session=session, state=DropState.OPEN).select_related(
        "campaign"
    ):
        left = drop_gate(drop).left()
        event = drop_event(drop, left=drop.quantity - drop.claimed if left is None else left)
        result.append(event.model_dump(mode="json"))
    return result


def drops_needing_attention(now: datetime) -> list[Drop]:
    """Open drops, and drops closed in the last minute (admissions may still be pending)."""
    return list(
        Drop.objects.filter(
            Q(state=DropState.OPEN) | Q(closed_at__gte=now - timedelta(minutes=1))
        ).select_related("campaign")
    )
