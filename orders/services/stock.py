"""Stock through the gate (docs/architecture.md, "The gate").

Each line of an order takes its units from one gate before the database is asked:

- the session's *offer* of a product (``offer:<session>:<product>``), the showcase item's
  allotment at its live price, while the session is live and, for a flash deal, until the
  deal ends (the gate closes then), at most ``per_buyer_limit`` units per buyer;
- otherwise the product's own stock (``product:<product>``), at its catalogue price.

Both gates are named by ids the request carries, so a buyer refused ``out_of_stock`` is
answered from Redis alone. A gate whose keys are missing (Redis restarted or flushed) is
rebuilt from the database under a short lock. That is safe for stock, unlike coupon drops:
the conditional updates on ``left`` and ``stock`` are the final guard, so a gate rebuilt
while orders are in flight may admit too many for a moment, and the database refuses them.
"""

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError

from catalog.models import Product
from orders.errors import DealLimitReached, OutOfStock
from orders.models import OrderLine, ShowcaseBuyer
from server.errors import Invalid, Unavailable
from server.gate import Admission, Gate
from server.publisher import Coalescer, publish_now
from server.redis import live_key, redis_client
from streams.events import Stock
from streams.models import SessionStatus, ShowcaseItem

log = logging.getLogger(__name__)

UNLIMITED = 1_000_000_000
NEVER_CLOSES = 4_102_444_800.0  # 2100-01-01: an offer without a deal closes with its session
REBUILD_LOCK_MS = 2000
REBUILD_WAIT_S = 2.0
GATES_KEY = "orders:stock-gates"  # every stock gate built, for reconcile to visit
STOCK_EVERY_S = 0.5
stock_coalescer = Coalescer("stock", STOCK_EVERY_S)


def offer_gate(session_id: int, product_id: int) -> Gate:
    name = f"offer:{session_id}:{product_id}"
    return Gate(scope=name, unit=name)


def product_gate(product_id: int) -> Gate:
    name = f"product:{product_id}"
    return Gate(scope=name, unit=name)


@dataclass(frozen=True)
class Taken:
    """Units a line holds in a gate: ``live`` from the session's allotment."""

    gate: Gate
    token: str
    product: int
    qty: int
    live: bool


def stock_take(
    *, buyer_id: int, session_id: int | None, product_id: int, qty: int, now: datetime
) -> Taken:
    """Take ``qty`` units for a line, from the live offer when there is one, else from the
    product's stock. Raises ``OutOfStock``, ``DealLimitReached``, ``Invalid`` (no such
    product), ``Unavailable`` (a gate is being rebuilt)."""
    token = secrets.token_hex(12)
    ask = {"user": buyer_id, "token": token, "n": qty, "now": now.timestamp()}
    if session_id is not None:
        gate = offer_gate(session_id, product_id)
        admission = _admit(gate, lambda: _offer_build(session_id, product_id), ask)
        if admission is not None and admission.status != "closed":
            if admission.admitted:
                return Taken(gate=gate, token=token, product=product_id, qty=qty, live=True)
            raise refusal_of(admission, product_id)
        # Not in this session's showcase, the session is over or the deal ended.
    gate = product_gate(product_id)
    admission = _admit(gate, lambda: _product_build(product_id), ask)
    if admission is None:
        raise Invalid("No such product.", fields={"items": [f"No product {product_id}."]})
    if admission.admitted:
        return Taken(gate=gate, token=token, product=product_id, qty=qty, live=False)
    raise refusal_of(admission, product_id)


def refusal_of(admission: Admission, product_id: int) -> Exception:
    """The error a buyer hears for a gate's refusal of ``product_id``."""
    if admission.status in ("already", "limit"):
        return DealLimitReached("You hold as many units of this deal as one buyer may.")
    if admission.status == "sold_out":
        left = max(admission.left, 0)
        return OutOfStock(f"Only {left} left.", product=product_id, left=left)
    return Unavailable("The stock counter is not ready; try again.", retry_after_s=1)


