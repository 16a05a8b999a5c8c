"""The naive baseline: our daphne app, unchanged but for one thing: ``coupon.claim`` is
answered by a row lock on the drop in PostgreSQL instead of the Redis gate.

Everything else is the production shape (``server.asgi:application``: the same consumer,
auth, fan-out, two daphne nodes, the same clients), and the write runs where ours does, on
the default executor (``sync_to_async(thread_sensitive=False)``) with the same pool. So the
difference measured is the gate against the lock, not thread handling. Every claim, loser
or winner, takes the lock: that is what "naive" means here, and what the gate avoids.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.claims.naive_app:application
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application  # first: sets Django up and registers our handlers

# isort: split

from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from coupons.errors import AlreadyClaimed, DropClosed, LimitReached, SoldOut
from coupons.live import CouponClaim, claimed_reply
from coupons.models import CampaignUser, Claim, CloseReason, Drop
from coupons.services.claim_writes import claim_terms
from coupons.services.claims import new_code
from coupons.services.drops import drop_close
from server.accounts.models import User
from server.errors import NotFound
from streams.handlers import LiveSocket, handles

__all__ = ["application"]


def naive_claim(*, drop_id: int, user: User, now: datetime) -> Claim:
    """Lock the drop's row, check, update, insert, commit. Raises ``NotFound``,
    ``DropClosed``, ``SoldOut``, ``AlreadyClaimed``, ``LimitReached``."""
    try:
        with transaction.atomic():
            # Every claimer queues here, winners and losers alike.
            drop = Drop.objects.select_for_update().select_related("campaign").filter(pk=drop_id)
            drop = drop.first()
            if drop is None:
                raise NotFound("No such drop.")
            if drop.claimed >= drop.quantity:
                raise SoldOut("All coupons of this drop are taken.")
            if not drop.is_open(now):
                raise DropClosed("This drop is closed.")
            if Claim.objects.filter(drop=drop, user=user).exists():
                raise AlreadyClaimed("You already have a coupon from this drop.")
            campaign = drop.campaign
            holder, _ = CampaignUser.objects.get_or_create(campaign=campaign, user=user)
            if holder.held >= campaign.per_user_limit:
                raise LimitReached("You hold as many coupons of this campaign as one person may.")
            CampaignUser.objects.filter(pk=holder.pk).update(held=F("held") + 1)
            Drop.objects.filter(pk=drop.pk).update(claimed=F("claimed") + 1)
            claim = Claim.objects.create(
                drop=drop,
                campaign=campaign,
                user=user,
                code=new_code(),
                expires_at=now + timedelta(seconds=campaign.claim_ttl_s),
                created_at=now,
                **claim_terms(campaign),
            )
        if drop.claimed + 1 >= drop.quantity:
            drop_close(drop=drop, reason=CloseReason.EXHAUSTED, now=now)
        return claim
    finally:
        close_old_connections()


@handles("coupon.claim", CouponClaim)
async def claim(socket: LiveSocket, data: CouponClaim, msg_id: Any) -> dict[str, Any]:
    user = socket.require_user()
    won = await sync_to_async(naive_claim, thread_sensitive=False)(
        drop_id=data.drop, user=user, now=timezone.now()
    )
    return claimed_reply(won)
