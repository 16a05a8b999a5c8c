"""Claims: the race for a drop's coupons.

``claim_create`` (and ``claim_create_async`` for the WebSocket) asks the gate first; a
refused claim is answered from Redis alone. An admitted one is written to the database in
one transaction guarded by conditional updates and a unique constraint, and only then is
the user told "yours". The gate admission is settled either way: confirmed after commit,
compensated when the write was refused.

On the WebSocket path, winners admitted while a write is under way share the next
transaction (``_WinnerWriter``): under a storm, one update of the drop's row for many rows.
"""

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    transaction,
)
from django.db.models import F
from redis.exceptions import RedisError

from coupons import events
from coupons.errors import (
    AccountTooNew,
    AlreadyClaimed,
    DropClosed,
    GateRestoring,
    LimitReached,
    SoldOut,
)
from coupons.models import Campaign, CampaignUser, Claim, ClaimStatus, CloseReason, Drop, DropState
from coupons.services.drops import drop_close, drop_gate, gate_for, scope_key
from server.accounts.models import User
from server.errors import DomainError, NotFound, RateLimited
from server.gate import Admission, Gate
from server.loops import LoopLocal
from server.redis import redis_async, redis_client

log = logging.getLogger(__name__)

# Claims per seconds, per user in a campaign, across every node: counted by the gate's
# script in the admission's own round trip (a separate rate-limit call cost a second one).
CLAIM_RATE = (10, 10.0)
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on a live
_scopes: dict[int, str] = {}


def new_code() -> str:
    """A claim's code, also its gate token: made for every claim, losers too, so from one
    read of the OS's randomness (256 is a multiple of the alphabet's 32: no bias)."""
    return "TL" + "".join(_CODE_ALPHABET[b & 31] for b in secrets.token_bytes(10))


def _refusal(admission: Admission) -> DomainError:
    status = admission.status
    if status == "rate_limited":
        return RateLimited("Too many claims; wait a few seconds.", retry_after_s=int(CLAIM_RATE[1]))
    if status == "gone":
        return GateRestoring(
            "The coupon counter is being restored; try again in a few seconds.", retry_after_s=5
        )
    if status == "not_open":
        return DropClosed("This drop has not opened yet.")
    if status == "closed":
        return DropClosed("This drop is closed.")
    if status == "too_new":
        return AccountTooNew("Accounts made after this drop opened cannot claim it.")
    if status == "already":
        return AlreadyClaimed("You already have a coupon from this drop.")
    if status == "limit":
        return LimitReached("You hold as many coupons of this campaign as one person may.")
    return SoldOut("All coupons of this drop are taken.")


def _request(user: User, now: datetime) -> dict[str, Any]:
    """What the gate is asked for one claim, the same on the REST and WebSocket paths."""
    return {
        "user": user.pk,
        "token": new_code(),
        "joined": user.date_joined.timestamp(),
        "now": now.timestamp(),
        "attempts": CLAIM_RATE,
    }


def _gate_from_scope(drop_id: int, scope: str | bytes | None) -> Gate | None:
    if scope is None:
        return None
    scope = scope.decode() if isinstance(scope, bytes) else scope
    _scopes[drop_id] = scope
    return Gate(scope=scope, unit=f"drop:{drop_id}")


def _gate_from_db(drop_id: int) -> Gate:
    campaign_id = Drop.objects.filter(pk=drop_id).values_list("campaign_id", flat=True).first()
    if campaign_id is None:
        raise NotFound("No such drop.")
    gate = gate_for(drop_id=drop_id, campaign_id=campaign_id)
    _scopes[drop_id] = gate.scope  # a drop never changes campaign
    return gate


_scope_reads: dict[tuple[asyncio.AbstractEventLoop, int], asyncio.Task[bytes | None]] = {}


async def _scope_async(drop_id: int) -> str | bytes | None:
    """A drop's gate scope: from this process's cache, else one Redis read shared by every
    claim that asks meanwhile. A storm's first wave arrives before any read returns; a read
    each queued 2,500 GETs per node on the Redis pool (13% of a node's loop, py-spy)."""
    scope = _scopes.get(drop_id)
    if scope is not None:
        return scope
    loop = asyncio.get_running_loop()
    key = (loop, drop_id)
    read = _scope_reads.get(key)
    if read is None:
        read = _scope_reads[key] = loop.create_task(redis_async().get(scope_key(drop_id)))
        read.add_done_callback(lambda _: _scope_reads.pop(key, None))
    return await asyncio.shield(read)