def _admit(gate: Gate, build: Callable[[], bool], ask: dict) -> Admission | None:
    """Admit, rebuilding a missing gate once under a lock; None when there is nothing to
    build (``build`` found no such offer or product)."""
    admission = gate.admit(**ask)
    deadline = time.monotonic() + REBUILD_WAIT_S
    while admission.status == "gone":
        if not _rebuild(gate, build, deadline):
            return None
        admission = gate.admit(**ask)
    return admission


def _rebuild(gate: Gate, build: Callable[[], bool], deadline: float) -> bool:
    """Build the missing gate under a lock, or wait a moment for the process that holds
    it; False when there is nothing to build. Raises ``Unavailable`` past ``deadline``."""
    if time.monotonic() > deadline:
        raise Unavailable("The stock counter is being restored; try again.", retry_after_s=1)
    client = redis_client()
    lock = f"orders:rebuild:{gate.unit}"
    if client.set(lock, secrets.token_hex(4), nx=True, px=REBUILD_LOCK_MS):
        try:
            if gate.left() is None and not build():
                return False
        finally:
            client.delete(lock)
    else:  # another process is rebuilding it
        time.sleep(0.02)
    return True


def stock_gate_ensure(*, session_id: int | None, product_id: int) -> bool:
    """Build a line's gate when it is missing (the first order after a showcase add or a
    Redis restart), as ``stock_take`` would; False when there is no such offer or product.
    Raises ``Unavailable``."""
    if session_id is not None:
        gate = offer_gate(session_id, product_id)
        build: Callable[[], bool] = lambda: _offer_build(session_id, product_id)  # noqa: E731
    else:
        gate, build = product_gate(product_id), lambda: _product_build(product_id)
    deadline = time.monotonic() + REBUILD_WAIT_S
    while gate.left() is None:
        if not _rebuild(gate, build, deadline):
            return False
    return True


def _offer_facts(session_id: int, product_id: int) -> ShowcaseItem | None:
    return (
        ShowcaseItem.objects.filter(
            session_id=session_id, product_id=product_id, session__status=SessionStatus.LIVE
        )
        .only("pk", "left", "deal_ends_at", "per_buyer_limit")
        .first()
    )


def _deal_buyers(item: ShowcaseItem) -> dict[int, int]:
    rows = ShowcaseBuyer.objects.filter(item=item, bought__gt=0).values_list("user_id", "bought")
    return dict(rows)


def _offer_build(session_id: int, product_id: int) -> bool:
    item = _offer_facts(session_id, product_id)
    if item is None:
        return False
    buyers = _deal_buyers(item) if item.per_buyer_limit else {}
    gate = offer_gate(session_id, product_id)
    gate.build(
        left=item.left,
        opens_at=0,
        closes_at=item.deal_ends_at.timestamp() if item.deal_ends_at else NEVER_CLOSES,
        unit_limit=UNLIMITED,
        scope_limit=item.per_buyer_limit or UNLIMITED,
        unit_users={},
        scope_users=buyers,
    )
    redis_client().sadd(GATES_KEY, gate.unit)
    return True


def _product_build(product_id: int) -> bool:
    stock = Product.objects.filter(pk=product_id).values_list("stock", flat=True).first()
    if stock is None:
        return False
    gate = product_gate(product_id)
    gate.build(
        left=stock,
        opens_at=0,
        closes_at=NEVER_CLOSES,
        unit_limit=UNLIMITED,
        scope_limit=UNLIMITED,
        unit_users={},
        scope_users={},
    )
    redis_client().sadd(GATES_KEY, gate.unit)
    return True


def stock_settle(taken: Iterable[Taken], *, confirm: bool) -> None:
    """Confirm admissions whose lines committed, or give back those that did not. Redis
    failing here is survivable: reconcile settles them against the lines once they expire."""
    for item in taken:
        try:
            if confirm:
                item.gate.confirm(token=item.token)
            else:
                item.gate.compensate(token=item.token)
        except RedisError:
            log.warning("could not settle stock admission %s; reconcile will", item.token)


