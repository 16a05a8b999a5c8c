"""The best all-PostgreSQL baseline: no Redis, no lock held while checking. A live line's
units are taken by one conditional ``UPDATE ... SET left = left - n WHERE left >= n`` as the
first statement of the order's transaction; a refused buyer costs that one ``UPDATE``
matching no row (and the rollback), then the same inserts as ours.

Served without ``orders.storm`` in front (it is the gate's), so every request takes the
sync view's thread as it would without a gate. Same view, auth, ``Idempotency-Key``
lease, inserts and after-commit events as ours
(``bench.orders.baseline``).

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.orders.update_app:application
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


def updated_take(session_id: int, product_id: int, qty: int) -> None:
    took = ShowcaseItem.objects.filter(
        session_id=session_id, product_id=product_id, left__gte=qty
    ).update(left=F("left") - qty)
    if not took:
        raise OutOfStock("This live offer is sold out.", product=product_id, left=0)


# No gate, so nothing to answer on the event loop: every order goes to the view.
application.application_mapping["http"] = django_asgi_app
api.order_place = baseline_place_for(updated_take)
