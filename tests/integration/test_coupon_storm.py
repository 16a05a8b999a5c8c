"""Claim storms over real sockets against real daphne processes.

The in-process tests (test_coupons_live.py, test_coupons_properties.py) prove the rules; these
prove them where they break in production: many clients at once on several web nodes, Redis
losing its keys mid-drop, and a web process dying between the gate and the database.

- 1,000 sockets split over two daphne nodes race for 100 coupons.
- Redis is flushed (this test's own db, never FLUSHALL) while a storm runs; the gate admits
  nobody until reconcile rebuilds it from rows, and nothing is sold twice.
- A node is SIGKILLed while it holds admissions it has not written (held there by the
  ``COUPON_FAULT_PAUSE_AFTER_ADMIT_S`` seam in coupons/services/claims.py); nobody was told
  "yours" without a row, and reconcile gives the units back once the admissions expire.

The test process plays the client (``bench.claims.client``: sans-I/O sockets, no task per
socket) and beat (it calls ``reconcile_all`` as the beat task does). Everything stays on
loopback and every process started here is killed in ``finally``.

Below them, in process: the batch write that storms go through (winners written several per
transaction, and claim by claim when the database refuses a batch), and the per-user attempt
limit the gate's script now counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.claims.client import ClaimSocket, Reply, close_all, open_sockets, storm
from bench.nodes import (
    Node,
    database_url,
    kill_node,
    raise_nofile,
    start_node,
    stop_node,
    wait_ready,
)
from catalog import services as catalog
from coupons.errors import AlreadyClaimed, LimitReached
from coupons.models import (
    Campaign,
    CampaignUser,
    Claim,
    ClaimStatus,
    CloseReason,
    Drop,
    DropState,
)
from coupons.services import campaigns, claims, drops
from coupons.services.claim_writes import AdmittedClaim
from coupons.services.group_commit import claims_record_batch
from coupons.services.reconcile import reconcile_all
from server.accounts import services as accounts
from server.accounts.models import User
from server.errors import RateLimited
from server.gate import PENDING_TTL_S
from server.redis import redis_client
from streams import services as streams
from streams.models import LiveSession
from tests.conftest import PASSWORD
from tests.integration.coupon_checks import assert_gate_equals_database

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 1000
COUPONS = 100
# What this run's settings are (pytest-django sets it from --ds or pyproject): the nodes use
# the same. Not ``settings.SETTINGS_MODULE``, which is None under ``override_settings``.
SETTINGS_MODULE = os.environ["DJANGO_SETTINGS_MODULE"]
T = TypeVar("T")


# --- processes and sockets ------------------------------------------------------------------


def _node_env(settings_module: str, pythonpath: str = "") -> dict[str, str]:
    """A web node on this test's PostgreSQL database and Redis db, as production runs it:
    a connection pool (DB_POOL_MAX: the default executor's 6 threads and Channels' database
    thread, 2 nodes x 8 well under max_connections), DEBUG off."""
    paths = [p for p in (pythonpath, os.environ.get("PYTHONPATH", "")) if p]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PYTHONPATH": os.pathsep.join(paths),
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": django_settings.REDIS_URL,
        "DB_POOL_MAX": "8",
        "DEBUG": "false",
        "CLAIM_NEEDS_PRIOR_ACCOUNT": "true",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def nodes(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    """Two web nodes shared by this module's tests (each test brings its own rows)."""
    raise_nofile()
    log_dir = tmp_path_factory.mktemp("storm-nodes")
    env = _node_env(SETTINGS_MODULE)
    started: list[Node] = []
    try:
        for name in ("web1", "web2"):
            started.append(start_node(name, env=env, log_dir=log_dir))
        wait_ready(started)
        yield started
    finally:
        for node in started:
            stop_node(node)


