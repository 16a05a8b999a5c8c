"""The floor: our daphne app with ``POST /api/orders/`` answered ``out_of_stock`` at once by
the same path that answers our refusals (``orders.storm``: Django's middleware on the event
loop), touching neither Redis nor PostgreSQL (no token lookup either).

What is left is what every refusal pays before any order logic: daphne reading the request,
the ASGI wrapper, Django's middleware and the error reply. Our path
cannot refuse a storm faster than this; the benchmark prints it beside the others.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.orders.floor_app:application
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application  # first: sets Django up

# isort: split

from orders.errors import OutOfStock
from orders.storm import OrderStorm

__all__ = ["application"]


async def refuse(*args: Any, **kwargs: Any) -> OutOfStock:
    return OutOfStock("Only 0 left.", product=0, left=0)


OrderStorm.decide = refuse  # type: ignore[method-assign]
