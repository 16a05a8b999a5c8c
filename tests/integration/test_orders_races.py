"""Orders under concurrency, process death, Redis loss and random interleavings."""

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coupons.models import Claim
from orders import live
from orders.models import Order, OrderLine
from orders.services.cancelling import order_cancel, orders_expire_unpaid
from orders.services.stock import offer_gate, stock_gates_reconcile, stock_take
from server.errors import DomainError
from server.gate import PENDING_TTL_S
from server.publisher import replay
from server.redis import redis_client
from streams.models import ShowcaseItem
from tests.integration.order_world import (
    assert_claims_once,
    assert_stock_conserved,
    body,
    coupon,
    place_live,
    user,
    world,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(n: int, work: Callable[[int], object]) -> list[object]:
    """``work(i)`` on ``n`` threads released at once; each result or the exception raised."""
    results: list[object] = [None] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_forty_buyers_ten_units_exactly_ten_sold():
    w = world(stock=40, allotment=10)
    buyers = [user(f"b{i}") for i in range(40)]
    results = run_threads(40, lambda i: place_live(buyers[i], w))
    sold = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(sold) == 10, results
    assert {r.code for r in refused} == {"out_of_stock"} and len(refused) == 30
    w["item"].refresh_from_db()
    assert w["item"].left == 0
    assert offer_gate(w["session"].pk, w["product"].pk).left() == 0
    assert offer_gate(w["session"].pk, w["product"].pk).pending_count() == 0
    assert_stock_conserved(w["product"], 40)


def test_forty_buyers_after_a_flush_the_database_still_sells_ten():
    w = world(stock=40, allotment=10)
    buyers = [user(f"f{i}") for i in range(40)]
    # Redis lost mid-event: the gate is rebuilt too generous, the database holds the line
    place_live(buyers[0], w)
    redis_client().flushdb()
    gate = offer_gate(w["session"].pk, w["product"].pk)

    def buy(i: int) -> object:
        if i == 1:  # one buyer rebuilds, then the gate is made optimistic on purpose
            result = place_live(buyers[i], w)
            gate.release(user=0, n=1000)
            return result
        return place_live(buyers[i], w)

    results = run_threads(39, lambda i: buy(i + 1))
    assert sum(isinstance(r, Order) for r in results) == 9
    assert all(isinstance(r, Order | DomainError) for r in results), results
    w["item"].refresh_from_db()
    assert w["item"].left == 0
    assert_stock_conserved(w["product"], 40)


def test_one_claim_in_concurrent_orders_is_redeemed_once():
    w = world(stock=40, allotment=20)
    buyer = user("twice")
    claim = coupon(w, buyer)
    results = run_threads(8, lambda i: place_live(buyer, w, claim=claim.pk))
    assert sum(isinstance(r, Order) for r in results) == 1, results
    assert {r.code for r in results if isinstance(r, DomainError)} == {"claim_expired"}
    claim.refresh_from_db()
    assert claim.status == "redeemed"
    assert_claims_once()
    assert_stock_conserved(w["product"], 40)


def test_two_requests_with_one_key_at_once(client_for):
    from orders.models import IdempotencyRecord
    from tests.integration.test_order_storm import _pg

    w = world()
    buyer = user("idem2")
    first_api, second_api = client_for(buyer), client_for(buyer)
    first: list[object] = []

    def send_first() -> None:
        try:
            first.append(
                first_api.post("/api/orders/", body(w), format="json", HTTP_IDEMPOTENCY_KEY="same")
            )
        finally:
            connection.close()

    thread = threading.Thread(target=send_first)
    # hold the allotment's row from a connection of our own: the first request waits
    # inside its write, its key leased
    holder = _pg()
    try:
        with holder.cursor() as cur:
            cur.execute(
                "SELECT id FROM streams_showcaseitem WHERE id = %s FOR UPDATE", [w["item"].pk]
            )
        thread.start()
        deadline = time.monotonic() + 10
        while not IdempotencyRecord.objects.filter(key="same").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = second_api.post(
            "/api/orders/", body(w), format="json", HTTP_IDEMPOTENCY_KEY="same"
        )
    finally:
        holder.rollback()
        holder.close()
    thread.join(30)
    assert (second.status_code, second.json()["error"]["code"]) == (409, "conflict")
    assert second.json()["error"]["retry_after_s"] == 1
    assert first[0].status_code == 201
    assert Order.objects.count() == 1
    replay = second_api.post("/api/orders/", body(w), format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert replay.json() == first[0].json()


def test_reconcile_settles_what_a_killed_process_left():
    w = world()
    buyer = user("killed")
    now = timezone.now()
    order = place_live(buyer, w, qty=2, now=now)
    gate = offer_gate(w["session"].pk, w["product"].pk)
    # A process took units and died before writing its order: the units come back.
    stock_take(buyer_id=buyer.pk, session_id=w["session"].pk,
                      product_id=w["product"].pk, qty=3, now=now)  # fmt: skip
    # Another committed its line and died before confirming: the units stay sold.
    kept = stock_take(buyer_id=buyer.pk, session_id=w["session"].pk,
                      product_id=w["product"].pk, qty=2, now=now)  # fmt: skip
    OrderLine.objects.filter(order=order).update(gate_token=kept.token, qty=4, from_allotment=4)
    ShowcaseItem.objects.filter(pk=w["item"].pk).update(left=F("left") - 2)
    assert gate.left() == 3 and gate.pending_count() == 2
    assert stock_gates_reconcile(now=now) == {"busy": 1}  # not expired yet: hands off
    later = now + timedelta(seconds=PENDING_TTL_S + 1)
    settled = stock_gates_reconcile(now=later)
    assert (settled["confirmed"], settled["compensated"]) == (1, 1)
    assert gate.pending_count() == 0
    assert gate.left() == 6
    assert_stock_conserved(w["product"], 40)


def _frames(session_id: int, kind: str) -> list[dict]:
    frames = [json.loads(f) for _, f in replay(session_id, 0) or []]
    return [f["data"] for f in frames if f["type"] == kind]


def test_stock_is_coalesced_and_the_ticker_masks_the_buyer():
    w = world()
    session = w["session"].pk
    for name in ("Somchai", "Mali", "Nok"):
        place_live(user(name), w, qty=1)
    tickers = _frames(session, "order.ticker")
    assert tickers == [
        {"buyer": "S***i", "product": w["product"].pk, "qty": 1},
        {"buyer": "M***i", "product": w["product"].pk, "qty": 1},
        {"buyer": "N***", "product": w["product"].pk, "qty": 1},
    ]
    assert _frames(session, "stock") == [{"product": w["product"].pk, "left": 9}]
    deadline = time.monotonic() + 3
    while _frames(session, "stock")[-1]["left"] != 7 and time.monotonic() < deadline:
        live.tick(session)  # the live loop's trailing flush
        time.sleep(0.05)
    assert [f["left"] for f in _frames(session, "stock")] == [9, 7]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["place", "place_coupon", "cancel", "expire", "flush", "end"]),
            st.integers(min_value=0, max_value=2),
            st.integers(min_value=1, max_value=4),
        ),
        min_size=1,
        max_size=14,
    )
)
def test_random_sequences_conserve_stock_and_coupons(steps):
    from django.core.management import call_command

    # a fresh world per example; ids keep growing (processes cache some by id)
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)
    redis_client().flushdb()
    w = world(stock=12, allotment=6)
    buyers = [user(f"p{i}") for i in range(3)]
    claims = [coupon(w, b) for b in buyers]
    now = timezone.now()
    for action, who, qty in steps:
        now += timedelta(seconds=1)
        try:
            if action == "place":
                place_live(buyers[who], w, qty=qty, method="promptpay", now=now)
            elif action == "place_coupon":
                claim = claims[who].pk
                place_live(buyers[who], w, qty=qty, claim=claim, method="promptpay", now=now)
            elif action == "cancel":
                order = Order.objects.filter(buyer=buyers[who]).order_by("?").first()
                if order is not None:
                    order_cancel(order_id=order.pk, actor=buyers[who], now=now)
            elif action == "expire":
                now += timedelta(hours=1)
                orders_expire_unpaid(now=now)
            elif action == "flush":
                redis_client().flushdb()
            elif action == "end":
                from streams import services as streams

                streams.session_end(session=w["session"], actor=w["host"], now=now)
        except DomainError:
            pass
        assert_stock_conserved(w["product"], 12)
        assert_claims_once()
    for claim in Claim.objects.all():
        assert claim.status in ("claimed", "redeemed", "expired")


def test_session_end_racing_orders_and_cancels_strands_nothing():
    from streams import services as streams

    w = world(stock=60, allotment=30)
    first = [user(f"c{i}") for i in range(10)]
    placed = [place_live(b, w, qty=1) for b in first]
    late = [user(f"d{i}") for i in range(10)]

    def work(i: int) -> object:
        if i < 10:
            return order_cancel(order_id=placed[i].pk, actor=first[i], now=timezone.now())
        if i < 20:
            return place_live(late[i - 10], w, qty=2)
        return streams.session_end(session=w["session"], actor=w["host"], now=timezone.now())

    results = run_threads(21, work)
    assert all(isinstance(r, Order | DomainError) or hasattr(r, "status") for r in results), [
        r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)
    ]
    w["item"].refresh_from_db()
    assert w["item"].left == 0
    assert Order.objects.filter(status="cancelled").count() == 10
    assert_stock_conserved(w["product"], 60)
