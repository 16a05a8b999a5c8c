"""The floor: our daphne app with ``coupon.claim`` answered ``sold_out`` at once, touching
neither Redis nor PostgreSQL.

What is left is what every claim pays before any claim logic runs: daphne and autobahn
reading the frame, the live consumer's dispatch (``LiveConsumer.dispatch``, which skips
Channels' ``aclose_old_connections()`` hop to its database thread; ``bench.claims.hop_app``
puts it back), the consumer's parsing and schema checks, the per-connection claim budget
(``coupons.live``) and the error reply. The gate path cannot answer a storm faster than
this; the benchmark prints it beside the others so that the gap between the two is what
our claim code costs.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.claims.floor_app:application
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application  # first: sets Django up and registers our handlers

# isort: split

from coupons.errors import SoldOut
from coupons.live import CouponClaim
from streams.handlers import LiveSocket, handles

__all__ = ["application"]


@handles("coupon.claim", CouponClaim)
async def claim(socket: LiveSocket, data: CouponClaim, msg_id: Any) -> dict[str, Any]:
    socket.require_user()
    raise SoldOut("All coupons of this drop are taken.")
