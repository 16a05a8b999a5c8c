"""The best all-PostgreSQL baseline: no Redis, and no lock held while checking. One
transaction per claim of two statements: one conditional ``UPDATE`` that takes a unit only
while one is left (``claimed < quantity`` on the drop's row: ``SET left = left - 1 WHERE
left > 0``), then the claim's ``INSERT``, whose unique constraint on (drop, user) refuses a
second coupon of the drop (the transaction is rolled back, the unit with it).

A loser of a sold-out drop costs one ``UPDATE`` that matches no row; it never waits on a
row lock once the count is at its quantity, as every claim of ``bench.claims.naive_app``
does. The bench's campaigns have one drop each and one coupon per person, so (drop, user)
is the whole per-user rule here (the product's write also guards a campaign's per-user
limit across drops). Same app, nodes, clients and executor as the naive baseline.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.claims.update_app:application
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application  # first: sets Django up and registers our handlers

# isort: split

from asgiref.sync import sync_to_async
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from coupons.errors import AlreadyClaimed, SoldOut
from coupons.live import CouponClaim, claimed_reply
from coupons.models import Campaign, Claim, ClaimStatus, CloseReason, Drop, DropState
from coupons.services.claim_sql import scope_sql
from coupons.services.claims import new_code
from coupons.services.drops import drop_close
from server.accounts.models import User
from streams.handlers import LiveSocket, handles

__all__ = ["application"]

# Table and column names come from the models, never from input.
_TAKE = f"""
UPDATE {Drop._meta.db_table} SET claimed = claimed + 1
WHERE id = %(drop)s AND state = %(open)s AND claimed < quantity
  AND opens_at <= %(now)s AND %(now)s < closes_at
RETURNING campaign_id, claimed, quantity
"""

_INSERT = f"""
INSERT INTO {Claim._meta.db_table} (drop_id, campaign_id, user_id, code, status, expires_at,
    created_at, kind, value, max_discount, min_spend, currency, scope)
SELECT %(drop)s, c.id, %(user)s, %(code)s, %(status)s,
       %(now)s + c.claim_ttl_s * interval '1 second', %(now)s,
       c.kind, c.value, c.max_discount, c.min_spend, c.currency, {scope_sql()}
FROM {Campaign._meta.db_table} c WHERE c.id = %(campaign)s
RETURNING id, expires_at
"""


def update_claim(*, drop_id: int, user: User, now: datetime) -> Claim:
    """Take a unit, insert the row, commit. Raises ``SoldOut`` (none left, or closed),
    ``AlreadyClaimed``."""
    params: dict[str, Any] = {
        "drop": drop_id, "user": user.pk, "code": new_code(), "now": now,
        "open": DropState.OPEN, "status": ClaimStatus.CLAIMED,
    }  # fmt: skip
    try:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_TAKE, params)
                taken = cursor.fetchone()
                if taken is None:
                    raise SoldOut("All coupons of this drop are taken.")
                params["campaign"], claimed, quantity = taken
                cursor.execute(_INSERT, params)
                pk, expires_at = cursor.fetchone()
        except IntegrityError:
            raise AlreadyClaimed("You already have a coupon from this drop.") from None
        if claimed >= quantity:
            drop_close(drop=Drop.objects.get(pk=drop_id), reason=CloseReason.EXHAUSTED, now=now)
        return Claim(pk=pk, drop_id=drop_id, code=params["code"], expires_at=expires_at)
    finally:
        close_old_connections()


@handles("coupon.claim", CouponClaim)
async def claim(socket: LiveSocket, data: CouponClaim, msg_id: Any) -> dict[str, Any]:
    user = socket.require_user()
    won = await sync_to_async(update_claim, thread_sensitive=False)(
        drop_id=data.drop, user=user, now=timezone.now()
    )
    return claimed_reply(won)