def stock_release(*, gate: Gate, user: int, n: int) -> None:
    """Units a cancelled order gave back, to the gate as to the database (after commit)."""
    try:
        gate.release(user=user, n=n)
    except RedisError:
        log.warning("could not return %s units to %s; reconcile will", n, gate.unit)


def offers_close(*, session_id: int, product_ids: Iterable[int]) -> None:
    """The session ended: its offers admit nobody, so lines fall through to the shop."""
    for product_id in product_ids:
        try:
            offer_gate(session_id, product_id).close()
        except RedisError:
            log.warning("could not close offer %s:%s", session_id, product_id)


# --- reconcile -----------------------------------------------------------------------------


def stock_gates_reconcile(*, now: datetime) -> dict[str, int]:
    """Settle admissions whose process died (their line exists: confirm; else give back)
    and correct drift (a host's restock, a rebuild while orders were in flight) when nothing
    is in flight. Run by beat every few seconds."""
    client = redis_client()
    outcomes: dict[str, int] = {}
    for raw in client.smembers(GATES_KEY):
        name = raw.decode()
        outcome = _gate_reconcile(name, now, outcomes)
        if outcome in ("gone", "closed"):
            client.srem(GATES_KEY, name)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def _gate_reconcile(name: str, now: datetime, settled: dict[str, int]) -> str:
    """One gate: settle its expired admissions (counted into ``settled`` as ``confirmed``
    and ``compensated``), then correct it; returns ``gone``, ``closed`` or what
    ``Gate.correct`` said."""
    gate = Gate(scope=name, unit=name)
    if gate.left() is None:
        return "gone"
    for token in gate.expired_pending(now=now.timestamp()):
        if OrderLine.objects.filter(gate_token=token).exists():
            done, kind = gate.confirm(token=token), "confirmed"
        else:
            done, kind = gate.compensate(token=token), "compensated"
        settled[kind] = settled.get(kind, 0) + int(done)
    versions = gate.versions()
    kind, *ids = name.split(":")
    if kind == "offer":
        item = _offer_facts(int(ids[0]), int(ids[1]))
        if item is None:
            gate.close()
            return "closed"
        left = item.left
        buyers = _deal_buyers(item) if item.per_buyer_limit else {}
    else:
        stock = Product.objects.filter(pk=int(ids[0])).values_list("stock", flat=True).first()
        if stock is None:
            return "gone"
        left, buyers = stock, {}
    # Per-buyer counts matter only under a flash deal's limit (from its rows); elsewhere
    # the limits are unlimited and the counts are reset with the rest.
    return gate.correct(versions=versions, left=left, unit_users={}, scope_users=buyers)


# --- the ``stock`` event, coalesced ------------------------------------------------------------


def _dirty_key(session_id: int) -> str:
    return live_key(session_id, "stock-dirty")


def stock_changed(*, session_id: int, product_ids: Iterable[int]) -> None:
    """Note that these offers' ``left`` moved, and publish if this process holds the turn;
    otherwise the live loop's next tick does (at most one event per offer per interval)."""
    ids = list(product_ids)
    if not ids:
        return
    try:
        redis_client().sadd(_dirty_key(session_id), *ids)
        stock_flush(session_id)
    except RedisError:
        log.warning("could not publish stock of session %s", session_id)


def stock_flush(session_id: int) -> None:
    """Publish ``stock`` for each offer whose ``left`` moved since the last flush."""
    client = redis_client()
    if not client.exists(_dirty_key(session_id)) or not stock_coalescer.try_acquire(session_id):
        return
    pipe = client.pipeline()
    pipe.smembers(_dirty_key(session_id))
    pipe.delete(_dirty_key(session_id))
    members, _ = pipe.execute()
    for product_id in sorted(int(m) for m in members):
        left = offer_gate(session_id, product_id).left()
        if left is None:
            item = ShowcaseItem.objects.filter(session_id=session_id, product_id=product_id)
            left = item.values_list("left", flat=True).first()
        if left is not None:
            publish_now(session_id, Stock(product=product_id, left=max(left, 0)))