def claim_record(
    *, gate: Gate, admission: Admission, drop_id: int, user: User, now: datetime
) -> Claim:
    """Write an admitted claim, then settle the admission. Raises ``SoldOut``,
    ``DropClosed``, ``LimitReached``, ``AlreadyClaimed`` (after compensating the gate)."""
    try:
        with transaction.atomic():
            claim = _write(drop_id=drop_id, user=user, code=admission.token, now=now)
    except Exception:
        # Refused by the database's guards, or it failed: the unit goes back at once.
        gate.compensate(token=admission.token)
        raise
    gate.confirm(token=admission.token)
    # The writer whose update took the last unit closes the drop. Not the admission that saw
    # 0 left: under a storm it often commits before earlier admissions, and then nobody did.
    drop = claim.drop
    if drop.claimed >= drop.quantity:
        drop_close(drop=drop, reason=CloseReason.EXHAUSTED, now=now)
    return claim


def _write(*, drop_id: int, user: User, code: str, now: datetime) -> Claim:
    taken = Drop.objects.filter(pk=drop_id, state=DropState.OPEN, claimed__lt=F("quantity")).update(
        claimed=F("claimed") + 1
    )
    drop = Drop.objects.select_related("campaign").get(pk=drop_id)
    if not taken:
        if drop.state != DropState.OPEN and drop.close_reason != CloseReason.EXHAUSTED:
            raise DropClosed("This drop is closed.")
        raise SoldOut("All coupons of this drop are taken.")
    campaign = drop.campaign
    holder, _ = CampaignUser.objects.get_or_create(campaign=campaign, user=user)
    within_limit = CampaignUser.objects.filter(
        pk=holder.pk, held__lt=campaign.per_user_limit
    ).update(held=F("held") + 1)
    if not within_limit:
        raise LimitReached("You hold as many coupons of this campaign as one person may.")
    try:
        with transaction.atomic():
            return Claim.objects.create(
                drop=drop,
                campaign=campaign,
                user=user,
                code=code,
                expires_at=now + timedelta(seconds=campaign.claim_ttl_s),
                created_at=now,
            )
    except IntegrityError:
        raise AlreadyClaimed("You already have a coupon from this drop.") from None


def claim_create(*, drop_id: int, user: User, now: datetime) -> Claim:
    """The synchronous claim (REST). Raises the refusals of ``_refusal`` and
    ``claim_record``, ``RateLimited``, ``NotFound``."""
    scope = _scopes.get(drop_id) or redis_client().get(scope_key(drop_id))
    gate = _gate_from_scope(drop_id, scope) or _gate_from_db(drop_id)
    admission = gate.admit(**_request(user, now))
    if not admission.admitted:
        if admission.status == "gone" and not Drop.objects.filter(pk=drop_id).exists():
            raise NotFound("No such drop.")
        raise _refusal(admission)
    return claim_record(gate=gate, admission=admission, drop_id=drop_id, user=user, now=now)


async def claim_create_async(*, drop_id: int, user: User, now: datetime) -> Claim:
    """The WebSocket claim: the gate is asked on the event loop, so losers never wait for a
    thread or the database; winners are written in batches on a worker thread (not the
    single thread Channels shares for ORM calls), see ``_WinnerWriter``."""
    scope = await _scope_async(drop_id)
    gate = _gate_from_scope(drop_id, scope)
    if gate is None:
        gate = await database_sync_to_async(_gate_from_db, thread_sensitive=False)(drop_id)
    admission = await gate.aadmit(**_request(user, now))
    if not admission.admitted:
        raise _refusal(admission)
    await _fault_pause_after_admit()
    return await _winner_writer().write(
        AdmittedClaim(gate=gate, admission=admission, drop_id=drop_id, user=user, now=now)
    )


async def _fault_pause_after_admit() -> None:
    """Fault-injection seam, for tests only: hold an admitted claim this long before its
    write, so a test can SIGKILL the process while the admission is pending
    (tests/integration/test_coupon_storm.py). ``COUPON_FAULT_PAUSE_AFTER_ADMIT_S`` is absent
    from server/settings.py on purpose (0: no pause); it is read per call so only a process
    started with a test's own settings module ever pauses."""
    pause = getattr(settings, "COUPON_FAULT_PAUSE_AFTER_ADMIT_S", 0)
    if pause:
        await asyncio.sleep(pause)


# --- winners, written in batches ---------------------------------------------------------

WRITE_BATCH_MAX = 200


@dataclass(frozen=True)
class AdmittedClaim:
    gate: Gate
    admission: Admission
    drop_id: int
    user: User
    now: datetime


