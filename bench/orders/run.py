"""Run the order-storm benchmark: every variant in one run, side by side, with ratios.

A hot-SKU storm over HTTP: ``--buyers`` kept-alive connections (``Authorization: Token``,
each request with its own ``Idempotency-Key``) split over ``--nodes`` daphne processes, each
sending one ``POST /api/orders/`` for one unit of one product at the same moment; the
product is in a live session's showcase with an allotment of ``--allotment``.

Variants (``--variants``):

- ``ours``      our path as production runs it (``server.asgi:application``).
- ``naive``     the same nodes, buyers and view, with the units taken under a row lock on
                the showcase item (``SELECT ... FOR UPDATE``, check, update) in the order's
                transaction (``bench.orders.naive_app``): every buyer queues on the lock.
- ``pg-update`` the same, with the best all-PostgreSQL design (``bench.orders.update_app``):
                one conditional ``UPDATE ... SET left = left - n WHERE left >= n`` first in
                the order's transaction, then the same inserts; no lock while checking.
- ``floor``     the same view answering ``out_of_stock`` at once, no Redis, no database
                (``bench.orders.floor_app``): the least an answer costs here.

Per variant: answers by code, order rows (never more than the allotment), orders answered
per second (won or refused, first request sent to last answer; a buyer unanswered within
``--timeout`` is a ``timeout``, not an answer, and its latency counts as the timeout),
won/s (first request to last order placed), p50/p99 of every answer, p99 of the
``out_of_stock`` answers, and the nodes' CPU seconds during the storm. Then the ratios and
the targets (ours >= 5x naive and >= 2x pg-update answers/s; ours' out_of_stock p99 <= 1.3x
the floor's).

Each variant starts fresh nodes and fresh connections, warms the nodes with ``--warm``
orders of a small warm-up offer (threads, pool connections and the gate's script exist), then
opens the measured offer. Its own database (``talad_bench_orders``, created and migrated when
missing; the buyers are made once and kept) and Redis db 8 unless told otherwise; loopback
only; every process it started is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.claims.run import ensure_claimers
from bench.nodes import Node, cpu_seconds, raise_nofile, start_node, stop_node, wait_ready
from bench.orders.client import Answer, Buyer, close_all, open_buyers, storm
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

VARIANTS = ("ours", "naive", "pg-update", "floor")
APPS = {
    "ours": "server.asgi:application",
    "naive": "bench.orders.naive_app:application",
    "pg-update": "bench.orders.update_app:application",
    "floor": "bench.orders.floor_app:application",
}
ADDRESS = {
    "name": "Somchai Jaidee", "phone": "0812345678", "line1": "99 Moo 3", "province": "Nan",
    "postcode": "55000",
}  # fmt: skip


@dataclass
class Result:
    variant: str
    buyers: int
    allotment: int
    connected: int = 0
    placed: int = 0
    out_of_stock: int = 0
    other: dict[str, int] = field(default_factory=dict)
    rows: int = -1
    left: int = -1
    wall_s: float = float("nan")
    answers_per_s: float = float("nan")
    won_per_s: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    won_p99_ms: float = float("nan")
    oos_p99_ms: float = float("nan")
    server_cpu_s: float = float("nan")
    load: float = float("nan")
    note: str = ""


@dataclass
class Stage:
    host: Any
    session: Any


def make_stage() -> Stage:
    host, session = live_session(title="Order bench")
    return Stage(host=host, session=session)


def open_offer(stage: Stage, allotment: int) -> Any:
    """A fresh product of the session's farm in its showcase, ``allotment`` set aside."""
    from decimal import Decimal

    from django.utils import timezone

    from catalog import services as catalog
    from streams import services as streams

    product = catalog.product_create(
        actor=stage.host, farm=stage.session.farm, name=f"Mango {uuid.uuid4().hex[:6]}",
        unit="kg", price=Decimal("100.00"), stock=allotment,
    )  # fmt: skip
    streams.showcase_add(
        session=stage.session, actor=stage.host, product=product, live_price=Decimal("80.00"),
        allotment=allotment, now=timezone.now(),
    )  # fmt: skip
    return product


