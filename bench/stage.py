"""What a benchmark run stands on: its own PostgreSQL database and Redis db, and a live
session made through the services as the app makes one.

``bench.claims``, ``bench.orders`` and ``bench.fanout`` set up here, and the first two run their
rounds and print their report here; each names its own database and
Redis db (``--database-url``, ``--redis-url``), never a test or demo one.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

R = TypeVar("R")


def add_run_arguments(parser: argparse.ArgumentParser, *, database: str, redis_db: int) -> None:
    """The flags every benchmark ends with: its own database and Redis db (overridden by
    ``BENCH_DATABASE_URL`` / ``BENCH_REDIS_URL``), and a file for the results."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{database}"
        ),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
    )
    parser.add_argument("--json", type=Path, help="also write every result to this file")


def parse_run_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None, variants: Sequence[str]
) -> argparse.Namespace:
    """Parse, and check ``--variants`` (comma-separated) into ``options.variant_list``."""
    options = parser.parse_args(argv)
    options.variant_list = [v.strip() for v in options.variants.split(",") if v.strip()]
    unknown = set(options.variant_list) - set(variants)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    return options


def node_env(options: argparse.Namespace, **extra: str) -> dict[str, str]:
    """A web node's environment as production sets it, on the bench's database and Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.settings",
        "DATABASE_URL": options.database_url,
        "REDIS_URL": options.redis_url,
        "DB_POOL_MAX": str(options.db_pool),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def run_rounds(
    options: argparse.Namespace,
    run: Callable[[str], R],
    failed: Callable[[str, Exception], R],
    progress: Callable[[R], str],
) -> list[R]:
    """Every variant of ``options.variant_list``, ``options.repeat`` rounds, side by side.
    A variant that raises is recorded as ``failed`` and the run goes on; each result notes
    the load average it started under (other work on the machine, for the reader)."""
    results: list[R] = []
    for round_no in range(options.repeat):
        for variant in options.variant_list:
            load_before = os.getloadavg()[0]
            try:
                result = run(variant)
            except Exception as exc:
                result = failed(variant, exc)
            result.load = load_before  # type: ignore[attr-defined]
            results.append(result)
            print(f"round {round_no + 1} {variant}: {progress(result)}", flush=True)
    return results


def report(
    results: Sequence[Any], table: str, verdict: tuple[str, bool], json_path: Path | None
) -> int:
    """Print the table and the verdict (and write the results as JSON when asked); the exit
    status: 0 when every target was met."""
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(table)
    lines, ok = verdict
    print()
    print(lines)
    if json_path is not None:
        json_path.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if ok else 1


def setup_django(*, database_url: str, redis_url: str) -> None:
    """Point this process at the bench's database and Redis, creating and migrating the
    database when it is missing. Other settings come from ``os.environ`` as set before."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "server.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    if database_url.startswith("postgres"):
        import psycopg

        name = database_url.rsplit("/", 1)[1]
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def live_session(*, title: str) -> tuple[Any, Any]:
    """A new host, their farm and a started live session: ``(host, session)``."""
    from django.utils import timezone

    from catalog import services as catalog
    from server.accounts import services as accounts
    from streams import services as streams

    host = accounts.user_register(
        username=f"bench-host-{uuid.uuid4().hex[:8]}",
        password=f"Mango-{uuid.uuid4().hex}!",
        role="host",
    )
    farm = catalog.farm_create(owner=host, name="Bench farm", province="Nan", district="Pua")
    now = timezone.now()
    session = streams.session_create(host=host, farm=farm, title=title, now=now)
    streams.session_start(session=session, actor=host, now=now)
    return host, session
