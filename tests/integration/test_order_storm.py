"""Order storms over real HTTP against two real daphne processes.

The in-process tests (test_orders_races.py, test_orders_idempotency.py) prove the rules; these
prove them where they break in production: 2,000 buyers at once on two web nodes for 300
units of a live offer, coupons redeemed in the same storm, Redis losing its keys mid-storm,
and a web node SIGKILLed while it holds requests (its buyers retry the same
``Idempotency-Key`` on the other node, as the app does).

The product's whole stock is the live allotment, so every unit is in the allotment or in an
order: exact counts, not bounds, wherever nothing failed. The test process plays the buyers
(tests/integration/order_storm.py) and beat (it runs the stock reconcile as the beat task
does, with a clock past the admissions' expiry). Everything stays on loopback and every
process started here is killed in ``finally``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from bench.nodes import Node, kill_node, raise_nofile, start_node, stop_node, wait_ready
from catalog import services as catalog
from coupons.models import Claim, ClaimStatus
from coupons.services import campaigns, claims, drops
from orders.models import IdempotencyRecord, Order, OrderLine
from orders.services.stock import offer_gate, stock_gate_ensure, stock_gates_reconcile
from server.accounts import services as accounts
from server.gate import PENDING_TTL_S
from server.redis import redis_client
from streams import services as streams
from streams.models import ShowcaseItem
from tests.conftest import PASSWORD
from tests.integration.order_storm import Answer, Ask, once, storm, until_answered
from tests.integration.order_world import ADDRESS, LIVE_STATUSES
from tests.integration.test_coupon_storm import SETTINGS_MODULE, _node_env, make_claimers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BUYERS = 2000
ALLOTMENT = 300
LEASE_S = 3  # the nodes' ORDER_IDEMPOTENCY_LEASE_S: a dead node's keys free up after this
LIVE_PRICE = Decimal("80.00")


# --- processes --------------------------------------------------------------------------------


def _start_pair(log_dir: Path) -> list[Node]:
    raise_nofile()
    env = {**_node_env(SETTINGS_MODULE), "ORDER_IDEMPOTENCY_LEASE_S": str(LEASE_S)}
    started: list[Node] = []
    try:
        for name in ("web1", "web2"):
            started.append(start_node(name, env=env, log_dir=log_dir))
        wait_ready(started)
    except BaseException:
        for node in started:
            stop_node(node)
        raise
    return started


@pytest.fixture(scope="module")
def nodes(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    """Two web nodes shared by the tests that kill none (each test brings its own rows)."""
    started = _start_pair(tmp_path_factory.mktemp("order-nodes"))
    try:
        yield started
    finally:
        for node in started:
            stop_node(node)


@pytest.fixture
def own_nodes(tmp_path: Path) -> Iterator[list[Node]]:
    """Two web nodes for a test that kills one."""
    started = _start_pair(tmp_path)
    try:
        yield started
    finally:
        for node in started:
            if node.proc.poll() is None:
                stop_node(node)


def _bases(nodes: list[Node]) -> list[str]:
    return [f"http://127.0.0.1:{node.port}" for node in nodes]


def _run(coro: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# --- rows -------------------------------------------------------------------------------------


@pytest.fixture
def live() -> dict[str, Any]:
    """A live session offering all 300 units of a product (its stock is the allotment)."""
    host = accounts.user_register(username="storm-host", password=PASSWORD, role="host")
    farm = catalog.farm_create(owner=host, name="Storm farm", province="Nan", district="Pua")
    product = catalog.product_create(
        actor=host, farm=farm, name="Mango", unit="kg", price=Decimal("100.00"), stock=ALLOTMENT
    )
    now = timezone.now()
    session = streams.session_create(host=host, farm=farm, title="Storm", now=now)
    streams.session_start(session=session, actor=host, now=now)
    item = streams.showcase_add(
        session=session, actor=host, product=product, live_price=LIVE_PRICE,
        allotment=ALLOTMENT, now=now,
    )  # fmt: skip
    return {"host": host, "farm": farm, "product": product, "session": session, "item": item}


def _body(live: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "session": live["session"].pk,
        "items": [{"product": live["product"].pk, "qty": 1}],
        "address": ADDRESS,
        "payment_method": "cod",
        **extra,
    }


def _asks(live: dict[str, Any], buyers: list[tuple[int, str]]) -> list[Ask]:
    return [Ask(token=token, body=_body(live)) for _, token in buyers]


# --- checks -----------------------------------------------------------------------------------


def _sold(live: dict[str, Any]) -> int:
    lines = OrderLine.objects.filter(product=live["product"], order__status__in=LIVE_STATUSES)
    return lines.aggregate(n=Sum("qty"))["n"] or 0


def _left(live: dict[str, Any]) -> int:
    return ShowcaseItem.objects.get(pk=live["item"].pk).left


def _assert_told_orders_exist(answers: list[Answer]) -> None:
    """Every order a buyer was told about (a 201 with an id, on any attempt) is in the
    database, the buyer's, and no buyer holds two live orders for one ask's key."""
    told = {seen[3] for a in answers for seen in a.seen if seen[1] == 201}
    found = dict(Order.objects.filter(pk__in=told).values_list("pk", "buyer__auth_token__key"))
    assert set(found) == told
    for answer in answers:
        ids = {seen[3] for seen in answer.seen if seen[1] == 201}
        assert len(ids) <= 1, answer.seen  # a retried key never makes a second order
        for order in ids:
            assert found[order] == answer.ask.token


def _assert_settled(live: dict[str, Any]) -> None:
    """Nothing oversold in the database, and once reconcile has settled every admission
    (a clock past their expiry), the gate holds exactly what the database has left."""
    live["product"].refresh_from_db()
    left, sold = _left(live), _sold(live)
    assert live["product"].stock == 0
    assert left >= 0 and sold + left == ALLOTMENT, (sold, left)
    stock_gates_reconcile(now=timezone.now() + timedelta(seconds=PENDING_TTL_S + 1))
    gate = offer_gate(live["session"].pk, live["product"].pk)
    assert gate.pending_count() == 0
    assert gate.left() == left


def _rate(answers: list[Answer], elapsed: float) -> str:
    created = sum(1 for a in answers if a.status == 201)
    rate = len(answers) / elapsed
    return f"{len(answers)} asks, {created} orders in {elapsed:.2f} s ({rate:.0f} answers/s)"


# --- the storms -------------------------------------------------------------------------------


def test_two_thousand_buyers_on_two_nodes_buy_exactly_the_allotment(nodes, live):
    # given 2,000 buyers with tokens and 300 units on offer
    buyers = make_claimers(BUYERS, prefix="b")

    # when they all order one unit at once, split over both nodes
    answers, elapsed = _run(storm(_bases(nodes), _asks(live, buyers)))
    print(_rate(answers, elapsed))

    # then exactly 300 were sold, each to a buyer told 201, and all others heard out_of_stock;
    # on the way only unavailable (a node's connection pool full), never a 500
    outcomes = Counter((a.status, a.code) for a in answers)
    assert outcomes == {(201, "created"): ALLOTMENT, (409, "out_of_stock"): BUYERS - ALLOTMENT}
    on_the_way = Counter(seen[2] for a in answers for seen in a.seen[:-1])
    print("retried after:", dict(on_the_way))
    assert set(on_the_way) <= {"unavailable"}
    assert _sold(live) == ALLOTMENT and _left(live) == 0
    assert Order.objects.count() == ALLOTMENT
    assert Order.objects.filter(total=LIVE_PRICE, discount=0).count() == ALLOTMENT
    _assert_told_orders_exist(answers)
    # and both nodes answered (which node's buyers win is the gate's arrival order: a node
    # sends each loop turn's admissions as one pipeline), and no refused buyer's key is kept
    assert {a.seen[0][0] for a in answers} == {0, 1}
    assert IdempotencyRecord.objects.count() == ALLOTMENT
    _assert_settled(live)


def test_coupons_in_the_storm_are_each_redeemed_once_at_their_discount(nodes, live):
    # given 600 buyers, 300 of whom won a 10 % coupon in a drop of the session
    buyers = make_claimers(600, prefix="k")
    promoter = accounts.user_register(username="storm-promo", password=PASSWORD, role="promoter")
    campaign = campaigns.campaign_create(
        owner=promoter, name="Storm deal", kind="percent", value=Decimal("10"), budget=300,
        per_user_limit=1, farms=[live["farm"]], claim_ttl_s=3600,
    )  # fmt: skip
    drop = drops.drop_open(
        session=live["session"], campaign=campaign, actor=promoter, quantity=300,
        duration_s=600, now=timezone.now(),
    )  # fmt: skip
    users = {u.pk: u for u in type(promoter).objects.filter(pk__in=[b[0] for b in buyers[:300]])}
    won = [claims.claim_create(drop_id=drop.pk, user=users[uid], now=timezone.now()).pk
           for uid, _ in buyers[:300]]  # fmt: skip

    # when they all order at once: claim holders 0-99 twice with one claim under two keys
    # (both at once), 100-299 once with theirs, the other 300 without a coupon
    asks = []
    for i, (_, token) in enumerate(buyers):
        extra = {"claim": won[i]} if i < 300 else {}
        asks.append(Ask(token=token, body=_body(live, **extra)))
        if i < 100:
            asks.append(Ask(token=token, body=_body(live, **extra)))
    answers, elapsed = _run(storm(_bases(nodes), asks))
    print(_rate(answers, elapsed))

    # then every unit sold or back on offer, no claim twice, and the discount is 10 % of the
    # live price
    codes = Counter(a.code for a in answers)
    assert set(codes) <= {"created", "out_of_stock", "claim_expired"}, codes
    # a twin refused at the database gives its admitted unit back; buyers the gate already
    # turned away do not see it, so it may stay unsold (sold late, never twice)
    assert codes["created"] == _sold(live) and _sold(live) + _left(live) == ALLOTMENT
    assert _left(live) <= codes["claim_expired"]
    _assert_told_orders_exist(answers)
    for claim in Claim.objects.filter(pk__in=won):
        orders = list(Order.objects.filter(claim=claim, status__in=LIVE_STATUSES))
        assert len(orders) == (1 if claim.status == ClaimStatus.REDEEMED else 0)
        assert claim.status in (ClaimStatus.REDEEMED, ClaimStatus.CLAIMED)
        for order in orders:
            assert (order.discount, order.total) == (Decimal("8.00"), Decimal("72.00"))
    redeemed = Claim.objects.filter(pk__in=won, status=ClaimStatus.REDEEMED).count()
    assert Order.objects.exclude(claim=None).count() == redeemed
    plain = Order.objects.filter(claim=None)
    assert all((o.discount, o.total) == (0, LIVE_PRICE) for o in plain)
    assert codes["claim_expired"] <= 100  # only a twin of a redeemed claim is refused so
    # and a holder whose twin lost heard claim_expired only because the other one won
    for first, second in zip(answers[0:200:2], answers[1:200:2], strict=True):
        assert (first.code, second.code).count("created") <= 1
        if "claim_expired" in (first.code, second.code):
            assert "created" in (first.code, second.code), (first.seen, second.seen)
    _assert_settled(live)


def test_redis_flushed_mid_storm_oversells_nothing(nodes, live):
    # given 2,000 buyers, and Redis flushed once 200 have their answer
    buyers = make_claimers(BUYERS, prefix="f")
    flushed: list[int] = []

    async def flush(done: list[Answer]) -> None:
        await until_answered(done, 200)
        flushed.append(len(done))
        redis_client().flushdb()  # this test's own db (REDIS_URL), never FLUSHALL

    # when they all order at once
    answers, elapsed = _run(storm(_bases(nodes), _asks(live, buyers), during=flush))
    print(_rate(answers, elapsed), "flushed after", flushed)

    # then the gate was rebuilt from the rows: nothing oversold, no told order missing,
    # every buyer heard 201 or out_of_stock (unavailable only on the way, retried)
    assert flushed and flushed[0] < BUYERS
    assert {a.code for a in answers} <= {"created", "out_of_stock"}
    assert {seen[2] for a in answers for seen in a.seen} <= {
        "created", "out_of_stock", "unavailable",
    }  # fmt: skip
    created = sum(1 for a in answers if a.status == 201)
    assert created == _sold(live) == Order.objects.count()
    _assert_told_orders_exist(answers)
    # and buyers who come after the flush are answered from the gate rebuilt from the rows
    late, _ = _run(storm(_bases(nodes), _asks(live, make_claimers(200, prefix="g"))))
    assert {(a.status, a.code) for a in late} == {(409, "out_of_stock")}
    _assert_settled(live)


def test_node_killed_mid_storm_loses_no_told_order_and_retries_make_no_second(own_nodes, live):
    # given 1,000 buyers (after the kill, one node serves them all: as many as each node
    # serves in the storm above), and web1 SIGKILLed once 20 have their answer: refusals
    # come back from the gate at once, winners are still being written
    buyers = make_claimers(BUYERS // 2, prefix="s")
    victim = own_nodes[0]

    async def kill(done: list[Answer]) -> None:
        await until_answered(done, 20)
        await asyncio.to_thread(kill_node, victim)

    # when they all order at once; those cut off retry the same key on web2
    answers, elapsed = _run(
        storm(_bases(own_nodes), _asks(live, buyers), during=kill, timeout=80)
    )
    print(_rate(answers, elapsed))

    # then some were cut off and retried, every buyer got a final answer from the database
    assert victim.proc.poll() is not None
    cut = [a for a in answers if any(seen[1] == 0 for seen in a.seen)]
    if not cut:
        # Rarely (about one run in seven here) the victim had answered all its buyers before
        # the kill landed: the premise did not happen, so there is nothing to judge.
        pytest.skip("the kill landed after the victim's last answer; no request was cut off")
    assert {a.code for a in answers} <= {"created", "out_of_stock"}, Counter(
        a.code for a in answers
    )
    # and every 201 is in the database, no retried key made a second order, each buyer
    # holds at most one order, nothing oversold, and the dead node's admissions settle
    _assert_told_orders_exist(answers)
    # (when the victim had admitted every unit before it died, nobody holds an order yet:
    # those units come back when reconcile settles its admissions, below)
    per_buyer = Counter(Order.objects.values_list("buyer_id", flat=True))
    assert max(per_buyer.values(), default=1) == 1
    assert sum(1 for a in answers if a.status == 201) == _sold(live) == len(per_buyer)
    _assert_settled(live)


# --- one request in flight when its node dies -------------------------------------------------


def _pg() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None,
        dbname=db["NAME"], autocommit=False,
    )  # fmt: skip


def _wait_for_lock_wait(pg: psycopg.Connection, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pg.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query ILIKE '%%UPDATE%%showcase%%'"
            )
            (waiting,) = cur.fetchone()
        if waiting:
            return
        time.sleep(0.05)
    pytest.fail("the order never reached the showcase row")


def test_a_request_cut_off_by_its_node_dying_is_placed_once_by_its_retry(own_nodes, live):
    # given web1 holding an order that waits on the showcase row (we hold its lock)
    web1, web2 = _bases(own_nodes)
    [(buyer, token)] = make_claimers(1, prefix="z")
    ask = Ask(token=token, body=_body(live))
    # (the offer's gate exists, as it does once a live has sold: the request passes it)
    stock_gate_ensure(session_id=live["session"].pk, product_id=live["product"].pk)
    holder, watcher = _pg(), _pg()
    watcher.autocommit = True
    try:
        with holder.cursor() as cur:
            cur.execute(
                "SELECT id FROM streams_showcaseitem WHERE id = %s FOR UPDATE", [live["item"].pk]
            )

        async def cut_off() -> list[tuple[int, str, int | None, float]]:
            pending = asyncio.ensure_future(once(web1, ask, 30))
            await asyncio.to_thread(_wait_for_lock_wait, watcher)
            # when web1 is SIGKILLed with the request in flight
            await asyncio.to_thread(kill_node, own_nodes[0])
            assert (await pending)[0] == 0  # the connection broke, no answer
            # then the retry on web2 within the lease hears conflict, retry_after_s
            early = await once(web2, ask)
            holder.rollback()  # web1's transaction ends with its connection
            # and once the lease has run out, the retry places the order, and its own
            # retry is answered with that same order
            replies = [early]
            deadline = time.monotonic() + LEASE_S + 10
            while time.monotonic() < deadline:
                reply = await once(web2, ask)
                replies.append(reply)
                if reply[0] == 201:
                    break
                await asyncio.sleep(reply[3] or 0.2)
            replies.append(await once(web2, ask))
            return replies

        replies = _run(cut_off())
    finally:
        holder.close()
        watcher.close()

    early, *later = replies
    assert early[:2] == (409, "conflict") and early[3] >= 1
    record = IdempotencyRecord.objects.get()
    assert record.status_code == 201
    placed = [r for r in later if r[0] == 201]
    assert len(placed) == 2 and placed[0][2] == placed[1][2]
    assert {r[1] for r in later if r[0] != 201} <= {"conflict"}
    order = Order.objects.get()
    assert order.pk == placed[0][2] and order.buyer_id == buyer
    assert _sold(live) == 1 and _left(live) == ALLOTMENT - 1
    _assert_settled(live)
