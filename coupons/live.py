"""Coupons on the live channel: the ``coupon.claim`` message, open drops in the snapshot,
``coupon.left`` (coalesced) and closing drops whose time is up, each tick."""

import time
from collections import deque
from typing import Any

from django.utils import timezone
from pydantic import StrictInt

from coupons.models import Claim, Drop, DropState
from coupons.services.claims import claim_create_async, coupon_left_event
from coupons.services.drops import drops_close_overdue
from server.errors import RateLimited
from server.publisher import Coalescer, publish_now
from server.redis import live_key, redis_client
from streams.handlers import LiveSocket, handles
from streams.messages import Inbound

SOCKET_CLAIMS = (3, 1.0)  # claims per second per connection, before the per-user limit
# The per-connection budget's clock (seconds); tests set their own instead of waiting.
clock = time.monotonic
left_coalescer = Coalescer("coupon-left", 0.5)


class CouponClaim(Inbound):
    drop: StrictInt


@handles("coupon.claim", CouponClaim)
async def claim(socket: LiveSocket, data: CouponClaim, msg_id: Any) -> dict[str, Any]:
    user = socket.require_user()
    recent: deque[float] = socket.state.setdefault("claim_times", deque(maxlen=8))
    limit, window = SOCKET_CLAIMS
    now_s = clock()
    while recent and now_s - recent[0] > window:
        recent.popleft()
    if len(recent) >= limit:
        raise RateLimited("Too many claims from this connection.", retry_after_s=1)
    recent.append(now_s)
    won = await claim_create_async(drop_id=data.drop, user=user, now=timezone.now())
    return claimed_reply(won)


def claimed_reply(claim: Claim) -> dict[str, Any]:
    """The ``coupon.claimed`` reply (docs/protocol.md) for a claim just written."""
    return {
        "type": "coupon.claimed",
        "data": {
            "drop": claim.drop_id,
            "claim": claim.pk,
            "code": claim.code,
            "expires_at": claim.expires_at.isoformat(),
        },
    }


def tick(session_id: int) -> None:
    """Each second, per session with viewers on this node: close drops whose time is up,
    and publish coupons left when it changed. The fleet-wide turn is taken first, so one
    node per interval queries the database for a session, not every node every second."""
    if not left_coalescer.try_acquire(session_id):
        return
    drops_close_overdue(now=timezone.now(), session_id=session_id)
    drops = list(Drop.objects.filter(session_id=session_id, state=DropState.OPEN))
    client = redis_client()
    for drop in drops:
        event = coupon_left_event(drop)
        if event is None:
            continue
        key = live_key(session_id, "coupon-left", drop.pk)
        if client.set(key, event.left, get=True, ex=3600) != str(event.left).encode():
            publish_now(session_id, event)
