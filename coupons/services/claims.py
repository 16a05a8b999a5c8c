"""Claims: the race for a drop's coupons.

``claim_create`` (and ``claim_create_async`` for the WebSocket) asks the gate first; a
refused claim is answered from Redis alone. An admitted one is written to the database in
one transaction guarded by conditional updates and a unique constraint, and only then is
the user told "yours". The gate admission is settled either way: confirmed after commit,
compensated when the write was refused.
"""

import secrets
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F

from coupons import events
from coupons.errors import (
    AccountTooNew,
    AlreadyClaimed,
    DropClosed,
    GateRestoring,
    LimitReached,
    SoldOut,
)
from coupons.models import Campaign, CampaignUser, Claim, ClaimStatus, CloseReason, Drop, DropState
from coupons.services.drops import drop_close, drop_gate, gate_for, scope_key
from server.accounts.models import User
from server.errors import DomainError, NotFound, RateLimited
from server.gate import Admission, Gate
from server.ratelimit import hit
from server.redis import redis_async, redis_client

CLAIM_RATE = (10, 10.0)  # claims per seconds, per user, across every node
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on a live
_scopes: dict[int, str] = {}


def new_code() -> str:
    return "TL" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


def _refusal(admission: Admission) -> DomainError:
    status = admission.status
    if status == "gone":
        return GateRestoring(
            "The coupon counter is being restored; try again in a few seconds.", retry_after_s=5
        )
    if status == "not_open":
        return DropClosed("This drop has not opened yet.")
    if status == "closed":
        return DropClosed("This drop is closed.")
    if status == "too_new":
        return AccountTooNew("Accounts made after this drop opened cannot claim it.")
    if status == "already":
        return AlreadyClaimed("You already have a coupon from this drop.")
    if status == "limit":
        return LimitReached("You hold as many coupons of this campaign as one person may.")
    return SoldOut("All coupons of this drop are taken.")


def _gate_from_scope(drop_id: int, scope: str | bytes | None) -> Gate | None:
    if scope is None:
        return None
    scope = scope.decode() if isinstance(scope, bytes) else scope
    _scopes[drop_id] = scope
    return Gate(scope=scope, unit=f"drop:{drop_id}")


def _gate_from_db(drop_id: int) -> Gate:
    campaign_id = Drop.objects.filter(pk=drop_id).values_list("campaign_id", flat=True).first()
    if campaign_id is None:
        raise NotFound("No such drop.")
    return gate_for(drop_id=drop_id, campaign_id=campaign_id)


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
    if admission.left == 0:
        drop = Drop.objects.get(pk=drop_id)
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
            )
    except IntegrityError:
        raise AlreadyClaimed("You already have a coupon from this drop.") from None


def claim_create(*, drop_id: int, user: User, now: datetime) -> Claim:
    """The synchronous claim (REST). Raises the refusals of ``_refusal`` and
    ``claim_record``, ``RateLimited``, ``NotFound``."""
    limit, window = CLAIM_RATE
    if not hit(f"claim:{user.pk}", limit=limit, window_s=window):
        raise RateLimited("Too many claims; wait a few seconds.", retry_after_s=int(window))
    scope = _scopes.get(drop_id) or redis_client().get(scope_key(drop_id))
    gate = _gate_from_scope(drop_id, scope) or _gate_from_db(drop_id)
    admission = gate.admit(
        user=user.pk, token=new_code(), joined=user.date_joined.timestamp(), now=now.timestamp()
    )
    if not admission.admitted:
        if admission.status == "gone" and not Drop.objects.filter(pk=drop_id).exists():
            raise NotFound("No such drop.")
        raise _refusal(admission)
    return claim_record(gate=gate, admission=admission, drop_id=drop_id, user=user, now=now)


async def claim_create_async(*, drop_id: int, user: User, now: datetime) -> Claim:
    """The WebSocket claim: the gate is asked on the event loop, so losers never wait for a
    thread or the database; winners are written on a worker thread of their own, not on the
    single thread Channels shares for ORM calls."""
    limit, window = CLAIM_RATE
    if not await _ahit(f"claim:{user.pk}", limit=limit, window_s=window):
        raise RateLimited("Too many claims; wait a few seconds.", retry_after_s=int(window))
    scope = _scopes.get(drop_id) or await redis_async().get(scope_key(drop_id))
    gate = _gate_from_scope(drop_id, scope)
    if gate is None:
        gate = await sync_to_async(_gate_from_db, thread_sensitive=False)(drop_id)
    admission = await gate.aadmit(
        user=user.pk, token=new_code(), joined=user.date_joined.timestamp(), now=now.timestamp()
    )
    if not admission.admitted:
        raise _refusal(admission)
    return await sync_to_async(_record_on_worker, thread_sensitive=False)(
        gate=gate, admission=admission, drop_id=drop_id, user=user, now=now
    )


def _record_on_worker(**kwargs: object) -> Claim:
    try:
        return claim_record(**kwargs)  # type: ignore[arg-type]
    finally:
        close_old_connections()


async def _ahit(key: str, *, limit: int, window_s: float) -> bool:
    client = redis_async()
    pipe = client.pipeline(transaction=True)
    pipe.incr(f"rl:{key}")
    pipe.pexpire(f"rl:{key}", int(window_s * 1000), nx=True)
    count, _ = await pipe.execute()
    return int(count) <= limit


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


def coupon_left_event(drop: Drop) -> events.CouponLeft | None:
    left = drop_gate(drop).left()
    return None if left is None else events.CouponLeft(drop=drop.pk, left=left)
