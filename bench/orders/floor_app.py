"""The floor: our daphne app with ``POST /api/orders/`` answered ``out_of_stock`` at once by
the same view, touching neither Redis nor PostgreSQL (no token lookup either).

What is left is what every order pays before any order logic: daphne reading the request,
Django's handler and middleware, the view's dispatch and the error reply. Our path cannot
refuse a storm faster than this; the benchmark prints it beside the others.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.orders.floor_app:application
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application  # first: sets Django up

# isort: split

from orders import api
from orders.errors import OutOfStock

__all__ = ["application"]


def refuse(*args: Any, **kwargs: Any) -> Any:
    raise OutOfStock("Only 0 left.", product=0, left=0)


api.OrderViewSet.authentication_classes = []
api.OrderViewSet.permission_classes = []
api.OrderViewSet.create = refuse  # type: ignore[method-assign]