class ClientLoop:
    """One event loop that owns the sockets across a test's phases; between phases it is not
    running, so the test's own ORM calls (checks, reconcile) run as plain sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sockets: list[ClaimSocket] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def connect(self, urls: list[str], users: list[tuple[int, str]]) -> list[ClaimSocket]:
        sockets, errors = self.run(open_sockets(urls, users, timeout=30))
        self.sockets += sockets
        assert len(sockets) == len(users), f"only {len(sockets)} of {len(users)}: {errors}"
        return sockets

    def storm(self, sockets: list[ClaimSocket], drop: int, **kwargs: Any) -> list[Reply]:
        return self.run(storm(sockets, drop, timeout=30, **kwargs))

    def close(self) -> None:
        close_all(self.sockets)
        self.run(asyncio.sleep(0.1))
        self.loop.close()


@pytest.fixture
def clients() -> Iterator[ClientLoop]:
    driver = ClientLoop()
    try:
        yield driver
    finally:
        driver.close()


# --- rows -----------------------------------------------------------------------------------


@pytest.fixture
def world(settings: Any) -> dict[str, Any]:
    settings.CLAIM_NEEDS_PRIOR_ACCOUNT = True
    host = accounts.user_register(username="storm-host", password=PASSWORD, role="host")
    promoter = accounts.user_register(username="storm-promo", password=PASSWORD, role="promoter")
    farm = catalog.farm_create(owner=host, name="Storm farm", province="Nan", district="Pua")
    now = timezone.now()
    session = streams.session_create(host=host, farm=farm, title="Storm", now=now)
    streams.session_start(session=session, actor=host, now=now)
    campaign = campaigns.campaign_create(
        owner=promoter, name="Storm deal", kind="fixed", value=Decimal("25"),
        budget=10 * COUPONS, per_user_limit=1, farms=[farm],
    )  # fmt: skip
    return {"host": host, "session": session, "campaign": campaign}


def make_claimers(count: int, prefix: str = "c") -> list[tuple[int, str]]:
    """``count`` viewers with tokens. They joined yesterday: a claim needs an account older
    than the drop (CLAIM_NEEDS_PRIOR_ACCOUNT)."""
    return accounts.users_create_many(
        usernames=[f"{prefix}{i}" for i in range(count)],
        joined=timezone.now() - timedelta(days=1),
    )


def open_drop(world: dict[str, Any], quantity: int) -> Drop:
    return drops.drop_open(
        session=world["session"], campaign=world["campaign"], actor=world["host"],
        quantity=quantity, duration_s=600, now=timezone.now(),
    )  # fmt: skip


def urls(nodes: list[Node], session: LiveSession) -> list[str]:
    return [node.ws_url(f"/ws/live/{session.pk}/") for node in nodes]


# --- what must hold after every storm -------------------------------------------------------


def assert_promises_kept(drop: Drop, replies: list[tuple[ClaimSocket, Reply]]) -> None:
    """Nobody holds two coupons of the drop, the drop never exceeds its quantity, and every
    user told "yours" holds exactly the row whose code they were told."""
    drop.refresh_from_db()
    rows = list(Claim.objects.filter(drop=drop).values_list("user_id", "code", "status"))
    assert len(rows) <= drop.quantity
    assert drop.claimed == len(rows)
    assert not (
        Claim.objects.filter(drop=drop).values("user").annotate(n=Count("id")).filter(n__gt=1)
    ).exists()
    held = {(user, code) for user, code, status in rows if status == ClaimStatus.CLAIMED}
    told = {(sock.user_id, reply.data["code"]) for sock, reply in replies if reply.won}
    assert told <= held, f"told 'yours' without a row: {told - held}"


def reconcile_until(predicate: Any, *, timeout: float, every: float = 1.0) -> list[dict[str, int]]:
    """Play beat: reconcile every ``every`` seconds until ``predicate()`` holds."""
    outcomes = []
    deadline = time.monotonic() + timeout
    while True:
        outcomes.append(reconcile_all(now=timezone.now()))
        if predicate():
            return outcomes
        assert time.monotonic() < deadline, f"reconcile never got there: {outcomes}"
        time.sleep(every)


# --- the storms -----------------------------------------------------------------------------


def test_a_thousand_sockets_on_two_nodes_race_for_a_hundred_coupons(nodes, world, clients):
    # given 1,000 viewers with accounts, half on each node
    claimers = make_claimers(CLIENTS)
    sockets = clients.connect(urls(nodes, world["session"]), claimers)
    drop = open_drop(world, COUPONS)

    # when every one of them claims at once
    replies = clients.storm(sockets, drop.pk)

    # then exactly 100 won, 100 distinct users, and the other 900 heard "sold out"
    outcomes = Counter(r.code for r in replies)
    assert outcomes == {"claimed": COUPONS, "sold_out": CLIENTS - COUPONS}
    winners = [(s, r) for s, r in zip(sockets, replies, strict=True) if r.won]
    rows = {c.user_id: c.code for c in Claim.objects.filter(drop=drop)}
    assert len(rows) == COUPONS
    assert {s.user_id: r.data["code"] for s, r in winners} == rows
    assert_promises_kept(drop, list(zip(sockets, replies, strict=True)))
    drop.refresh_from_db()
    assert (drop.claimed, drop.state, drop.close_reason) == (
        COUPONS, DropState.CLOSED, CloseReason.EXHAUSTED,
    )  # fmt: skip
    # both nodes answered their half
    per_node = Counter(s.url for s in sockets)
    assert sorted(per_node.values()) == [CLIENTS // 2, CLIENTS // 2]

    # and a winner who claims again is told they already have one; nothing changes
    again = clients.storm([s for s, _ in winners], drop.pk)
    assert Counter(r.code for r in again) == {"already_claimed": COUPONS}
    assert Claim.objects.filter(drop=drop).count() == COUPONS
    assert_gate_equals_database(drop)


def test_redis_flushed_mid_storm_sells_nothing_twice(nodes, world, clients):
    # given 1,000 viewers and a drop of 100
    claimers = make_claimers(CLIENTS)
    sockets = clients.connect(urls(nodes, world["session"]), claimers)
    drop = open_drop(world, COUPONS)
    gate = drops.drop_gate(drop)
    told: list[tuple[ClaimSocket, Reply]] = []

    # when a storm runs and this test's Redis db is flushed once the gate admitted 20
    first_wave = sockets[:400]

    async def wave_with_flush() -> list[Reply]:
        futures: list[asyncio.Future[Reply]] = []
        flushed = False

        def flush_once_20_admitted() -> bool:
            left = gate.left()
            if left is not None and left <= COUPONS - 20:
                redis_client().flushdb()  # this test's own db (REDIS_URL), never FLUSHALL
                return True
            return False

        for sock in first_wave:
            futures.append(sock.send_claim(drop.pk))
            await asyncio.sleep(1.6 / len(first_wave))
            flushed = flushed or flush_once_20_admitted()
        deadline = time.monotonic() + 20  # a slow machine: the 20th admission comes late
        while not flushed and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            flushed = flush_once_20_admitted()
        assert flushed, "the gate never admitted 20 during the storm"
        await asyncio.wait(futures, timeout=30)
        return [f.result() for f in futures]

    replies = clients.run(wave_with_flush())
    told += zip(first_wave, replies, strict=True)
    codes = Counter(r.code for r in replies)
    # then the admissions made before the flush were written and kept; later claims were
    # refused while the gate was gone (GateRestoring is a 409 "conflict")
    assert set(codes) <= {"claimed", "conflict"}, codes
    assert codes["claimed"] >= 20
    assert not gate.exists()
    assert_promises_kept(drop, told)

    # and while reconcile waits out every admission made before the loss, nobody is admitted
    others = iter(sockets[400:])
    rows_before = Claim.objects.filter(drop=drop).count()
    waiting_replies: list[Reply] = []

    def rebuilt() -> bool:
        if gate.exists():
            return True
        wave = [next(others) for _ in range(10)]
        wave_replies = clients.storm(wave, drop.pk)
        waiting_replies.extend(wave_replies)
        told.extend(zip(wave, wave_replies, strict=True))
        return False

    outcomes = reconcile_until(rebuilt, timeout=PENDING_TTL_S + 15)
    assert {r.code for r in waiting_replies} == {"conflict"}
    assert Claim.objects.filter(drop=drop).count() == rows_before
    assert outcomes[0] == {"lost": 1}
    assert outcomes[-1] == {"rebuilt": 1}
    assert gate.left() == COUPONS - rows_before

    # when everyone claims again after the rebuild
    won_before = {s for s, r in told if r.won}
    replies = clients.storm(sockets, drop.pk)
    told += zip(sockets, replies, strict=True)

    # then the rest of the drop sold exactly out, earlier winners were refused, and every
    # promise is a row
    final = Counter(r.code for r in replies)
    assert final["claimed"] == COUPONS - rows_before
    assert final["already_claimed"] == len(won_before)
    assert final["sold_out"] == CLIENTS - COUPONS
    assert sum(final.values()) == CLIENTS
    assert_promises_kept(drop, told)
    assert Claim.objects.filter(drop=drop).count() == COUPONS
    assert len({s.user_id for s, r in told if r.won}) == COUPONS
    reconcile_all(now=timezone.now())
    assert_gate_equals_database(drop)


def test_node_killed_between_gate_and_database_loses_no_promise(
    nodes, world, clients, tmp_path: Path
):
    # given a third node that holds every admitted claim before writing it (the test seam)
    base = SETTINGS_MODULE
    (tmp_path / "stormvictim.py").write_text(
        f"from {base} import *  # noqa: F403\nCOUPON_FAULT_PAUSE_AFTER_ADMIT_S = 120.0\n"
    )
    victim = start_node("victim", env=_node_env("stormvictim", str(tmp_path)), log_dir=tmp_path)
    try:
        wait_ready([victim])
        quantity, held = 30, 10
        claimers = make_claimers(210)
        doomed = clients.connect(urls([victim], world["session"]), claimers[:held])
        healthy = clients.connect(urls(nodes, world["session"]), claimers[held:])
        drop = open_drop(world, quantity)
        gate = drops.drop_gate(drop)

        # when its viewers are admitted and the node is SIGKILLed before it writes a row
        async def admitted() -> list[asyncio.Future[Reply]]:
            futures = [sock.send_claim(drop.pk) for sock in doomed]
            while gate.pending_count() < held:
                await asyncio.sleep(0.05)
            return futures

        futures = clients.run(asyncio.wait_for(admitted(), 15))
        kill_node(victim)
        doomed_replies = clients.run(asyncio.wait_for(asyncio.gather(*futures), 10))

        # then nobody on it was told "yours", and none of them has a row
        assert {r.code for r in doomed_replies} == {"connection_lost"}
        assert not Claim.objects.filter(drop=drop).exists()

        # and meanwhile the gate counts their units as taken: the others get only the rest
        replies = clients.storm(healthy, drop.pk)
        told = list(zip(healthy, replies, strict=True))
        assert Counter(r.code for r in replies) == {
            "claimed": quantity - held, "sold_out": len(healthy) - (quantity - held),
        }  # fmt: skip
        assert gate.left() == 0
        assert gate.pending_count() == held
        assert_promises_kept(drop, told)

        # when reconcile runs past the admissions' expiry
        outcomes = reconcile_until(lambda: gate.pending_count() == 0, timeout=PENDING_TTL_S + 10)

        # then their units are back, and their users are not locked out
        assert gate.left() == held, outcomes
        assert_gate_equals_database(drop)
        back = clients.connect(urls(nodes, world["session"]), claimers[:held])
        replies = clients.storm(back, drop.pk)
        told += zip(back, replies, strict=True)
        assert Counter(r.code for r in replies) == {"claimed": held}
        latecomers = clients.storm(healthy[:50], drop.pk)
        assert {r.code for r in latecomers} <= {"sold_out", "already_claimed"}
        assert_promises_kept(drop, told)
        drop.refresh_from_db()
        assert drop.claimed == quantity
        assert drop.close_reason == CloseReason.EXHAUSTED
        assert Campaign.objects.get(pk=drop.campaign_id).issued == quantity
    finally:
        if victim.proc.poll() is None:
            kill_node(victim)


# --- winners written in batches, and the gate's attempt limit (in process) --------------------


def _users(count: int) -> list[User]:
    ids = [user_id for user_id, _ in make_claimers(count, prefix="b")]
    return list(User.objects.filter(pk__in=ids).order_by("pk"))


def _admit(drop: Drop, users: list[User]) -> list[AdmittedClaim]:
    gate = drops.drop_gate(drop)
    admitted = []
    for user in users:
        admission = gate.admit(user=user.pk, token=claims.new_code())
        assert admission.admitted, admission
        admitted.append(
            AdmittedClaim(
                gate=gate, admission=admission, drop_id=drop.pk, user=user, now=timezone.now()
            )
        )
    return admitted


@contextlib.contextmanager
def _redis_writes() -> Iterator[list[int]]:
    """Counts writes to Redis (one per round trip) on every sync connection meanwhile."""
    counted = [0]
    send = redis.Connection.send_packed_command

    def counting(self: redis.Connection, command: Any, check_health: bool = True) -> None:
        counted[0] += 1
        send(self, command, check_health)

    redis.Connection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        redis.Connection.send_packed_command = send  # type: ignore[method-assign]


def test_winners_are_written_as_one_batch(world):
    # given three admitted claims of a drop of five
    users = _users(3)
    drop = open_drop(world, 5)
    admitted = _admit(drop, users)

    # when they are written together (counting SQL statements and Redis writes)
    with CaptureQueriesContext(connection) as queries, _redis_writes() as redis_writes:
        written = claims_record_batch(items=admitted)

    # then it took one transaction of one SQL statement and two Redis round trips for the
    # batch (the three confirms, pipelined; the session's minute bucket); claim by claim it
    # would take several statements per claim and a round trip per confirm
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["BEGIN", "WITH", "COMMIT"]
    assert redis_writes == [2]

    # and each got its own row, with the code it was admitted under, and the gate settled
    assert all(isinstance(claim, Claim) for claim in written)
    assert [(c.user_id, c.code) for c in written] == [
        (a.user.pk, a.admission.token) for a in admitted
    ]
    rows = {c.pk: (c.user_id, c.code) for c in Claim.objects.filter(drop=drop)}
    assert rows == {c.pk: (c.user_id, c.code) for c in written}
    drop.refresh_from_db()
    assert (drop.claimed, drop.state) == (3, DropState.OPEN)
    assert set(
        CampaignUser.objects.filter(campaign=world["campaign"]).values_list("user_id", "held")
    ) == {(u.pk, 1) for u in users}
    assert_gate_equals_database(drop)


def test_a_batch_that_takes_the_last_units_closes_the_drop(world):
    users = _users(3)
    drop = open_drop(world, 3)
    written = claims_record_batch(items=_admit(drop, users))
    assert all(isinstance(claim, Claim) for claim in written)
    drop.refresh_from_db()
    assert (drop.claimed, drop.state, drop.close_reason) == (
        3, DropState.CLOSED, CloseReason.EXHAUSTED,
    )  # fmt: skip
    assert_gate_equals_database(drop)


def test_a_batch_the_database_refuses_is_written_claim_by_claim(world):
    # given a user who already holds the campaign's one coupon per person, whose count the
    # gate lost (drift: the gate admits them again)
    holder, *others = _users(3)
    earlier = open_drop(world, 5)
    claims.claim_create(drop_id=earlier.pk, user=holder, now=timezone.now())
    drop = open_drop(world, 5)
    gate = drops.drop_gate(drop)
    redis_client().hdel(gate.keys["scope_users"], str(holder.pk))
    admitted = _admit(drop, [holder, *others])

    # when the batch is written
    written = claims_record_batch(items=admitted)

    # then the database's guard refused the holder alone, and the gate gave the unit back
    assert isinstance(written[0], LimitReached)
    assert [c.user_id for c in written[1:]] == [u.pk for u in others]
    assert set(Claim.objects.filter(drop=drop).values_list("user_id", flat=True)) == {
        u.pk for u in others
    }
    drop.refresh_from_db()
    assert drop.claimed == 2
    assert gate.left() == 3
    assert gate.pending_count() == 0


def test_claims_past_the_attempt_limit_are_refused_by_the_gate(world):
    user = _users(1)[0]
    drop = open_drop(world, 5)
    limit, _ = claims.CLAIM_RATE
    claims.claim_create(drop_id=drop.pk, user=user, now=timezone.now())
    for _ in range(limit - 1):
        with pytest.raises(AlreadyClaimed):
            claims.claim_create(drop_id=drop.pk, user=user, now=timezone.now())
    with pytest.raises(RateLimited):
        claims.claim_create(drop_id=drop.pk, user=user, now=timezone.now())
    # the window follows the claim's clock: the next one admits again, without waiting
    later = timezone.now() + timedelta(seconds=claims.CLAIM_RATE[1])
    with pytest.raises(AlreadyClaimed):
        claims.claim_create(drop_id=drop.pk, user=user, now=later)
    assert Claim.objects.filter(drop=drop).count() == 1