def order_body(stage: Stage, product: Any, payment: str) -> dict[str, Any]:
    return {
        "session": stage.session.pk, "items": [{"product": product.pk, "qty": 1}],
        "address": ADDRESS, "payment_method": payment,
    }  # fmt: skip


def count_rows(stage: Stage, product: Any) -> tuple[int, int]:
    """(order lines of ``product``, units left in its allotment)."""
    from orders.models import OrderLine
    from streams.models import ShowcaseItem

    rows = OrderLine.objects.filter(product=product).count()
    left = ShowcaseItem.objects.get(session=stage.session, product=product).left
    return rows, left


def summarise(result: Result, answers: list[Answer]) -> None:
    counts = Counter(a.code for a in answers)
    result.placed = counts.pop("placed", 0)
    result.out_of_stock = counts.pop("out_of_stock", 0)
    result.other = dict(counts)
    if not answers:
        return
    first = min(a.sent for a in answers)
    answered = [a for a in answers if a.status]  # not a timeout or a lost connection
    if answered:
        result.wall_s = max(a.received for a in answered) - first
        result.answers_per_s = len(answered) / result.wall_s
    won = [a for a in answers if a.won]
    if won:
        result.won_per_s = len(won) / (max(a.received for a in won) - first)
    ms = 1000.0
    latencies = [a.latency for a in answers]
    result.p50_ms = percentile(latencies, 0.50) * ms
    result.p99_ms = percentile(latencies, 0.99) * ms
    result.won_p99_ms = percentile([a.latency for a in won], 0.99) * ms
    result.oos_p99_ms = percentile(
        [a.latency for a in answers if a.code == "out_of_stock"], 0.99
    ) * ms  # fmt: skip


