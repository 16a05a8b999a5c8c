"""``Idempotency-Key`` on ``POST /api/orders/``: replays, reuse, refusals, a killed first
request taken over, and Redis down."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import IdempotencyRecord, Order
from orders.services.idempotency import LeaseLost, idempotency_begin, request_fingerprint
from orders.services.placing import order_place
from orders.services.stock import offer_gate
from tests.integration.order_world import ADDRESS, body, user, world

pytestmark = pytest.mark.django_db(transaction=True)


def place(client, payload, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/orders/", payload, format="json", **headers)


def test_idempotency_replay_other_body_and_refusal_forgets_the_key(client_for):
    w = world()
    buyer = user("idem")
    api = client_for(buyer)
    first = place(api, body(w, qty=2), key="order-1")
    replay = place(api, body(w, qty=2), key="order-1")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    other = place(api, body(w, qty=3), key="order-1")
    assert (other.status_code, other.json()["error"]["code"]) == (422, "invalid")
    refused = place(api, body(w, qty=50), key="order-2")
    assert refused.json()["error"]["code"] == "out_of_stock"
    assert not IdempotencyRecord.objects.filter(key="order-2").exists()
    assert place(api, body(w, qty=1), key="order-2").status_code == 201
    for bad in ("", "x" * 256, "caf\u00e9"):
        reply = place(api, body(w), key=bad)
        assert (reply.status_code, reply.json()["error"]["code"]) == (400, "invalid"), bad
    # without the header the order is still placed (no replay protection)
    assert place(api, body(w)).status_code == 201
    assert Order.objects.count() == 3


def test_idempotency_in_flight_conflict_and_lease_takeover(client_for):
    w = world()
    buyer = user("lease")
    api = client_for(buyer)
    payload = body(w, qty=1)
    # a first request that was killed after taking its lease (nothing else written)
    path = "/api/orders/"
    killed = idempotency_begin(
        user=buyer, key="k", fingerprint=request_fingerprint(method="POST", path=path,
        body=payload), now=timezone.now(),
    )  # fmt: skip
    busy = place(api, payload, key="k")
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "conflict")
    assert busy["Retry-After"] == "1"
    IdempotencyRecord.objects.update(leased_at=timezone.now() - timedelta(seconds=11))
    retry = place(api, payload, key="k")
    assert retry.status_code == 201, retry.json()
    # the original wakes up and finishes: its lease is gone, it writes nothing
    with pytest.raises(LeaseLost):
        order_place(
            buyer=buyer, session=w["session"].pk, items=payload["items"], claim=None,
            address=ADDRESS, payment_method="promptpay", now=timezone.now(), lease=killed,
        )  # fmt: skip
    assert Order.objects.count() == 1
    assert place(api, payload, key="k").json() == retry.json()
    w["item"].refresh_from_db()
    assert w["item"].left == 9
    assert offer_gate(w["session"].pk, w["product"].pk).left() == 9


def test_redis_down_says_unavailable(client_for, settings):
    w = world()
    api = client_for(user("down"))
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    reply = place(api, body(w), key="down-1")
    assert (reply.status_code, reply.json()["error"]["code"]) == (503, "unavailable")
    assert reply.json()["error"]["retry_after_s"] == 2
    assert not Order.objects.exists()
    assert not IdempotencyRecord.objects.exists()