class _WinnerWriter:
    """Group commit for one event loop's admitted claims.

    Every winner holds the drop's row lock from its conditional update to its commit, so one
    transaction per winner serialises them on that row (a storm measured 50-90 winners/s,
    about the naive row lock's rate). Here, while one batch is being written, the winners
    admitted meanwhile queue up, and the next write takes them all: one transaction, one
    update of the drop's row, as many rows as winners. Nothing waits on a timer; a claim
    alone is written alone.
    """

    def __init__(self) -> None:
        self.queue: list[tuple[AdmittedClaim, asyncio.Future[Claim]]] = []
        self.task: asyncio.Task[None] | None = None

    async def write(self, item: AdmittedClaim) -> Claim:
        future: asyncio.Future[Claim] = asyncio.get_running_loop().create_future()
        self.queue.append((item, future))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())
        # Shielded: a viewer who leaves mid-write does not cancel the others' batch.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[:WRITE_BATCH_MAX], self.queue[WRITE_BATCH_MAX:]
            results: list[Claim | BaseException]
            try:
                results = await database_sync_to_async(claims_record_batch, thread_sensitive=False)(
                    items=[item for item, _ in batch]
                )
            except asyncio.CancelledError:
                # The loop is shutting down: nobody waits for an answer forever.
                for _, future in [*batch, *self.queue]:
                    future.cancel()
                raise
            except Exception as exc:  # the worker itself failed: every claim hears it
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


_writers = LoopLocal(_WinnerWriter)


def _winner_writer() -> _WinnerWriter:
    """This event loop's writer (a web process has one loop; tests make many)."""
    return _writers.get()


def claims_record_batch(*, items: list[AdmittedClaim]) -> list[Claim | BaseException]:
    """Write admitted claims, several per transaction, and settle their admissions; returns,
    per item, its claim or the refusal ``claim_record`` gives it. A batch the database's
    guards refuse as a whole (gate drift, a Redis flush, a duplicate) is written claim by
    claim instead, so each claim gets its own exact answer."""
    results: dict[int, Claim | BaseException] = {}
    by_drop: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_drop.setdefault(item.drop_id, []).append(i)
    for drop_id, indexes in by_drop.items():
        group = [items[i] for i in indexes]
        written = _write_many(drop_id=drop_id, group=group) if len(group) > 1 else None
        if written is not None:
            claims, exhausted = written
            # The rows are committed: these users hold their coupons whatever happens next.
            # An admission left unconfirmed is confirmed by reconcile once it expires.
            try:
                group[0].gate.confirm_many(tokens=[item.admission.token for item in group])
            except RedisError:
                log.warning("could not confirm %d admissions of drop %s", len(group), drop_id)
            if exhausted:
                try:
                    drop = Drop.objects.get(pk=drop_id)
                    drop_close(drop=drop, reason=CloseReason.EXHAUSTED, now=group[-1].now)
                except DatabaseError:  # beat closes it when its time is up
                    log.exception("could not close exhausted drop %s", drop_id)
            results.update(zip(indexes, claims, strict=True))
            continue
        for i, item in zip(indexes, group, strict=True):
            try:
                results[i] = claim_record(
                    gate=item.gate, admission=item.admission, drop_id=drop_id,
                    user=item.user, now=item.now,
                )  # fmt: skip
            except Exception as exc:
                results[i] = exc
    return [results[i] for i in range(len(items))]


class _BatchRefused(Exception):
    """A guard refused the batch as a whole; it is rolled back and written claim by claim."""


# One statement for a batch of one drop's winners: the campaign's per-user holdings move by
# one each only while under its limit, the claims are inserted for exactly the users whose
# holdings moved (the unique constraints still guard them), and the drop's count moves by
# as many, only while it stays open and within its quantity. Each guard is ``_write``'s,
# set-wise. One round trip, so the drop's row, the one every writer wants, is locked from
# this statement to the commit right after it, not across a conversation.
_WRITE_MANY = """
WITH campaign AS (
    SELECT c.id, c.per_user_limit, c.claim_ttl_s
    FROM {campaign} c JOIN {drop} d ON d.campaign_id = c.id WHERE d.id = %(drop)s
), held AS (
    INSERT INTO {holding} AS h (campaign_id, user_id, held)
    SELECT campaign.id, u.user_id, 1
    FROM campaign, unnest(%(users)s::bigint[]) AS u(user_id)
    WHERE campaign.per_user_limit >= 1
    ON CONFLICT (campaign_id, user_id) DO UPDATE SET held = h.held + 1
    WHERE h.held < (SELECT per_user_limit FROM campaign)
    RETURNING h.user_id
), made AS (
    INSERT INTO {claim} (drop_id, campaign_id, user_id, code, status, expires_at, created_at)
    SELECT %(drop)s, campaign.id, x.user_id, x.code, %(status)s,
           x.at + campaign.claim_ttl_s * interval '1 second', x.at
    FROM campaign,
         unnest(%(users)s::bigint[], %(codes)s::text[], %(ats)s::timestamptz[])
             AS x(user_id, code, at)
    WHERE x.user_id IN (SELECT user_id FROM held)
    RETURNING id, user_id, campaign_id, expires_at
), counted AS (
    UPDATE {drop} SET claimed = claimed + (SELECT count(*) FROM made)
    WHERE id = %(drop)s AND state = %(open)s
      AND claimed + (SELECT count(*) FROM made) <= quantity
    RETURNING claimed, quantity
)
SELECT made.id, made.user_id, made.campaign_id, made.expires_at, counted.claimed,
       counted.quantity
FROM made LEFT JOIN counted ON true
"""


