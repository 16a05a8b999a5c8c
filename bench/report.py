"""The post-live report of a session with 100,000 orders: the minute buckets counted live
(``streams.metrics``) against the best alternative, one well-indexed ``GROUP BY`` over the
session's orders and lines, side by side in one run.

    .venv/bin/python -m bench.report [--orders 100000] [--repeat 7]

Its own database (``talad_bench_report``, made and migrated when missing) and Redis db. The
orders are written with a few ``INSERT ... SELECT generate_series`` statements (seconds, not
100,000 service calls); the buckets are what the live counting writes for those orders,
built the same way. Both paths then read warm caches; each is timed ``--repeat`` times and
the median printed, with the whole report (what the API and page answer) timed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.stage import add_run_arguments, live_session, setup_django

MINUTES = 120
BUYERS = 5000


def _generate(session: Any, orders: int) -> None:
    """``orders`` orders over ``MINUTES`` minutes of ``session``, one line each over three
    products, from ``BUYERS`` buyers; then the buckets the live counting would hold."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from catalog import services as catalog
    from server.accounts.models import User

    host = session.host
    products = [
        catalog.product_create(
            actor=host, farm=session.farm, name=name, unit="kg", price=price, stock=0
        )
        for name, price in (("Mango", 80), ("Durian", 250), ("Honey", 120))
    ]
    password = make_password(None)
    names = [f"bench-buyer-{session.pk}-{i}" for i in range(BUYERS)]
    User.objects.bulk_create(
        [
            User(username=n, password=password, username_key=n, username_skeleton=n)
            for n in names
        ],
        batch_size=1000,
    )
    first_buyer = User.objects.filter(username=f"bench-buyer-{session.pk}-0").get().pk
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=MINUTES)
    pids = [p.pk for p in products]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orders_order (buyer_id, farm_id, session_id, status, payment_method,
                currency, subtotal, discount, shipping_fee, total, address, cancel_reason,
                created_at, updated_at)
            SELECT %(buyer)s + (g %% %(buyers)s), %(farm)s, %(session)s,
                   (ARRAY['accepted','paid','delivered','delivered','cancelled'])[1 + g %% 5],
                   CASE WHEN g %% 2 = 0 THEN 'cod' ELSE 'promptpay' END, 'THB',
                   80 * (1 + g %% 3), CASE WHEN g %% 7 = 0 THEN 8 ELSE 0 END, 0,
                   80 * (1 + g %% 3) - CASE WHEN g %% 7 = 0 THEN 8 ELSE 0 END,
                   '{}'::jsonb, '',
                   %(start)s + (g * %(span)s / %(n)s) * interval '1 second',
                   %(start)s + (g * %(span)s / %(n)s) * interval '1 second'
            FROM generate_series(0, %(n)s - 1) AS g
            """,
            {"buyer": first_buyer, "buyers": BUYERS, "farm": session.farm_id,
             "session": session.pk, "start": start, "span": MINUTES * 60, "n": orders},
        )  # fmt: skip
        cursor.execute(
            """
            INSERT INTO orders_orderline (order_id, product_id, name, unit, unit_price, qty,
                amount, from_allotment, gate_token)
            SELECT o.id, (%(pids)s::bigint[])[1 + o.id %% 3], 'p', 'kg', 80,
                   1 + (o.id %% 3), o.subtotal, 1 + (o.id %% 3), ''
            FROM orders_order o WHERE o.session_id = %(session)s
            """,
            {"pids": pids, "session": session.pk},
        )
        # The buckets: what streams.metrics counted for these orders as they were placed.
        cursor.execute(
            """
            INSERT INTO streams_sessionminute (session_id, minute, viewers_peak, viewers_sum,
                viewers_samples, new_viewers, chat, chatters, claims, claimers, orders, buyers,
                units, redeemed, gmv, discount)
            SELECT o.session_id, date_trunc('minute', o.created_at), 900, 48000, 60, 40, 30,
                   10, 0, 0, count(*), count(DISTINCT o.buyer_id), sum(l.qty), 0,
                   sum(o.subtotal), sum(o.discount)
            FROM orders_order o JOIN orders_orderline l ON l.order_id = o.id
            WHERE o.session_id = %(session)s GROUP BY 1, 2
            """,
            {"session": session.pk},
        )
        cursor.execute(
            """
            INSERT INTO streams_sessionproductsales (session_id, product_id, name, orders,
                units, gmv)
            SELECT %(session)s, l.product_id, 'p', count(*), sum(l.qty), sum(l.amount)
            FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
            WHERE o.session_id = %(session)s GROUP BY l.product_id
            """,
            {"session": session.pk},
        )
        cursor.execute(
            """
            INSERT INTO streams_sessiontotals (session_id, viewers, viewers_peak, chatters,
                claimers, buyers, currency, flushed_at)
            VALUES (%(session)s, 20000, 900, 1200, 0, %(buyers)s, 'THB', now())
            """,
            {"session": session.pk, "buyers": BUYERS},
        )
        # The alternative at its best: a covering index for its GROUP BY.
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS bench_order_session_created ON orders_order "
            "(session_id, created_at) INCLUDE (subtotal, discount, buyer_id)"
        )
        cursor.execute("ANALYZE")


def bucket_timeline(session: Any) -> tuple[list, list]:
    """What the report reads for its timeline, products and totals (streams' rows)."""
    from streams.models import SessionMinute, SessionProductSales, SessionTotals

    minutes = list(SessionMinute.objects.filter(session=session).order_by("minute"))
    products = list(SessionProductSales.objects.filter(session=session))
    SessionTotals.objects.filter(session=session).first()
    return minutes, products


def group_by_timeline(session: Any) -> tuple[list, list]:
    """The same from the orders: per minute and per product, one GROUP BY each."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT date_trunc('minute', o.created_at), count(*), count(DISTINCT o.buyer_id),
                   sum(l.qty), sum(o.subtotal), sum(o.discount)
            FROM orders_order o JOIN orders_orderline l ON l.order_id = o.id
            WHERE o.session_id = %s GROUP BY 1 ORDER BY 1
            """,
            [session.pk],
        )
        minutes = cursor.fetchall()
        cursor.execute(
            """
            SELECT l.product_id, count(*), sum(l.qty), sum(l.amount)
            FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
            WHERE o.session_id = %s GROUP BY 1
            """,
            [session.pk],
        )
        products = cursor.fetchall()
        cursor.execute(
            "SELECT count(DISTINCT buyer_id) FROM orders_order WHERE session_id = %s",
            [session.pk],
        )
    return minutes, products


