"""The naive baseline: our daphne app, unchanged but for one thing: a live line's units are
taken under a row lock on the showcase item (``SELECT ... FOR UPDATE``, check, update) in
the order's transaction instead of through the Redis gate.

Served without ``orders.storm`` in front (it is the gate's), so every request takes the
sync view's thread as it would without a gate. Same view, auth, ``Idempotency-Key``
lease, inserts and after-commit events as ours
(``bench.orders.baseline``); every buyer, winner or refused, queues on the row lock.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.orders.naive_app:application
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application, django_asgi_app  # first: sets Django up

# isort: split

from django.db.models import F

from bench.orders.baseline import baseline_place_for
from orders import api
from orders.errors import OutOfStock
from streams.models import ShowcaseItem

__all__ = ["application"]


def locked_take(session_id: int, product_id: int, qty: int) -> None:
    items = ShowcaseItem.objects.select_for_update().filter(
        session_id=session_id, product_id=product_id
    )
    item = items.only("pk", "left").first()
    if item is None or item.left < qty:
        left = 0 if item is None else item.left
        raise OutOfStock(f"Only {left} left.", product=product_id, left=left)
    ShowcaseItem.objects.filter(pk=item.pk).update(left=F("left") - qty)


# No gate, so nothing to answer on the event loop: every order goes to the view.
application.application_mapping["http"] = django_asgi_app
api.order_place = baseline_place_for(locked_take)