def _write_many(*, drop_id: int, group: list[AdmittedClaim]) -> tuple[list[Claim], bool] | None:
    """Write a batch of one drop's admitted claims in one transaction: the claims, in
    ``group``'s order, and whether they took the drop's last unit; or None when a guard
    refused the batch (rolled back whole: refused by a guard, a duplicate, a deadlock, the
    database gone), for the caller to write claim by claim."""
    if connection.vendor != "postgresql":
        return None  # the embedded SQLite default: claim by claim (no storms there)
    users = [item.user.pk for item in group]
    if len(set(users)) != len(users):
        return None
    ordered = sorted(group, key=lambda item: item.user.pk)  # lock holdings in one order
    sql = _WRITE_MANY.format(
        campaign=Campaign._meta.db_table,
        drop=Drop._meta.db_table,
        holding=CampaignUser._meta.db_table,
        claim=Claim._meta.db_table,
    )
    params = {
        "drop": drop_id,
        "users": [item.user.pk for item in ordered],
        "codes": [item.admission.token for item in ordered],
        "ats": [item.now for item in ordered],
        "status": ClaimStatus.CLAIMED,
        "open": DropState.OPEN,
    }
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if len(rows) != len(group) or rows[0][4] is None:
                raise _BatchRefused
    except (_BatchRefused, DatabaseError):
        return None
    by_user = {row[1]: row for row in rows}
    claims = []
    for item in group:
        pk, _, campaign_id, expires_at, _, _ = by_user[item.user.pk]
        claims.append(
            Claim(
                pk=pk, drop_id=drop_id, campaign_id=campaign_id, user=item.user,
                code=item.admission.token, status=ClaimStatus.CLAIMED, expires_at=expires_at,
                created_at=item.now,
            )
        )  # fmt: skip
    claimed, quantity = rows[0][4], rows[0][5]
    return claims, claimed >= quantity


def claim_release(*, claim: Claim, now: datetime, status: str = ClaimStatus.RELEASED) -> bool:
    """Give an unused coupon back (the user's choice, or expiry): its unit returns to the
    campaign's budget and the user may claim again. Returns whether it changed."""
    with transaction.atomic():
        changed = Claim.objects.filter(pk=claim.pk, status=ClaimStatus.CLAIMED).update(
            status=status
        )
        if not changed:
            return False
        CampaignUser.objects.filter(
            campaign_id=claim.campaign_id, user_id=claim.user_id, held__gt=0
        ).update(held=F("held") - 1)
        drop = Drop.objects.select_for_update().get(pk=claim.drop_id)
        Drop.objects.filter(pk=drop.pk, claimed__gt=0).update(claimed=F("claimed") - 1)
        unit_open = drop.state == DropState.OPEN
        if not unit_open:
            # The drop is over: the unit goes back to the campaign's budget instead.
            Campaign.objects.filter(pk=claim.campaign_id, issued__gt=0).update(
                issued=F("issued") - 1
            )
        transaction.on_commit(
            lambda: drop_gate(drop).release(user=claim.user_id, unit_open=unit_open)
        )
    return True


def claims_expire(*, now: datetime) -> int:
    """Release every claim whose time to use it has passed (anti-hoarding)."""
    overdue = Claim.objects.filter(status=ClaimStatus.CLAIMED, expires_at__lte=now)
    return sum(claim_release(claim=c, now=now, status=ClaimStatus.EXPIRED) for c in overdue)


def coupon_left_event(drop: Drop) -> events.CouponLeft | None:
    left = drop_gate(drop).left()
    return None if left is None else events.CouponLeft(drop=drop.pk, left=left)