def _median_ms(work: Callable[[], Any], repeat: int) -> float:
    work()  # warm
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    add_run_arguments(parser, database="talad_bench_report", redis_db=15)
    options = parser.parse_args(argv)
    setup_django(database_url=options.database_url, redis_url=options.redis_url)
    from django.utils import timezone

    from orders.reports.sessions import session_report
    from streams.models import SessionStatus

    began = time.perf_counter()
    _host, session = live_session(title="Report bench")
    session.status = SessionStatus.ENDED
    session.ended_at = timezone.now() - timedelta(days=2)  # no flush on read
    session.save(update_fields=["status", "ended_at"])
    _generate(session, options.orders)
    print(f"generated {options.orders:,} orders in {time.perf_counter() - began:.1f} s")
    buckets = _median_ms(lambda: bucket_timeline(session), options.repeat)
    grouped = _median_ms(lambda: group_by_timeline(session), options.repeat)
    full = _median_ms(
        lambda: session_report(session=session, now=timezone.now()), options.repeat
    )
    minutes, _ = bucket_timeline(session)
    print(f"session {session.pk}: {options.orders:,} orders over {len(minutes)} minutes")
    print(f"{'path':<44} {'median ms':>10}")
    print(f"{'buckets (SessionMinute + products + totals)':<44} {buckets:>10.2f}")
    print(f"{'GROUP BY over orders and lines':<44} {grouped:>10.2f}")
    print(f"{'whole report (buckets + one money aggregate)':<44} {full:>10.2f}")
    print(f"ratio GROUP BY / buckets: {grouped / buckets:.1f}x")
    return 0 if full < 2000 else 1


if __name__ == "__main__":
    sys.exit(main())
