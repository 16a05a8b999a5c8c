"""Run the claim-storm benchmark: every variant in one run, side by side, with ratios.

Variants (``--variants``):

- ``gate``     our path as production runs it: ``--nodes`` daphne processes
               (``server.asgi:application``), ``--clients`` WebSocket clients split over them,
               each sending one ``coupon.claim`` at the same moment for a drop of
               ``--coupons``. Losers are answered from the Redis gate on the event loop;
               winners are written to PostgreSQL before their reply.
- ``naive``    the same nodes, clients and storm, with ``coupon.claim`` answered by a row lock
               on the drop (``SELECT ... FOR UPDATE``, update, insert), as
               ``bench.claims.naive_app`` defines it: every claim, loser or winner, queues on
               the lock.
- ``pg-update`` the same nodes, clients and storm, with the best all-PostgreSQL design
               (``bench.claims.update_app``): per claim one transaction of one conditional
               ``UPDATE`` (a unit only while one is left) and the claim's ``INSERT`` under the
               unique (drop, user) constraint; no lock held while checking, no Redis.
- ``floor``    the same nodes, clients and storm, with ``coupon.claim`` answered ``sold_out``
               at once (``bench.claims.floor_app``): what daphne, Channels and our consumer
               cost per message before any claim logic, the least a claim can cost here.
- ``gate-hop`` (not by default) the gate path with Channels' per-message hop to its database
               thread put back, in the bench's process only (``bench.claims.hop_app``): what
               ``LiveConsumer.dispatch`` skipping it gives.
- ``gate-uvicorn``, ``floor-uvicorn`` (not by default) ``gate`` and ``floor`` served by uvicorn
               instead of daphne (``pip install uvicorn``): what the server costs a storm.
- ``ceiling``  the gate's Lua script alone: ``--clients`` ``EVALSHA`` calls at once from one
               asyncio client over ``--ceiling-connections`` connections; no Django, no socket
               to a viewer. What Redis, the script and redis-py (which our nodes use) allow.
- ``ceiling-c`` the same script from ``redis-benchmark`` (C): what Redis alone allows.

Per variant it prints: sockets connected, claimed / sold out / other replies, database rows
(never more than the coupons), claims/s (claims answered, won or refused, per second from the
first claim sent to the last reply), won/s (coupons won per second from the first claim sent
to the last coupon won), latency p50/p99 of every reply, p99 of the winners and p50/p99 of
the sold-out replies, and the nodes' CPU seconds during the storm. Then the ratios and the
coupon targets (gate >= 5x naive claims/s, p99 < 1 s, sold-out p99 < 100 ms).

Each web variant starts fresh nodes and fresh sockets, warms them with a small drop (first
EVALSHA loads the script, first writes open pool connections), then opens the measured drop.
It uses its own PostgreSQL database (created and migrated when missing; its claimers are made
once and kept) and Redis db 9 unless told otherwise, stays on loopback, and stops every
process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.claims.client import ClaimSocket, Reply, close_all, open_sockets, storm
from bench.nodes import (
    Node,
    cpu_seconds,
    raise_nofile,
    start_node,
    stop_node,
    uvicorn_command,
    wait_ready,
)
from bench.stage import (
    add_run_arguments,
    live_session,
    node_env,
    parse_run_arguments,
    report,
    run_rounds,
    setup_django,
)
from bench.stats import percentile
from bench.stats import table as stats_table
from bench.wsclient import new_loop

VARIANTS = (
    "gate", "naive", "pg-update", "ceiling", "ceiling-c", "floor", "gate-hop", "gate-uvicorn",
    "floor-uvicorn",
)  # fmt: skip
DEFAULT_VARIANTS = ("gate", "naive", "pg-update", "ceiling", "ceiling-c", "floor")
APPS = {
    "gate": "server.asgi:application",
    "gate-hop": "bench.claims.hop_app:application",
    "naive": "bench.claims.naive_app:application",
    "pg-update": "bench.claims.update_app:application",
    "floor": "bench.claims.floor_app:application",
    "gate-uvicorn": "server.asgi:application",
    "floor-uvicorn": "bench.claims.floor_app:application",
}
WARM_CLAIMS = 200


@dataclass
class Result:
    variant: str
    clients: int
    coupons: int
    connected: int = 0
    connect_s: float = float("nan")
    claimed: int = 0
    sold_out: int = 0
    other: dict[str, int] = field(default_factory=dict)
    rows: int = -1
    wall_s: float = float("nan")
    claims_per_s: float = float("nan")
    won_per_s: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    win_p99_ms: float = float("nan")
    sold_out_p50_ms: float = float("nan")
    sold_out_p99_ms: float = float("nan")
    server_cpu_s: float = float("nan")
    load: float = float("nan")
    note: str = ""


# --- database and rows ------------------------------------------------------------------------


def ensure_claimers(count: int) -> list[tuple[int, str]]:
    """``count`` viewers with tokens, made once in bulk and kept. They joined long before
    any drop: a claim needs an older account (CLAIM_NEEDS_PRIOR_ACCOUNT)."""
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from server.accounts import services as accounts
    from server.accounts.models import User

    names = [f"bench-claimer-{i}" for i in range(count)]
    have = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    missing = [n for n in names if n not in have]
    if missing:
        accounts.users_create_many(usernames=missing, joined=timezone.now() - timedelta(days=30))
    tokens = dict(
        Token.objects.filter(user__username__in=names).values_list("user__username", "key")
    )
    ids = dict(User.objects.filter(username__in=names).values_list("username", "id"))
    return [(ids[n], tokens[n]) for n in names]


@dataclass
class Stage:
    host: Any
    promoter: Any
    session: Any


def make_stage() -> Stage:
    """A live session and its people, made through the services as the app makes them."""
    from server.accounts import services as accounts

    host, session = live_session(title="Claim bench")
    promoter = accounts.user_register(
        username=f"bench-promo-{uuid.uuid4().hex[:8]}",
        password=f"Mango-{uuid.uuid4().hex}!",
        role="promoter",
    )
    return Stage(host=host, promoter=promoter, session=session)


def open_drop(stage: Stage, quantity: int) -> Any:
    """A fresh campaign (per-user limits are per campaign) and a drop of ``quantity``."""
    from decimal import Decimal

    from django.utils import timezone

    from coupons.services import campaigns, drops

    campaign = campaigns.campaign_create(
        owner=stage.promoter, name=f"bench {uuid.uuid4().hex[:6]}", kind="fixed",
        value=Decimal("20"), budget=quantity, per_user_limit=1, farms=[stage.session.farm_id],
    )  # fmt: skip
    return drops.drop_open(
        session=stage.session, campaign=campaign, actor=stage.host, quantity=quantity,
        duration_s=600, now=timezone.now(),
    )  # fmt: skip


def rows_of(drop: Any) -> int:
    from coupons.models import Claim

    return Claim.objects.filter(drop=drop).count()


# --- the web variants ---------------------------------------------------------------------------


def summarise(result: Result, replies: list[Reply]) -> None:
    """Fill ``result`` from the replies of one storm."""
    counts = Counter(r.code for r in replies)
    result.claimed = counts.pop("claimed", 0)
    result.sold_out = counts.pop("sold_out", 0)
    result.other = dict(counts)
    if not replies:
        return
    first = min(r.sent for r in replies)
    result.wall_s = max(r.received for r in replies) - first
    result.claims_per_s = len(replies) / result.wall_s
    winners = [r for r in replies if r.won]
    if winners:
        result.won_per_s = len(winners) / (max(r.received for r in winners) - first)
    ms = 1000.0
    latencies = [r.latency for r in replies]
    result.p50_ms = percentile(latencies, 0.50) * ms
    result.p99_ms = percentile(latencies, 0.99) * ms
    result.win_p99_ms = percentile([r.latency for r in winners], 0.99) * ms
    sold_out = [r.latency for r in replies if r.code == "sold_out"]
    result.sold_out_p50_ms = percentile(sold_out, 0.50) * ms
    result.sold_out_p99_ms = percentile(sold_out, 0.99) * ms


def run_web(
    variant: str,
    options: argparse.Namespace,
    stage: Stage,
    claimers: list[tuple[int, str]],
    log_dir: Path,
) -> Result:
    result = Result(variant=variant, clients=options.clients, coupons=options.coupons)
    nodes: list[Node] = []
    loop = new_loop(uvloop=not options.no_uvloop)
    sockets: list[ClaimSocket] = []
    try:
        env = node_env(options, CLAIM_NEEDS_PRIOR_ACCOUNT="true")
        for i in range(options.nodes):
            name = f"{variant}{i + 1}"
            app = APPS[variant]
            command = None
            if variant.endswith("-uvicorn"):
                command = functools.partial(uvicorn_command, app=app)
            nodes.append(start_node(name, env=env, log_dir=log_dir, app=app, command=command))
        wait_ready(nodes)
        urls = [n.ws_url(f"/ws/live/{stage.session.pk}/") for n in nodes]
        started = time.monotonic()
        sockets, errors = loop.run_until_complete(
            open_sockets(urls, claimers, concurrency=options.concurrency, timeout=30)
        )
        result.connect_s = time.monotonic() - started
        result.connected = len(sockets)
        if errors:
            result.note += f"connect errors {dict(errors.most_common(3))}; "
        # Warm every node: the script is loaded, pool connections and threads exist.
        warm = open_drop(stage, max(1, WARM_CLAIMS // 10))
        loop.run_until_complete(storm(sockets[:WARM_CLAIMS], warm.pk, timeout=60))
        time.sleep(options.settle)

        drop = open_drop(stage, options.coupons)
        cpu_before = cpu_seconds(nodes)
        replies = loop.run_until_complete(storm(sockets, drop.pk, timeout=options.timeout))
        result.server_cpu_s = cpu_seconds(nodes) - cpu_before
        summarise(result, replies)
        time.sleep(0.5)  # the last winners' transactions are committed before their replies
        result.rows = rows_of(drop)
    finally:
        close_all(sockets)
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.sleep(0.2))
        loop.close()
        for node in nodes:
            stop_node(node)
    return result


# --- the ceiling -------------------------------------------------------------------------------


def build_ceiling_gate(gate: Any, coupons: int, now: float) -> None:
    """The gate of a drop of ``coupons``, open from ``now`` for ten minutes, one a user."""
    gate.build(
        left=coupons, opens_at=now - 1, closes_at=now + 600, unit_limit=1,
        scope_limit=1, unit_users={}, scope_users={},
    )  # fmt: skip


async def ceiling_storm(options: argparse.Namespace) -> tuple[list[Reply], int]:
    """``--clients`` admissions for distinct users at once: EVALSHA only, no Django."""
    import redis.asyncio as aioredis

    from server.gate import _ADMIT, PENDING_TTL_S, Gate

    gate = Gate(scope=f"bench-ceiling:{uuid.uuid4().hex[:8]}", unit="drop:1")
    now = time.time()
    build_ceiling_gate(gate, options.coupons, now)
    pool = aioredis.BlockingConnectionPool.from_url(
        options.redis_url, max_connections=options.ceiling_connections, timeout=30
    )
    client = aioredis.Redis(connection_pool=pool)
    await client.script_load(_ADMIT.source)
    keys = gate._admit_keys()
    ttl_ms = int(PENDING_TTL_S * 1000)

    async def admit(user: int) -> Reply:
        sent = time.monotonic()
        status, _ = await client.evalsha(
            _ADMIT.sha, len(keys), *keys, user, 1, int(time.time() * 1000), ttl_ms, f"t{user}", 0
        )
        code = status.decode()
        return Reply("coupon.claimed" if code == "ok" else "error",
                     "claimed" if code == "ok" else code, sent, time.monotonic())  # fmt: skip

    try:
        # warm: connections open, script loaded (users that never claim in the storm)
        await asyncio.gather(*(admit(-1 - i) for i in range(options.ceiling_connections)))
        await client.delete(*gate.keys.values())
        build_ceiling_gate(gate, options.coupons, now)
        replies = await asyncio.gather(*(admit(user) for user in range(options.clients)))
        left = int(await client.get(gate.keys["left"]))
        return list(replies), options.coupons - left
    finally:
        await client.delete(*gate.keys.values())
        await client.aclose()


def run_ceiling(options: argparse.Namespace) -> Result:
    result = Result(variant="ceiling", clients=options.clients, coupons=options.coupons)
    loop = new_loop(uvloop=not options.no_uvloop)
    try:
        replies, taken = loop.run_until_complete(ceiling_storm(options))
    finally:
        loop.close()
    result.connected = options.clients
    summarise(result, replies)
    result.rows = taken
    result.note = f"{options.ceiling_connections} Redis connections, one asyncio client; "
    return result


def run_ceiling_c(options: argparse.Namespace) -> Result:
    """The same script driven by ``redis-benchmark`` (C, ``--ceiling-connections`` clients):
    what Redis itself allows, without the Python client's cost. Users are random 12-digit
    ids below 10^8 (``__rand_int__``): among 5,000, one repeat at most, rarely."""
    import redis

    from server.gate import _ADMIT, PENDING_TTL_S, Gate
    from server.redis import redis_client

    result = Result(variant="ceiling-c", clients=options.clients, coupons=options.coupons)
    binary = shutil.which("redis-benchmark")
    if binary is None:
        result.note = "redis-benchmark not on PATH; "
        return result
    kwargs = redis.Redis.from_url(options.redis_url).connection_pool.connection_kwargs
    gate = Gate(scope=f"bench-ceiling:{uuid.uuid4().hex[:8]}", unit="drop:1")
    now = time.time()
    build_ceiling_gate(gate, options.coupons, now)
    client = redis_client()
    sha = client.script_load(_ADMIT.source)
    keys = gate._admit_keys()
    argv = [
        binary, "-h", str(kwargs.get("host", "127.0.0.1")), "-p", str(kwargs.get("port", 6379)),
        "--dbnum", str(kwargs.get("db", 0)), "-n", str(options.clients),
        "-c", str(options.ceiling_connections), "-r", str(10**8), "--csv",
        "EVALSHA", sha, str(len(keys)), *keys, "__rand_int__", "1", str(int(now * 1000)),
        str(int(PENDING_TTL_S * 1000)), "t__rand_int__", "0", "0", "1",
    ]  # fmt: skip
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout
        left = int(client.get(gate.keys["left"]) or 0)
    finally:
        client.delete(*gate.keys.values())
    header, values = [line.replace('"', "").split(",") for line in out.strip().splitlines()[-2:]]
    row = dict(zip(header, values, strict=True))
    result.connected = options.clients
    result.claims_per_s = float(row["rps"])
    result.won_per_s = result.claims_per_s  # every call costs the same; winners come first
    result.wall_s = options.clients / result.claims_per_s
    result.p50_ms = float(row["p50_latency_ms"])
    result.p99_ms = float(row["p99_latency_ms"])
    result.claimed = result.rows = options.coupons - left
    result.sold_out = options.clients - result.claimed
    result.note = f"redis-benchmark, {options.ceiling_connections} connections; "
    return result


# --- output ---------------------------------------------------------------------------------------


COLUMNS = (
    ("variant", "{:<8}", "variant"), ("connected", "{:>6}", "socks"),
    ("connect_s", "{:>6.1f}", "conn s"), ("claimed", "{:>6}", "won"),
    ("sold_out", "{:>6}", "sold"), ("rows", "{:>6}", "rows"), ("wall_s", "{:>6.2f}", "wall s"),
    ("claims_per_s", "{:>8.0f}", "claims/s"), ("won_per_s", "{:>6.0f}", "won/s"),
    ("p50_ms", "{:>7.1f}", "p50 ms"), ("p99_ms", "{:>7.1f}", "p99 ms"),
    ("win_p99_ms", "{:>7.1f}", "won p99"), ("sold_out_p50_ms", "{:>8.1f}", "sold p50"),
    ("sold_out_p99_ms", "{:>8.1f}", "sold p99"), ("server_cpu_s", "{:>7.2f}", "srv cpu"),
    ("load", "{:>5.2f}", "load"),
)  # fmt: skip


def table(results: list[Result]) -> str:
    return stats_table(results, COLUMNS, "other replies")


def verdict(results: list[Result], options: argparse.Namespace) -> tuple[str, bool]:
    """Ratios and targets, per round (a round is one run of every variant)."""
    lines: list[str] = []
    ok = True
    per_round = len(options.variant_list)
    for start in range(0, len(results), per_round):
        by = {r.variant: r for r in results[start : start + per_round]}
        gate, naive = by.get("gate"), by.get("naive")
        head = f"round {start // per_round + 1}:"
        if gate and naive:
            ratio = gate.claims_per_s / naive.claims_per_s
            ok &= ratio >= 5
            lines.append(
                f"{head} gate/naive claims/s {ratio:.1f}x (target >= 5x),"
                f" won/s {gate.won_per_s / naive.won_per_s:.1f}x"
            )
        best_pg = by.get("pg-update")
        if gate and best_pg:
            lines.append(
                f"{head} gate/pg-update claims/s {gate.claims_per_s / best_pg.claims_per_s:.1f}x,"
                f" won/s {gate.won_per_s / best_pg.won_per_s:.1f}x"
            )
        for name in ("ceiling", "ceiling-c", "floor"):
            other = by.get(name)
            if gate and other:
                lines.append(
                    f"{head} {name}/gate claims/s {other.claims_per_s / gate.claims_per_s:.1f}x"
                )
        if gate:
            ok &= gate.p99_ms < 1000 and gate.sold_out_p99_ms < 100
            lines.append(
                f"{head} gate p99 {gate.p99_ms:.0f} ms (target < 1000),"
                f" sold-out p99 {gate.sold_out_p99_ms:.0f} ms (target < 100)"
            )
        for r in by.values():
            if r.variant != "ceiling" and r.rows != r.claimed:
                ok = False
                lines.append(f"{head} {r.variant}: {r.rows} rows for {r.claimed} claimed replies")
            if r.rows > r.coupons or r.claimed > r.coupons:
                ok = False
                lines.append(f"{head} {r.variant}: OVERSOLD")
    return "\n".join(lines), ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.claims", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=5000, help="claimers (default 5000)")
    parser.add_argument("--coupons", type=int, default=1000, help="drop size (default 1000)")
    parser.add_argument("--nodes", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument(
        "--variants", default=",".join(DEFAULT_VARIANTS), help=f"comma-separated, from {VARIANTS}"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every variant")
    parser.add_argument(
        "--db-pool", type=int, default=8,
        help="DB_POOL_MAX per node: the default executor's 6 threads and Channels' one",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--ceiling-connections", type=int, default=64)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds after the warm-up")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for one storm")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio for the client")
    add_run_arguments(parser, database="talad_bench_claims", redis_db=9)
    options = parse_run_arguments(parser, argv, VARIANTS)
    if options.clients < WARM_CLAIMS or options.coupons > options.clients:
        parser.error(f"need --clients >= {WARM_CLAIMS} and --coupons <= --clients")
    return options


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (``timeout``, Ctrl-C from a wrapper) unwinds through the ``finally`` blocks
    that stop the nodes, instead of leaving them running."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    nofile = raise_nofile()
    if nofile < options.clients + 512:
        print(f"open-file limit {nofile} is below {options.clients} sockets", file=sys.stderr)
        return 2
    os.environ.update(
        DEBUG="false", DB_POOL_MAX="2", LOG_LEVEL="WARNING", CLAIM_NEEDS_PRIOR_ACCOUNT="true"
    )
    setup_django(database_url=options.database_url, redis_url=options.redis_url)
    claimers = ensure_claimers(options.clients)
    stage = make_stage()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-claims-"))
    load = os.getloadavg()
    print(
        f"claims: {options.clients} clients, {options.coupons} coupons, {options.nodes} nodes;"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; logs in {log_dir}",
        flush=True,
    )

    def run(variant: str) -> Result:
        if variant == "ceiling":
            return run_ceiling(options)
        if variant == "ceiling-c":
            return run_ceiling_c(options)
        return run_web(variant, options, stage, claimers, log_dir)

    results = run_rounds(
        options,
        run,
        lambda variant, exc: Result(
            variant, options.clients, options.coupons, note=f"FAILED: {exc}"
        ),
        lambda r: (
            f"{r.claims_per_s:.0f} claims/s, {r.won_per_s:.0f} won/s, p99 {r.p99_ms:.0f} ms,"
            f" sold-out p99 {r.sold_out_p99_ms:.0f} ms {r.note}"
        ),
    )
    return report(results, table(results), verdict(results, options), options.json)
