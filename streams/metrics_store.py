"""Moving the Redis buckets of ``streams.metrics`` into PostgreSQL (beat, every few seconds,
and a report before it reads).

Idempotent by construction: a bucket holds the minute's absolute totals, and each column is
written as ``GREATEST(stored, counted)``. A flush retried after a crash writes the same
numbers again; a bucket Redis lost (a restart) restarts at 0 and cannot lower a stored
number. A closed minute leaves the to-flush set only when nothing was counted into it
since it was read (``_FORGET`` compares the bucket's version).
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from redis.exceptions import RedisError

from catalog.models import Product
from server.redis import redis_client
from streams import metrics
from streams.models import (
    LiveSession,
    SessionMinute,
    SessionProductSales,
    SessionStatus,
    SessionTotals,
)

log = logging.getLogger(__name__)

# A minute still receives late counts (an order committed just after it) for this long.
CLOSE_AFTER_S = 120
# Ended sessions are still flushed for this long (late payments of their orders count).
ENDED_FLUSH_WINDOW = timedelta(days=1)

MINUTE_INTS = (
    "viewers_peak", "viewers_sum", "viewers_samples", "new_viewers", "chat", "chatters",
    "claims", "claimers", "orders", "buyers", "units", "redeemed",
)  # fmt: skip
MINUTE_MONEY = ("gmv", "discount")


def _greatest() -> str:
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"


def _upsert(table: str, keys: list[str], columns: list[str], rows: list[list[Any]]) -> None:
    """``INSERT .. ON CONFLICT (keys) DO UPDATE SET c = GREATEST(c, excluded.c)`` for the
    counters; other columns take the new value. PostgreSQL and SQLite alike."""
    if not rows:
        return
    names = keys + columns
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    raise_only = {c for c in columns if c not in ("name", "currency", "flushed_at")}
    sets = ", ".join(
        f"{c} = {_greatest()}({table}.{c}, excluded.{c})"
        if c in raise_only
        else f"{c} = excluded.{c}"
        for c in columns
    )
    # Table and column names are this module's constants; values go as parameters.
    values = ", ".join([placeholders] * len(rows))
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES {values} "  # noqa: S608
    sql += f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def session_metrics_flush(*, session_id: int, now: datetime) -> int:
    """Write one session's buckets to the database; returns the minutes written."""
    client = redis_client()
    minutes = sorted(int(m) for m in client.smembers(metrics.minutes_key(session_id)))
    if not minutes:
        return 0
    pipe = client.pipeline(transaction=False)
    for minute in minutes:
        pipe.hgetall(metrics.minute_key(session_id, minute))
    pipe.hgetall(metrics.total_key(session_id))
    pipe.hgetall(metrics.products_key(session_id))
    *buckets, total_raw, products_raw = pipe.execute()
    total = metrics._ints(total_raw)
    products = metrics.products_from(products_raw)
    rows, versions = [], []
    for minute, raw in zip(minutes, buckets, strict=True):
        bucket = metrics._ints(raw)
        versions.append((minute, raw.get(b"v")))
        rows.append(
            [session_id, metrics.minute_start(minute)]
            + [bucket.get(c, 0) for c in MINUTE_INTS]
            + [Decimal(bucket.get(c, 0)) / 100 for c in MINUTE_MONEY]
        )
    # A product deleted since has no row to point at.
    product_ids = set(_existing_products(list(products)))
    with transaction.atomic():
        _upsert(
            SessionMinute._meta.db_table,
            ["session_id", "minute"],
            [*MINUTE_INTS, *MINUTE_MONEY],
            rows,
        )
        _upsert(
            SessionProductSales._meta.db_table,
            ["session_id", "product_id"],
            ["name", "orders", "units", "gmv"],
            [
                [session_id, pid, p["name"], p["orders"], p["units"], Decimal(p["gmv"]) / 100]
                for pid, p in sorted(products.items())
                if pid in product_ids
            ],
        )
        _upsert(
            SessionTotals._meta.db_table,
            ["session_id"],
            ["viewers", "viewers_peak", "chatters", "claimers", "buyers", "currency",
             "flushed_at"],
            [[session_id, total.get("new_viewers", 0), total.get("viewers_peak", 0),
              total.get("chatters", 0), total.get("claimers", 0), total.get("buyers", 0),
              str(total.get("currency", "")), now]],
        )  # fmt: skip
    closed = [
        (minute, version)
        for minute, version in versions
        if version is not None and minute + 60 + CLOSE_AFTER_S <= now.timestamp()
    ]
    if closed:
        metrics._FORGET.run_many(
            [
                (
                    [metrics.minutes_key(session_id), metrics.minute_key(session_id, minute)],
                    [minute, version],
                )
                for minute, version in closed
            ]
        )
    return len(rows)


def _existing_products(ids: list[int]) -> list[int]:
    return list(Product.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else []


def sessions_metrics_flush(*, now: datetime) -> int:
    """Beat's flush: every live session and those ended within ``ENDED_FLUSH_WINDOW``."""
    sessions = LiveSession.objects.filter(
        Q(status=SessionStatus.LIVE)
        | Q(status=SessionStatus.ENDED, ended_at__gte=now - ENDED_FLUSH_WINDOW)
    ).values_list("pk", flat=True)
    written = 0
    for session_id in sessions:
        try:
            written += session_metrics_flush(session_id=session_id, now=now)
        except RedisError:
            log.warning("metrics of session %s not flushed (Redis); next time", session_id)
    return written