def run_web(
    variant: str, options: argparse.Namespace, stage: Stage, tokens: list[str], log_dir: Path
) -> Result:
    result = Result(variant=variant, buyers=options.buyers, allotment=options.allotment)
    nodes: list[Node] = []
    loop = new_loop(uvloop=not options.no_uvloop)
    buyers: list[Buyer] = []
    try:
        env = node_env(options)
        for i in range(options.nodes):
            nodes.append(
                start_node(f"{variant}{i + 1}", env=env, log_dir=log_dir, app=APPS[variant])
            )
        wait_ready(nodes)
        urls = [f"http://127.0.0.1:{n.port}" for n in nodes]
        buyers, errors = loop.run_until_complete(
            open_buyers(urls, tokens, concurrency=options.concurrency)
        )
        result.connected = len(buyers)
        if errors:
            result.note += f"connect errors {dict(errors.most_common(3))}; "
        # Warm the nodes (threads, pool connections, the gate's script) with a small offer.
        warm = open_offer(stage, max(1, options.warm // 10))
        warm_body = order_body(stage, warm, options.payment)
        loop.run_until_complete(storm(buyers[: options.warm], warm_body, timeout=60))
        buyers = [b for b in buyers if b.transport is not None]
        time.sleep(options.settle)

        product = open_offer(stage, options.allotment)
        body = order_body(stage, product, options.payment)
        cpu_before = cpu_seconds(nodes)
        answers = loop.run_until_complete(storm(buyers, body, timeout=options.timeout))
        result.server_cpu_s = cpu_seconds(nodes) - cpu_before
        summarise(result, answers)
        result.rows, result.left = count_rows(stage, product)
    finally:
        close_all(buyers)
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.sleep(0.2))
        loop.close()
        for node in nodes:
            stop_node(node)
    return result


COLUMNS = (
    ("variant", "{:<9}", "variant"), ("connected", "{:>5}", "conns"),
    ("placed", "{:>5}", "won"), ("out_of_stock", "{:>5}", "oos"), ("rows", "{:>5}", "rows"),
    ("left", "{:>4}", "left"), ("wall_s", "{:>6.2f}", "wall s"),
    ("answers_per_s", "{:>9.0f}", "answers/s"), ("won_per_s", "{:>6.0f}", "won/s"),
    ("p50_ms", "{:>7.0f}", "p50 ms"), ("p99_ms", "{:>7.0f}", "p99 ms"),
    ("won_p99_ms", "{:>7.0f}", "won p99"), ("oos_p99_ms", "{:>7.0f}", "oos p99"),
    ("server_cpu_s", "{:>7.2f}", "srv cpu"), ("load", "{:>5.2f}", "load"),
)  # fmt: skip


def table(results: list[Result]) -> str:
    return stats_table(results, COLUMNS, "other answers")


def verdict(results: list[Result], options: argparse.Namespace) -> tuple[str, bool]:
    """Ratios and targets, per round (a round is one run of every variant)."""
    lines: list[str] = []
    ok = True
    per_round = len(options.variant_list)
    for start in range(0, len(results), per_round):
        by = {r.variant: r for r in results[start : start + per_round]}
        ours = by.get("ours")
        head = f"round {start // per_round + 1}:"
        for name, target in (("naive", 5.0), ("pg-update", 2.0)):
            other = by.get(name)
            if ours and other:
                ratio = ours.answers_per_s / other.answers_per_s
                met = ratio >= target
                ok &= met
                lines.append(
                    f"{head} ours/{name} answers/s {ratio:.1f}x (target >= {target:.0f}x:"
                    f" {'met' if met else 'NOT met'}), won/s"
                    f" {ours.won_per_s / other.won_per_s:.1f}x"
                )
        floor = by.get("floor")
        if ours and floor:
            ratio = ours.oos_p99_ms / floor.oos_p99_ms
            met = ratio <= 1.3
            ok &= met
            lines.append(
                f"{head} ours/floor out_of_stock p99 {ratio:.2f}x (target <= 1.3x:"
                f" {'met' if met else 'NOT met'})"
            )
        for r in by.values():
            if r.variant == "floor":
                continue
            if r.rows != r.placed or r.rows + r.left != r.allotment:
                ok = False
                lines.append(
                    f"{head} {r.variant}: {r.rows} rows and {r.left} left for {r.placed} placed"
                )
            if r.rows > r.allotment:
                ok = False
                lines.append(f"{head} {r.variant}: OVERSOLD")
    return "\n".join(lines), ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.orders", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--buyers", type=int, default=2000, help="buyers (default 2000)")
    parser.add_argument("--allotment", type=int, default=300, help="units (default 300)")
    parser.add_argument("--nodes", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"from {VARIANTS}")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every variant")
    parser.add_argument("--db-pool", type=int, default=8, help="DB_POOL_MAX per node")
    parser.add_argument(
        "--payment", default="cod", choices=("cod", "promptpay", "sandbox"),
        help="payment_method of every order (cod: no payment row, no deadline task)",
    )  # fmt: skip
    parser.add_argument("--warm", type=int, default=200, help="warm-up orders in flight")
    parser.add_argument("--concurrency", type=int, default=100, help="connects in flight")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds after the warm-up")
    parser.add_argument(
        "--timeout", type=float, default=60.0,
        help="seconds for one storm; a buyer unanswered by then counts as a timeout",
    )  # fmt: skip
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio for the client")
    add_run_arguments(parser, database="talad_bench_orders", redis_db=8)
    options = parse_run_arguments(parser, argv, VARIANTS)
    if options.allotment > options.buyers:
        parser.error("need --allotment <= --buyers")
    return options


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds through the ``finally`` blocks that stop the nodes."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if raise_nofile() < options.buyers + 512:
        print(f"open-file limit is below {options.buyers} connections", file=sys.stderr)
        return 2
    os.environ.update(DEBUG="false", DB_POOL_MAX="2", LOG_LEVEL="WARNING")
    setup_django(database_url=options.database_url, redis_url=options.redis_url)
    tokens = [token for _, token in ensure_claimers(options.buyers)]
    stage = make_stage()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    load = os.getloadavg()
    print(
        f"orders: {options.buyers} buyers, allotment {options.allotment}, {options.nodes} nodes;"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; logs in {log_dir}",
        flush=True,
    )
    results = run_rounds(
        options,
        lambda variant: run_web(variant, options, stage, tokens, log_dir),
        lambda variant, exc: Result(
            variant, options.buyers, options.allotment, note=f"FAILED: {exc}"
        ),
        lambda r: (
            f"{r.answers_per_s:.0f} answers/s, {r.won_per_s:.0f} won/s, p99 {r.p99_ms:.0f} ms,"
            f" out_of_stock p99 {r.oos_p99_ms:.0f} ms {r.note}"
        ),
    )
    return report(results, table(results), verdict(results, options), options.json)
