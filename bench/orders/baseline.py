"""What the all-PostgreSQL baselines share: our placing, with the gate taken out and the
allotment taken by the caller's SQL instead.

``baseline_place`` has ``order_place``'s signature, so a baseline app swaps it into
``orders.api`` and nothing else about the request changes: the same view, auth,
validation, ``Idempotency-Key`` lease, reads, pricing, inserts (``placing._write``), stored
answer and after-commit events. Only how the units are taken differs, and that is
``take(session_id, product_id, qty)``, run first in the order's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from orders.events import OrderTicker, mask
from orders.models import Order
from orders.selectors import order_data
from orders.services import placing
from orders.services.idempotency import Lease, idempotency_complete
from orders.services.stock import Taken, stock_changed
from server.accounts.models import User
from server.errors import Invalid
from server.publisher import publish

Take = Callable[[int, int, int], None]


def _taken_by_caller(*, item: Any, buyer: User, qty: int) -> None:
    """``placing._write``'s own conditional update is the caller's ``take`` here."""


def baseline_place_for(take: Take) -> Callable[..., Order]:
    """An ``order_place`` whose live lines' units are taken by ``take``."""
    placing._take_allotment = _taken_by_caller  # this bench process only

    def baseline_place(
        *,
        buyer: User,
        session: int | None,
        items: Sequence[Mapping[str, Any]],
        claim: int | None,
        address: dict[str, Any],
        payment_method: str,
        now: datetime,
        lease: Lease | None = None,
        admitted: Taken | None = None,  # only orders.storm admits, and it is not in front
    ) -> Order:
        lines = placing._lines(items)
        if session is None:
            raise Invalid("The bench's baselines sell live offers only.")
        with transaction.atomic():
            for line in lines:
                take(session, line.product, line.qty)
            taken = [
                Taken(gate=None, token="", product=line.product, qty=line.qty, live=True)  # type: ignore[arg-type]
                for line in lines
            ]
            order = placing._write(
                buyer=buyer, session_id=session, taken=taken, claim_id=claim, address=address,
                payment_method=payment_method, now=now,
            )  # fmt: skip
            if lease is not None:
                idempotency_complete(lease=lease, status_code=201, response=order_data(order))
            for line in lines:  # the room hears what ours publishes, after commit
                publish(session, OrderTicker(buyer=mask(str(buyer)), product=line.product,
                                             qty=line.qty))  # fmt: skip
            products = [line.product for line in lines]
            transaction.on_commit(lambda: stock_changed(session_id=session, product_ids=products))
        return order

    return baseline_place
